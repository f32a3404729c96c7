package io.varvedb.internal.store;

import io.varvedb.internal.log.Log;
import org.agrona.concurrent.Agent;
import org.agrona.concurrent.UnsafeBuffer;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.function.LongSupplier;

/**
 * Forces the log to disk and advances the durable position, and periodically moves the index checkpoint, from
 * which recovery after a crash of the process scans the log.
 * <p>
 * <b>The rule of a durable wait.</b> The durable position only ever stops at the <em>published frontier</em>: the
 * end of the longest run of published records from the start of the log. A force covers the log up to the
 * frontier, so everything below the durable position is whole on disk. Whoever needs the log durable up to some
 * position ({@link #forceUpTo}) first waits until the frontier has passed it: if an earlier record, claimed by
 * another appender, is still being written, that is tens of nanoseconds of work (or a descheduled thread), and
 * the waiter spins, yields and parks until it is published. Only then does it take the force lock; if another
 * thread's force already covered its position it returns at once, otherwise it forces everything published so
 * far, its own record and every other, so concurrent waiters share one force. A waiter therefore returns only
 * once the durable position covers its position.
 * <p>
 * The frontier is shared by every thread that forces: whoever scans further publishes how far it got, so no
 * record is scanned twice by threads that take turns.
 */
public final class Flusher implements Agent
{
    private static final long MAX_IDLE_NS = 100_000_000L;
    private static final int SPINS = 100;
    private static final int YIELDS = 1_000;
    private static final long PARK_NS = TimeUnit.MICROSECONDS.toNanos(20);
    private static final VarHandle FRONTIER;

    static
    {
        try
        {
            FRONTIER = MethodHandles.lookup().findVarHandle(Flusher.class, "frontier", long.class);
        }
        catch (final ReflectiveOperationException ex)
        {
            throw new ExceptionInInitializerError(ex);
        }
    }

    private final Log log;
    private final UnsafeBuffer meta;
    private final long flushIntervalNs;
    private final long checkpointIntervalNs;
    private final Object forceLock = new Object();
    private final LongSupplier oldestInFlight;
    private final boolean forceLogAtCheckpoint;
    /** Run before every force of the log (an encrypted store forces its new data keys); null for nothing. */
    private volatile Runnable beforeLogForce;
    private long lastCheckpointNs = System.nanoTime();
    private final io.varvedb.internal.counters.StoreCounters counters;
    /** Every record below it is published. Only grows; read and advanced by any thread (see advanceFrontier). */
    private volatile long frontier;

    /**
     * @param log                  the log.
     * @param meta                 the meta file's buffer.
     * @param committed            a position below which every record is published, such as the tail right after
     *                             recovery.
     * @param flushIntervalNs      how often to force the log; 0 for only at checkpoints.
     * @param checkpointIntervalNs how often to advance the index checkpoint.
     * @param oldestInFlight       the lowest log position an append still updating the index may have claimed,
     *                             or {@link Long#MAX_VALUE}; the index checkpoint never passes it.
     * @param forceLogAtCheckpoint force the log at each checkpoint too (GROUP_COMMIT and SYNC: cheap, it is
     *                             forced already); OS mode forces nothing on its own.
     * @param counters             counts each force and its time; null for none.
     */
    public Flusher(
        final Log log, final UnsafeBuffer meta, final long committed,
        final long flushIntervalNs, final long checkpointIntervalNs, final LongSupplier oldestInFlight,
        final boolean forceLogAtCheckpoint, final io.varvedb.internal.counters.StoreCounters counters)
    {
        this.counters = counters;
        this.forceLogAtCheckpoint = forceLogAtCheckpoint;
        this.oldestInFlight = oldestInFlight;
        this.log = log;
        this.meta = meta;
        this.flushIntervalNs = flushIntervalNs;
        this.checkpointIntervalNs = checkpointIntervalNs;
        this.frontier = Math.max(committed, durablePosition());
    }

    /**
     * @return the log position below which everything is forced to disk; always the end of a record.
     */
    public long durablePosition()
    {
        return meta.getLongVolatile(MetaDescriptor.DURABLE_POSITION_OFFSET);
    }

    /**
     * Make the log durable at least up to {@code position}: on return, {@link #durablePosition()} is
     * {@code >= position}. Waits for every record below {@code position} to be published first, then forces it
     * unless another thread's force already did.
     *
     * @param position end of what must be durable; every byte below it must have been claimed (it is below the
     *                 tail), or this waits for appends that have not been made.
     */
    public void forceUpTo(final long position)
    {
        if (durablePosition() >= position)
        {
            return;
        }
        awaitPublished(position);
        synchronized (forceLock)
        {
            if (durablePosition() < position)
            {
                forceCommitted();
            }
        }
        // the frontier passed `position` before the lock, and a force under the lock covers the frontier
        assert durablePosition() >= position;
    }

    /**
     * Wait, without holding the force lock, until every record below {@code position} is published.
     */
    private void awaitPublished(final long position)
    {
        int idles = 0;
        while (advanceFrontier() < position)
        {
            // an appender that claimed space below `position` is still writing its record
            if (idles < SPINS)
            {
                Thread.onSpinWait();
            }
            else if (idles < SPINS + YIELDS)
            {
                Thread.yield();
            }
            else
            {
                LockSupport.parkNanos(PARK_NS);
            }
            idles++;
        }
    }

    private long forceCommitted()
    {
        final long from = durablePosition();
        final long to = advanceFrontier();
        if (to > from)
        {
            final long startNs = counters == null ? 0 : System.nanoTime();
            final Runnable before = beforeLogForce;
            if (before != null)
            {
                before.run();
            }
            log.force(from, to);
            if (counters != null)
            {
                // under the force lock: one writer of these counters at a time
                counters.forced(System.nanoTime() - startNs);
            }
            // only after the force returned may anyone learn that the log below `to` is durable. The position is
            // shared by every writer process, each forcing the same files: CAS, so it only ever grows, whoever
            // forced further (a force of the file covers every process's pages in it)
            long durable = durablePosition();
            while (durable < to && !meta.compareAndSetLong(MetaDescriptor.DURABLE_POSITION_OFFSET, durable, to))
            {
                durable = durablePosition();
            }
            return Math.max(durable, to);
        }
        return from;
    }

    /**
     * @param task run before every force of the log, so that what the log's records need (the data keys of an
     * encrypted store) is durable first.
     */
    public void beforeLogForce(final Runnable task)
    {
        this.beforeLogForce = task;
    }

    /**
     * Move the published frontier as far as the published records go, and return it.
     * <p>
     * Memory ordering: each frame length is read with acquire, pairing with the appender's release store of it,
     * so every byte of a record below the new frontier happens-before this thread's force of it. The frontier is
     * then raised with a CAS (volatile), and read with a volatile load: a thread that learns the frontier from
     * another inherits that ordering, and may force the records below it without reading them again.
     */
    private long advanceFrontier()
    {
        final long start = (long)FRONTIER.getVolatile(this);
        // acquire on each frame length (see Log.publishedEnd)
        final long position = log.publishedEnd(start, log.tail());
        if (position == start)
        {
            return start;
        }
        long current = start;
        while (current < position)
        {
            // CAS: a frontier only grows; if another thread got further, keep its value
            if (FRONTIER.compareAndSet(this, current, position))
            {
                return position;
            }
            current = (long)FRONTIER.getVolatile(this);
        }
        return current;
    }

    /**
     * Move the index checkpoint: recovery after a crash of the process will scan the log from there.
     */
    public void checkpoint()
    {
        synchronized (forceLock)
        {
            // The index is never forced here: its pages reach the disk in any order, so after a power cut its
            // image may mix moments (a slot newer than its blocks, a block without its successor's link), and
            // recovery after a reboot rebuilds it from the log. Within the same boot the page cache holds the
            // index exactly as it was, so a checkpoint is trusted after a crash of the process. The log is forced
            // here in GROUP_COMMIT and SYNC, where that costs nothing more.
            //
            // Every record below the tail read here was claimed by an appender that had already set its
            // in-flight mark (release, before its claim's atomic add, which this volatile read observes). Read
            // the marks after: an append past its claim but not done with the index shows a mark at or below
            // its record; an append that shows none has finished. So every record below the checkpoint is
            // whole and indexed.
            final long bound = forceLogAtCheckpoint ? forceCommitted() : log.tail();
            final long checkpoint = Math.min(bound, oldestInFlight.getAsLong());
            meta.putLongRelease(MetaDescriptor.INDEX_CHECKPOINT_OFFSET, checkpoint);
            lastCheckpointNs = System.nanoTime();
        }
    }

    /**
     * @return how long the agent may idle between duty cycles.
     */
    public long idleNs()
    {
        return flushIntervalNs > 0 ? flushIntervalNs : Math.min(checkpointIntervalNs, MAX_IDLE_NS);
    }

    @Override
    public int doWork()
    {
        if (System.nanoTime() - lastCheckpointNs >= checkpointIntervalNs)
        {
            checkpoint();
            return 1;
        }
        if (flushIntervalNs > 0)
        {
            synchronized (forceLock)
            {
                forceCommitted();
            }
        }
        return 0;
    }

    @Override
    public String roleName()
    {
        return "varve-flusher";
    }
}
