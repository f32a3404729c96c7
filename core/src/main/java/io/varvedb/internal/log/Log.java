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
 */
public final class Log
{
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
    private Runnable onSegmentRoll = () -> {};
    private long creatableFrom;
    private long creating = -1;
    private boolean closed;

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
     * @param onSegmentRoll run by the appender whose claim moved the log into a new segment; must not block.
     */
    public void onSegmentRoll(final Runnable onSegmentRoll)
    {
        this.onSegmentRoll = onSegmentRoll;
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
            // Make sure the segment a claim from the current tail would end in exists before claiming, so a
            // full disk fails the append cleanly instead of leaving a hole in the log.
            final long expectedEnd = meta.getLongVolatile(MetaDescriptor.TAIL_POSITION_OFFSET) + alignedLength;
            segmentBuffer((expectedEnd - 1) >>> shift);

            // atomic add: the single point that orders claims; every claimer gets a disjoint range
            final long position = meta.getAndAddLong(MetaDescriptor.TAIL_POSITION_OFFSET, alignedLength);
            final long end = position + alignedLength;
            final long segment = position >>> shift;
            if (segment == (end - 1) >>> shift)
            {
                ensureMapped(position, alignedLength, segment);
                return position;
            }

            final long boundary = (segment + 1) << shift;
            padOrDefer(position, (int)(boundary - position));
            padOrDefer(boundary, (int)(end - boundary));
            onSegmentRoll.run();
        }
    }

    private void ensureMapped(final long position, final int length, final long segment)
    {
        try
        {
            segmentBuffer(segment);
        }
        catch (final RuntimeException ex)
        {
            deferPadding(position, length);
            throw ex;
        }
    }

    private void padOrDefer(final long position, final int length)
    {
        final UnsafeBuffer buffer;
        try
        {
            buffer = segmentBuffer(position >>> shift);
        }
        catch (final RuntimeException ex)
        {
            deferPadding(position, length);
            throw ex;
        }
        Padding.write(buffer, offset(position), length);
    }

    private void deferPadding(final long position, final int length)
    {
        synchronized (segmentLock)
        {
            pendingPadding.put(position, length);
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
            // acquire: pairs with the release of the frame length that publishes the record
            final int offset = offset(position);
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
            if (frameLength < HEADER_LENGTH)
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
        return "unknown record type " + type;
    }

    /**
     * @param position a log position.
     * @return the offset of that position in its segment's buffer.
     */
    public int offset(final long position)
    {
        return SegmentDescriptor.HEADER_LENGTH + (int)(position & mask);
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
                        final MappedFile file = MappedFile.open(path, readOnly, observer,
                            (opened) -> checkSegment(opened, segment));
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

            // Zero-filling, mapping and touching 64 MiB takes tens of milliseconds: do it without the lock, so
            // threads mapping segments that exist, and appenders of segments already made, never wait for it.
            MappedFile file = null;
            try
            {
                file = MappedFile.create(path, segmentFileLength(),
                    (buffer) -> SegmentDescriptor.writeHeader(buffer, segmentLength, segment), false, observer);
                file.pretouch(SegmentDescriptor.HEADER_LENGTH, file.length());
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
                        applyDeferredPadding(segment, file.buffer());
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

    private void applyDeferredPadding(final long segment, final UnsafeBuffer buffer)
    {
        final long start = segment << shift;
        final List<Long> done = new ArrayList<>();
        for (final var entry : pendingPadding.subMap(start, start + segmentLength).entrySet())
        {
            Padding.write(buffer, offset(entry.getKey()), entry.getValue());
            done.add(entry.getKey());
        }
        done.forEach(pendingPadding::remove);
    }

    private void checkSegment(final MappedFile file, final long segment)
    {
        final UnsafeBuffer buffer = file.buffer();
        if (!readOnly && MappedFile.isBlank(buffer, SegmentDescriptor.HEADER_LENGTH) &&
            file.length() == SegmentDescriptor.HEADER_LENGTH + segmentLength)
        {
            // Created just before a crash, its header never reached the disk (it is not forced, to keep the
            // journal commit of a 64 MiB file off the hot path). Its first page would have been forced with any
            // durable record in it, so it holds no durable event: initialise it; recovery decides the rest.
            SegmentDescriptor.writeHeader(buffer, segmentLength, segment);
        }
        FileHeaders.check(buffer, file.path(), SegmentDescriptor.HEADER_LENGTH, SegmentDescriptor.MAGIC_OFFSET,
            SegmentDescriptor.MAGIC, SegmentDescriptor.FORMAT_VERSION_OFFSET, SegmentDescriptor.FORMAT_VERSION,
            "log segment");
        final int dataLength = buffer.getInt(SegmentDescriptor.DATA_LENGTH_OFFSET);
        final long index = buffer.getLong(SegmentDescriptor.SEGMENT_INDEX_OFFSET);
        if (dataLength != segmentLength || index != segment ||
            file.length() != SegmentDescriptor.HEADER_LENGTH + segmentLength)
        {
            throw new CorruptStoreException(file.path() + ": segment header says index " + index + ", " +
                dataLength + " data bytes, file has " + file.length() + " bytes; expected index " + segment +
                " and " + segmentLength + " data bytes");
        }
    }

    /**
     * Create the segments appenders will need next, so they do not wait for the file system.
     */
    public void preallocate()
    {
        preallocate(SEGMENTS_AHEAD);
    }

    /**
     * Create the segment appenders write to now and {@code ahead} more, each only if the file system reports room
     * for it.
     *
     * @param ahead segments beyond the current one.
     * @throws StoreIOException if one cannot be made; those before it are.
     */
    public void preallocate(final int ahead)
    {
        if (readOnly)
        {
            return;
        }
        final long tail = tail();
        for (long segment = tail >>> shift; segment <= (tail >>> shift) + ahead; segment++)
        {
            final UnsafeBuffer[] mapped = buffers;
            if (segment < mapped.length && mapped[(int)segment] != null)
            {
                continue;
            }
            // a background attempt must not fill the disk to its last block only to fail (and it is tried again
            // and again while the disk stays full); an appender that needs the file tries for real
            final Path path = segmentPath(segment);
            MappedFile.requireSpaceUnlessExists(path, segmentFileLength(), "log segment " + path);
            segmentBuffer(segment);
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
            segments[(int)segment].force(offset(position), (int)(end - position));
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
