package io.varvedb.internal.counters;

import org.agrona.concurrent.status.AtomicCounter;

/**
 * A subscription's or a processor's position and lag (and a processor's checkpoints), written by the one thread
 * that polls it.
 */
public final class PositionCounters implements AutoCloseable
{
    private final StoreCounters owner;
    private final AtomicCounter position;
    private final AtomicCounter lag;
    private final AtomicCounter checkpoints;
    /** Set by close(): a poll that ends after it writes nothing into counters that may be reused. */
    private volatile boolean closed;

    PositionCounters(
        final StoreCounters owner, final AtomicCounter position, final AtomicCounter lag,
        final AtomicCounter checkpoints)
    {
        this.owner = owner;
        this.position = position;
        this.lag = lag;
        this.checkpoints = checkpoints;
    }

    /**
     * After a poll.
     *
     * @param at     the position now.
     * @param behind how far behind the end it is.
     */
    public void update(final long at, final long behind)
    {
        if (closed)
        {
            return;
        }
        // release: single writer (the polling thread); no allocation
        position.setRelease(at);
        lag.setRelease(Math.max(0, behind));
    }

    /** A processor wrote a checkpoint. */
    public void checkpointed()
    {
        if (checkpoints != null && !closed)
        {
            // through the owner's lock: a processor may checkpoint after its store closed
            owner.increment(checkpoints);
        }
    }

    /** The subscription or processor is done: its counters are freed. */
    @Override
    public void close()
    {
        closed = true;
        owner.free(position);
        owner.free(lag);
        owner.free(checkpoints);
    }
}
