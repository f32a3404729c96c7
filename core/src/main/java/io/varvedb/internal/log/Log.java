package io.varvedb.internal.log;

import io.varvedb.CorruptStoreException;
import io.varvedb.StoreClosedException;
import io.varvedb.StoreIOException;
import io.varvedb.internal.io.FileHeaders;
import io.varvedb.internal.io.ForceObserver;
import io.varvedb.internal.io.MappedFile;
import io.varvedb.internal.store.MetaDescriptor;
import org.agrona.concurrent.UnsafeBuffer;

import java.io.IOException;
import java.nio.file.FileStore;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.TreeMap;
import java.util.stream.Stream;

import static io.varvedb.internal.log.RecordDescriptor.*;

/**
 * The global log: a sequence of fixed-size, memory-mapped segment files addressed by one {@code long} position.
 * <p>
 * Space is claimed with one atomic add on the tail counter in {@code varve.meta}. A claim that would cross a
 * segment's end is turned into padding (up to the end, and from the start of the next segment to the claim's
 * end) and retried, so every segment is tiled exactly by records and no claimer ever waits for another.
 * <p>
 * <b>Disk blocks are given as the log grows.</b> A segment file has its full length from its creation (readers, in
 * this process and others, map it whole), but only its header has disk blocks then; the rest is a hole. The log
 * keeps {@link #allocatedEnd()}: every log position below it has disk blocks and its pages are touched, and nothing
 * is ever written at or beyond it (a write into a hole of a shared mapping on a full disk is a {@code SIGBUS} that
 * kills the process, not an exception). Blocks are given in order, from {@code allocatedEnd} on, by
 * {@link #allocate} under one lock: the pre-allocator keeps a lead ahead of the tail, and an appender whose claim
 * would reach {@code allocatedEnd} allocates the missing chunk itself, off the fast path, failing with
 * {@link StoreIOException} when the disk is full. So every record and padding on disk lies in allocated space, and
 * any hole below the tail (a claim a killed appender never wrote) is allocated whenever a record follows it.
 */
public final class Log
{
    /**
     * Bytes an appender that reaches {@link #allocatedEnd()} allocates at least, and the pre-allocator per step. Steps
     * end where the segment file's offset is a multiple of it, so no page-cache folio (up to 2 MiB on x86-64, aligned
     * in the file) holds both allocated blocks and a hole: a write to such a folio reserves disk for all of it, and on
     * a full disk that is a {@code SIGBUS} even for a write to an allocated page (measured on ext4, see
     * {@code StreamIndexDescriptor}).
     */
    public static final int ALLOCATION_CHUNK = 2 << 20;


    private final Path directory;
    private final UnsafeBuffer meta;
    private final int segmentLength;
    private final int shift;
    private final long mask;
    private final int maxClaimLength;
    private final boolean readOnly;
    private final ForceObserver observer;
    private final Object segmentLock = new Object();
    private final TreeMap<Long, Integer> pendingPadding = new TreeMap<>();
    private volatile MappedFile[] segments = new MappedFile[0];
    private volatile UnsafeBuffer[] buffers = new UnsafeBuffer[0];
    /** Every page of the log below it is touched in this process (see touchAhead); its caller's thread only. */
    private long touchedEnd;
    private Runnable onBehind = () -> {};
    /** Counts segment rolls and waits for space; null for none. */
    private io.varvedb.internal.counters.StoreCounters counters;
    /** One allocator at a time: {@link #allocate} holds it while it gives blocks to the range after the end. */
    private final Object allocationLock = new Object();
    /**
     * Null in single-process mode; else the record locks that serialise allocation and segment creation between
     * the writer processes. The allocated end lives in {@code varve.meta}
     * ({@link MetaDescriptor#ALLOCATED_END_OFFSET}), shared by them all: written only under {@link #allocationLock}
     * (and the record lock), with release; read with acquire by claimers.
     */
    private io.varvedb.internal.process.LockFile lockFile;
    /** Where the log's files are; only the allocator uses it, under {@link #allocationLock}. */
    private FileStore fileStore;
    private long creatableFrom;
    private long creating = -1;
    private boolean closed;
    /** True once a compacted segment was mapped or written by this log. */
    private volatile boolean compactedSeen;
    /** Tells when no reader can still touch a replaced mapping; {@link ReaderGrace#NONE} without readers. */
    private ReaderGrace grace = ReaderGrace.NONE;
    /** Mappings replaced but maybe still read; under {@link #segmentLock}. */
    private final List<Retired> retired = new ArrayList<>();
    /** Their number, read without the lock as a hint ({@link #hasRetired}). */
    private int retiredCount;
    /** Segments being rewritten by this process; under {@link #segmentLock}. */
    private final java.util.Set<Long> replacing = new java.util.HashSet<>();
    /** The replaced-segments generation this log's mappings are up to date with (a hint read without the lock). */
    private long seenGeneration;
    /** Where the log is stable: below it no claim is in flight and every record is durable. */
    private java.util.function.LongSupplier stableBound;

    private record Retired(MappedFile file, ReaderGrace.Token token)
    {
    }

    /**
     * @param directory     the {@code log/} directory.
     * @param meta          the store's meta file, holding the tail counter.
     * @param segmentLength data bytes per segment, a power of two.
     * @param readOnly      map read-only and never create files.
     * @param observer      sees every file created and every force.
     */
    public Log(
        final Path directory, final UnsafeBuffer meta, final int segmentLength, final boolean readOnly,
        final ForceObserver observer)
    {
        if (Integer.bitCount(segmentLength) != 1 || segmentLength < MIN_SEGMENT_LENGTH)
        {
            throw new CorruptStoreException(
                "segment length " + segmentLength + " is not a power of two >= " + MIN_SEGMENT_LENGTH);
        }
        this.directory = directory;
        this.meta = meta;
        this.segmentLength = segmentLength;
        this.shift = Integer.numberOfTrailingZeros(segmentLength);
        this.mask = segmentLength - 1;
        this.maxClaimLength = segmentLength / 2;
        this.readOnly = readOnly;
        this.observer = observer;
        this.seenGeneration = meta.getLongVolatile(MetaDescriptor.REPLACED_GENERATION_OFFSET);
        this.stableBound = () -> Math.min(tail(), meta.getLongVolatile(MetaDescriptor.DURABLE_POSITION_OFFSET));
        if (!readOnly)
        {
            try
            {
                Files.createDirectories(directory);
            }
            catch (final IOException ex)
            {
                throw new StoreIOException("cannot create " + directory + ": " + ex.getMessage(), ex);
            }
        }
    }

    /**
     * @param counters counts segment rolls and appends that waited for space; null for none.
     */
    public void counters(final io.varvedb.internal.counters.StoreCounters counters)
    {
        this.counters = counters;
    }

    /**
     * @return segments mapped beyond the one the tail is in: made ahead of the appends, ready for them.
     */
    public long segmentsAhead()
    {
        final MappedFile[] files = segments;
        final long tailSegment = segmentOf(tail());
        long ahead = 0;
        for (long s = tailSegment + 1; s < files.length && files[(int)s] != null; s++)
        {
            ahead++;
        }
        return ahead;
    }

    /**
     * @param onBehind run by an appender whose claim moved the log into a new segment, or that had to allocate
     *                 space itself (the pre-allocator is behind); must not block.
     */
    public void onBehind(final Runnable onBehind)
    {
        this.onBehind = onBehind;
    }

    /**
     * Start allocating at {@code position}, the tail after recovery: everything below it that was ever written has
     * disk blocks (a record or padding was written only into allocated space, and a hole below the tail survives
     * recovery only where a record follows it, which makes the hole allocated too: blocks are given in order). The
     * bytes from it on may be a hole, even within its page (a file system's block may be smaller than a page), so
     * the first chunk is zero-filled from the position itself, which re-zeroes nothing anyone uses: recovery and a
     * clean close leave only zeros after the tail. Call before any appender exists.
     *
     * @param position the tail.
     */
    public void allocatedFrom(final long position)
    {
        synchronized (allocationLock)
        {
            // release: nothing to order here (no appender yet); the same store as every later publication
            meta.putLongRelease(MetaDescriptor.ALLOCATED_END_OFFSET, position);
        }
    }

    /**
     * @return the end of the allocated log: every position below it may be written. Acquire: pairs with the
     * release in {@link #allocate}, so the caller's later writes below it come after the zeros and touches that
     * allocated it.
     */
    public long allocatedEnd()
    {
        return meta.getLongAcquire(MetaDescriptor.ALLOCATED_END_OFFSET);
    }

    /**
     * Share the log with other writer processes: allocation and segment creation then happen under record locks
     * of the store's lock file too.
     *
     * @param lockFile the store's lock file.
     */
    public void shareWith(final io.varvedb.internal.process.LockFile lockFile)
    {
        this.lockFile = lockFile;
    }

    private void lockAcross(final long range)
    {
        io.varvedb.internal.process.LockFile.lockIfShared(lockFile, range);
    }

    private void unlockAcross(final long range)
    {
        io.varvedb.internal.process.LockFile.unlockIfShared(lockFile, range);
    }

    /**
     * Forbid creating segment files below {@code segment}: the log has used those, so a missing one is damage to
     * report, not a file to make anew.
     *
     * @param segment the first segment that may still be created.
     */
    public void creatableFrom(final long segment)
    {
        this.creatableFrom = segment;
    }

    /** Segments the pre-allocator keeps ready beyond the one being appended to. */
    public static final int SEGMENTS_AHEAD = 2;

    /** Smallest segment the format allows. */
    public static final int MIN_SEGMENT_LENGTH = 64 * 1024;
    /** Largest segment the format allows: one mapping, indexed by {@code int}, must hold it and its header. */
    public static final int MAX_SEGMENT_LENGTH = 1 << 30;

    /**
     * @return the largest aligned length one claim (a record, or a whole batch) may have.
     */
    public int maxClaimLength()
    {
        return maxClaimLength;
    }

    /**
     * @return data bytes per segment.
     */
    public int segmentLength()
    {
        return segmentLength;
    }

    /**
     * @return the end of all claimed space.
     */
    public long tail()
    {
        return meta.getLongVolatile(MetaDescriptor.TAIL_POSITION_OFFSET);
    }

    /**
     * Set the tail; only during recovery, before any appender exists.
     *
     * @param position the new tail.
     */
    public void tail(final long position)
    {
        meta.putLongVolatile(MetaDescriptor.TAIL_POSITION_OFFSET, position);
    }

    /**
     * Claim {@code alignedLength} contiguous bytes within one segment.
     *
     * @param alignedLength a multiple of {@link RecordDescriptor#ALIGNMENT}, at most {@link #maxClaimLength()}.
     * @return the position of the claimed space; its segment is mapped.
     * @throws StoreIOException if a segment file cannot be created (nothing is claimed, or the claim is
     *                          turned into padding as soon as the segment can be created).
     */
    public long claim(final int alignedLength)
    {
        while (true)
        {
            // acquire: pairs with the release in allocate(); one load (a plain mov on x86) and, below, two compares
            // are the whole fast path. A claim must end strictly below it, so the frame length after the claim
            // (where readers look next) is allocated too.
            final long allocated = allocatedEnd();
            // Allocate what a claim from the current tail would need before claiming, so a full disk fails the
            // append cleanly (nothing claimed) instead of leaving padding in the log.
            final long expectedEnd = meta.getLongVolatile(MetaDescriptor.TAIL_POSITION_OFFSET) + alignedLength;
            if (expectedEnd >= allocated)
            {
                if (counters != null)
                {
                    counters.segmentWaited();
                }
                allocate(expectedEnd, false);
                onBehind.run();
                continue;
            }

            // atomic add: the single point that orders claims; every claimer gets a disjoint range
            final long position = meta.getAndAddLong(MetaDescriptor.TAIL_POSITION_OFFSET, alignedLength);
            final long end = position + alignedLength;
            final long segment = position >>> shift;
            if (segment == (end - 1) >>> shift)
            {
                if (counters != null && (position & ((1L << shift) - 1)) == 0 && position != 0)
                {
                    // this claim starts the next segment exactly: the roll into it, with nothing to pad
                    counters.segmentRolled();
                }
                if (end >= allocated)
                {
                    // others claimed meanwhile: the claim reaches beyond what was allocated when we looked
                    if (counters != null)
                    {
                        counters.segmentWaited();
                    }
                    allocateOrDefer(position, alignedLength);
                }
                return position;
            }

            final long boundary = (segment + 1) << shift;
            if (counters != null)
            {
                // this claim crossed the boundary: the one roll into the next segment
                counters.segmentRolled();
            }
            try
            {
                padOrDefer(position, (int)(boundary - position));
            }
            catch (final RuntimeException ex)
            {
                // the part in the next segment is space nobody may use either
                deferPadding(boundary, (int)(end - boundary));
                throw ex;
            }
            padOrDefer(boundary, (int)(end - boundary));
            onBehind.run();
        }
    }

    private void allocateOrDefer(final long position, final int length)
    {
        try
        {
            allocate(position + length, false);
        }
        catch (final RuntimeException ex)
        {
            deferPadding(position, length);
            throw ex;
        }
        onBehind.run();
    }

    private void padOrDefer(final long position, final int length)
    {
        // the whole padding must lie in allocated space (see allocate()), though only its header is written
        if (position + length >= allocatedEnd())
        {
            allocateOrDefer(position, length);
        }
        Padding.write(segmentBuffer(position >>> shift), plainOffset(position), length);
    }

    private void deferPadding(final long position, final int length)
    {
        synchronized (segmentLock)
        {
            // another thread may have allocated the range since this one failed to: then write it now (the end is
            // published under this lock, so it cannot move between this look and the put)
            final MappedFile[] files = segments;
            final long segment = position >>> shift;
            if (position + length < allocatedEnd() && segment < files.length && files[(int)segment] != null)
            {
                // by CAS: in multi-process mode a survivor may have padded the hole already
                Padding.writeOver(files[(int)segment].buffer(), plainOffset(position), 0, length);
            }
            else
            {
                pendingPadding.put(position, length);
            }
        }
    }

    /**
     * @return true while claims that met a file-system failure wait for their segment to be created; the log has
     * holes until then, so the store must not be marked closed cleanly.
     */
    public boolean hasDeferredPadding()
    {
        synchronized (segmentLock)
        {
            return !pendingPadding.isEmpty();
        }
    }

    /**
     * Walk published records from {@code from}: the end of the run of published records that starts there.
     * <p>
     * Each frame length is read with acquire, pairing with the release store that published the record, so every
     * byte below the returned position happens-before whatever the caller does next (read it, force it).
     *
     * @param from  a record position below which everything is published.
     * @param bound stop here at the latest, such as the tail.
     * @return the first position at or after {@code from} that holds no published record, or {@code bound}.
     */
    public long publishedEnd(final long from, final long bound)
    {
        long position = from;
        while (position < bound)
        {
            final UnsafeBuffer buffer = readBuffer(position);
            if (buffer == null)
            {
                break;
            }
            // acquire: pairs with the release of the frame length that publishes the record. Below the durable
            // position and in-flight claims only, where no segment is compacted, but buffer-aware all the same
            final int offset = offset(buffer, position);
            if (offset < 0)
            {
                position = ceiling(buffer, position);
                continue;
            }
            final int frameLength = buffer.getIntAcquire(offset + FRAME_LENGTH_OFFSET);
            if (frameLength <= 0 || frameDamage(buffer, offset, frameLength,
                (int)(Math.min(nextSegmentStart(position), bound) - position), null) != null)
            {
                // not published yet; or a damaged frame, or one running past the bound, which this walk never
                // passes (readers report it)
                break;
            }
            position += alignedLength(frameLength);
        }
        return position;
    }

    /**
     * The checks every reader makes before it trusts a committed record's frame length: it must fit in its segment,
     * an event must hold a whole header, and a padding must be sound ({@link Padding#damage}); with a checksum, the
     * record's checksum must match too.
     *
     * @param buffer      the segment.
     * @param offset      of the record in the buffer.
     * @param frameLength the record's frame length, positive.
     * @param room        bytes from the record to the end of its segment.
     * @param checksum    verifies the record's checksum (an event's costs a pass over its payload); null to check
     *                    the framing only.
     * @return null if the record is sound, else what is wrong.
     */
    public static String frameDamage(
        final UnsafeBuffer buffer, final int offset, final int frameLength, final int room,
        final RecordChecksum checksum)
    {
        if (frameLength > room)
        {
            return "damaged frame length " + frameLength + ": it runs " + (frameLength - room) +
                " bytes past the end of its segment";
        }
        final short type = buffer.getShort(offset + RECORD_TYPE_OFFSET);
        if (type == TYPE_EVENT)
        {
            if (frameLength < minFrameLength(buffer.getShort(offset + FLAGS_OFFSET)))
            {
                return "damaged frame length " + frameLength + ": shorter than an event's header";
            }
            return checksum == null || buffer.getInt(offset + CHECKSUM_OFFSET) ==
                checksum.compute(buffer, offset + CHECKSUM_START, frameLength - CHECKSUM_START) ?
                null : "checksum mismatch";
        }
        if (type == TYPE_PADDING)
        {
            return Padding.damage(buffer, offset, frameLength, room, checksum);
        }
        if (type == TYPE_STREAM_NAME)
        {
            // a name's own checks: the length it gives fills the frame, and the id is a named one
            if (frameLength < NAME_OFFSET || buffer.getInt(offset + NAME_LENGTH_OFFSET) != frameLength - NAME_OFFSET ||
                frameLength == NAME_OFFSET || buffer.getLong(offset + STREAM_ID_OFFSET) >= 0 ||
                buffer.getLong(offset + VERSION_OFFSET) != 0)
            {
                return "damaged stream name record (frame length " + frameLength + ")";
            }
            return checksum == null || buffer.getInt(offset + CHECKSUM_OFFSET) ==
                checksum.compute(buffer, offset + CHECKSUM_START, frameLength - CHECKSUM_START) ?
                null : "checksum mismatch";
        }
        return "unknown record type " + type;
    }

    /**
     * The file offset of a position in a <b>plain</b> segment: arithmetic only. For writers at their claims beyond
     * every compacted segment (the appender at the tail, padding, allocation, recovery's repairs of the tail);
     * a reader of earlier positions uses {@link #offset(UnsafeBuffer, long)}, which knows compacted segments.
     *
     * @param position a log position in a segment that is certainly plain (at or after the durable position).
     * @return the offset of that position in its segment's buffer.
     */
    public int plainOffset(final long position)
    {
        return SegmentDescriptor.HEADER_LENGTH + (int)(position & mask);
    }

    /**
     * @param buffer   the buffer of the position's segment, as {@link #readBuffer} gave it.
     * @param position a log position.
     * @return the offset of the record at that position in the buffer; for a compacted segment, -1 if no kept record
     * starts there (a dropped range, or inside a kept record).
     */
    public int offset(final UnsafeBuffer buffer, final long position)
    {
        if (buffer instanceof CompactedBuffer)
        {
            return ((CompactedBuffer)buffer).fileOffset((int)(position & mask));
        }
        return SegmentDescriptor.HEADER_LENGTH + (int)(position & mask);
    }

    /**
     * For random access (an index entry, an id table slot): where the event at {@code position} is.
     *
     * @param buffer   the buffer of the position's segment.
     * @param position an event's position.
     * @return its offset in the buffer, or -1 if the event was scavenged (its segment was compacted without it);
     * callers skip it.
     */
    public int eventOffset(final UnsafeBuffer buffer, final long position)
    {
        return offset(buffer, position);
    }

    /**
     * Where a reader stepping through the log goes on from {@code position}.
     *
     * @param buffer   the buffer of the position's segment.
     * @param position a log position.
     * @return the position itself in a plain segment or where a kept record starts; else the next kept record of its
     * compacted segment, or the next segment's start if none follows.
     */
    public long ceiling(final UnsafeBuffer buffer, final long position)
    {
        if (buffer instanceof CompactedBuffer)
        {
            final int next = ((CompactedBuffer)buffer).ceiling((int)(position & mask));
            return next < 0 ? nextSegmentStart(position) : ((position >>> shift) << shift) + next;
        }
        return position;
    }

    /**
     * @param buffer   the buffer of the position's segment.
     * @param offset   a record's offset in it.
     * @param position the record's position.
     * @return the bytes a record there may span: to its segment's end, and within the buffer.
     */
    public int room(final UnsafeBuffer buffer, final int offset, final long position)
    {
        return (int)Math.min(nextSegmentStart(position) - position, (long)buffer.capacity() - offset);
    }

    /**
     * @param buffer   the buffer of the position's segment.
     * @param position a log position that is no record start of it ({@link #offset(UnsafeBuffer, long)} is -1).
     * @return true if it lies inside a kept record of a compacted segment (no position anyone was given), false if
     * in a dropped range.
     */
    public boolean insideKept(final UnsafeBuffer buffer, final long position)
    {
        return buffer instanceof CompactedBuffer && ((CompactedBuffer)buffer).insideKept((int)(position & mask));
    }

    /**
     * @param buffer a segment's buffer.
     * @return true if it is a compacted segment's.
     */
    public static boolean isCompacted(final UnsafeBuffer buffer)
    {
        return buffer instanceof CompactedBuffer;
    }

    /**
     * @param position a log position.
     * @return the segment index holding it.
     */
    public long segmentOf(final long position)
    {
        return position >>> shift;
    }

    /**
     * @param position a log position.
     * @return the first position of the next segment.
     */
    public long nextSegmentStart(final long position)
    {
        return ((position >>> shift) + 1) << shift;
    }

    /**
     * The buffer of a segment, mapping (and when writable, creating) it on first use.
     *
     * @param segment segment index.
     * @return its buffer, or null in a read-only log whose segment file does not exist yet.
     */
    public UnsafeBuffer segmentBuffer(final long segment)
    {
        final UnsafeBuffer[] mapped = buffers;
        if (segment < mapped.length)
        {
            final UnsafeBuffer buffer = mapped[(int)segment];
            if (buffer != null)
            {
                return buffer;
            }
        }
        return mapSegment(segment, true);
    }

    /**
     * @param segment segment index.
     * @return true if its file exists.
     */
    public boolean segmentExists(final long segment)
    {
        final UnsafeBuffer[] mapped = buffers;
        return (segment < mapped.length && mapped[(int)segment] != null) || Files.exists(segmentPath(segment));
    }

    /**
     * @param position a log position.
     * @return the buffer of its segment, or null where a read-only log has no such segment yet.
     */
    public UnsafeBuffer bufferFor(final long position)
    {
        return segmentBuffer(position >>> shift);
    }

    /**
     * For readers: the buffer of a position's segment, never creating its file.
     *
     * @param position a log position.
     * @return the buffer, or null if the segment's file does not exist (yet).
     */
    public UnsafeBuffer readBuffer(final long position)
    {
        final long segment = position >>> shift;
        final UnsafeBuffer[] mapped = buffers;
        if (segment < mapped.length)
        {
            final UnsafeBuffer buffer = mapped[(int)segment];
            if (buffer != null)
            {
                return buffer;
            }
        }
        return mapSegment(segment, false);
    }

    /**
     * A reader found no file for the segment of {@code position}. That is the end of the log only where nothing
     * was written yet: below the durable position, or with a later segment on disk (segments are created in
     * order), it is damage, and readers must not take it for the end.
     *
     * @param position where the reader is.
     * @param durable  the durable position, no further than the tail.
     * @throws CorruptStoreException if the segment must exist.
     */
    public void checkMissingSegment(final long position, final long durable)
    {
        final long segment = segmentOf(position);
        final Path next = segmentPath(segment + 1);
        // at or past the tail, a missing segment is one not created yet (a later, pre-allocated one may exist).
        // The reader found no file a moment ago; the segment may have been created since, and the next one after
        // it (a fast writer with small segments): so look for this one again, after the next one. Segments are
        // made in order and never deleted while the store is open, so if it is still missing now, it is damage.
        if ((position < durable || position < tail() && Files.exists(next)) && !Files.exists(segmentPath(segment)))
        {
            throw new CorruptStoreException("log segment " + segmentPath(segment) + " is missing, though the log " +
                "has used it (" + (position < durable ? "it lies below the durable position " + durable :
                next.getFileName() + " exists") + "); refusing to read on as if the log ended there");
        }
    }

    /**
     * Refuse a log with a segment file missing before one that exists, both within the tail: the events after
     * such a gap cannot be reached, so neither a writer nor a reader may open it as if the log ended at the gap.
     *
     * @throws CorruptStoreException naming the first missing segment.
     */
    public void checkNoGap()
    {
        // segments past the tail's hold nothing yet: one missing among the pre-allocated ones is no gap in the log
        final long tail = tail();
        final long lastUsed = tail <= 0 ? -1 : segmentOf(tail - 1);
        final long[] files = java.util.Arrays.stream(segmentFiles()).filter((f) -> f <= lastUsed).toArray();
        int listed = 0;
        for (long segment = 0; files.length > 0 && segment < files[files.length - 1]; segment++)
        {
            if (files[listed] == segment)
            {
                listed++;
            }
            else if (!Files.exists(segmentPath(segment)))
            {
                // looked up again by name: a live writer's new segment, renamed in while the directory was being
                // listed, can be absent from the listing though a later one is in it
                throw new CorruptStoreException("log segment " + segmentPath(segment) + " is missing but " +
                    segmentPath(files[files.length - 1]) + " exists; refusing to open rather than drop the " +
                    "events after the gap");
            }
        }
    }

    private UnsafeBuffer mapSegment(final long segment, final boolean create)
    {
        if (segment > Integer.MAX_VALUE - 1)
        {
            throw new IllegalStateException("log position beyond the supported range: segment " + segment);
        }
        final Path path = directory.resolve(SegmentDescriptor.fileName(segment * segmentLength));
        boolean interrupted = false;
        try
        {
            synchronized (segmentLock)
            {
                while (true)
                {
                    if (closed)
                    {
                        throw closedException();
                    }
                    final MappedFile[] files = segments;
                    if (segment < files.length && files[(int)segment] != null)
                    {
                        return files[(int)segment].buffer();
                    }
                    if (creating != segment && Files.exists(path))
                    {
                        final MappedFile file = openSegment(path, segment);
                        publish(segment, file);
                        return file.buffer();
                    }
                    if (readOnly || !create)
                    {
                        return null;
                    }
                    if (segment < creatableFrom)
                    {
                        throw new CorruptStoreException("log segment " + path + " is missing, though the log has used it");
                    }
                    if (creating < 0)
                    {
                        creating = segment;
                        break;
                    }
                    // one file is created at a time, outside the lock; wait for it and look again
                    try
                    {
                        segmentLock.wait();
                    }
                    catch (final InterruptedException ex)
                    {
                        interrupted = true;
                    }
                }
            }

            // Made with disk blocks for its header only: the rest is a hole until allocate() gives it blocks. Still
            // a file creation and a rename: done without the lock, so threads mapping segments that exist never
            // wait for it.
            MappedFile file = null;
            try
            {
                file = createSegment(segment, path);
            }
            finally
            {
                synchronized (segmentLock)
                {
                    if (file != null && closed)
                    {
                        // the log closed while the file was made: nobody may use it, so nobody will unmap it later
                        file.unmap();
                        file = null;
                    }
                    if (file != null)
                    {
                        publish(segment, file);
                    }
                    creating = -1;
                    segmentLock.notifyAll();
                }
            }
            if (file == null)
            {
                throw closedException();
            }
            return file.buffer();
        }
        finally
        {
            if (interrupted)
            {
                Thread.currentThread().interrupt();
            }
        }
    }

    /**
     * Create a segment file, or map it if another writer process made it first: whether it exists is decided under
     * the creation lock, so it is made once, and whole (created under a temporary name and renamed in).
     */
    private MappedFile createSegment(final long segment, final Path path)
    {
        lockAcross(io.varvedb.internal.process.LockFileDescriptor.SEGMENT_CREATION);
        try
        {
            if (lockFile != null && Files.exists(path))
            {
                return openSegment(path, segment);
            }
            return MappedFile.create(path, segmentFileLength(), SegmentDescriptor.HEADER_LENGTH,
                (buffer) -> SegmentDescriptor.writeHeader(buffer, segmentLength, segment), false, observer);
        }
        finally
        {
            unlockAcross(io.varvedb.internal.process.LockFileDescriptor.SEGMENT_CREATION);
        }
    }

    private void publish(final long segment, final MappedFile file)
    {
        final int length = (int)Math.max(segments.length, segment + 1);
        final MappedFile[] files = Arrays.copyOf(segments, length);
        files[(int)segment] = file;
        final UnsafeBuffer[] mapped = Arrays.copyOf(buffers, length);
        mapped[(int)segment] = file.buffer();
        segments = files;
        // volatile publication: a thread that finds the buffer in the array sees a complete mapping
        buffers = mapped;
    }

    /**
     * Give disk blocks to the log from {@link #allocatedEnd()} on until it lies beyond {@code end}, in order, a chunk
     * at a time (creating segment files as they are reached), and publish each chunk once its blocks exist and its
     * pages are touched. One allocator at a time; the others wait for it, and find the work done. Paddings deferred
     * for want of space are written once their whole range is allocated, before the range is published.
     *
     * @param end        a position that must end up below the allocated end.
     * @param background true for the pre-allocator and open: a step is tried only if the file system reports room
     *                   for it and a chunk more, so a background attempt never fills the disk to its last block
     *                   only to fail, nor takes the room that the index or a checkpoint needs now. An appender
     *                   (false) then tries the step for real.
     * @throws StoreIOException if the file system refuses (a full disk); what was allocated before stays.
     */
    public void allocate(final long end, final boolean background)
    {
        allocate(end, background, ALLOCATION_CHUNK);
    }

    /**
     * {@link #allocate(long, boolean)} in steps of {@code chunk} bytes.
     *
     * @param end        a position that must end up below the allocated end.
     * @param background see {@link #allocate(long, boolean)}.
     * @param chunk      allocation step, a power of two of at least a page; steps end on its multiples.
     */
    public void allocate(final long end, final boolean background, final int chunk)
    {
        // acquire: as in claim(); a chunk at a time, each under the lock, so an appender that needs the next chunk
        // waits for one chunk of the pre-allocator's work at most, never for a whole run of them
        while (allocatedEnd() <= end)
        {
            synchronized (allocationLock)
            {
                lockAcross(io.varvedb.internal.process.LockFileDescriptor.LOG_ALLOCATION);
                try
                {
                    if (allocateStep(end, background, chunk))
                    {
                        return;
                    }
                }
                finally
                {
                    unlockAcross(io.varvedb.internal.process.LockFileDescriptor.LOG_ALLOCATION);
                }
            }
        }
    }

    /** Under the allocation locks: one step; true if the end was reached before it. */
    private boolean allocateStep(final long end, final boolean background, final int chunk)
    {
        // read under the locks: their holder is the only writer, in any process
        final long from = allocatedEnd();
        if (from > end)
        {
            return true;
        }
        final long segment = from >>> shift;
        final long to = stepEnd(from, segment, chunk);
        final MappedFile file = segmentFile(segment, background);
        // A step is taken whole only if the file system reports room for it and a chunk more: work ahead
        // of need must neither fill the disk to its last block only to fail, nor take the room that the
        // index's next chunk or a processor's checkpoint needs now (zeros written before a failure keep
        // their blocks). Short of that, the pre-allocator gives up, and an appender tries for real what its
        // claim needs: the whole step, never less (a smaller step would leave a hole in a folio with blocks).
        if (background)
        {
            MappedFile.requireSpace(fileStore(), to - from + ALLOCATION_CHUNK, "the log in " + directory);
        }
        // blocks only (fallocate, or zeros through the channel): after it, writes below `to` cannot fault for
        // want of a block. The pages are made later, a little ahead of the tail (touchAhead), or by the appender.
        file.allocateBlocks(plainOffset(from), (int)(to - from));
        synchronized (segmentLock)
        {
            if (closed)
            {
                throw closedException();
            }
            // the paddings deferred below the new end are written, and the end published, in one step
            // under the lock that deferPadding takes: a padding deferred meanwhile is either written here
            // or sees the new end and is written at once, never left waiting for the next chunk
            applyDeferredPadding(to);
            // release: the blocks and the touched pages (and the deferred paddings) come before any
            // claimer that reads the new end (acquire, in claim()) writes below it
            meta.putLongRelease(MetaDescriptor.ALLOCATED_END_OFFSET, to);
        }
        return false;
    }

    /**
     * @return where an allocation step from {@code from} ends: the next position whose file offset is a multiple of
     *         {@code chunk}, or the segment's end.
     */
    private long stepEnd(final long from, final long segment, final int chunk)
    {
        final long base = segment << shift;
        final long fileOffset = plainOffset(from);
        return Math.min(base + segmentLength, base + (fileOffset / chunk + 1) * chunk - SegmentDescriptor.HEADER_LENGTH);
    }

    private FileStore fileStore()
    {
        // looked up once: the lookup reads the mount table
        if (fileStore == null)
        {
            try
            {
                fileStore = Files.getFileStore(directory);
            }
            catch (final IOException ex)
            {
                throw new StoreIOException("cannot read the free space of " + directory + ": " + ex.getMessage(), ex);
            }
        }
        return fileStore;
    }

    private MappedFile segmentFile(final long segment, final boolean background)
    {
        if (background)
        {
            final Path path = segmentPath(segment);
            MappedFile.requireSpaceUnlessExists(path, MappedFile.PAGE_SIZE, "log segment " + path);
        }
        segmentBuffer(segment);
        synchronized (segmentLock)
        {
            if (closed)
            {
                throw closedException();
            }
            return segments[(int)segment];
        }
    }

    /** Under {@link #segmentLock}. */
    private void applyDeferredPadding(final long allocatedTo)
    {
        final List<Long> done = new ArrayList<>();
        for (final var entry : pendingPadding.headMap(allocatedTo).entrySet())
        {
            // strictly below the new end, as for a claim: the frame after it is allocated too
            final long segment = entry.getKey() >>> shift;
            if (entry.getKey() + entry.getValue() < allocatedTo && segment < segments.length &&
                segments[(int)segment] != null)
            {
                // by CAS: in multi-process mode a survivor may have padded the hole already
                Padding.writeOver(segments[(int)segment].buffer(), plainOffset(entry.getKey()), 0,
                    entry.getValue());
                done.add(entry.getKey());
            }
        }
        done.forEach(pendingPadding::remove);
    }

    /**
     * Map an existing segment file: a compacted one gets a {@link CompactedBuffer} view, after its map is checked.
     */
    private MappedFile openSegment(final Path path, final long segment)
    {
        return MappedFile.open(path, readOnly, observer, Log::segmentView, (opened) -> checkSegment(opened, segment));
    }

    /**
     * @param mapped a whole segment file.
     * @return the view readers get: a {@link CompactedBuffer} for a compacted segment.
     */
    public static UnsafeBuffer segmentView(final java.nio.ByteBuffer mapped)
    {
        final boolean compacted = mapped.capacity() >= SegmentDescriptor.HEADER_LENGTH && mapped.duplicate()
            .order(java.nio.ByteOrder.LITTLE_ENDIAN).getInt(SegmentDescriptor.LAYOUT_OFFSET) ==
            SegmentDescriptor.LAYOUT_COMPACTED;
        return compacted ? new CompactedBuffer(mapped) : new UnsafeBuffer(mapped);
    }

    private void checkSegment(final MappedFile file, final long segment)
    {
        final UnsafeBuffer buffer = file.buffer();
        if (buffer instanceof CompactedBuffer)
        {
            checkCompacted(file, (CompactedBuffer)buffer, segment);
            return;
        }
        if (!readOnly && MappedFile.isBlank(buffer, SegmentDescriptor.HEADER_LENGTH) &&
            file.length() == SegmentDescriptor.HEADER_LENGTH + segmentLength)
        {
            // Created just before a crash, its header never reached the disk (it is not forced, to keep the
            // journal commit off the hot path). Its first page would have been forced with any durable record in
            // it, so it holds no durable event: initialise it; recovery decides the rest. Its header's block may be
            // a hole after a power cut: allocate it first (a full disk is then an exception, not a SIGBUS).
            file.allocate(0, SegmentDescriptor.HEADER_LENGTH);
            SegmentDescriptor.writeHeader(buffer, segmentLength, segment);
        }
        checkHeader(file, buffer, segment, file.length() == SegmentDescriptor.HEADER_LENGTH + segmentLength,
            "segment");
    }

    private void checkCompacted(final MappedFile file, final CompactedBuffer buffer, final long segment)
    {
        // at most the map and every record (a rewrite that drops little can be longer than the plain file: the map
        // takes 8 bytes per kept record)
        checkHeader(file, buffer, segment,
            file.length() <= (long)SegmentDescriptor.recordsOffset(buffer.entries()) + segmentLength,
            "compacted segment");
        buffer.checkMap(file.path(), segmentLength);
        compactedSeen = true;
    }

    /** The header fields a plain and a compacted segment share: magic, format, data length, index. */
    private void checkHeader(
        final MappedFile file, final UnsafeBuffer buffer, final long segment, final boolean lengthOk,
        final String kind)
    {
        FileHeaders.check(buffer, file.path(), SegmentDescriptor.HEADER_LENGTH, SegmentDescriptor.MAGIC_OFFSET,
            SegmentDescriptor.MAGIC, SegmentDescriptor.FORMAT_VERSION_OFFSET, SegmentDescriptor.FORMAT_VERSION,
            "log segment");
        final int dataLength = buffer.getInt(SegmentDescriptor.DATA_LENGTH_OFFSET);
        final long index = buffer.getLong(SegmentDescriptor.SEGMENT_INDEX_OFFSET);
        if (dataLength != segmentLength || index != segment || !lengthOk)
        {
            throw new CorruptStoreException(file.path() + ": " + kind + " header says index " + index + ", " +
                dataLength + " data bytes, file has " + file.length() + " bytes; expected index " + segment +
                " and " + segmentLength + " data bytes");
        }
    }

    /**
     * What open allocates beyond the tail before it returns (up to the next step's end); the pre-allocator makes the
     * rest of the lead. A whole step, for the reason given at {@link #ALLOCATION_CHUNK}.
     */
    public static final int OPEN_CHUNK = ALLOCATION_CHUNK;

    /**
     * At open: map (and if need be create) the segment appends go to next and allocate the space of the first
     * appends, up to the end of the step (about a millisecond), if the file system reports
     * room for it; the pre-allocator makes the rest of the lead and the segments ahead.
     *
     * @throws StoreIOException if the disk has no room for it; open goes on without.
     */
    public void allocateAtOpen()
    {
        if (!readOnly)
        {
            allocate(tail(), true, OPEN_CHUNK);
            // no appender yet: the first appends find their pages made even without a pre-allocator
            touchAhead(OPEN_TOUCH, Integer.MAX_VALUE);
        }
    }

    /** Bytes beyond the tail whose pages open makes before it returns. */
    public static final int OPEN_TOUCH = 256 * 1024;

    /**
     * Make the pages of the log from the tail (or where the last call stopped, if further) up to {@code lead} bytes
     * beyond it, within allocated space, so the appenders that reach them write to pages that exist: a first write
     * to a page costs about a microsecond (the kernel makes and zeroes it), a page touched before costs nothing
     * (see FACTS). Called by the pre-allocator at the pace of the appends, a little ahead of them, instead of in
     * whole allocation steps: the work is spread out, and pages are not made (nor dirtied) long before use.
     * <p>
     * A touch is an atomic add of zero to the first word of the page: a write access (the page is made and mapped
     * writable in this process) that stores what it read. Appenders, here and in other processes, may be writing in
     * that page meanwhile (one that overtook the touches, or the record before the tail): the locked
     * read-modify-write cannot interleave with their stores to the word, so it never writes back a stale value, and
     * the frame length a reader acquires is the one its writer released (jcstress {@code TouchVsPublishTest}).
     * Only below the allocated end: a touch of a hole on a full disk would be a {@code SIGBUS}.
     * <p>
     * One thread at a time (the pre-allocator's duty cycle, or open before any appender exists).
     *
     * @param lead     bytes beyond the tail to have touched.
     * @param maxPages most pages to touch in this call, so that one duty cycle stays short.
     * @return pages touched.
     */
    public int touchAhead(final long lead, final int maxPages)
    {
        final long tail = tail();
        final long end = Math.min(tail + lead, allocatedEnd());
        long position = Math.max(touchedEnd, tail);
        int pages = 0;
        while (position < end && pages < maxPages)
        {
            final long segment = position >>> shift;
            final long segmentStart = segment << shift;
            final int page = plainOffset(position) & -MappedFile.PAGE_SIZE;
            // atomic add of zero: see above. The page's first word may be below the tail, or a segment's header
            segmentBuffer(segment).getAndAddLong(page, 0);
            pages++;
            position = Math.min(segmentStart + page + MappedFile.PAGE_SIZE - SegmentDescriptor.HEADER_LENGTH,
                segmentStart + segmentLength);
        }
        touchedEnd = position;
        return pages;
    }

    /**
     * Keep ahead of the tail: the segment files appenders will reach next, up to {@link #SEGMENTS_AHEAD} beyond the
     * current one, made as holes (header only), so no appender maps a new segment; and {@code lead} bytes beyond the
     * tail allocated (at most {@link #SEGMENTS_AHEAD} segments), so appenders do not wait for the file system. Each
     * file and chunk is tried only if the file system reports room for it.
     *
     * @param lead bytes to keep allocated beyond the tail.
     * @throws StoreIOException if a file or chunk cannot be made; those before it are.
     */
    public void preallocate(final long lead)
    {
        if (readOnly)
        {
            return;
        }
        if (lockFile != null)
        {
            // another writer process may have allocated past the paddings this one deferred for want of space:
            // readers wait at them until they are written
            synchronized (segmentLock)
            {
                applyDeferredPadding(allocatedEnd());
            }
        }
        final long tail = tail();
        // allocating first: a segment a chunk reaches is made by it
        allocate(tail + Math.min(lead, (long)SEGMENTS_AHEAD * segmentLength), true);
        for (long segment = tail >>> shift; segment <= (tail >>> shift) + SEGMENTS_AHEAD; segment++)
        {
            final UnsafeBuffer[] mapped = buffers;
            if (segment >= mapped.length || mapped[(int)segment] == null)
            {
                segmentFile(segment, true);
            }
        }
    }

    private StoreClosedException closedException()
    {
        return new StoreClosedException("the log in " + directory + " is closed");
    }

    private long segmentFileLength()
    {
        return (long)SegmentDescriptor.HEADER_LENGTH + segmentLength;
    }

    // ------------------------------------------------------------------------------------------- compaction

    /**
     * Install how this log learns that readers no longer hold a replaced mapping. The store installs its read
     * sections: <b>every reader of a segment buffer reads inside a read section</b> ({@code VarveDB.enterRead}) and
     * keeps no buffer past its end, or reads only where no segment is ever compacted: at or after the durable
     * position and the oldest claim in flight (appenders at their claims, the allocator, the flusher, repairs of a
     * dead writer's claims, recovery of the tail). Recovery and the checks at open run before any replacement can
     * happen.
     *
     * @param grace the store's readers.
     */
    public void readerGrace(final ReaderGrace grace)
    {
        this.grace = grace;
    }

    /**
     * @param bound gives the position below which the log is stable: every record durable, no claim in flight in
     *              any process. Only segments wholly below it may be replaced.
     */
    public void stableBound(final java.util.function.LongSupplier bound)
    {
        this.stableBound = bound;
    }

    /**
     * @return the shared count of segment replacements, in {@code varve.meta} (volatile load): when it moves, some
     * process has replaced a segment file that this one may still map.
     */
    public long replacedGeneration()
    {
        return meta.getLongVolatile(MetaDescriptor.REPLACED_GENERATION_OFFSET);
    }

    /**
     * @return true if this log may map a replaced segment file, or holds replaced mappings not yet released: a
     * plain read of hints, for the readers' entry ({@link #refreshReplaced()} does the work).
     */
    public boolean mayNeedRefresh()
    {
        return retiredCount != 0 || replacedGeneration() != seenGeneration;
    }

    /**
     * Map anew every segment whose file was replaced (by any process) since it was mapped, retiring the old
     * mappings, and release the retired mappings no reader can still hold. Never waits for readers.
     */
    public void refreshReplaced()
    {
        final long generation = replacedGeneration();
        synchronized (segmentLock)
        {
            if (closed)
            {
                return;
            }
            if (generation != seenGeneration)
            {
                final MappedFile[] files = segments;
                for (int segment = 0; segment < files.length; segment++)
                {
                    remapIfReplaced(files[segment], segment);
                }
                seenGeneration = generation;
            }
            reclaimRetired();
        }
    }

    /** Under {@link #segmentLock}. */
    private void remapIfReplaced(final MappedFile file, final long segment)
    {
        if (file == null)
        {
            return;
        }
        final Object key = MappedFile.fileKeyOf(file.path());
        if (key == null || key.equals(file.fileKey()))
        {
            return;
        }
        final MappedFile fresh = openSegment(file.path(), segment);
        publish(segment, fresh);
        retire(file);
    }

    /** Under {@link #segmentLock}, after the publication of its replacement. */
    private void retire(final MappedFile old)
    {
        // after the volatile store of the new mapping: a read the snapshot misses can only find the new one
        retired.add(new Retired(old, grace.begin()));
        retiredCount = retired.size();
    }

    /** Under {@link #segmentLock}: unmap the retired mappings whose readers are gone. */
    private void reclaimRetired()
    {
        if (retired.isEmpty())
        {
            return;
        }
        retired.removeIf((r) ->
        {
            if (r.token().passed())
            {
                r.file().unmap();
                return true;
            }
            return false;
        });
        retiredCount = retired.size();
    }

    /**
     * @return true if replaced mappings wait for their readers.
     */
    public boolean hasRetired()
    {
        synchronized (segmentLock)
        {
            reclaimRetired();
            return !retired.isEmpty();
        }
    }

    /**
     * Wait until every replaced mapping is released: until every read in progress when it was replaced has ended.
     * The caller must not be inside a read itself.
     *
     * @param timeoutNanos give up after this long.
     * @return true if none is left.
     */
    public boolean awaitRetired(final long timeoutNanos)
    {
        final long deadline = System.nanoTime() + timeoutNanos;
        final org.agrona.concurrent.IdleStrategy idle = new org.agrona.concurrent.BackoffIdleStrategy(
            100, 10, 1_000, 1_000_000);
        while (hasRetired())
        {
            if (System.nanoTime() - deadline > 0)
            {
                return false;
            }
            idle.idle();
        }
        return true;
    }

    /**
     * @return true if some segment of the log is compacted (looked up in the files' headers until one is found).
     */
    public boolean hasCompactedSegments()
    {
        if (compactedSeen)
        {
            return true;
        }
        for (final long segment : segmentFiles())
        {
            if (isCompactedFile(segmentPath(segment)))
            {
                compactedSeen = true;
                return true;
            }
        }
        return false;
    }

    /**
     * @param path a segment file.
     * @return true if its header says it is compacted (read through the file, not a mapping).
     */
    public static boolean isCompactedFile(final Path path)
    {
        try (java.nio.channels.FileChannel channel = java.nio.channels.FileChannel.open(path,
            java.nio.file.StandardOpenOption.READ))
        {
            final java.nio.ByteBuffer word = java.nio.ByteBuffer.allocate(Integer.BYTES)
                .order(java.nio.ByteOrder.LITTLE_ENDIAN);
            return channel.read(word, SegmentDescriptor.LAYOUT_OFFSET) == Integer.BYTES &&
                word.getInt(0) == SegmentDescriptor.LAYOUT_COMPACTED;
        }
        catch (final IOException ex)
        {
            return false;
        }
    }

    /**
     * Delete the {@code *.compact.tmp} files a rewrite left when its process died before renaming it in: they were
     * never part of the log. Takes the scavenge lock across processes, so another writer's rewrite in progress is
     * waited for, not broken.
     */
    public void deleteCompactionLeftovers()
    {
        if (readOnly || !Files.isDirectory(directory))
        {
            return;
        }
        lockAcross(io.varvedb.internal.process.LockFileDescriptor.SCAVENGE);
        try (Stream<Path> files = Files.list(directory))
        {
            for (final Path file : files.filter((p) -> p.getFileName().toString()
                .endsWith(SegmentDescriptor.COMPACT_SUFFIX)).toList())
            {
                if (Files.deleteIfExists(file))
                {
                    observer.deleted(file);
                }
            }
        }
        catch (final IOException ex)
        {
            throw new StoreIOException("cannot delete compaction leftovers in " + directory + ": " + ex.getMessage(),
                ex);
        }
        finally
        {
            unlockAcross(io.varvedb.internal.process.LockFileDescriptor.SCAVENGE);
        }
    }

    /**
     * The disk a segment file of {@code length} bytes takes, by how the log writes them: a plain segment below the
     * tail's has blocks for its whole length (the allocator gave them in order, before the log moved past it), and a
     * compacted one is written whole, front to back. So it is the length rounded up to the file system's block
     * (what {@code du} reports for such a file), computed, not asked of the file system: Java has no portable call
     * for a file's allocated blocks.
     *
     * @param length a segment file's length.
     * @return bytes of disk it takes.
     */
    public long diskBytes(final long length)
    {
        long block = MappedFile.PAGE_SIZE;
        try
        {
            block = Math.max(1, fileStore().getBlockSize());
        }
        catch (final IOException | UnsupportedOperationException | StoreIOException ex)
        {
            // the page size is the block size of the usual file systems
        }
        return (length + block - 1) / block * block;
    }

    /**
     * Rewrite a sealed segment without the records {@code filter} drops, giving their disk space back; every kept
     * record keeps its log position (see {@link SegmentDescriptor}). Crash-safe: the new file is written as
     * {@code <name>.compact.tmp}, forced, and renamed over the segment atomically, so a crash leaves the old file or
     * the new one, whole. The new mapping is published at once; the old one is retired, and released once every read
     * that might hold it has ended ({@link #awaitRetired}, {@link #refreshReplaced}). Other processes see the
     * replacement through the shared generation ({@link #replacedGeneration}) and remap.
     * <p>
     * Refused unless the segment lies wholly below the tail's segment and the stable bound ({@link #stableBound}).
     * One rewrite of a segment at a time in this process; rewrites are serialised across processes by the lock
     * file's scavenge range. A compacted segment may be compacted again.
     *
     * @param segment  the segment index.
     * @param filter   keeps or drops each event and stream name record.
     * @param progress told of each record; may abandon the rewrite.
     * @return what was done.
     * @throws IllegalStateException if the segment may not be rewritten now, or is being rewritten already.
     * @throws StoreIOException      if the file system refuses (the segment is then unchanged).
     * @throws CorruptStoreException if the segment holds a damaged record (it is then unchanged).
     */
    public ReplaceResult replaceSegment(final long segment, final RecordFilter filter, final ScavengeProgress progress)
    {
        if (readOnly)
        {
            throw new IllegalStateException("a read-only log cannot rewrite segments");
        }
        synchronized (segmentLock)
        {
            if (closed)
            {
                throw closedException();
            }
            if (!replacing.add(segment))
            {
                throw new IllegalStateException("log segment " + segment + " is being compacted already");
            }
        }
        try
        {
            lockAcross(io.varvedb.internal.process.LockFileDescriptor.SCAVENGE);
            try
            {
                return replaceLocked(segment, filter, progress);
            }
            finally
            {
                unlockAcross(io.varvedb.internal.process.LockFileDescriptor.SCAVENGE);
            }
        }
        finally
        {
            synchronized (segmentLock)
            {
                replacing.remove(segment);
            }
        }
    }

    private ReplaceResult replaceLocked(final long segment, final RecordFilter filter, final ScavengeProgress progress)
    {
        final long start = segment << shift;
        final long end = start + segmentLength;
        final long bound = Math.min(stableBound.getAsLong(), tail());
        if (segment < 0 || segment >= segmentOf(tail()) || end > bound)
        {
            throw new IllegalStateException("log segment " + segment + " is not sealed: it must lie wholly below the " +
                "tail's segment and below " + bound + ", where every record is durable and no append is in flight");
        }
        final Path path = segmentPath(segment);
        synchronized (segmentLock)
        {
            // another process may have rewritten it since this one mapped it: read the file as it is now
            final MappedFile[] files = segments;
            if (segment < files.length)
            {
                remapIfReplaced(files[(int)segment], segment);
            }
        }
        final UnsafeBuffer source = readBuffer(start);
        if (source == null)
        {
            throw new CorruptStoreException("log segment " + path + " is missing, though the log has used it");
        }
        final long oldLength = source.capacity();

        // what to keep: data offset, offset in the source, aligned length, three ints per record
        int[] kept = new int[3 * 64];
        int count = 0;
        long records = 0;
        long dropped = 0;
        long bytesKept = 0;
        final RecordChecksum checksum = new RecordChecksum();
        final CompactedBuffer compacted = source instanceof CompactedBuffer ? (CompactedBuffer)source : null;
        final int entries = compacted != null ? compacted.entries() : -1;
        int entry = 0;
        int data = 0;
        while (compacted != null ? entry < entries : data < segmentLength)
        {
            if (compacted != null)
            {
                data = compacted.dataOffsetAt(entry);
            }
            final int offset = compacted != null ? compacted.fileOffsetAt(entry++) : SegmentDescriptor.HEADER_LENGTH + data;
            final long position = start + data;
            // acquire: pairs with the release that published the record (long ago: it is below the stable bound)
            final int frameLength = source.getIntAcquire(offset + FRAME_LENGTH_OFFSET);
            final String damage = frameLength <= 0 ? "no committed record (frame length " + frameLength + ")" :
                frameDamage(source, offset, frameLength, room(source, offset, position), checksum);
            if (damage != null)
            {
                throw new CorruptStoreException(damage + ", at log position " + position + " in " + path +
                    "; the segment is not compacted");
            }
            final int aligned = alignedLength(frameLength);
            records++;
            if (source.getShort(offset + RECORD_TYPE_OFFSET) != TYPE_PADDING)
            {
                if (filter.keep(source, offset, position))
                {
                    if (3 * count + 3 > kept.length)
                    {
                        kept = Arrays.copyOf(kept, kept.length * 2);
                    }
                    kept[3 * count] = data;
                    kept[3 * count + 1] = offset;
                    kept[3 * count + 2] = aligned;
                    count++;
                    bytesKept += aligned;
                }
                else
                {
                    dropped++;
                }
            }
            if (!progress.progress(segment, records, bytesKept))
            {
                return new ReplaceResult(segment, count, dropped, diskBytes(oldLength), diskBytes(oldLength), true);
            }
            data += aligned;
        }

        if (dropped == 0 && (compacted != null || count == records))
        {
            // nothing to drop (padding aside, a plain segment without any is left as it is): no rewrite
            return new ReplaceResult(segment, count, 0, diskBytes(oldLength), diskBytes(oldLength), false);
        }
        final Path temp = path.resolveSibling(path.getFileName() + SegmentDescriptor.COMPACT_SUFFIX);
        final int recordsOffset = SegmentDescriptor.recordsOffset(count);
        final long newLength = recordsOffset + bytesKept;
        try
        {
            writeCompacted(temp, source, segment, kept, count, recordsOffset);
            Files.move(temp, path, java.nio.file.StandardCopyOption.ATOMIC_MOVE,
                java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            observer.moved(temp, path);
        }
        catch (final IOException ex)
        {
            deleteQuietly(temp);
            throw new StoreIOException("cannot write the compacted " + path + ": " + ex.getMessage(), ex);
        }
        catch (final RuntimeException | Error ex)
        {
            deleteQuietly(temp);
            throw ex;
        }
        // a power cut that undoes the rename brings back the old file, which is as good
        MappedFile.forceDirectory(directory, observer);
        final MappedFile fresh = openSegment(path, segment);
        synchronized (segmentLock)
        {
            if (closed)
            {
                fresh.unmap();
                throw closedException();
            }
            final MappedFile old = segment < segments.length ? segments[(int)segment] : null;
            publish(segment, fresh);
            compactedSeen = true;
            if (old != null)
            {
                retire(old);
            }
            // atomic add, after the rename: a process that sees the new count finds the new file at the path
            meta.getAndAddLong(MetaDescriptor.REPLACED_GENERATION_OFFSET, 1);
            reclaimRetired();
        }
        return new ReplaceResult(segment, count, dropped, diskBytes(oldLength), diskBytes(newLength), false);
    }

    private void writeCompacted(
        final Path temp, final UnsafeBuffer source, final long segment, final int[] kept, final int count,
        final int recordsOffset) throws IOException
    {
        final UnsafeBuffer header = new UnsafeBuffer(new byte[recordsOffset]);
        SegmentDescriptor.writeHeader(header, segmentLength, segment);
        header.putInt(SegmentDescriptor.LAYOUT_OFFSET, SegmentDescriptor.LAYOUT_COMPACTED);
        header.putInt(SegmentDescriptor.KEPT_RECORDS_OFFSET, count);
        header.putInt(SegmentDescriptor.RECORDS_OFFSET_OFFSET, recordsOffset);
        int fileOffset = recordsOffset;
        for (int i = 0; i < count; i++)
        {
            final int at = SegmentDescriptor.MAP_OFFSET + i * SegmentDescriptor.MAP_ENTRY_LENGTH;
            header.putInt(at + SegmentDescriptor.ENTRY_DATA_OFFSET, kept[3 * i]);
            header.putInt(at + SegmentDescriptor.ENTRY_FILE_OFFSET, fileOffset);
            fileOffset += kept[3 * i + 2];
        }
        header.putInt(SegmentDescriptor.MAP_CHECKSUM_OFFSET, SegmentDescriptor.mapChecksum(header));
        final long length = fileOffset;
        Files.deleteIfExists(temp);
        try (java.nio.channels.FileChannel channel = java.nio.channels.FileChannel.open(temp,
            java.nio.file.StandardOpenOption.CREATE_NEW, java.nio.file.StandardOpenOption.WRITE))
        {
            observer.created(temp, length);
            writeFully(channel, java.nio.ByteBuffer.wrap(header.byteArray()), 0);
            // the kept records byte for byte, a run of records adjacent in the source in one write
            final java.nio.ByteBuffer mapped = source.byteBuffer().duplicate();
            long to = recordsOffset;
            int i = 0;
            while (i < count)
            {
                final int from = kept[3 * i + 1];
                int runEnd = from + kept[3 * i + 2];
                i++;
                while (i < count && kept[3 * i + 1] == runEnd)
                {
                    runEnd += kept[3 * i + 2];
                    i++;
                }
                mapped.limit(runEnd).position(from);
                final int run = runEnd - from;
                writeFully(channel, mapped, to);
                to += run;
            }
            channel.force(true);
        }
    }

    private static void writeFully(final java.nio.channels.FileChannel channel, final java.nio.ByteBuffer bytes,
        final long at) throws IOException
    {
        long position = at;
        while (bytes.hasRemaining())
        {
            position += channel.write(bytes, position);
        }
    }

    private void deleteQuietly(final Path file)
    {
        try
        {
            Files.deleteIfExists(file);
        }
        catch (final IOException ignore)
        {
            // deleted at the next open (deleteCompactionLeftovers)
        }
    }

    /**
     * Release every segment's mapping, and refuse to map any more. The caller guarantees that no thread is using,
     * or can start to use, a buffer of this log.
     */
    public void close()
    {
        synchronized (segmentLock)
        {
            closed = true;
            final MappedFile[] files = segments;
            segments = new MappedFile[0];
            buffers = new UnsafeBuffer[0];
            MappedFile.unmapAll(files);
            // no reader is left (the caller's guarantee): the retired mappings go too
            retired.forEach((r) -> r.file().unmap());
            retired.clear();
            retiredCount = 0;
        }
    }

    /**
     * @return indexes of the segment files present, in order.
     */
    public long[] segmentFiles()
    {
        if (!Files.isDirectory(directory))
        {
            return new long[0];
        }
        try (Stream<Path> files = Files.list(directory))
        {
            return files.map((p) -> p.getFileName().toString())
                .filter((n) -> n.endsWith(SegmentDescriptor.SUFFIX) &&
                    n.length() == SegmentDescriptor.NAME_DIGITS + SegmentDescriptor.SUFFIX.length())
                .mapToLong((n) -> Long.parseLong(n.substring(0, SegmentDescriptor.NAME_DIGITS)) / segmentLength)
                .sorted()
                .toArray();
        }
        catch (final IOException | NumberFormatException ex)
        {
            throw new StoreIOException("cannot list " + directory + ": " + ex.getMessage(), ex);
        }
    }

    /**
     * Delete segment files after {@code lastKept}; used by recovery for files the log never reached.
     *
     * @param lastKept index of the last segment to keep.
     */
    public void deleteSegmentsAfter(final long lastKept)
    {
        synchronized (segmentLock)
        {
            boolean deleted = false;
            for (final long segment : segmentFiles())
            {
                if (segment > lastKept)
                {
                    try
                    {
                        final Path path = directory.resolve(SegmentDescriptor.fileName(segment * segmentLength));
                        if (Files.deleteIfExists(path))
                        {
                            observer.deleted(path);
                            deleted = true;
                        }
                    }
                    catch (final IOException ex)
                    {
                        throw new StoreIOException("cannot delete segment " + segment + ": " + ex.getMessage(), ex);
                    }
                }
            }
            if (deleted)
            {
                // a deletion a power cut undoes would bring back records recovery dropped
                MappedFile.forceDirectory(directory, observer);
            }
            final int length = (int)Math.min(segments.length, lastKept + 1);
            final MappedFile[] dropped = Arrays.copyOfRange(segments, length, segments.length);
            segments = Arrays.copyOf(segments, length);
            buffers = Arrays.copyOf(buffers, length);
            // recovery runs before anyone else can hold these: their mappings go with their files
            MappedFile.unmapAll(dropped);
        }
    }

    /**
     * @param segment segment index.
     * @return the file of a mapped segment.
     */
    public Path segmentPath(final long segment)
    {
        return directory.resolve(SegmentDescriptor.fileName(segment * segmentLength));
    }

    /**
     * Force the log range {@code [from, to)} to disk.
     *
     * @param from first position.
     * @param to   end position, exclusive.
     */
    public void force(final long from, final long to)
    {
        long position = from;
        while (position < to)
        {
            final long segment = position >>> shift;
            final long end = Math.min(to, nextSegmentStart(position));
            segmentBuffer(segment);
            segments[(int)segment].force(plainOffset(position), (int)(end - position));
            position = end;
        }
    }

    /**
     * Flush every mapped segment.
     */
    public void force()
    {
        for (final MappedFile file : segments)
        {
            if (file != null)
            {
                file.force();
            }
        }
    }
}
