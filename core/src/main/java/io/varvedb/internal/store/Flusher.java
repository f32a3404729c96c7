package io.varvedb.internal.store;

import io.varvedb.internal.index.StreamIndex;
import io.varvedb.internal.log.Log;
import io.varvedb.internal.log.RecordDescriptor;
import org.agrona.concurrent.UnsafeBuffer;

import org.agrona.concurrent.Agent;

/**
 * Agent that forces the log to disk and advances the durable position, and periodically checkpoints the index:
 * recovery scans the log from the index checkpoint.
 * <p>
 * Group commit: whoever needs the log forced up to some position ({@link #forceUpTo}) takes the force lock;
 * if another thread's force already covered it, it returns at once, otherwise it forces everything published
 * so far (its own record and every other committed one), so many appends share one force.
 */
public final class Flusher implements Agent
{
    private final Log log;
    private final StreamIndex index;
    private final UnsafeBuffer meta;
    private static final long MAX_IDLE_NS = 100_000_000L;
    private final long flushIntervalNs;
    private final long checkpointIntervalNs;
    private final Object forceLock = new Object();
    private final java.util.function.LongSupplier oldestInFlight;
    private long lastCheckpointNs = System.nanoTime();
    private final boolean forceLogAtCheckpoint;
    private long frontier;

    /**
     * @param log                  the log.
     * @param index                the stream index.
     * @param meta                 the meta file's buffer.
     * @param flushIntervalNs      how often to force the log; 0 for only at checkpoints.
     * @param checkpointIntervalNs how often to force the index and advance the index checkpoint.
     * @param oldestInFlight       the lowest log position an append still updating the index may have claimed,
     *                             or {@link Long#MAX_VALUE}; the index checkpoint never passes it.
     * @param forceLogAtCheckpoint force the log at each checkpoint too (GROUP_COMMIT and SYNC: cheap, it is
     *                             forced already); in OS mode only the index is forced.
     */
    public Flusher(
        final Log log, final StreamIndex index, final UnsafeBuffer meta, final long flushIntervalNs,
        final long checkpointIntervalNs, final java.util.function.LongSupplier oldestInFlight,
        final boolean forceLogAtCheckpoint)
    {
        this.forceLogAtCheckpoint = forceLogAtCheckpoint;
        this.oldestInFlight = oldestInFlight;
        this.log = log;
        this.index = index;
        this.meta = meta;
        this.flushIntervalNs = flushIntervalNs;
        this.checkpointIntervalNs = checkpointIntervalNs;
    }

    /**
     * @return the log position below which everything is forced to disk.
     */
    public long durablePosition()
    {
        return meta.getLongVolatile(MetaDescriptor.DURABLE_POSITION_OFFSET);
    }

    /**
     * Make the log durable at least up to {@code position}, forcing it if no one has yet.
     *
     * @param position end of the record that must be durable.
     */
    public void forceUpTo(final long position)
    {
        if (durablePosition() >= position)
        {
            return;
        }
        synchronized (forceLock)
        {
            if (durablePosition() < position)
            {
                forceCommitted();
            }
        }
    }

    private long forceCommitted()
    {
        final long from = durablePosition();
        final long to = committedFrontier();
        if (to > from)
        {
            log.force(from, to);
            // release: only after the force returned may anyone learn that the log below `to` is durable
            meta.putLongRelease(MetaDescriptor.DURABLE_POSITION_OFFSET, to);
        }
        return to;
    }

    /**
     * Force the log and the index, then move the index checkpoint: recovery will scan the log from there.
     */
    public void checkpoint()
    {
        synchronized (forceLock)
        {
            // OS mode promises survival of a process crash only, for which the page cache suffices: neither the
            // log nor the index is forced, and recovery trusts such a checkpoint only within the same boot.
            // Otherwise both are forced, and the checkpoint holds across a power cut.
            //
            // Every record below the tail read here was claimed by an appender that had already set its
            // in-flight mark (release, before its claim's atomic add, which this volatile read observes). Read
            // the marks after: an append past its claim but not done with the index shows a mark at or below
            // its record; an append that shows none has finished. So every record below the checkpoint is
            // whole and indexed.
            final long bound = forceLogAtCheckpoint ? forceCommitted() : log.tail();
            final long checkpoint = Math.min(bound, oldestInFlight.getAsLong());
            if (forceLogAtCheckpoint)
            {
                index.force();
            }
            meta.putIntVolatile(MetaDescriptor.CHECKPOINT_FORCED_OFFSET, forceLogAtCheckpoint ? 1 : 0);
            meta.putLongRelease(MetaDescriptor.INDEX_CHECKPOINT_OFFSET, checkpoint);
            lastCheckpointNs = System.nanoTime();
        }
    }

    private long committedFrontier()
    {
        final long tail = log.tail();
        long position = Math.max(frontier, durablePosition());
        while (position < tail)
        {
            final UnsafeBuffer buffer = log.bufferFor(position);
            final int frameLength = buffer.getIntAcquire(log.offset(position) + RecordDescriptor.FRAME_LENGTH_OFFSET);
            if (frameLength <= 0)
            {
                break;
            }
            position += RecordDescriptor.alignedLength(frameLength);
        }
        // the committed frontier only grows: the next scan starts here, not at the durable position
        frontier = position;
        return position;
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
