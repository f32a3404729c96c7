package io.varvedb.tools;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * A store's writer lock, taken by a command that changes a store without opening it ({@code demo --fresh}
 * deleting one): the OS lock on {@code varve.lock} that {@code VarveDB.open} takes. While it is held no writer
 * can open the store, and it cannot be taken while a writer has the store open, in this process or another.
 */
final class WriterLock implements AutoCloseable
{
    /**
     * Lock files found locked by a writer in this JVM (a store opened by the program that embeds the command
     * line, or by a test). Their channels are never closed: a POSIX lock belongs to the process, so closing any
     * descriptor of the file would drop that writer's lock, and a writer in another process could then open the
     * store beside it.
     */
    private static final List<FileChannel> KEPT_OPEN = new CopyOnWriteArrayList<>();

    private final FileChannel channel;
    private final FileLock lock;

    private WriterLock(final FileChannel channel, final FileLock lock)
    {
        this.channel = channel;
        this.lock = lock;
    }

    /**
     * Take the writer lock of the store in {@code directory}, or refuse with exit status 3.
     *
     * @param directory a store directory.
     * @param refusal   what the refusal means for the user, e.g. "--fresh deletes nothing while it is in use".
     * @return the lock; close it to release it.
     * @throws CliException if a writer has the store open, or the lock file cannot be opened.
     */
    static WriterLock acquire(final Path directory, final String refusal)
    {
        final Path path = directory.resolve(Stores.LOCK_FILE);
        // a failing VarveDB.open removes the lock file it created, under its lock: a lock taken on that file just
        // after guards nothing, so once held the name must still be the file locked (see VarveDB's lock)
        for (int attempt = 1; ; attempt++)
        {
            final WriterLock lock = tryAcquire(directory, path, refusal);
            if (lock != null)
            {
                return lock;
            }
            if (attempt == 10)
            {
                throw CliException.store("the lock file " + path + " was replaced 10 times while this command " +
                    "locked it; " + refusal);
            }
        }
    }

    /**
     * @return the lock, or null if the lock file was replaced while it was taken (then it is released again).
     */
    private static WriterLock tryAcquire(final Path directory, final Path path, final String refusal)
    {
        final FileChannel channel;
        try
        {
            channel = FileChannel.open(path, StandardOpenOption.CREATE, StandardOpenOption.READ,
                StandardOpenOption.WRITE);
        }
        catch (final IOException ex)
        {
            throw CliException.store("cannot open the lock file " + path + ": " + ex.getMessage());
        }
        final Object opened = fileKey(path);
        final FileLock lock;
        try
        {
            lock = channel.tryLock();
        }
        catch (final OverlappingFileLockException ex)
        {
            KEPT_OPEN.add(channel);
            throw CliException.store("the store at " + directory + " is open for writing in this process; " +
                refusal);
        }
        catch (final IOException ex)
        {
            closeQuietly(channel);
            throw CliException.store("cannot lock " + path + ": " + ex.getMessage());
        }
        if (lock == null)
        {
            // another process holds the lock, so this one holds none on the file: reading it drops nothing
            final String holder = holder(path);
            closeQuietly(channel);
            throw CliException.store("the store at " + directory + " is open for writing by another process" +
                holder + "; " + refusal);
        }
        if (opened != null && !opened.equals(fileKey(path)))
        {
            new WriterLock(channel, lock).close();
            return null;
        }
        return new WriterLock(channel, lock);
    }

    /**
     * @return the file key of the file now at {@code path} (a stat: no descriptor whose close would drop a lock),
     * a fresh object if there is none, null where files have no keys.
     */
    private static Object fileKey(final Path path)
    {
        try
        {
            return Files.readAttributes(path, BasicFileAttributes.class).fileKey();
        }
        catch (final IOException ex)
        {
            return new Object();
        }
    }

    @Override
    public void close()
    {
        try
        {
            lock.release();
        }
        catch (final IOException ignore)
        {
            // closing the channel releases it too
        }
        closeQuietly(channel);
    }

    private static String holder(final Path path)
    {
        try
        {
            final String pid = Files.readString(path, StandardCharsets.US_ASCII).trim();
            return pid.isEmpty() ? "" : " (pid " + pid + ")";
        }
        catch (final IOException ex)
        {
            return "";
        }
    }

    private static void closeQuietly(final FileChannel channel)
    {
        try
        {
            channel.close();
        }
        catch (final IOException ignore)
        {
            // nothing was done with it that closing could lose
        }
    }
}
