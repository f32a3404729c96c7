package io.varvedb.internal.counters;

import org.agrona.concurrent.AtomicBuffer;

/**
 * One appender's counters: appends, batches, bytes, conflicts and duplicates. An appender is used by one thread at
 * a time, so each counter has a single writer and is published with a plain ordered store of a value the appender
 * keeps itself: no atomic instruction and no allocation on the append path. When the appender is done its
 * counters pass, counts and all, to the next appender (so a process's totals never dip or jump). An appender that
 * found no free counters shares its process's (then with atomic adds, since several may).
 */
public final class AppenderCounters
{
    private final AtomicBuffer values;
    private final boolean shared;
    private final int appendsOffset;
    private final int batchesOffset;
    private final int bytesOffset;
    private final int conflictsOffset;
    private final int duplicatesOffset;
    /** Where its appenders record their latencies; null unless the store records them. */
    private final LatencySink latency;
    private long appends;
    private long batches;
    private long bytes;
    private long conflicts;
    private long duplicates;

    AppenderCounters(final AtomicBuffer values, final boolean shared, final int[] offsets, final LatencySink latency)
    {
        this.values = values;
        this.latency = latency;
        this.shared = shared;
        this.appendsOffset = offsets[0];
        this.batchesOffset = offsets[1];
        this.bytesOffset = offsets[2];
        this.conflictsOffset = offsets[3];
        this.duplicatesOffset = offsets[4];
    }

    /**
     * Events appended.
     *
     * @param events how many (a batch's count).
     * @param logBytes bytes of log they took.
     */
    public void appended(final int events, final long logBytes)
    {
        if (shared)
        {
            values.getAndAddLong(appendsOffset, events);
            values.getAndAddLong(bytesOffset, logBytes);
            return;
        }
        appends += events;
        bytes += logBytes;
        // release: single writer (this appender's thread); a reader never sees a count go back
        values.putLongRelease(appendsOffset, appends);
        values.putLongRelease(bytesOffset, bytes);
    }

    /**
     * A batch appended (its events are counted by {@link #appended}).
     */
    public void batch()
    {
        if (shared)
        {
            values.getAndAddLong(batchesOffset, 1);
            return;
        }
        // release: single writer, as above
        values.putLongRelease(batchesOffset, ++batches);
    }

    /**
     * An append refused for a stale expected version.
     */
    public void conflict()
    {
        if (shared)
        {
            values.getAndAddLong(conflictsOffset, 1);
            return;
        }
        // release: single writer, as above
        values.putLongRelease(conflictsOffset, ++conflicts);
    }

    /**
     * An append answered as a retry of an event id already written.
     */
    public void duplicate()
    {
        if (shared)
        {
            values.getAndAddLong(duplicatesOffset, 1);
            return;
        }
        // release: single writer, as above
        values.putLongRelease(duplicatesOffset, ++duplicates);
    }

    /**
     * @return where the appender records its latencies, or null if the store does not record them.
     */
    public LatencySink latency()
    {
        return latency;
    }

    boolean shared()
    {
        return shared;
    }

    /**
     * Take over counters a finished appender left: go on from the counts it published (read under the lock that
     * handed them over, so they are its last).
     */
    void resume()
    {
        appends = values.getLong(appendsOffset);
        batches = values.getLong(batchesOffset);
        bytes = values.getLong(bytesOffset);
        conflicts = values.getLong(conflictsOffset);
        duplicates = values.getLong(duplicatesOffset);
    }
}
