package io.varvedb.internal.store;

import io.varvedb.internal.index.BlockDescriptor;
import io.varvedb.internal.index.StreamIndex;
import io.varvedb.internal.log.Log;
import io.varvedb.internal.log.RecordChecksum;
import io.varvedb.internal.log.RecordDescriptor;
import org.agrona.concurrent.UnsafeBuffer;

import static io.varvedb.internal.index.StreamIndexDescriptor.committedVersion;
import static io.varvedb.internal.index.StreamIndexDescriptor.isPending;

/**
 * Checks every slot of the stream index against the log when a store is opened, so that a slot damaged on disk
 * (a flipped bit, a torn page after a power cut) is found before it misreports a stream's version.
 * <p>
 * A slot holds a stream id, a version {@code v} and the stream's first and last position blocks. It agrees with
 * the log when: its id is positive and found by a lookup of that id (so no other slot holds it and no probe chain
 * is broken); its blocks belong to that stream; the block entry of version {@code v} points, below the tail, at
 * a whole event record (checksum verified) of that stream and version {@code v}; and, when nobody else can be
 * appending, no entry exists for {@code v + 1}, nothing is pending, the stream count matches the slots in use and
 * no block lies beyond the allocated ones. A slot can be damaged into a state that still agrees (a flipped bit
 * in an intermediate block entry); reads check every record they deliver against its stream and version, so
 * such damage is reported when met, never served.
 */
public final class IndexCheck
{
    private final Log log;
    private final StreamIndex index;
    private final long tail;
    private final boolean quiescent;
    private final RecordChecksum checksum = new RecordChecksum();

    private IndexCheck(final Log log, final StreamIndex index, final long tail, final boolean quiescent)
    {
        this.log = log;
        this.index = index;
        this.tail = tail;
        this.quiescent = quiescent;
    }

    /**
     * @param log       the log.
     * @param index     the index to check.
     * @param tail      the log's end: every committed record lies below it (re-read per slot when not quiescent).
     * @param quiescent true when no appender can be running (the writer, at open); false for a read-only opener,
     *                  whose writer may be appending meanwhile.
     * @return null when every slot agrees with the log, or what the first disagreeing slot says.
     */
    public static String verify(final Log log, final StreamIndex index, final long tail, final boolean quiescent)
    {
        return new IndexCheck(log, index, tail, quiescent).run();
    }

    private String run()
    {
        long streams = 0;
        for (int i = 0; i < index.tableSize(); i++)
        {
            final int slot = index.slotOffset(i);
            final long streamId = index.streamIdAt(slot);
            if (streamId == 0)
            {
                continue;
            }
            streams++;
            String damage;
            try
            {
                damage = checkSlot(slot, streamId);
            }
            catch (final RuntimeException ex)
            {
                // damaged links: the index's own readers refuse them
                damage = ex.getMessage();
            }
            if (damage != null)
            {
                return "slot " + i + " (stream " + streamId + "): " + damage;
            }
        }
        if (quiescent && streams != index.streamCount())
        {
            return "the header counts " + index.streamCount() + " streams, the table holds " + streams;
        }
        return null;
    }

    private String checkSlot(final int slot, final long streamId)
    {
        if (streamId < 0)
        {
            return "a negative stream id";
        }
        if (index.findSlot(streamId) != slot)
        {
            return "a lookup of the stream finds slot offset " + index.findSlot(streamId) + ", not " + slot;
        }
        // acquire: the entry of a committed version and its record are published before the version
        final long state = index.state(slot);
        if (quiescent && isPending(state))
        {
            return "an append is pending though no appender runs";
        }
        final long version = committedVersion(state);
        // acquire, last block before first block before the block count: an appender counts a block, then links
        // it as the first, then as the last, so a last block seen implies the rest is seen too
        final long last = index.lastBlock(slot);
        final long first = index.firstBlock(slot);
        final long blockCount = index.blockCount();
        if (last == 0)
        {
            if (version != 0)
            {
                return "version " + version + " but no position blocks";
            }
            // a live appender may be linking the stream's first block
            return quiescent && first != 0 ? "a first block " + first + " but no last block" : null;
        }
        if (first <= 0 || last < 0 || first > blockCount || last > blockCount)
        {
            return "first block " + first + ", last block " + last + " of " + blockCount + " allocated";
        }
        if (index.blockStreamId(first) != streamId || index.blockStreamId(last) != streamId ||
            index.blockOrdinal(first) != 0)
        {
            return "its blocks " + first + " and " + last + " belong to streams " + index.blockStreamId(first) +
                " and " + index.blockStreamId(last);
        }
        if (version > 0)
        {
            if (index.blockOrdinal(last) < BlockDescriptor.ordinalOf(version))
            {
                return "version " + version + " lies beyond its last block";
            }
            final long position = index.positionOf(slot, version);
            final String record = checkRecord(position, streamId, version);
            if (record != null)
            {
                return "version " + version + " at log position " + position + ": " + record;
            }
        }
        if (quiescent && index.positionOf(slot, version + 1) >= 0)
        {
            return "version " + version + " but the index has a position for version " + (version + 1);
        }
        return null;
    }

    private String checkRecord(final long position, final long streamId, final long version)
    {
        // a live writer may have appended since the check began: read its tail after the slot's state (acquire),
        // which its append released after claiming the record
        final long end = quiescent ? tail : log.tail();
        if (position < 0 || position >= end || (position & (RecordDescriptor.ALIGNMENT - 1)) != 0)
        {
            return "not a record position below the tail " + end;
        }
        final UnsafeBuffer buffer = log.readBuffer(position);
        if (buffer == null)
        {
            return "no such segment";
        }
        final int offset = log.offset(position);
        final int frameLength = buffer.getIntAcquire(offset + RecordDescriptor.FRAME_LENGTH_OFFSET);
        final int room = (int)(log.nextSegmentStart(position) - position);
        if (frameLength <= 0 || !Recovery.isValid(checksum, buffer, offset, frameLength, room) ||
            buffer.getShort(offset + RecordDescriptor.RECORD_TYPE_OFFSET) != RecordDescriptor.TYPE_EVENT)
        {
            return "no whole event record there";
        }
        final long recordStream = buffer.getLong(offset + RecordDescriptor.STREAM_ID_OFFSET);
        final long recordVersion = buffer.getLong(offset + RecordDescriptor.VERSION_OFFSET);
        if (recordStream != streamId || recordVersion != version)
        {
            return "the record there is stream " + recordStream + " version " + recordVersion;
        }
        return null;
    }
}
