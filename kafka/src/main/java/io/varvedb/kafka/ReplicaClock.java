package io.varvedb.kafka;

import org.agrona.concurrent.EpochNanoClock;
import org.agrona.concurrent.OffsetEpochNanoClock;

/**
 * The replica store's clock: while the follower appends a copied event it reads that event's timestamp on the
 * primary, so the copy carries the original's; any other read (age limits, retention, other threads) is the time.
 */
final class ReplicaClock implements EpochNanoClock
{
    private static final long NONE = Long.MIN_VALUE;
    private final OffsetEpochNanoClock time = new OffsetEpochNanoClock();
    private Thread follower;
    private long copying = NONE;

    void copying(final long timestampNanos)
    {
        follower = Thread.currentThread();
        copying = timestampNanos;
    }

    void done()
    {
        copying = NONE;
        follower = null;
    }

    @Override
    public long nanoTime()
    {
        // only the follower thread ever sets these, and only it sees them set: no ordering needed
        final long value = copying;
        return value != NONE && Thread.currentThread() == follower ? value : time.nanoTime();
    }
}
