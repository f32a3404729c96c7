package io.varvedb.internal.io;

import com.sun.jna.LastErrorException;
import com.sun.jna.Library;
import com.sun.jna.Native;

import java.io.IOException;
import java.nio.file.Path;

/**
 * {@code fallocate(2)} through JNA, an optional dependency: {@link FileSpace} loads this class by name and falls back
 * to the zero-fill if it cannot. Java has no call for it; an {@code fd} of our own is opened per call (three system
 * calls per allocation step of megabytes: nothing beside the work it saves).
 */
final class JnaFallocator implements FileSpace.Fallocator
{
    /** open(2) flags of Linux: O_WRONLY | O_CLOEXEC. */
    private static final int O_WRONLY = 0x1;
    private static final int O_CLOEXEC = 0x80000;
    /** fallocate(2) mode 0: allocate (the file already has its length, so it does not grow). */
    private static final int ALLOCATE = 0;

    /**
     * The few libc calls needed, bound by name.
     */
    public interface LibC extends Library
    {
        /**
         * @param path  file.
         * @param flags open flags.
         * @return a file descriptor.
         * @throws LastErrorException with the errno.
         */
        int open(String path, int flags) throws LastErrorException;

        /**
         * @param fd     file descriptor.
         * @param mode   0.
         * @param offset first byte.
         * @param length bytes.
         * @return 0.
         * @throws LastErrorException with the errno.
         */
        int fallocate(int fd, int mode, long offset, long length) throws LastErrorException;

        /**
         * @param fd file descriptor.
         * @return 0.
         * @throws LastErrorException with the errno.
         */
        int close(int fd) throws LastErrorException;

        /**
         * @param errno an error number.
         * @return its description.
         */
        String strerror(int errno);
    }

    private final LibC libc;

    JnaFallocator()
    {
        this.libc = Native.load("c", LibC.class);
    }

    @Override
    public int fallocate(final Path path, final long offset, final long length) throws IOException
    {
        final int fd;
        try
        {
            fd = libc.open(path.toString(), O_WRONLY | O_CLOEXEC);
        }
        catch (final LastErrorException ex)
        {
            throw new IOException(path + ": " + describe(ex.getErrorCode()), ex);
        }
        try
        {
            libc.fallocate(fd, ALLOCATE, offset, length);
            return 0;
        }
        catch (final LastErrorException ex)
        {
            return ex.getErrorCode();
        }
        finally
        {
            try
            {
                libc.close(fd);
            }
            catch (final LastErrorException ignore)
            {
                // close of a descriptor only read and fallocated: nothing was written through it to lose
            }
        }
    }

    @Override
    public String describe(final int errno)
    {
        return libc.strerror(errno);
    }
}
