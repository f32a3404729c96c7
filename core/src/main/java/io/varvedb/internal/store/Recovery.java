package io.varvedb.internal.store;

import io.varvedb.CorruptStoreException;
import io.varvedb.internal.index.StreamIndex;
import io.varvedb.internal.log.Log;
import io.varvedb.internal.log.Padding;
import io.varvedb.internal.log.RecordChecksum;
import io.varvedb.StoreIOException;
import org.agrona.concurrent.UnsafeBuffer;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

import java.util.ArrayList;
import java.util.List;

import static io.varvedb.internal.index.StreamIndexDescriptor.committedState;
import static io.varvedb.internal.log.RecordDescriptor.FLAG_TOMBSTONE;
import static io.varvedb.internal.index.StreamIndexDescriptor.isTombstoned;
import static io.varvedb.internal.index.StreamIndexDescriptor.tombstonedState;
import static io.varvedb.internal.index.StreamIndexDescriptor.committedVersion;
import static io.varvedb.internal.log.RecordDescriptor.*;

/**
 * Brings a store that was not closed cleanly back to a consistent state: the log is the source of truth, the
 * stream index is rebuilt from it.
 * <p>
 * What a crash can leave between the last whole record and the tail counter (every claim lies below it):
 * <ul>
 *   <li>a hole of zeros: space claimed, its writer stopped before the first store;</li>
 *   <li>a negative frame length: a record being written; its length is known;</li>
 *   <li>a positive frame length whose checksum fails: torn by a power cut, never by a process crash;</li>
 *   <li>part of a batch: a batch's records are published last-first, so a crash can leave later members
 *   published without the first.</li>
 * </ul>
 * Holes and unfinished records followed by whole records (other threads' appends that completed) become
 * padding, so readers can pass them; an incomplete batch is dropped whole. The log ends after the last whole
 * record; everything after it is zeroed, so no stale byte can ever be taken for a record. A positive record with
 * a bad checksum is a torn tail only if nothing valid follows it; otherwise the store is refused with
 * {@link CorruptStoreException} naming the file and position, because truncating there would drop events that
 * were intact.
 * <p>
 * Holes never break a stream's version sequence: an appender holds its stream's pending state until its record
 * is published, so a stream has no record after one of its own that was left unfinished.
 * <p>
 * <b>After a power cut</b> (the machine rebooted since the writer opened the store) the log beyond the durable
 * position holds whatever the kernel happened to write back before the power went: later pages without earlier
 * ones, records without the ones before them, torn records followed by whole ones. None of it was promised. The
 * log then ends at the first position at or beyond the durable position that does not hold a whole record in
 * sequence (a hole, a torn or unfinished record, a batch in part, a version that does not follow its stream's):
 * recovery keeps the longest whole prefix of the log, which holds everything durable. Below the durable position
 * every record must be whole, after a power cut as after a process crash.
 * <p>
 * What recovery zeroes beyond the new end is forced to disk before the store accepts appends, so that a later
 * power cut cannot bring back records that recovery dropped.
 */
public final class Recovery
{
    private final Log log;
    private final StreamIndex index;
    private final long durable;
    private final boolean incremental;
    private final boolean afterPowerCut;
    private final RecordChecksum checksum = new RecordChecksum();
    private final List<long[]> holes = new ArrayList<>();
    private final List<long[]> batch = new ArrayList<>();
    private long batchStart = -1;
    private long events;
    private long discarded;
    /** Receives every stream name record recovery keeps; null for none. */
    private NameRecords names;

    /**
     * Receives the stream name records recovery keeps (see {@code NameTable}), in log order; a record may come
     * twice (an incremental recovery that fell back to a rebuild), and the same name may be recorded twice.
     */
    @FunctionalInterface
    public interface NameRecords
    {
        /**
         * @param streamId the named stream's id.
         * @param buffer   the segment holding the record.
         * @param offset   the record's offset in it.
         */
        void seen(long streamId, UnsafeBuffer buffer, int offset);
    }

    private Recovery(
        final Log log, final StreamIndex index, final long durable, final boolean incremental,
        final boolean afterPowerCut)
    {
        this.afterPowerCut = afterPowerCut;
        this.log = log;
        this.index = index;
        this.durable = durable;
        this.incremental = incremental;
    }

    /**
     * Repair the log's tail and bring the index in line with it.
     * <p>
     * With an index checkpoint, only the log from the checkpoint on is scanned: the index was forced covering
     * everything before it. Index entries and versions beyond the recovered end are then rolled back, slot by
     * slot. If the index contradicts the log anywhere, recovery falls back to rebuilding it from the start.
     *
     * @param log             the log, writable.
     * @param index           the index, writable.
     * @param indexCheckpoint log position the index was last forced for; 0 to rebuild from the start.
     * @param durable         log position below which the log was forced: damage there is corruption, never
     *                        a torn tail.
     * @param afterPowerCut   the machine may have lost power since the log was written (it rebooted): keep the
     *                        longest whole prefix beyond the durable position.
     * @param beforeRebuild   run before the index is emptied for a rebuild from the start, so that a crash during
     *                        the rebuild cannot leave a partial index that the next open trusts.
     * @return what recovery found.
     */
    public static Result recover(
        final Log log, final StreamIndex index, final long indexCheckpoint, final long durable,
        final boolean afterPowerCut, final Runnable beforeRebuild)
    {
        return recover(log, index, indexCheckpoint, durable, afterPowerCut, beforeRebuild, null);
    }

    /**
     * {@link #recover(Log, StreamIndex, long, long, boolean, Runnable)}, handing every stream name record it keeps
     * to {@code names}.
     *
     * @param log             the log, writable.
     * @param index           the index, writable.
     * @param indexCheckpoint log position the index was last forced for; 0 to rebuild from the start.
     * @param durable         log position below which the log was forced.
     * @param afterPowerCut   the machine may have lost power since the log was written.
     * @param beforeRebuild   run before the index is emptied for a rebuild from the start.
     * @param names           receives the name records; null for none.
     * @return what recovery found.
     */
    public static Result recover(
        final Log log, final StreamIndex index, final long indexCheckpoint, final long durable,
        final boolean afterPowerCut, final Runnable beforeRebuild, final NameRecords names)
    {
        if (indexCheckpoint > 0)
        {
            try
            {
                final Recovery incremental = new Recovery(log, index, durable, true, afterPowerCut);
                incremental.names = names;
                return incremental.run(indexCheckpoint);
            }
            catch (final RuntimeException ex)
            {
                if (ex instanceof CorruptStoreException && ex.getMessage().startsWith(LOG_PREFIX))
                {
                    throw ex;
                }
                // IndexMismatch or damaged index links: the index cannot be trusted, rebuild it from the whole log
            }
        }
        beforeRebuild.run();
        final Recovery rebuild = new Recovery(log, index, durable, false, afterPowerCut);
        rebuild.names = names;
        return rebuild.run(0);
    }

    /**
     * What recovery did.
     *
     * @param end         the log end after recovery.
     * @param scannedFrom where the scan of the log started.
     * @param events      events scanned and indexed.
     * @param discarded   unfinished records dropped or turned into padding.
     */
    public record Result(long end, long scannedFrom, long events, long discarded)
    {
    }

    /** Thrown when the index disagrees with the log during an incremental recovery. */
    private static final class IndexMismatch extends RuntimeException
    {
        private static final long serialVersionUID = 1L;

        IndexMismatch(final String message)
        {
            super(message, null, false, false);
        }
    }

    private static final String LOG_PREFIX = "log: ";
    /** {@link #acceptEvent}: the record completed an event or a batch, which is now indexed. */
    private static final int INDEXED = 0;
    /** {@link #acceptEvent}: the record begins or continues a batch, or was dropped. */
    private static final int HELD = 1;
    /** {@link #acceptEvent}: after a power cut, the record does not follow its stream or its batch. */
    private static final int OUT_OF_SEQUENCE = 2;

    private Result run(final long start)
    {
        if (!incremental)
        {
            index.reset();
        }
        final long tailBound = Math.max(log.tail(), lastSegmentEnd());
        long position = start;
        long goodEnd = start;

        while (position < tailBound)
        {
            final long segment = log.segmentOf(position);
            if (!log.segmentExists(segment))
            {
                if (!afterPowerCut || position < durable)
                {
                    checkNoSegmentAfter(segment);
                }
                break;
            }
            final UnsafeBuffer buffer = log.segmentBuffer(segment);
            if (Log.isCompacted(buffer))
            {
                // sealed and rewritten below the durable position: every record in it whole, no hole, no batch in
                // part (what the scavenger dropped of a batch is gone, what it kept is indexed)
                abandonBatch();
                commitHoles();
                position = recoverCompacted(buffer, position);
                goodEnd = position;
                continue;
            }
            final int offset = log.plainOffset(position);
            final long segmentEnd = log.nextSegmentStart(position);
            final int room = (int)(segmentEnd - position);
            final int frameLength = buffer.getInt(offset + FRAME_LENGTH_OFFSET);

            final boolean valid = frameLength > 0 && isValid(checksum, buffer, offset, frameLength, room);
            if (!valid && position < durable)
            {
                throw new CorruptStoreException(LOG_PREFIX + log.segmentPath(segment) + ": the record at log " +
                    "position " + position + " (file offset " + offset + ") is damaged, below the durable position " +
                    durable + " (the log there was forced to disk); refusing to open rather than lose it");
            }
            if (!valid && afterPowerCut)
            {
                // beyond the durable position after a power cut: nothing from here on was promised
                break;
            }
            if (frameLength > 0)
            {
                if (!valid)
                {
                    if (validRecordAfter(position + ALIGNMENT, tailBound) >= 0)
                    {
                        throw new CorruptStoreException(LOG_PREFIX + log.segmentPath(segment) + ": the record at " +
                            "log position " + position + " (file offset " + offset + ") fails its checksum or " +
                            "framing, and intact records follow it; refusing to open rather than drop them");
                    }
                    break;
                }
                final int aligned = alignedLength(frameLength);
                if (buffer.getShort(offset + RECORD_TYPE_OFFSET) == TYPE_PADDING)
                {
                    if (afterPowerCut && !batch.isEmpty() && position >= durable)
                    {
                        // a batch cut short: the log's whole prefix ends where the batch began
                        break;
                    }
                    abandonBatch();
                    commitHoles();
                    goodEnd = position + aligned;
                }
                else if (buffer.getShort(offset + RECORD_TYPE_OFFSET) == TYPE_STREAM_NAME)
                {
                    // a good record that is no event: kept as padding is, and its name goes to the name table
                    if (afterPowerCut && !batch.isEmpty() && position >= durable)
                    {
                        break;
                    }
                    abandonBatch();
                    commitHoles();
                    goodEnd = position + aligned;
                    if (names != null)
                    {
                        names.seen(buffer.getLong(offset + STREAM_ID_OFFSET), buffer, offset);
                    }
                }
                else
                {
                    final int outcome = acceptEvent(buffer, offset, position);
                    if (outcome == OUT_OF_SEQUENCE)
                    {
                        // after a power cut: a record out of sequence ends the log's whole prefix
                        break;
                    }
                    if (outcome == INDEXED)
                    {
                        commitHoles();
                        goodEnd = position + aligned;
                    }
                }
                position += aligned;
            }
            else
            {
                abandonBatch();
                final int claimed = -frameLength;
                final long next;
                if (frameLength < 0 && claimed >= HEADER_LENGTH && alignedLength(claimed) <= room)
                {
                    next = position + alignedLength(claimed);
                }
                else
                {
                    final long found = validRecordAfter(position + ALIGNMENT, Math.min(segmentEnd, tailBound));
                    next = found >= 0 ? found : Math.min(segmentEnd, tailBound);
                }
                holes.add(new long[]{ position, next - position });
                position = next;
            }
        }

        abandonBatch();
        holes.clear();
        if (goodEnd < durable)
        {
            throw new CorruptStoreException(LOG_PREFIX + "the log ends at " + goodEnd + " but was forced to disk up " +
                "to " + durable + " (" + log.segmentPath(log.segmentOf(goodEnd)) + "); refusing to open");
        }
        truncate(goodEnd);
        if (incremental)
        {
            repairSlots(goodEnd);
        }
        return new Result(goodEnd, start, events, discarded);
    }

    /**
     * Index the kept records of a compacted segment from {@code position} on.
     *
     * @return the next segment's start.
     */
    private long recoverCompacted(final UnsafeBuffer buffer, final long position)
    {
        final long segmentEnd = log.nextSegmentStart(position);
        long at = log.ceiling(buffer, position);
        while (at < segmentEnd)
        {
            final int offset = log.offset(buffer, at);
            final int frameLength = buffer.getInt(offset + FRAME_LENGTH_OFFSET);
            if (frameLength <= 0 || !isValid(checksum, buffer, offset, frameLength, log.room(buffer, offset, at)))
            {
                throw new CorruptStoreException(LOG_PREFIX + log.segmentPath(log.segmentOf(at)) + ": the kept " +
                    "record at log position " + at + " (file offset " + offset + ") of this compacted segment is " +
                    "damaged; refusing to open rather than lose it");
            }
            final short type = buffer.getShort(offset + RECORD_TYPE_OFFSET);
            if (type == TYPE_STREAM_NAME && names != null)
            {
                names.seen(buffer.getLong(offset + STREAM_ID_OFFSET), buffer, offset);
            }
            else if (type == TYPE_EVENT)
            {
                index(buffer.getLong(offset + STREAM_ID_OFFSET), buffer.getLong(offset + VERSION_OFFSET), at,
                    (buffer.getShort(offset + FLAGS_OFFSET) & FLAG_TOMBSTONE) != 0);
            }
            at = log.ceiling(buffer, at + alignedLength(frameLength));
        }
        return segmentEnd;
    }

    /**
     * Roll every stream back to its last event below {@code end}: the index may hold versions, pending states
     * or entries for records that recovery dropped, and its counters may lag behind its slots.
     */
    private void repairSlots(final long end)
    {
        long streams = 0;
        long maxBlock = 0;
        // units never allocated hold no stream, and are never read
        for (int i = index.nextAllocatedSlot(0); i < index.tableSize(); i = index.nextAllocatedSlot(i + 1))
        {
            final int slot = index.slotOffset(i);
            if (index.streamIdAt(slot) == 0)
            {
                continue;
            }
            streams++;
            maxBlock = Math.max(maxBlock, index.lastBlock(slot));
            final long state = index.state(slot);
            final long committed = committedVersion(state);
            long version = committed;
            while (version > 0)
            {
                final long position = index.positionOf(slot, version);
                if (position >= 0 && position < end)
                {
                    break;
                }
                version--;
            }
            index.clearAfter(slot, version);
            // a tombstone the log still holds stays final
            index.releaseState(slot, version == committed && isTombstoned(state) ?
                tombstonedState(version) : committedState(version));
        }
        index.repairCounters(streams, maxBlock);
    }

    /**
     * @return {@link #INDEXED} if the record completes an event or a batch, now indexed; {@link #HELD} if it
     * begins or continues a batch, or is dropped; {@link #OUT_OF_SEQUENCE} if, after a power cut, it does not
     * follow its stream or its batch: the log's whole prefix ends before it.
     */
    private int acceptEvent(final UnsafeBuffer buffer, final int offset, final long position)
    {
        final short flags = buffer.getShort(offset + FLAGS_OFFSET);
        final long streamId = buffer.getLong(offset + STREAM_ID_OFFSET);
        final long version = buffer.getLong(offset + VERSION_OFFSET);
        final long recordLength = alignedLength(buffer.getInt(offset + FRAME_LENGTH_OFFSET));

        if ((flags & FLAG_BATCH_CONTINUATION) != 0)
        {
            final long[] previous = batch.isEmpty() ? null : batch.get(batch.size() - 1);
            if (previous == null || previous[0] + previous[3] != position || previous[1] != streamId ||
                previous[2] + 1 != version)
            {
                if (afterPowerCut && position >= durable)
                {
                    return OUT_OF_SEQUENCE;
                }
                // a later member of a batch whose first record never got published: drop it
                abandonBatch();
                holes.add(new long[]{ position, recordLength });
                discarded++;
                return HELD;
            }
        }
        else
        {
            abandonBatch();
            batchStart = position;
        }

        batch.add(new long[]{ position, streamId, version, recordLength, flags & FLAG_TOMBSTONE });
        if ((flags & FLAG_BATCH_MORE) != 0)
        {
            return HELD;
        }

        // a batch's members follow one another (checked above): its first must follow the stream
        if (afterPowerCut && batch.get(0)[0] >= durable && !inSequence(batch.get(0)[1], batch.get(0)[2]))
        {
            return OUT_OF_SEQUENCE;
        }
        for (final long[] event : batch)
        {
            index(event[1], event[2], event[0], event[4] != 0);
        }
        batch.clear();
        batchStart = -1;
        return INDEXED;
    }

    private void abandonBatch()
    {
        if (!batch.isEmpty())
        {
            final long[] last = batch.get(batch.size() - 1);
            holes.add(new long[]{ batchStart, last[0] + last[3] - batchStart });
            discarded += batch.size();
            batch.clear();
        }
        batchStart = -1;
    }

    private void commitHoles()
    {
        for (final long[] hole : holes)
        {
            final UnsafeBuffer buffer = log.bufferFor(hole[0]);
            final int offset = log.plainOffset(hole[0]);
            buffer.setMemory(offset, (int)hole[1], (byte)0);
            Padding.write(buffer, offset, (int)hole[1]);
            discarded++;
        }
        holes.clear();
    }

    /**
     * @return true if {@code version} is the next version of the stream, or one the index holds already.
     */
    private boolean inSequence(final long streamId, final long version)
    {
        final int slot = index.findSlot(streamId);
        final long current = slot < 0 ? 0 : committedVersion(index.state(slot));
        return version == current + 1 || (incremental && version <= current) || firstAfterScavenge(current, version);
    }

    private void index(final long streamId, final long version, final long position, final boolean tombstone)
    {
        final int slot = index.findOrCreateSlot(streamId);
        final long current = committedVersion(index.state(slot));
        if (incremental && version <= current)
        {
            if (index.positionOf(slot, version) != position)
            {
                throw new IndexMismatch("stream " + streamId + " version " + version);
            }
            events++;
            return;
        }
        if (firstAfterScavenge(current, version))
        {
            // the stream's first versions were scavenged: they are indexed as gone, so that versions keep their
            // numbers and readers skip them
            for (long gone = 1; gone < version; gone++)
            {
                index.prepareBlock(slot, streamId, gone);
                index.putPosition(slot, gone, io.varvedb.internal.index.BlockDescriptor.GONE_POSITION);
            }
            index.releaseState(slot, committedState(version - 1));
        }
        else if (version != current + 1)
        {
            if (incremental)
            {
                throw new IndexMismatch("stream " + streamId + " version " + version + " after " + current);
            }
            throw new CorruptStoreException(LOG_PREFIX + "position " + position + " (" +
                log.segmentPath(log.segmentOf(position)) + "): stream " + streamId + " has version " + version +
                " after version " + current + "; the log is inconsistent");
        }
        if (isTombstoned(index.state(slot)))
        {
            throw new CorruptStoreException(LOG_PREFIX + "position " + position + " (" +
                log.segmentPath(log.segmentOf(position)) + "): stream " + streamId + " has version " + version +
                " after its tombstone; the log is inconsistent");
        }
        index.prepareBlock(slot, streamId, version);
        index.putPosition(slot, version, position);
        index.releaseState(slot, tombstone ? tombstonedState(version) : committedState(version));
        events++;
    }

    /**
     * @return true if a rebuild meets a stream's first record at a version after 1 in a log with compacted segments:
     * what a scavenger drops of a stream is a prefix of its versions. Anywhere else, and after the stream's first
     * record, a version must follow its predecessor.
     */
    private boolean firstAfterScavenge(final long current, final long version)
    {
        return !incremental && current == 0 && version > 1 && log.hasCompactedSegments();
    }

    /**
     * The first position in {@code [from, bound)} that holds a valid record, or -1. Frame lengths are looked for
     * through the file channel, a chunk at a time, not the mapping: the range is mostly a hole the log had not grown
     * into, which a read through a shared mapping of a tmpfs would fill with new pages (a {@code SIGBUS} when the
     * tmpfs is full). Only a position with a non-zero frame length, which lies in allocated space, is checked
     * through the mapping.
     */
    private long validRecordAfter(final long from, final long bound)
    {
        final ByteBuffer chunk = ByteBuffer.allocate(SCAN_CHUNK).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        long position = from;
        while (position < bound)
        {
            final long segment = log.segmentOf(position);
            if (!log.segmentExists(segment))
            {
                return -1;
            }
            final UnsafeBuffer buffer = log.segmentBuffer(segment);
            final long segmentEnd = Math.min(bound, log.nextSegmentStart(position));
            try (FileChannel channel = FileChannel.open(log.segmentPath(segment), StandardOpenOption.READ))
            {
                while (position < segmentEnd)
                {
                    final int offset = log.plainOffset(position);
                    chunk.clear().limit((int)Math.min(SCAN_CHUNK, segmentEnd - position));
                    final int read = channel.read(chunk, offset);
                    if (read < Integer.BYTES)
                    {
                        return -1;
                    }
                    for (int i = 0; i + Integer.BYTES <= read; i += ALIGNMENT)
                    {
                        final int frameLength = chunk.getInt(i + FRAME_LENGTH_OFFSET);
                        if (frameLength > 0 && isValid(checksum, buffer, offset + i, frameLength,
                            (int)(log.nextSegmentStart(position) - position - i)))
                        {
                            return position + i;
                        }
                    }
                    position += (read + ALIGNMENT - 1) / ALIGNMENT * ALIGNMENT;
                }
            }
            catch (final IOException ex)
            {
                throw new StoreIOException("cannot read " + log.segmentPath(segment) + ": " + ex.getMessage(), ex);
            }
        }
        return -1;
    }

    /**
     * @param buffer      a segment.
     * @param offset      of a record with a positive frame length.
     * @param frameLength its frame length.
     * @param room        bytes left in the segment from the record's start.
     * @return true when type, framing and checksum agree.
     */
    public static boolean isValid(
        final RecordChecksum checksum, final UnsafeBuffer buffer, final int offset, final int frameLength, final int room)
    {
        // the readers' checks, checksums included; what recovery adds is that an event names a stream and version
        return Log.frameDamage(buffer, offset, frameLength, room, checksum) == null &&
            (buffer.getShort(offset + RECORD_TYPE_OFFSET) == TYPE_PADDING ||
            buffer.getShort(offset + RECORD_TYPE_OFFSET) == TYPE_STREAM_NAME ||
            buffer.getLong(offset + STREAM_ID_OFFSET) != 0 && buffer.getLong(offset + VERSION_OFFSET) > 0);
    }

    private void checkNoSegmentAfter(final long missing)
    {
        for (final long segment : log.segmentFiles())
        {
            if (segment > missing)
            {
                throw new CorruptStoreException(LOG_PREFIX + "segment " + log.segmentPath(missing) + " is missing but " +
                    log.segmentPath(segment) + " exists; refusing to open rather than drop the events after the gap");
            }
        }
    }

    private long lastSegmentEnd()
    {
        final long[] segments = log.segmentFiles();
        return segments.length == 0 ? 0 : (segments[segments.length - 1] + 1) * log.segmentLength();
    }

    private void truncate(final long end)
    {
        final long segment = log.segmentOf(end);
        if (log.segmentExists(segment))
        {
            final UnsafeBuffer buffer = log.segmentBuffer(segment);
            final int from = log.plainOffset(end);
            final int dirtyEnd = zeroNonZero(log.segmentPath(segment), buffer, from);
            if (dirtyEnd > from)
            {
                // durable before any append: a power cut must not bring back what was dropped here
                log.force(end, end + (dirtyEnd - from));
            }
        }
        log.deleteSegmentsAfter(segment);
        log.tail(end);
    }

    /**
     * Zero the bytes of {@code buffer} from {@code from} to its end, writing only where they are not zero already,
     * so a mostly empty segment is not dirtied (and forced) whole.
     * <p>
     * The bytes are looked at through the file channel, not the mapping: most of the range is usually a hole (the
     * log had not grown into it), which a read through a shared mapping of a tmpfs would fill with new pages (the
     * whole segment, and a {@code SIGBUS} if the tmpfs is full), while a read through the channel reads it as zeros
     * and allocates nothing. Only bytes found non-zero, which lie in allocated space, are written, through the mapping
     * (the channel and the mapping share the page cache).
     *
     * @return the end of the last range written, or {@code from} if all was zero.
     */
    private static int zeroNonZero(final Path file, final UnsafeBuffer buffer, final int from)
    {
        final int capacity = buffer.capacity();
        int dirtyEnd = from;
        final ByteBuffer chunk = ByteBuffer.allocate(SCAN_CHUNK);
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ))
        {
            int position = from;
            while (position < capacity)
            {
                chunk.clear().limit(Math.min(SCAN_CHUNK, capacity - position));
                final int read = channel.read(chunk, position);
                if (read <= 0)
                {
                    // the file is shorter than its mapping: nothing there to zero (the segment's check refuses that)
                    break;
                }
                final byte[] bytes = chunk.array();
                int i = 0;
                for (; i + Long.BYTES <= read; i += Long.BYTES)
                {
                    if (chunk.getLong(i) != 0)
                    {
                        dirtyEnd = zeroBytes(bytes, i, Long.BYTES, buffer, position);
                    }
                }
                if (i < read)
                {
                    dirtyEnd = Math.max(dirtyEnd, zeroBytes(bytes, i, read - i, buffer, position));
                }
                position += read;
            }
        }
        catch (final IOException ex)
        {
            throw new StoreIOException("cannot read " + file + " to zero it after the end of the log: " +
                ex.getMessage(), ex);
        }
        return dirtyEnd;
    }

    private static final int SCAN_CHUNK = 64 * 1024;

    /**
     * Zero, through the mapping, the bytes of {@code bytes[from, from + length)} (read at file offset
     * {@code position}) that are not zero.
     *
     * @return the end of the last byte written, or 0 if none.
     */
    private static int zeroBytes(
        final byte[] bytes, final int from, final int length, final UnsafeBuffer buffer, final int position)
    {
        int dirtyEnd = 0;
        for (int i = from; i < from + length; i++)
        {
            if (bytes[i] != 0)
            {
                buffer.putByte(position + i, (byte)0);
                dirtyEnd = position + i + 1;
            }
        }
        return dirtyEnd;
    }
}
