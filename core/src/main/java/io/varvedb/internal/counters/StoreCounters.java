package io.varvedb.internal.counters;

import io.varvedb.counters.CounterType;
import io.varvedb.internal.io.MappedFile;
import org.agrona.concurrent.AtomicBuffer;
import org.agrona.concurrent.SystemEpochClock;
import org.agrona.concurrent.UnsafeBuffer;
import org.agrona.concurrent.status.AtomicCounter;
import org.agrona.concurrent.status.CountersManager;
import org.agrona.concurrent.status.CountersReader;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

import static io.varvedb.internal.counters.CountersFileDescriptor.*;

/**
 * The counters of one open store instance: its region of {@code varve.counters}. Counters are allocated here
 * (under this object's lock, off the hot paths) and updated by the engine's threads: each by one writer with a
 * plain ordered store where the engine has one (an appender, a subscription, the background work), by an atomic
 * add where several threads may count the same thing (segment rolls, errors).
 */
public final class StoreCounters implements AutoCloseable
{
    /** Gives back the counters of appenders and subscriptions dropped without close(). */
    public static final java.lang.ref.Cleaner CLEANER = java.lang.ref.Cleaner.create();

    private static final int APPENDER_COUNTERS = 5;
    private static final CounterType[] APPENDER_TYPES = {
        CounterType.APPENDS, CounterType.APPEND_BATCHES, CounterType.APPENDED_BYTES, CounterType.CONFLICTS,
        CounterType.DUPLICATES };

    private final MappedFile file;
    private final UnsafeBuffer descriptor;
    private final int region;
    private final long token;
    private final AtomicBuffer values;
    private final CountersManager manager;
    private final java.util.HashMap<String, AtomicCounter> errors = new java.util.HashMap<>();
    /** Counters of appenders that found none of their own free: updated with atomic adds. */
    private final AppenderCounters shared;
    /** Counters of appenders that are done, for the next ones. */
    private final java.util.ArrayDeque<AppenderCounters> idleAppenders = new java.util.ArrayDeque<>();
    private final AtomicCounter segmentRolls;
    private final AtomicCounter segmentWaits;
    private final AtomicCounter segmentsAhead;
    private final AtomicCounter forces;
    private final AtomicCounter forceNanos;
    private final AtomicCounter durableLag;
    private final AtomicCounter indexStreams;
    private final AtomicCounter indexCapacity;
    private final AtomicCounter names;
    private final AtomicCounter eventIds;
    private final AtomicCounter recoveredEvents;
    private final AtomicCounter recoveryDiscarded;
    private final AtomicCounter openMillis;
    private final LatencyRecorder latency;
    private int appenders;
    private boolean closed;

    private StoreCounters(final MappedFile file, final int region, final long token, final boolean recordLatency)
    {
        this.file = file;
        this.region = region;
        this.token = token;
        final UnsafeBuffer buffer = file.buffer();
        this.descriptor = new UnsafeBuffer(buffer, descriptorOffset(region), DESCRIPTOR_LENGTH);
        final int body = regionOffset(region);
        final UnsafeBuffer metadata = new UnsafeBuffer(buffer, body + METADATA_OFFSET, METADATA_LENGTH);
        this.values = new UnsafeBuffer(buffer, body + VALUES_OFFSET, VALUES_LENGTH);
        // freed counters are reusable at once: nothing outside this instance holds their ids
        this.manager = new CountersManager(metadata, values, StandardCharsets.UTF_8, SystemEpochClock.INSTANCE, 0);
        this.latency = recordLatency ? LatencyRecorder.create() : null;
        this.shared = newAppenderCounters("shared appenders", true);
        this.segmentRolls = counter(CounterType.SEGMENT_ROLLS, "segment rolls");
        this.segmentWaits = counter(CounterType.SEGMENT_WAITS, "appends that waited for log space");
        this.segmentsAhead = counter(CounterType.SEGMENTS_AHEAD, "segments ready ahead of the tail");
        this.forces = counter(CounterType.FORCES, "log forces");
        this.forceNanos = counter(CounterType.FORCE_NANOS, "log force time (ns)");
        this.durableLag = counter(CounterType.DURABLE_LAG, "bytes not yet durable");
        this.indexStreams = counter(CounterType.INDEX_STREAMS, "streams in the index");
        this.indexCapacity = counter(CounterType.INDEX_CAPACITY, "index capacity");
        this.names = counter(CounterType.NAMES, "names");
        this.eventIds = counter(CounterType.EVENT_IDS, "event ids");
        this.recoveredEvents = counter(CounterType.RECOVERED_EVENTS, "events recovered at open");
        this.recoveryDiscarded = counter(CounterType.RECOVERY_DISCARDED, "records discarded at open");
        this.openMillis = counter(CounterType.OPEN_MILLIS, "open time (ms)");
    }

    /**
     * Take a region of the store's counters file for a new instance.
     *
     * @param directory     the store's directory.
     * @param role          {@link CountersFileDescriptor#ROLE_WRITER} and so on.
     * @param recordLatency record a histogram of append latencies (needs HdrHistogram).
     * @return the instance's counters, or null if the file cannot be made (no room, a read-only directory) or every
     * region belongs to an open instance: a store runs the same without them.
     */
    public static StoreCounters open(final Path directory, final int role, final boolean recordLatency)
    {
        if (recordLatency)
        {
            // before anything is taken: a missing jar is the user's to fix, and says so
            LatencyRecorder.checkAvailable();
        }
        MappedFile file = null;
        long[] claimed = null;
        try
        {
            file = CountersFile.openForWriting(directory);
            claimed = CountersFile.claim(file.buffer(), role);
            if (claimed == null)
            {
                file.unmap();
                return null;
            }
            final int region = (int)claimed[0];
            // gives the region disk blocks, as zeros: a full disk fails here, never as a SIGBUS at a counter's store
            file.allocate(regionOffset(region), REGION_LENGTH);
            final StoreCounters counters = new StoreCounters(file, region, claimed[1], recordLatency);
            // release: a reader that sees OPEN sees a whole, empty region
            counters.descriptor.putLongRelease(STATE_OFFSET, stateWord(ProcessHandle.current().pid(), OPEN));
            return counters;
        }
        catch (final RuntimeException ex)
        {
            if (claimed != null)
            {
                // taken but never opened (no room for its body, say): give it back, or it stays RESETTING by a live
                // pid, which nobody takes over, for as long as this process runs
                CountersFile.release(file.buffer(), (int)claimed[0], claimed[1]);
            }
            if (file != null)
            {
                file.unmap();
            }
            return null;
        }
    }

    private AtomicCounter counter(final CounterType type, final String label)
    {
        return manager.newCounter(label, type.id());
    }

    /**
     * @return the region this instance holds.
     */
    public int region()
    {
        return region;
    }

    /**
     * @return the whole counters file's mapping (for reading this region back).
     */
    public UnsafeBuffer fileBuffer()
    {
        return file.buffer();
    }

    /**
     * Counters for a new appender: the counters a finished appender left (its counts go on from there), else new
     * ones, else, if none are free, the process's shared ones.
     *
     * @return the counters.
     */
    public synchronized AppenderCounters newAppender()
    {
        final AppenderCounters idle = idleAppenders.poll();
        if (idle != null)
        {
            // handed over under this lock: the new appender's thread sees the values the last one published
            idle.resume();
            return idle;
        }
        if (closed || manager.available() < APPENDER_COUNTERS + 8)
        {
            // keep a few free for subscriptions and errors
            return shared;
        }
        return newAppenderCounters("appender " + ++appenders, false);
    }

    /**
     * Allocate one appender's counters, labelled {@code <type>: <owner>}, with a latency recorder if latencies are
     * recorded.
     */
    private AppenderCounters newAppenderCounters(final String owner, final boolean isShared)
    {
        final int[] offsets = new int[APPENDER_COUNTERS];
        for (int i = 0; i < APPENDER_COUNTERS; i++)
        {
            offsets[i] = CountersReader.counterOffset(
                manager.allocate(APPENDER_TYPES[i].metricName() + ": " + owner, APPENDER_TYPES[i].id()));
        }
        return new AppenderCounters(values, isShared, offsets, latency == null ? null : latency.newSink(isShared));
    }

    /**
     * An appender is done (closed, or collected): its counters wait, with its counts in them, for the next
     * appender. Moving the counts elsewhere could not be atomic, and a reader would see the total jump or dip.
     *
     * @param counters the appender's.
     */
    public synchronized void retire(final AppenderCounters counters)
    {
        if (counters == null || counters.shared() || closed)
        {
            return;
        }
        idleAppenders.push(counters);
    }

    /**
     * A subscription's or processor's position and lag.
     *
     * @param processor true for a processor.
     * @param label     what it is, for the labels.
     * @return the two counters, or null if none are free.
     */
    public synchronized PositionCounters newPosition(final boolean processor, final String label)
    {
        if (closed || manager.available() < 3)
        {
            return null;
        }
        final AtomicCounter position = manager.newCounter(label + " position",
            (processor ? CounterType.PROCESSOR_POSITION : CounterType.SUBSCRIPTION_POSITION).id());
        final AtomicCounter lag = manager.newCounter(label + " lag",
            (processor ? CounterType.PROCESSOR_LAG : CounterType.SUBSCRIPTION_LAG).id());
        final AtomicCounter checkpoints = processor ?
            manager.newCounter(label + " checkpoints", CounterType.PROCESSOR_CHECKPOINTS.id()) : null;
        return new PositionCounters(this, position, lag, checkpoints);
    }

    synchronized void free(final AtomicCounter counter)
    {
        if (counter != null && !closed && !counter.isClosed())
        {
            counter.close();
        }
    }

    /**
     * Count an error.
     *
     * @param kind what kind (an exception's simple name, or a background task's).
     */
    public synchronized void error(final String kind)
    {
        // under the lock, as close() unmaps: an error may be reported on any thread, at any time (errors are rare)
        if (closed)
        {
            return;
        }
        AtomicCounter counter = errors.get(kind);
        if (counter == null)
        {
            if (manager.available() < 1)
            {
                return;
            }
            counter = manager.newCounter("errors: " + kind, CounterType.ERRORS.id());
            errors.put(kind, counter);
        }
        counter.getAndAdd(1);
    }

    synchronized void increment(final AtomicCounter counter)
    {
        // under the lock, as close() unmaps: for counts made where the store's close does not wait
        if (!closed && !counter.isClosed())
        {
            counter.getAndAdd(1);
        }
    }

    /** A claim moved the log into a new segment. */
    public void segmentRolled()
    {
        segmentRolls.getAndAdd(1);
    }

    /** An appender waited for, or made itself, space the pre-allocator had not made yet. */
    public void segmentWaited()
    {
        segmentWaits.getAndAdd(1);
    }

    /**
     * A force of the log. Called under the force lock: one writer at a time.
     *
     * @param nanos how long it took.
     */
    public void forced(final long nanos)
    {
        // release: single writer (the force lock is held)
        forces.incrementRelease();
        forceNanos.setRelease(forceNanos.getPlain() + nanos);
    }

    /**
     * What the last open did.
     *
     * @param recovered events recovered.
     * @param discarded records discarded.
     * @param millis    time the open took.
     */
    public void opened(final long recovered, final long discarded, final long millis)
    {
        recoveredEvents.setRelease(recovered);
        recoveryDiscarded.setRelease(discarded);
        openMillis.setRelease(millis);
    }

    /**
     * Levels, set by the background work (one thread at a time).
     *
     * @param lag       bytes not yet durable.
     * @param ahead     segments ready ahead of the tail.
     * @param streams   streams in the index.
     * @param capacity  streams the index holds.
     * @param nameCount names.
     * @param ids       event ids.
     */
    public void levels(
        final long lag, final long ahead, final long streams, final long capacity, final long nameCount,
        final long ids)
    {
        // release: single writer (the background work runs one duty cycle at a time)
        durableLag.setRelease(lag);
        segmentsAhead.setRelease(ahead);
        indexStreams.setRelease(streams);
        indexCapacity.setRelease(capacity);
        names.setRelease(nameCount);
        eventIds.setRelease(ids);
    }

    /**
     * @return the append latency recorder, or null if latencies are not recorded.
     */
    public LatencyRecorder latency()
    {
        return latency;
    }

    /**
     * Publish the latency histograms into the region (the background work, one thread at a time).
     */
    public void publishLatency()
    {
        if (latency != null && !closed)
        {
            latency.publish(descriptor, file.buffer(), regionOffset(region));
        }
    }

    /**
     * The open this instance belonged to failed: give the region back as never used (what it held before was
     * cleared when it was taken), so a failing open leaves no instance behind in the file; then unmap.
     */
    public synchronized void abandon()
    {
        if (closed)
        {
            return;
        }
        closed = true;
        CountersFile.release(file.buffer(), region, token);
        file.unmap();
    }

    /**
     * Mark the region closed: its values stay readable, as the last ones, until another instance takes it. Called
     * once nothing of this instance counts any more; then unmaps the file.
     */
    @Override
    public synchronized void close()
    {
        if (closed)
        {
            return;
        }
        try
        {
            publishLatency();
        }
        catch (final RuntimeException ignore)
        {
            // the last histogram is lost; the close goes on (counters are not data)
        }
        closed = true;
        // only if the region is still ours (a process that took it over, believing us gone, keeps it)
        if (descriptor.getLongVolatile(OWNER_OFFSET) == token)
        {
            descriptor.putLong(CLOSED_AT_OFFSET, System.currentTimeMillis());
            // release: a reader that sees CLOSED sees the last values and the time
            descriptor.putLongRelease(STATE_OFFSET, stateWord(ProcessHandle.current().pid(), CLOSED));
        }
        file.unmap();
    }
}
