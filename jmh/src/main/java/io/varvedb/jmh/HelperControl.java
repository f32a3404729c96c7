package io.varvedb.jmh;

import org.agrona.IoUtil;
import org.agrona.concurrent.UnsafeBuffer;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * A small memory-mapped file through which the JMH fork and its helper process talk while both append: the
 * helper's running count of appends, its state, and the fork's stop request. Shared memory, not a pipe, because
 * the fork must read the helper's count at the exact start and end of each measurement iteration without the
 * helper doing anything more than one ordered store per append. Each field has its own cache line, so the fork's
 * rare reads and its one write never slow the helper's loop.
 */
public final class HelperControl implements AutoCloseable
{
    /** Appends the helper has made so far (helper writes, ordered). */
    private static final int COUNT = 0;
    /** {@link #STARTING}, {@link #APPENDING}, {@link #STOPPED} or {@link #FAILED} (helper writes). */
    private static final int STATE = 64;
    /** Non-zero once the fork asks the helper to stop (fork writes). */
    private static final int STOP = 128;
    private static final int LENGTH = 192;

    /** The helper has not appended yet. */
    public static final int STARTING = 0;
    /** The helper has made its first append and keeps appending. */
    public static final int APPENDING = 1;
    /** The helper stopped on request, closed its store, and its count is final. */
    public static final int STOPPED = 2;
    /** The helper hit an error (its stderr says which). */
    public static final int FAILED = 3;

    private final MappedByteBuffer mapped;
    private final UnsafeBuffer buffer;

    /**
     * @param file created (zero-filled) if missing; both processes map the same file.
     */
    public HelperControl(final Path file)
    {
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.READ,
            StandardOpenOption.WRITE))
        {
            mapped = channel.map(FileChannel.MapMode.READ_WRITE, 0, LENGTH);
        }
        catch (final IOException ex)
        {
            throw new UncheckedIOException(ex);
        }
        buffer = new UnsafeBuffer(mapped);
    }

    /**
     * @param count appends made so far; called by the helper after every append.
     */
    public void count(final long count)
    {
        buffer.putLongOrdered(COUNT, count);
    }

    /**
     * @return appends the helper has made so far.
     */
    public long count()
    {
        return buffer.getLongVolatile(COUNT);
    }

    /**
     * @param state one of the state constants.
     */
    public void state(final int state)
    {
        buffer.putIntVolatile(STATE, state);
    }

    /**
     * @return the helper's state.
     */
    public int state()
    {
        return buffer.getIntVolatile(STATE);
    }

    /**
     * Ask the helper to stop.
     */
    public void requestStop()
    {
        buffer.putIntVolatile(STOP, 1);
    }

    /**
     * @return true once the fork asked the helper to stop.
     */
    public boolean stopRequested()
    {
        return buffer.getIntVolatile(STOP) != 0;
    }

    @Override
    public void close()
    {
        IoUtil.unmap(mapped);
    }
}
