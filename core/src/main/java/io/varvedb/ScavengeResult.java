package io.varvedb;

/**
 * What a {@link VarveDB#scavenge()} did (or, from {@link VarveDB#reclaimable()}, would do): how many segments it
 * looked at and rewrote, how many records it kept and dropped, and the disk space of the rewritten segments before
 * and after (allocated blocks, as {@code du} counts them). Immutable.
 */
public final class ScavengeResult
{
    private final long segmentsScanned;
    private final long segmentsRewritten;
    private final long eventsKept;
    private final long eventsDropped;
    private final long bytesDropped;
    private final long diskBytesBefore;
    private final long diskBytesAfter;
    private final long durationNanos;

    /**
     * @param segmentsScanned   segments read.
     * @param segmentsRewritten segments replaced by a copy without their dropped records.
     * @param eventsKept        events kept in the segments read.
     * @param eventsDropped     events dropped (or droppable, for an estimate).
     * @param bytesDropped      bytes of log the dropped records took.
     * @param diskBytesBefore   disk space of the rewritten segments before.
     * @param diskBytesAfter    disk space of their copies.
     * @param durationNanos     how long it took.
     */
    public ScavengeResult(
        final long segmentsScanned, final long segmentsRewritten, final long eventsKept, final long eventsDropped,
        final long bytesDropped, final long diskBytesBefore, final long diskBytesAfter, final long durationNanos)
    {
        this.segmentsScanned = segmentsScanned;
        this.segmentsRewritten = segmentsRewritten;
        this.eventsKept = eventsKept;
        this.eventsDropped = eventsDropped;
        this.bytesDropped = bytesDropped;
        this.diskBytesBefore = diskBytesBefore;
        this.diskBytesAfter = diskBytesAfter;
        this.durationNanos = durationNanos;
    }

    /**
     * @return segments read.
     */
    public long segmentsScanned()
    {
        return segmentsScanned;
    }

    /**
     * @return segments replaced by a copy without their dropped records.
     */
    public long segmentsRewritten()
    {
        return segmentsRewritten;
    }

    /**
     * @return events kept in the segments read.
     */
    public long eventsKept()
    {
        return eventsKept;
    }

    /**
     * @return events dropped (for an estimate: that a scavenge now would drop).
     */
    public long eventsDropped()
    {
        return eventsDropped;
    }

    /**
     * @return bytes of log the dropped records took (for an estimate: reclaimable bytes).
     */
    public long bytesDropped()
    {
        return bytesDropped;
    }

    /**
     * @return disk space the rewritten segments took before.
     */
    public long diskBytesBefore()
    {
        return diskBytesBefore;
    }

    /**
     * @return disk space their copies take.
     */
    public long diskBytesAfter()
    {
        return diskBytesAfter;
    }

    /**
     * @return disk space given back: {@code diskBytesBefore - diskBytesAfter}.
     */
    public long bytesReclaimed()
    {
        return diskBytesBefore - diskBytesAfter;
    }

    /**
     * @return how long it took, in nanoseconds.
     */
    public long durationNanos()
    {
        return durationNanos;
    }

    @Override
    public String toString()
    {
        return "ScavengeResult{segments scanned " + segmentsScanned + ", rewritten " + segmentsRewritten +
            ", events kept " + eventsKept + ", dropped " + eventsDropped + " (" + bytesDropped + " bytes of log)" +
            ", disk " + diskBytesBefore + " -> " + diskBytesAfter + " bytes, " + durationNanos / 1_000_000 + " ms}";
    }
}
