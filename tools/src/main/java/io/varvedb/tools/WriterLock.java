package io.varvedb.tools;

import io.varvedb.StoreIOException;
import io.varvedb.internal.process.LockFile;

import java.io.IOException;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Collectors;

/**
 * A store's writer lock, taken by a command that changes a store without opening it ({@code demo --fresh}
 * deleting one): the exclusive lock on the whole of {@code varve.lock} that a single-process {@code VarveDB.open}
 * takes. It conflicts with every lock a writer of either mode holds, so while it is held no writer can open the
 * store, and it cannot be taken while one has the store open, in this process or another.
 * <p>
 * It goes through the engine's {@link LockFile}, the one channel per JVM on that file: a POSIX lock belongs to the
 * process, so closing a channel of our own would drop the locks of a writer this JVM has open (a store opened by
 * the program that embeds the command line, or by a test), and a writer in another process could then open the
 * store beside it.
 */
final class WriterLock implements AutoCloseable
{
    private static final int ATTEMPTS = 10;

    private final LockFile file;
    private final FileLock lock;

    private WriterLock(final LockFile file, final FileLock lock)
    {
        this.file = file;
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
        // a failing VarveDB.open removes the lock file it created, under its lock: a lock taken on that file just
        // after guards nothing, so once held the name must still be the file locked (as the engine checks)
        for (int attempt = 1; attempt <= ATTEMPTS; attempt++)
        {
            final WriterLock lock = tryAcquire(directory, refusal);
            if (lock != null)
            {
                return lock;
            }
        }
        throw CliException.store("the lock file of " + directory + " was replaced " + ATTEMPTS + " times while " +
            "this command locked it; " + refusal);
    }

    /**
     * @return the lock, or null if the lock file was replaced while it was taken (then it is released again).
     */
    private static WriterLock tryAcquire(final Path directory, final String refusal)
    {
        final LockFile file;
        try
        {
            file = LockFile.acquire(directory);
        }
        catch (final IOException ex)
        {
            throw CliException.store("cannot open the lock file of " + directory + ": " + ex.getMessage());
        }
        boolean held = false;
        FileLock lock = null;
        try
        {
            try
            {
                lock = file.tryLock(0, Long.MAX_VALUE, false);
            }
            catch (final OverlappingFileLockException ex)
            {
                throw CliException.store("the store at " + directory + " is open for writing in this process; " +
                    refusal);
            }
            catch (final StoreIOException ex)
            {
                throw CliException.store(ex.getMessage());
            }
            if (lock == null)
            {
                throw CliException.store("the store at " + directory + " is open for writing " +
                    holder(Writers.of(file, directory)) + "; " + refusal);
            }
            if (!file.stillInPlace())
            {
                return null;
            }
            held = true;
            return new WriterLock(file, lock);
        }
        finally
        {
            if (!held)
            {
                LockFile.releaseQuietly(lock);
                file.release();
            }
        }
    }

    /**
     * @return "by another process (pid 42)", or "in multi-process mode by processes 42, 43".
     */
    private static String holder(final Writers writers)
    {
        final List<Writers.Registered> live = writers.live();
        if (writers.singleWriter() || live.isEmpty())
        {
            return "by another process" + (writers.singlePid() >= 0 ? " (pid " + writers.singlePid() + ")" : "");
        }
        return "in multi-process mode by process" + (live.size() > 1 ? "es " : " ") +
            live.stream().map((r) -> Long.toString(r.pid())).collect(Collectors.joining(", "));
    }

    @Override
    public void close()
    {
        LockFile.releaseQuietly(lock);
        // closes the channel only if no store of this JVM uses it (none can: this lock excluded them)
        file.release();
    }
}
