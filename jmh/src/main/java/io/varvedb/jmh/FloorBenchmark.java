package io.varvedb.jmh;

import org.agrona.BitUtil;
import org.agrona.IoUtil;
import org.agrona.concurrent.UnsafeBuffer;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayDeque;
import java.util.concurrent.TimeUnit;
import java.util.zip.CRC32C;

/**
 * The physical floor of one append: only the work no design can avoid. One CAS on a mapped stream slot, one
 * atomic add on a mapped tail counter, copying the payload into a mapped log, its CRC32C ({@link CRC32C} over a
 * direct-buffer view, as the engine does), and one ordered store of the record length. Records are laid out as
 * the engine lays them out (its own header length and alignment constants) so the memory traffic is the same.
 * <p>
 * Two kinds of pages, {@link #pages}:
 * <ul>
 *   <li>{@code warm}: the log is a 256 MiB file, zero-filled and pre-touched in set-up, reused cyclically: the floor
 *       of the CPU work with page faults and write-back taken away completely. No persistent log runs like this:
 *       it never writes a new page.</li>
 *   <li>{@code fresh}: the sustained floor of an append-only log. The log is a sequence of new 256 MiB files, each
 *       reserved with {@code fallocate(2)} through the engine's {@code FileSpace} (the cheapest way this machine has to get writable file pages: about
 *       1 us per 4 KiB page including the first touch, against 2-3 us for a zero-fill, FACTS.md) by the appending
 *       thread itself when the previous one is full, mapped, and first touched by the appends. Every page is new and
 *       dirty, so the kernel's write-back of them runs as it would under any log. A file 8 files (2 GiB) behind is
 *       forced and deleted, so a long trial does not fill the disk and every page still reaches it; the appending
 *       thread pays any wait for that. One thread does everything: this is also the floor per core.</li>
 * </ul>
 */
@State(Scope.Thread)
@BenchmarkMode({Mode.Throughput})
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 3, time = 3)
@Fork(value = 1, jvmArgsAppend = {Flags.AGRONA, Flags.OPEN_REFLECT, Flags.OPEN_LANG, Flags.OPEN_NIO,
    Flags.OPEN_NIO_CH, Flags.OPEN_IO, Flags.OPEN_UTIL, Flags.EXPORT_REF, Flags.EXPORT_NIO_CH, Flags.EXPORT_MISC,
    Flags.NO_ANALYTICS, Flags.HEAP_MIN, Flags.HEAP_MAX})
public class FloorBenchmark
{
    private static final int LOG_SIZE = 256 * 1024 * 1024;
    private static final int META_SIZE = 4096;
    private static final int PAGE_SIZE = 4096;
    /** The engine's record header and alignment: the floor writes records of the log's own size. */
    private static final int HEADER_LENGTH = io.varvedb.internal.log.RecordDescriptor.HEADER_LENGTH;
    private static final int ALIGNMENT = io.varvedb.internal.log.RecordDescriptor.ALIGNMENT;
    private static final int CHECKSUM_OFFSET = 4;
    private static final int CHECKSUM_START = 8;
    private static final int SLOT_OFFSET = 0;
    private static final int TAIL_OFFSET = 64;
    private static final int ZERO_CHUNK = 1024 * 1024;
    /** Fresh files kept behind the one being written (2 GiB): the rest are forced to disk and deleted. */
    private static final int RETAINED_FILES = 8;

    /** Payload bytes. */
    @Param({"64", "256", "1024"})
    public int payload;

    /** "warm": one pre-touched file reused; "fresh": new fallocated files, every page written for the first time. */
    @Param({"warm", "fresh"})
    public String pages;

    private Path directory;
    private MappedByteBuffer metaMapping;
    private MappedByteBuffer logMapping;
    private UnsafeBuffer meta;
    private UnsafeBuffer log;
    private ByteBuffer crcView;
    private final CRC32C crc = new CRC32C();
    private UnsafeBuffer source;
    private int frameLength;
    private int alignedLength;
    private long wrapMask;
    private boolean fresh;
    private long fileStart;
    private int files;
    /** Fresh files already written, oldest first: forced and deleted once {@link #RETAINED_FILES} are behind. */
    private final ArrayDeque<Path> written = new ArrayDeque<>();

    /**
     * Create, zero-fill, map and pre-touch the files.
     */
    @Setup(Level.Trial)
    public void setUp()
    {
        directory = Bench.freshDirectory("floor-" + pages);
        fresh = "fresh".equals(pages);
        if (!fresh && !"warm".equals(pages))
        {
            throw new IllegalArgumentException("pages must be warm or fresh: " + pages);
        }
        metaMapping = map(directory.resolve("meta"), META_SIZE);
        meta = new UnsafeBuffer(metaMapping);
        log = new UnsafeBuffer(0, 0);
        if (fresh)
        {
            nextFile();
        }
        else
        {
            logMapping = map(directory.resolve("log"), LOG_SIZE);
            log.wrap(logMapping);
            for (int page = 0; page < LOG_SIZE; page += PAGE_SIZE)
            {
                log.putInt(page, 0);
            }
            crcView = logMapping.duplicate();
        }
        source = new UnsafeBuffer(ByteBuffer.allocateDirect(payload));
        source.putBytes(0, Bench.payload(payload));
        frameLength = HEADER_LENGTH + payload;
        alignedLength = BitUtil.align(frameLength, ALIGNMENT);
        wrapMask = LOG_SIZE - 1;
    }

    private static MappedByteBuffer map(final Path file, final int size)
    {
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.READ,
            StandardOpenOption.WRITE))
        {
            // zero-fill with write() first: first touches through the mapping then cost little (FACTS.md)
            final ByteBuffer zeros = ByteBuffer.allocateDirect(ZERO_CHUNK);
            for (long written = 0; written < size; written += ZERO_CHUNK)
            {
                zeros.clear().limit((int)Math.min(ZERO_CHUNK, size - written));
                channel.write(zeros, written);
            }
            return channel.map(FileChannel.MapMode.READ_WRITE, 0, size);
        }
        catch (final IOException ex)
        {
            throw new UncheckedIOException(ex);
        }
    }

    /**
     * Reserve, map and switch to the next fresh log file; the previous one is unmapped and stays on disk, its dirty
     * pages in the page cache for write-back. A file {@link #RETAINED_FILES} behind is forced ({@code fdatasync}:
     * every page it holds reaches the disk, and this thread waits for whatever write-back has not done yet) and
     * deleted, so a long trial at over 1 GB/s does not fill the disk and no page escapes being written.
     */
    private void nextFile()
    {
        final Path file = directory.resolve("log-" + files++);
        try
        {
            if (written.size() >= RETAINED_FILES)
            {
                final Path oldest = written.removeFirst();
                try (FileChannel channel = FileChannel.open(oldest, StandardOpenOption.WRITE))
                {
                    channel.force(false);
                }
                Files.delete(oldest);
            }
            written.addLast(file);
            allocate(file);
            final MappedByteBuffer previous = logMapping;
            try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE))
            {
                logMapping = channel.map(FileChannel.MapMode.READ_WRITE, 0, LOG_SIZE);
            }
            log.wrap(logMapping);
            crcView = logMapping.duplicate();
            if (previous != null)
            {
                IoUtil.unmap(previous);
            }
        }
        catch (final IOException ex)
        {
            throw new UncheckedIOException(ex);
        }
    }

    /**
     * Unmap and delete.
     */
    @TearDown(Level.Trial)
    public void tearDown()
    {
        IoUtil.unmap(metaMapping);
        IoUtil.unmap(logMapping);
        Bench.delete(directory);
    }

    /**
     * @return the record's log position.
     */
    @Benchmark
    public long append()
    {
        final long state = meta.getLongVolatile(SLOT_OFFSET);
        if (!meta.compareAndSetLong(SLOT_OFFSET, state, state + 1))
        {
            throw new IllegalStateException("single-threaded CAS failed");
        }
        final long position = meta.getAndAddLong(TAIL_OFFSET, alignedLength);
        final int recordOffset;
        if (fresh)
        {
            long offset = position - fileStart;
            if (offset > LOG_SIZE - alignedLength)
            {
                // the rest of this file is left as padding, as a segmented log does; the next record opens a new file
                nextFile();
                fileStart = position;
                offset = 0;
            }
            recordOffset = (int)offset;
        }
        else
        {
            long offset = position & wrapMask;
            if (offset > LOG_SIZE - alignedLength)
            {
                offset = 0;
            }
            recordOffset = (int)offset;
        }
        log.putBytes(recordOffset + HEADER_LENGTH, source, 0, payload);
        crcView.clear();
        crcView.limit(recordOffset + frameLength).position(recordOffset + CHECKSUM_START);
        crc.reset();
        crc.update(crcView);
        log.putInt(recordOffset + CHECKSUM_OFFSET, (int)crc.getValue());
        log.putIntRelease(recordOffset, frameLength);
        return position;
    }

    /**
     * Create {@code file} with {@link #LOG_SIZE} bytes of disk blocks reserved by {@code fallocate(2)}, the way the
     * engine allocates new log space ({@link io.varvedb.internal.io.FileSpace}), nothing written.
     */
    private static void allocate(final Path file) throws IOException
    {
        if (!io.varvedb.internal.io.FileSpace.FALLOCATE.equals(io.varvedb.internal.io.FileSpace.method()))
        {
            throw new IllegalStateException("the fresh-page floor needs fallocate (JNA on Linux); this JVM has " +
                io.varvedb.internal.io.FileSpace.method());
        }
        Files.createFile(file);
        // mode 0 extends the empty file to its length with the blocks allocated
        io.varvedb.internal.io.FileSpace.allocate(file, 0, LOG_SIZE);
    }
}
