package io.varvedb.jmh;

import org.agrona.DirectBuffer;


import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.SplittableRandom;

/**
 * Settings and helpers shared by the benchmarks: where stores live, the payload bytes, stream orders.
 */
public final class Bench
{
    /** System property naming the directory fresh stores are created under; default {@code java.io.tmpdir}. */
    public static final String DIR_PROPERTY = "varve.bench.dir";
    /** Log segment size for VarveDB: small enough that a throughput trial rolls through many segments. */
    public static final int SEGMENT_SIZE = 64 * 1024 * 1024;
    /** Stream-table capacity: above the largest stream count any benchmark uses. */
    public static final int INDEX_CAPACITY = 1 << 18;
    /** The event type every benchmark writes. */
    public static final int EVENT_TYPE = 7;
    /** Fixed seed: every system sees the same payload bytes and the same stream order. */
    public static final long SEED = 0x5EED_CAFEL;

    private Bench()
    {
    }

    /**
     * @param prefix names the directory.
     * @return a new empty directory for one trial's store.
     */
    public static Path freshDirectory(final String prefix)
    {
        try
        {
            final Path base = Paths.get(System.getProperty(DIR_PROPERTY, System.getProperty("java.io.tmpdir")));
            Files.createDirectories(base);
            return Files.createTempDirectory(base, "varve-jmh-" + prefix + "-");
        }
        catch (final IOException ex)
        {
            throw new UncheckedIOException(ex);
        }
    }

    /**
     * Delete a directory tree; used in trial tear-down so multi-GiB stores do not pile up.
     *
     * @param directory to delete; may be null.
     */
    public static void delete(final Path directory)
    {
        if (directory == null || !Files.exists(directory))
        {
            return;
        }
        try
        {
            Files.walkFileTree(directory, new SimpleFileVisitor<>()
            {
                @Override
                public FileVisitResult visitFile(final Path file, final BasicFileAttributes attrs) throws IOException
                {
                    Files.delete(file);
                    return FileVisitResult.CONTINUE;
                }

                @Override
                public FileVisitResult postVisitDirectory(final Path dir, final IOException ex) throws IOException
                {
                    Files.delete(dir);
                    return FileVisitResult.CONTINUE;
                }
            });
        }
        catch (final IOException ex)
        {
            throw new UncheckedIOException(ex);
        }
    }

    /**
     * @param length bytes.
     * @return deterministic pseudo-random payload bytes.
     */
    public static byte[] payload(final int length)
    {
        final byte[] bytes = new byte[length];
        new SplittableRandom(SEED).nextBytes(bytes);
        return bytes;
    }

    /**
     * @return the master key of every encrypted store the benchmarks open: 32 fixed pseudo-random bytes (a new
     * array each call; the builder copies it).
     */
    public static byte[] masterKey()
    {
        final byte[] key = new byte[32];
        new SplittableRandom(~SEED).nextBytes(key);
        return key;
    }

    /**
     * Fold every byte of a payload into a value: what each system's reader does with each event, so that every
     * reader touches the whole payload (a reader that looked at 8 bytes would skip most of the memory traffic of a
     * 1 KiB event).
     *
     * @param buffer the payload's buffer.
     * @param offset where it starts.
     * @param length its bytes.
     * @return the sum of its 8-byte words and trailing bytes.
     */
    public static long fold(final DirectBuffer buffer, final int offset, final int length)
    {
        long sum = 0;
        int i = 0;
        for (; i + Long.BYTES <= length; i += Long.BYTES)
        {
            sum += buffer.getLong(offset + i);
        }
        for (; i < length; i++)
        {
            sum += buffer.getByte(offset + i);
        }
        return sum;
    }

    /**
     * @param streams how many streams.
     * @return stream ids 1..streams in a fixed shuffled order, so consecutive appends hit unrelated slots.
     */
    public static long[] shuffledStreams(final int streams)
    {
        final long[] ids = new long[streams];
        for (int i = 0; i < streams; i++)
        {
            ids[i] = i + 1;
        }
        final SplittableRandom random = new SplittableRandom(SEED);
        for (int i = streams - 1; i > 0; i--)
        {
            final int j = random.nextInt(i + 1);
            final long tmp = ids[i];
            ids[i] = ids[j];
            ids[j] = tmp;
        }
        return ids;
    }
}
