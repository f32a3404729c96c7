package io.varvedb.internal.store;

import io.varvedb.internal.index.StreamIndex;
import io.varvedb.internal.log.Log;
import org.agrona.concurrent.Agent;

import java.util.concurrent.TimeUnit;

/**
 * Agent that allocates the log ahead of its tail, creates the next log segments and allocates the next index blocks before
 * appenders reach them, so an appender finds its space allocated, zero-filled and its pages already faulted in (see
 * shared FACTS: first touches of a sparse mapping cost microseconds each; here they cost the appender nothing).
 * <p>
 * <b>The lead adapts to the append rate.</b> Each duty cycle (every {@code 5 ms} when idle, at once when an appender
 * had to allocate for itself) it measures how fast the tail moved (over 50 ms at least, unless a burst eats half the lead sooner), and keeps
 * {@link #LEAD_HORIZON_NS} worth of appends at the fastest rate seen recently allocated beyond the tail: never less
 * than {@link #MIN_LEAD}, never more than {@link Log#SEGMENTS_AHEAD} segments (the lead of the store before this
 * change, which a busy store reaches within one cycle). The rate remembered decays by half every
 * {@link #RATE_HALF_LIFE_NS}, so a store that goes quiet stops growing its lead, but allocated space is never given
 * back. A quiet store thus takes its header pages, {@code MIN_LEAD} and what it wrote; a store appending at full
 * speed two segments ahead of its tail, as before.
 * <p>
 * The store never waits for it: a store opens whatever the free space, and this agent makes the files afterwards.
 * If the file system refuses (a full disk), the duty cycle fails (its {@link Background} reports it) and is tried
 * again after a pause that doubles with each failure, from {@link #FIRST_RETRY_NS} to {@link #MAX_RETRY_NS}, or at
 * once when {@link #retryNow()} says an appender moved into a new segment or allocated space itself (it is
 * behind, and space may be back: that appender just found some). An appender that needs a file this agent could not make tries to create it itself,
 * and gets the error as a clear exception if it cannot either.
 */
public final class Preallocator implements Agent
{
    private io.varvedb.internal.index.EventIdTable eventIds;
    /** The pause after the first failure of a run. */
    public static final long FIRST_RETRY_NS = TimeUnit.MILLISECONDS.toNanos(10);
    /** The longest pause between attempts while they keep failing. */
    public static final long MAX_RETRY_NS = TimeUnit.SECONDS.toNanos(10);

    /**
     * The least lead: 512 KiB, 4,096 records of 64 B payload; chunks end on multiples of 1 MiB, so a quiet store has
     * between 0.5 and 1.5 MiB allocated beyond its tail (a new store: its first MiB). At the pause between idle duty
     * cycles (5 ms) it lasts until a rate of 100 MB/s (800 k such appends/s), which the first cycle that sees it
     * answers with a larger lead; beyond that an appender allocates the next chunk itself ({@link Log#ALLOCATION_CHUNK},
     * about 0.3 ms of zero-filling) and wakes this agent. Small against what a store costs anyway (its index files,
     * its page cache): a test suite of a hundred stores takes about 100 MiB of log, not 19 GB.
     */
    public static final long MIN_LEAD = Log.ALLOCATION_CHUNK / 2;
    /**
     * The lead covers this long of appends at the rate remembered: 1 s, so an appender never waits for a chunk
     * while the rate holds even if this thread is descheduled for most of a second; at 100 k appends/s of 64 B
     * payload that is 12.8 MB, at full speed on this VM (~570 MB/s) it is capped at two segments.
     */
    public static final long LEAD_HORIZON_NS = TimeUnit.SECONDS.toNanos(1);
    /** The shortest window the rate is measured over, unless a burst eats half the lead sooner. */
    public static final long RATE_WINDOW_NS = TimeUnit.MILLISECONDS.toNanos(50);
    /** The rate remembered halves this often once appends slow down. */
    public static final long RATE_HALF_LIFE_NS = TimeUnit.SECONDS.toNanos(10);

    /**
     * System property: how far ahead of the tail, in milliseconds of appends at the rate remembered, pages are
     * touched ({@value #DEFAULT_TOUCH_AHEAD_MS} by default). A benchmark knob, to measure the touch close to the tail
     * against one far ahead (the whole allocation lead, as before issue 12) in the same run.
     */
    public static final String TOUCH_AHEAD_PROPERTY = "varve.touchAheadMillis";
    /** The default of {@link #TOUCH_AHEAD_PROPERTY}. */
    public static final long DEFAULT_TOUCH_AHEAD_MS = 20;
    /**
     * Pages are touched this far ahead of the tail at the rate remembered: 20 ms by default, four idle pauses of this
     * agent, so a cycle that comes one pause late still finds the appenders behind the touched pages.
     */
    public static final long TOUCH_HORIZON_NS =
        TimeUnit.MILLISECONDS.toNanos(Long.getLong(TOUCH_AHEAD_PROPERTY, DEFAULT_TOUCH_AHEAD_MS));
    /** The least touch lead: 64 pages. */
    public static final long MIN_TOUCH_LEAD = 256 * 1024;
    /** The most: 16 MiB per 20 ms of horizon, 20 ms at 800 MB/s, above what one appender writes on this VM. */
    public static final long MAX_TOUCH_LEAD =
        (16L << 20) * Math.max(1, TOUCH_HORIZON_NS / TimeUnit.MILLISECONDS.toNanos(DEFAULT_TOUCH_AHEAD_MS));
    /** Pages one duty cycle touches at most (1 MiB, about a millisecond), so close never waits long for a cycle. */
    public static final int MAX_TOUCHES_PER_CYCLE = 256;

    private final Log log;
    private final StreamIndex index;
    private final long maxLead;
    private volatile boolean retryNow;
    private long lastTail = -1;
    private long lastNs;
    /** Bytes appended per second, the fastest seen recently (decaying). */
    private double rate;
    private long pauseNs;
    private long retryAtNs;

    /**
     * @param log   to keep ahead of.
     * @param index to keep ahead of.
     */
    public Preallocator(final Log log, final StreamIndex index)
    {
        this.log = log;
        this.index = index;
        this.maxLead = (long)Log.SEGMENTS_AHEAD * log.segmentLength();
    }

    /**
     * @return bytes to keep allocated beyond the tail now, from the rate remembered.
     */
    long lead()
    {
        return Math.max(MIN_LEAD, Math.min(maxLead, (long)(rate * LEAD_HORIZON_NS / 1e9)));
    }

    /**
     * @return bytes beyond the tail whose pages to have made now, from the rate remembered.
     */
    long touchLead()
    {
        return Math.max(MIN_TOUCH_LEAD, Math.min(MAX_TOUCH_LEAD, (long)(rate * TOUCH_HORIZON_NS / 1e9)));
    }

    private void observe(final long now)
    {
        final long tail = log.tail();
        if (lastTail < 0)
        {
            lastTail = tail;
            lastNs = now;
            return;
        }
        final long elapsed = now - lastNs;
        final long moved = tail - lastTail;
        // over a window of RATE_WINDOW_NS at least (a cycle woken right after an append would see one record in a
        // microsecond, a rate nobody sustains), unless the tail ate half the lead sooner: a burst is answered at once
        if (elapsed >= RATE_WINDOW_NS || (moved >= lead() / 2 && elapsed > 0))
        {
            final double observed = moved * 1e9 / elapsed;
            final double decayed = rate * Math.pow(0.5, (double)elapsed / RATE_HALF_LIFE_NS);
            rate = Math.max(observed, decayed);
            lastTail = tail;
            lastNs = now;
        }
    }

    /**
     * Try again on the next duty cycle, whatever the pause after a failure; call from any thread, then wake the
     * agent's thread.
     */
    public void retryNow()
    {
        retryNow = true;
    }

    @Override
    public int doWork()
    {
        final long now = System.nanoTime();
        observe(now);
        if (pauseNs > 0 && now - retryAtNs < 0 && !retryNow)
        {
            return Background.PAUSED;
        }
        retryNow = false;
        try
        {
            log.preallocate(lead());
            index.preallocate();
            pauseNs = 0;
            // pages made a little ahead of the appenders; a cycle that touched any goes again at once, until the
            // touch lead is met, then idles
            final int touched = log.touchAhead(touchLead(), MAX_TOUCHES_PER_CYCLE);
            // and the event id table's pages, once, after its first id: ids land anywhere in it, so an append
            // would otherwise make a new page of it (a fault, microseconds) for a long while
            return touched + (eventIds == null ? 0 : eventIds.touchAhead(MAX_TOUCHES_PER_CYCLE));
        }
        catch (final RuntimeException ex)
        {
            pauseNs = pauseNs == 0 ? FIRST_RETRY_NS : Math.min(MAX_RETRY_NS, pauseNs * 2);
            retryAtNs = now + pauseNs;
            throw ex;
        }
    }

    /**
     * @param eventIds the event id table, whose pages this touches once its slots have disk blocks.
     */
    public void eventIds(final io.varvedb.internal.index.EventIdTable eventIds)
    {
        this.eventIds = eventIds;
    }

    @Override
    public String roleName()
    {
        return "varve-preallocator";
    }
}
