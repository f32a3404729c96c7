package io.varvedb.internal.store;

import io.varvedb.ScavengeListener;
import io.varvedb.ScavengeResult;
import io.varvedb.internal.index.EventIdTable;
import io.varvedb.internal.log.Log;
import io.varvedb.internal.log.ReplaceResult;
import org.agrona.collections.LongArrayList;
import org.agrona.concurrent.UnsafeBuffer;

import java.util.function.Supplier;

import static io.varvedb.internal.log.RecordDescriptor.*;

/**
 * Gives back the disk space of the events that streams no longer show: a pass over the log's sealed segments that
 * rewrites each one holding such events without them ({@link Log#replaceSegment}: every kept event keeps its
 * position; crash-safe; appends and reads go on). What goes is what {@link ScavengePolicy} says, from a snapshot
 * of the streams' metadata and tombstones taken when the pass starts.
 * <p>
 * Each segment is first read to count what would go (under a read section, like any reader); a segment with
 * nothing to drop is left alone, so a second scavenge with nothing new to drop rewrites nothing. The event ids of
 * dropped events are forgotten after their segment's rewrite is in place (forgetting them first could, after a
 * crash in between, let a retry append an event the log still holds); an appender that meets an id whose event is
 * gone forgets it itself, so a crash between the two leaves nothing wrong.
 * <p>
 * One pass at a time per process (the caller serialises); passes of several processes are serialised segment by
 * segment by the log's scavenge lock.
 */
public final class Scavenger
{
    /** What a pass needs from the store. */
    public interface Store
    {
        /**
         * @return the last segment that may be rewritten now (wholly below the tail's segment, every append in
         * flight and the durable position once forced); -1 if none.
         */
        long lastRewritableSegment();

        /**
         * Force the log through a segment, so that it and everything before it is durable.
         *
         * @param segment the last segment to rewrite.
         */
        void forceThrough(long segment);

        /**
         * @return the log start now.
         */
        long logStart();

        /**
         * @return what each stream shows now.
         */
        ScavengePolicy.Streams streams();

        /**
         * @param read a read of the log's segments.
         * @param <T>  its result.
         * @return its result, computed inside a read section (so no segment it reads is unmapped under it).
         */
        <T> T reading(Supplier<T> read);

        /**
         * @return the event id table, or null if the store has none.
         */
        EventIdTable eventIds();

        /**
         * Rewrite a segment ({@link Log#replaceSegment}) and wait until no reader of this process holds its old
         * mapping.
         *
         * @param segment the segment.
         * @param filter  keeps or drops each record.
         * @return what was done.
         */
        ReplaceResult replace(long segment, io.varvedb.internal.log.RecordFilter filter);
    }

    private final Log log;
    private final Store store;

    /**
     * @param log   the log.
     * @param store the store.
     */
    public Scavenger(final Log log, final Store store)
    {
        this.log = log;
        this.store = store;
    }

    /**
     * @param listener    told of each segment.
     * @param dryRun      count only: rewrite nothing.
     * @param lastSegment look no further than this segment ({@link Long#MAX_VALUE} for all that may be rewritten).
     * @return what was done (or, for a dry run, what would be).
     */
    public ScavengeResult run(final ScavengeListener listener, final boolean dryRun, final long lastSegment)
    {
        final long started = System.nanoTime();
        final long last = Math.min(lastSegment, store.lastRewritableSegment());
        long scanned = 0;
        long rewritten = 0;
        long kept = 0;
        long dropped = 0;
        long bytesDropped = 0;
        long diskBefore = 0;
        long diskAfter = 0;
        if (last >= 0 && !dryRun)
        {
            store.forceThrough(last);
        }
        final ScavengePolicy policy = new ScavengePolicy(store.streams(), store.logStart());
        final long segments = last + 1;
        final long[] counts = new long[3];
        for (long segment = 0; segment <= last; segment++)
        {
            if (!log.segmentExists(segment))
            {
                continue;
            }
            scanned++;
            final long current = segment;
            store.reading(() -> count(current, policy, counts));
            if (dryRun || counts[1] == 0)
            {
                kept += counts[0];
                dropped += counts[1];
                bytesDropped += counts[2];
            }
            else
            {
                final LongArrayList droppedIds = new LongArrayList();
                final ReplaceResult result = store.replace(segment, (buffer, offset, position) ->
                {
                    final boolean keep = policy.keep(buffer, offset, position);
                    if (!keep && (buffer.getShort(offset + FLAGS_OFFSET) & FLAG_EVENT_ID) != 0)
                    {
                        droppedIds.addLong(buffer.getLong(offset + EVENT_ID_HIGH_OFFSET));
                        droppedIds.addLong(buffer.getLong(offset + EVENT_ID_LOW_OFFSET));
                        droppedIds.addLong(position);
                    }
                    return keep;
                });
                forget(droppedIds);
                kept += result.kept();
                dropped += result.dropped();
                bytesDropped += counts[2];
                if (result.oldDiskBytes() != result.newDiskBytes() || result.dropped() > 0)
                {
                    rewritten++;
                    diskBefore += result.oldDiskBytes();
                    diskAfter += result.newDiskBytes();
                }
            }
            listener.onSegment(segment + 1, segments, new ScavengeResult(scanned, rewritten, kept, dropped,
                bytesDropped, diskBefore, diskAfter, System.nanoTime() - started));
        }
        return new ScavengeResult(scanned, rewritten, kept, dropped, bytesDropped, diskBefore, diskAfter,
            System.nanoTime() - started);
    }

    private void forget(final LongArrayList droppedIds)
    {
        final EventIdTable ids = store.eventIds();
        if (ids == null)
        {
            return;
        }
        for (int i = 0; i < droppedIds.size(); i += 3)
        {
            ids.forget(droppedIds.getLong(i), droppedIds.getLong(i + 1), droppedIds.getLong(i + 2));
        }
    }

    /**
     * Count the records of a segment the policy keeps and drops: {@code counts} gets kept events, dropped
     * events, and the bytes of log the dropped ones take.
     */
    private Void count(final long segment, final ScavengePolicy policy, final long[] counts)
    {
        counts[0] = 0;
        counts[1] = 0;
        counts[2] = 0;
        final long start = segment * log.segmentLength();
        final long end = start + log.segmentLength();
        long position = start;
        while (position < end)
        {
            final UnsafeBuffer buffer = log.readBuffer(position);
            if (buffer == null)
            {
                break;
            }
            final long at = log.ceiling(buffer, position);
            if (at != position)
            {
                position = at;
                continue;
            }
            final int offset = log.offset(buffer, position);
            final int frameLength = offset < 0 ? 0 : buffer.getIntAcquire(offset + FRAME_LENGTH_OFFSET);
            if (frameLength <= 0)
            {
                break;
            }
            final short type = buffer.getShort(offset + RECORD_TYPE_OFFSET);
            if (type == TYPE_EVENT || type == TYPE_STREAM_NAME)
            {
                if (policy.keep(buffer, offset, position))
                {
                    counts[0]++;
                }
                else
                {
                    counts[1]++;
                    counts[2] += alignedLength(frameLength);
                }
            }
            position += alignedLength(frameLength);
        }
        return null;
    }
}
