package io.varvedb.internal.store;

import io.varvedb.internal.index.BlockDescriptor;
import io.varvedb.internal.index.StreamIndex;
import io.varvedb.internal.log.Log;
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
 * is broken); its blocks belong to that stream and lie among the allocated ones; the block entry of version
 * {@code v} points, below the tail, at an event record of that stream and version
 * {@code v}; no entry exists for {@code v + 1} unless an append is writing it; the last block's previous and jump
 * links lead to earlier blocks of the stream; a free slot is all zeros; and, when nobody else can be appending,
 * nothing is pending and the stream count matches the slots in use.
 * <p>
 * After a clean close the index carries a seal instead, a checksum of every slot and allocated block
 * ({@link StreamIndex#seal()}), which is checked in place of the slots when nobody can be appending: it finds any
 * damage the files took at rest, however self-consistent (two stale pages that agree with each other but not with
 * the log), and reads the index in file order rather than one random record per stream. Where no seal
 * holds (after a crash, or beside a live writer) a slot can still be damaged into a state that agrees with itself
 * (a flipped bit in an intermediate block entry); reads check every record they deliver against its stream and
 * version and route around a damaged block link, so such damage is reported when met, never served.
 */
public final class IndexCheck
{
    private final Log log;
    private final StreamIndex index;
    private final long tail;
    private final boolean quiescent;

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
        try
        {
            return check(log, index, tail, quiescent);
        }
        catch (final RuntimeException ex)
        {
            // an index file that cannot even be read (a damaged chunk header, a wrong length) disagrees too
            return ex.getMessage();
        }
    }

    private static String check(final Log log, final StreamIndex index, final long tail, final boolean quiescent)
    {
        final IndexCheck check = new IndexCheck(log, index, tail, quiescent);
        if (quiescent && index.sealWord() != 0)
        {
            // Sealed at a clean close: the seal covers every slot and block, so it alone finds any damage they took
            // at rest, at the cost of reading them in file order instead of one random record per stream. Only
            // when it fails are the slots checked one by one, to name the first that disagrees.
            final String seal = index.checkSeal();
            if (seal == null)
            {
                return null;
            }
            final String slot = check.run();
            return slot != null ? slot : seal;
        }
        return check.run();
    }

    private String run()
    {
        long streams = 0;
        // units never allocated are free throughout and never read (a slot there whose bit was lost is not seen,
        // and found missing by the count below)
        for (int i = index.nextAllocatedSlot(0); i < index.tableSize(); i = index.nextAllocatedSlot(i + 1))
        {
            final int slot = index.slotOffset(i);
            final long streamId = index.streamIdAt(slot);
            if (streamId == 0)
            {
                // a free slot is all zeros: a stream id cleared on disk leaves the rest of its slot behind
                if ((index.state(slot) != 0 || index.firstBlock(slot) != 0 || index.lastBlock(slot) != 0) &&
                    index.streamIdAt(slot) == 0)
                {
                    return "slot " + i + " is free but holds state " + index.state(slot) + ", blocks " +
                        index.firstBlock(slot) + " and " + index.lastBlock(slot);
                }
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
        // a live writer reserves room for a new stream before it claims the slot, and counts the stream after: the
        // reservations (read after the slots) never fall behind the table, the count may. (At rest the
        // reservations are not checked: a writer's open sets them equal to the count.)
        final long counted = index.streamCount();
        final long reserved = index.reservedCount();
        if (quiescent ? streams != counted : streams > reserved)
        {
            return "the header counts " + counted + " streams (" + reserved + " reserved), the table holds " + streams;
        }
        return null;
    }

    private String checkSlot(final int slot, final long streamId)
    {
        // a negative id is a named stream's (NameTableDescriptor): the lookup below checks it as any other
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
        final String links = checkLinks(first, last, streamId, blockCount);
        if (links != null)
        {
            return links;
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
        // An entry for the next version: damage, unless an append is writing it. A live appender makes the state
        // pending before it writes the entry and commits after, so once the entry is seen (acquire) a state read
        // as plainly committed at this version cannot still read so.
        if (index.positionOf(slot, version + 1) >= 0 &&
            (quiescent || (!isPending(state) && index.state(slot) == state)))
        {
            return "version " + version + " but the index has a position for version " + (version + 1);
        }
        return null;
    }

    /**
     * The links an append follows from the last block (its previous block, its jump), and the first block's.
     */
    private String checkLinks(final long first, final long last, final long streamId, final long blockCount)
    {
        if (index.previous(first) != 0 || index.jump(first) != first)
        {
            return "its first block " + first + " has previous " + index.previous(first) + " and jump " +
                index.jump(first);
        }
        if (last == first)
        {
            return null;
        }
        final long ordinal = index.blockOrdinal(last);
        final long previous = index.previous(last);
        final long jump = index.jump(last);
        if (previous <= 0 || previous > blockCount || jump <= 0 || jump > blockCount ||
            index.blockStreamId(previous) != streamId || index.blockOrdinal(previous) != ordinal - 1 ||
            index.next(previous) != last ||
            index.blockStreamId(jump) != streamId || index.blockOrdinal(jump) >= ordinal)
        {
            return "its last block " + last + " (ordinal " + ordinal + ") has damaged links: previous " + previous +
                ", jump " + jump;
        }
        return null;
    }

    private String checkRecord(final long position, final long streamId, final long version)
    {
        // a live writer may have appended since the check began: read its tail after the slot's state (acquire),
        // which its append released after claiming the record
        final long end = quiescent ? tail : log.tail();
        if (position == io.varvedb.internal.index.BlockDescriptor.GONE_POSITION)
        {
            // a version scavenged before the index was rebuilt
            return null;
        }
        if (position < 0 || position >= end || (position & (RecordDescriptor.ALIGNMENT - 1)) != 0)
        {
            return "not a record position below the tail " + end;
        }
        final UnsafeBuffer buffer = log.readBuffer(position);
        if (buffer == null)
        {
            return "no such segment";
        }
        final int offset = log.eventOffset(buffer, position);
        if (offset < 0)
        {
            // scavenged: the segment was compacted without it, which the index is not told of
            return log.insideKept(buffer, position) ? "inside a kept record of a compacted segment" : null;
        }
        final int frameLength = buffer.getIntAcquire(offset + RecordDescriptor.FRAME_LENGTH_OFFSET);
        final int room = log.room(buffer, offset, position);
        // The record's framing and header, not its checksum: the question is whether the slot agrees with the log;
        // a record damaged in itself is reported by the read that meets it (checksums are verified on read), and
        // checksumming one random record per stream would double the cost of the check.
        if (frameLength < RecordDescriptor.HEADER_LENGTH || RecordDescriptor.alignedLength(frameLength) > room ||
            buffer.getShort(offset + RecordDescriptor.RECORD_TYPE_OFFSET) != RecordDescriptor.TYPE_EVENT)
        {
            return "no event record there";
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
