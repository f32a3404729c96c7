package io.varvedb.internal.io;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Locale;

/**
 * Gives a range of a file disk blocks, so that a later write through a shared mapping cannot fail for want of
 * space (on a full disk that failure is a {@code SIGBUS}, not an exception).
 * <p>
 * Two methods, chosen once per JVM:
 * <ul>
 *   <li><b>fallocate</b> ({@code fallocate(2)}, mode 0, through JNA when JNA is on the class path and the OS is
 *   Linux): the file system reserves the blocks and marks them unwritten; nothing is written, the range reads as
 *   zeros, and its pages are made (zeroed in memory) only when first touched. About a millisecond per hundreds of
 *   MiB; a full disk is {@code ENOSPC} here.</li>
 *   <li><b>zero-fill</b> (the fallback, and the only method without JNA): zeros written through the file channel.
 *   Every byte then goes through the page cache twice (the zeros, later the data) and costs 2-3 us per 4 KiB page
 *   of the caller's CPU (see FACTS).</li>
 * </ul>
 * A file system that does not support {@code fallocate} (EOPNOTSUPP) gets the zero-fill for that call. The system
 * property {@value #METHOD_PROPERTY}{@code =zero-fill} forces the fallback, to measure one against the other.
 */
public final class FileSpace
{
    /** System property: {@code zero-fill} to never use {@code fallocate}; anything else (or unset): the best. */
    public static final String METHOD_PROPERTY = "varve.fileSpace";
    /** The value of {@link #METHOD_PROPERTY} that forces the zero-fill. */
    public static final String ZERO_FILL = "zero-fill";
    /** The name of the native method. */
    public static final String FALLOCATE = "fallocate";

    /** Linux errno: the file system does not support the operation. */
    static final int EOPNOTSUPP = 95;
    /** Linux errno: no such system call. */
    static final int ENOSYS = 38;

    private static final Fallocator FALLOCATOR = load();

    private FileSpace()
    {
    }

    /**
     * The native call, behind an interface so that this class loads without JNA.
     */
    interface Fallocator
    {
        /**
         * @param path   an existing regular file, opened for writing by the call.
         * @param offset first byte.
         * @param length bytes.
         * @return 0 on success, else the errno.
         * @throws IOException if the file cannot be opened.
         */
        int fallocate(Path path, long offset, long length) throws IOException;

        /**
         * @param errno an error number.
         * @return its text, as {@code strerror(3)} gives it.
         */
        String describe(int errno);
    }

    private static Fallocator load()
    {
        if (ZERO_FILL.equals(System.getProperty(METHOD_PROPERTY)) ||
            !System.getProperty("os.name", "").toLowerCase(Locale.ROOT).contains("linux"))
        {
            return null;
        }
        try
        {
            // by name: JNA is an optional dependency, and the class that uses it must not load without it
            return (Fallocator)Class.forName(FileSpace.class.getPackageName() + ".JnaFallocator")
                .getDeclaredConstructor().newInstance();
        }
        catch (final ReflectiveOperationException | LinkageError | RuntimeException ex)
        {
            // no JNA on the class path, or its native part cannot load here: the zero-fill serves
            return null;
        }
    }

    /**
     * @return {@value #FALLOCATE} or {@value #ZERO_FILL}: how this JVM gives files their blocks.
     */
    public static String method()
    {
        return FALLOCATOR != null ? FALLOCATE : ZERO_FILL;
    }

    /**
     * Give {@code [from, to)} of the file disk blocks. The caller guarantees that the range reads as zeros already (a
     * hole, or zeros): {@code fallocate} keeps the bytes that are there, the zero-fill overwrites them, and callers
     * must not depend on either.
     *
     * @param path the file; opened for writing by whichever method runs (the native call takes its own descriptor).
     * @param from first byte.
     * @param to   end, exclusive.
     * @throws IOException when the file system refuses, for example when the disk is full.
     */
    public static void allocate(final Path path, final long from, final long to) throws IOException
    {
        allocate(FALLOCATOR, path, from, to);
    }

    static void allocate(final Fallocator fallocator, final Path path, final long from, final long to)
        throws IOException
    {
        if (to <= from)
        {
            return;
        }
        if (fallocator != null)
        {
            final int errno = fallocator.fallocate(path, from, to - from);
            if (errno == 0)
            {
                return;
            }
            if (errno != EOPNOTSUPP && errno != ENOSYS)
            {
                throw new IOException(fallocator.describe(errno) + " (fallocate of " + (to - from) + " bytes at " +
                    from + ", errno " + errno + ")");
            }
        }
        try (FileChannel channel = FileChannel.open(path, StandardOpenOption.WRITE))
        {
            MappedFile.zeroFill(channel, from, to);
        }
    }
}
