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
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.TimeUnit;
import java.util.zip.CRC32C;

/**
 * The physical floor of one append: only the work no design can avoid. One CAS on a mapped stream slot, one
 * atomic add on a mapped tail counter, copying the payload into a mapped log, its CRC32C ({@link CRC32C} over a
 * direct-buffer view, as the engine does), and one ordered store of the record length. Records are laid out as
 * the engine lays them out (40-byte header, 32-byte alignment) so the memory traffic is the same.
 * <p>
 * The log is a 256 MiB file, zero-filled and pre-touched in set-up, reused cyclically: this is the floor with
 * warm pages, i.e. with page faults taken off the appending thread completely (which the engine approaches with
 * its background preallocator). Every append result can be read as a ratio to this one.
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
    private static final int HEADER_LENGTH = 40;
    private static final int ALIGNMENT = 32;
    private static final int CHECKSUM_OFFSET = 4;
    private static final int CHECKSUM_START = 8;
    private static final int SLOT_OFFSET = 0;
    private static final int TAIL_OFFSET = 64;
    private static final int ZERO_CHUNK = 1024 * 1024;

    /** Payload bytes. */
    @Param({"64", "256", "1024"})
    public int payload;

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

    /**
     * Create, zero-fill, map and pre-touch the files.
     */
    @Setup(Level.Trial)
    public void setUp()
    {
        directory = Bench.freshDirectory("floor");
        metaMapping = map(directory.resolve("meta"), META_SIZE);
        logMapping = map(directory.resolve("log"), LOG_SIZE);
        meta = new UnsafeBuffer(metaMapping);
        log = new UnsafeBuffer(logMapping);
        for (int page = 0; page < LOG_SIZE; page += PAGE_SIZE)
        {
            log.putInt(page, 0);
        }
        crcView = logMapping.duplicate();
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
        long offset = position & wrapMask;
        if (offset > LOG_SIZE - alignedLength)
        {
            offset = 0;
        }
        final int recordOffset = (int)offset;
        log.putBytes(recordOffset + HEADER_LENGTH, source, 0, payload);
        crcView.clear();
        crcView.limit(recordOffset + frameLength).position(recordOffset + CHECKSUM_START);
        crc.reset();
        crc.update(crcView);
        log.putInt(recordOffset + CHECKSUM_OFFSET, (int)crc.getValue());
        log.putIntRelease(recordOffset, frameLength);
        return position;
    }
}
