package io.varvedb.jmh;

import com.sun.jna.LastErrorException;
import com.sun.jna.Library;
import com.sun.jna.Native;

import java.io.IOException;
import java.nio.file.Path;

/**
 * {@code fallocate(2)} through JNA: reserve a file's blocks without writing them. Java has no call for it; a
 * zero-fill writes every byte through the page cache (about 2-3 us per 4 KiB page here, see FACTS.md) where
 * {@code fallocate} takes a few milliseconds per 512 MiB. Linux only; used by the fresh-page floor.
 */
final class Fallocate
{
    /** open(2) flags of Linux: O_RDWR | O_CREAT | O_EXCL. */
    private static final int O_RDWR = 0x2;
    private static final int O_CREAT = 0x40;
    private static final int O_EXCL = 0x80;
    private static final int MODE_0644 = 0x1A4;
    /** fallocate(2) mode 0: allocate, and extend the file's size. */
    private static final int DEFAULT_MODE = 0;

    private Fallocate()
    {
    }

    /**
     * The few libc calls needed; mapped by name.
     */
    interface LibC extends Library
    {
        /** The loaded C library. */
        LibC INSTANCE = Native.load("c", LibC.class);

        int open(String path, int flags, int mode) throws LastErrorException;

        int fallocate(int fd, int mode, long offset, long length) throws LastErrorException;

        int close(int fd) throws LastErrorException;
    }

    /**
     * Create {@code file} with {@code length} bytes allocated on disk and reading as zeros.
     *
     * @param file   a path that does not exist yet.
     * @param length bytes.
     * @throws IOException if the file exists or the file system refuses (a full disk is ENOSPC here, not a SIGBUS
     *                     later).
     */
    static void create(final Path file, final long length) throws IOException
    {
        final int fd;
        try
        {
            fd = LibC.INSTANCE.open(file.toString(), O_RDWR | O_CREAT | O_EXCL, MODE_0644);
        }
        catch (final LastErrorException ex)
        {
            throw new IOException("open " + file + ": errno " + ex.getErrorCode(), ex);
        }
        try
        {
            LibC.INSTANCE.fallocate(fd, DEFAULT_MODE, 0, length);
        }
        catch (final LastErrorException ex)
        {
            throw new IOException("fallocate " + file + " (" + length + " bytes): errno " + ex.getErrorCode(), ex);
        }
        finally
        {
            LibC.INSTANCE.close(fd);
        }
    }
}
