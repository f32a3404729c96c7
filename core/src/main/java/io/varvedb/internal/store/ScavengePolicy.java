package io.varvedb.internal.store;

import org.agrona.DirectBuffer;
import org.agrona.collections.Long2LongHashMap;

import static io.varvedb.internal.log.RecordDescriptor.*;

/**
 * Which records of a segment a scavenge keeps. A scavenge starts from a snapshot of what each stream shows (its
 * first visible version, {@link StreamLifecycle}) and keeps:
 * <ul>
 *   <li>every stream name record (names are forever) and every tombstone (a stream deleted for good stays so,
 *   after any rebuild of the index from the log);</li>
 *   <li>of a metadata stream, its last event only (the metadata in force);</li>
 *   <li>of any other stream, the events from its first visible version on, and none below the log start;
 *   a tombstoned stream's events but its tombstone go;</li>
 *   <li>the last event of every stream, even hidden, unless its tombstone or its soft delete (metadata with
 *   {@code truncateBefore = version + 1}) records the stream's version: an index rebuilt from the log must go on
 *   numbering the stream from where it was, so optimistic concurrency holds after any crash.</li>
 * </ul>
 * Padding goes. Each event is decided alone, a batch's too: the hidden members of a batch go even when later ones
 * stay (recovery indexes a compacted segment's kept records one by one, without the batch check a plain segment's
 * records get: what the scavenger dropped of a batch was committed and then hidden, never torn). What a scavenge
 * drops of a stream is therefore always a prefix of its versions, which is what lets an index rebuilt from a
 * scavenged log start a stream at a later version.
 * <p>
 * Not thread-safe: one per scavenge, asked about the records of each segment in log order.
 */
public final class ScavengePolicy
{
    /** What the policy needs to know about a stream. */
    public interface Streams
    {
        /**
         * @param streamId a stream.
         * @return the first version to keep: the first visible one; for a metadata stream
         * {@link #metadataStream}; for a tombstoned stream {@link Long#MAX_VALUE}.
         */
        long firstKept(long streamId);

        /**
         * @param streamId a stream.
         * @return the version of its last event if that event must stay though it is not visible (so that an index
         * rebuilt from the log knows the stream's version), else -1: a tombstoned stream (its tombstone is its last
         * event) and a stream deleted softly (its metadata says its version) need none.
         */
        long anchor(long streamId);
    }

    private static final long UNKNOWN = Long.MIN_VALUE;

    private final Streams streams;
    private final long logStart;
    private final Long2LongHashMap firstKept = new Long2LongHashMap(UNKNOWN);
    private final Long2LongHashMap anchors = new Long2LongHashMap(UNKNOWN);

    /**
     * @param streams  what each stream shows now.
     * @param logStart the log start now.
     */
    public ScavengePolicy(final Streams streams, final long logStart)
    {
        this.streams = streams;
        this.logStart = logStart;
    }

    /**
     * @param buffer   the segment's buffer.
     * @param offset   of a committed record in it.
     * @param position the record's log position.
     * @return true to keep it.
     */
    public boolean keep(final DirectBuffer buffer, final int offset, final long position)
    {
        final short type = buffer.getShort(offset + RECORD_TYPE_OFFSET);
        if (type == TYPE_STREAM_NAME)
        {
            return true;
        }
        if (type != TYPE_EVENT)
        {
            return false;
        }
        final short flags = buffer.getShort(offset + FLAGS_OFFSET);
        if ((flags & FLAG_TOMBSTONE) != 0)
        {
            return true;
        }
        return keepEvent(buffer.getLong(offset + STREAM_ID_OFFSET), buffer.getLong(offset + VERSION_OFFSET), position);
    }

    private boolean keepEvent(final long streamId, final long version, final long position)
    {
        long first = firstKept.get(streamId);
        if (first == UNKNOWN)
        {
            first = streams.firstKept(streamId);
            firstKept.put(streamId, first);
            anchors.put(streamId, first < 0 ? -1 : streams.anchor(streamId));
        }
        if (first < 0)
        {
            // a metadata stream: its last event stays wherever it lies, below the log start too
            return version >= -first;
        }
        // a stream's last event stays even when hidden (by age, by count of a later batch, below the log start),
        // unless something else records the stream's version: a rebuilt index must go on numbering from it
        return version == anchors.get(streamId) || position >= logStart && version >= first;
    }

    /**
     * @param lastVersion a metadata stream's last version.
     * @return the {@link Streams#firstKept} answer for it.
     */
    public static long metadataStream(final long lastVersion)
    {
        return -Math.max(1, lastVersion);
    }
}
