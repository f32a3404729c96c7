package io.varvedb.internal.process;

import io.varvedb.StoreLockedException;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Collectors;

import static io.varvedb.internal.process.LockFileDescriptor.*;

/**
 * A writer's hold on a store, in either mode (see {@link LockFileDescriptor}).
 * <ul>
 *   <li><b>Single-process</b> (the default): an exclusive lock on the whole of {@code varve.lock} for the whole
 *   open. The opener is alone, so it recovers.</li>
 *   <li><b>Multi-process</b>: a shared lock on {@code WRITERS} for the whole open (it excludes a single-process
 *   writer and is excluded by one), and the {@code OPEN} mutex while opening and closing. Under that mutex, an
 *   opener that can take {@code MEMBERS} exclusively is the only one: it {@link #first() recovers}; every other
 *   joins what is running and never recovers, truncates or rewrites anything. Once open, a writer holds
 *   {@code MEMBERS} shared; at close, under the mutex, the one that can then take it exclusively is the last, and
 *   marks the store closed cleanly.</li>
 * </ul>
 */
public final class WriterLock
{
    private static final int LOCK_ATTEMPTS = 10;
    private static final int PROBE_LOOKS = 5;
    private static final int REGISTRATION_LOOKS = 50;
    private static final long PROBE_PAUSE_NS = java.util.concurrent.TimeUnit.MILLISECONDS.toNanos(2);

    private final LockFile file;
    private final boolean multi;
    private final boolean first;
    private final boolean created;
    private FileLock whole;
    private FileLock lastLock;
    private boolean holdsOpenMutex;
    private boolean member;

    private WriterLock(final LockFile file, final boolean multi, final boolean first, final FileLock whole,
        final boolean created)
    {
        this.file = file;
        this.multi = multi;
        this.first = first;
        this.whole = whole;
        this.created = created;
        this.holdsOpenMutex = multi;
    }

    /**
     * Take the writer lock in the mode asked for.
     *
     * @param directory the store directory, which exists.
     * @param multi     multi-process mode.
     * @return the lock; in multi-process mode the open mutex is held until {@link #openDone()} or
     * {@link #release(boolean)}.
     * @throws StoreLockedException if a writer in the other mode (or, in single-process mode, any writer) has it.
     * @throws IOException          if the lock file cannot be opened.
     */
    public static WriterLock acquire(final Path directory, final boolean multi) throws IOException
    {
        return multi ? multi(directory) : single(directory);
    }

    private static WriterLock single(final Path directory) throws IOException
    {
        for (int attempt = 1; ; attempt++)
        {
            final LockFile file = LockFile.acquire(directory);
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
                    throw new StoreLockedException("the store at " + directory + " is already open for writing in " +
                        "this process" + (file.multiWriters > 0 ? " in multi-process mode; open it with " +
                        "VarveConfig.builder(dir).multiProcess(true) too" : "; share that VarveDB instance, or " +
                        "use openReadOnly"));
                }
                // a tool that asks whether a writer is live (varve info, verify) holds a shared lock on a byte for
                // an instant: look again a few times before taking that for a writer
                for (int look = 1; lock == null && look < PROBE_LOOKS; look++)
                {
                    java.util.concurrent.locks.LockSupport.parkNanos(PROBE_PAUSE_NS);
                    lock = file.tryLock(0, Long.MAX_VALUE, false);
                }
                if (lock == null)
                {
                    throw refusal(directory, file, false);
                }
                if (!file.stillInPlace())
                {
                    // a failing open removed the file this channel has open: lock whatever the name is now
                    if (attempt == LOCK_ATTEMPTS)
                    {
                        throw new StoreLockedException("the lock file of the store at " + directory + " was " +
                            "replaced " + LOCK_ATTEMPTS + " times while this open locked it (opens failing in other " +
                            "processes); try again");
                    }
                    continue;
                }
                writePid(file);
                held = true;
                return new WriterLock(file, false, true, lock, file.created());
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
    }

    private static WriterLock multi(final Path directory) throws IOException
    {
        final LockFile file = LockFile.acquire(directory);
        boolean writer = false;
        boolean mutex = false;
        try
        {
            synchronized (file)
            {
                if (file.multiWriters == 0)
                {
                    final FileLock writers;
                    try
                    {
                        writers = file.tryLock(WRITERS, 1, true);
                    }
                    catch (final OverlappingFileLockException ex)
                    {
                        throw new StoreLockedException("the store at " + directory + " is already open for writing " +
                            "in this process in single-process mode (the default); open every writer with " +
                            "VarveConfig.builder(dir).multiProcess(true), or share that VarveDB instance");
                    }
                    if (writers == null)
                    {
                        throw refusal(directory, file, true);
                    }
                    file.writersLock = writers;
                }
                file.multiWriters++;
                writer = true;
            }
            file.mutex(OPEN).lock();
            mutex = true;
            final boolean first;
            synchronized (file)
            {
                if (file.members > 0)
                {
                    first = false;
                }
                else
                {
                    final FileLock alone = file.tryLock(MEMBERS, 1, false);
                    first = alone != null;
                    LockFile.releaseQuietly(alone);
                }
            }
            return new WriterLock(file, true, first, null, false);
        }
        catch (final RuntimeException | Error ex)
        {
            if (mutex)
            {
                file.mutex(OPEN).unlock();
            }
            if (writer)
            {
                dropWriter(file);
            }
            // an open that failed: its reference goes (never the file: other processes use it)
            file.release();
            throw ex;
        }
    }

    private static void dropWriter(final LockFile file)
    {
        synchronized (file)
        {
            if (--file.multiWriters == 0)
            {
                LockFile.releaseQuietly(file.writersLock);
                file.writersLock = null;
            }
        }
    }

    /**
     * @return true if this writer is the only one: it must recover the store (always, in single-process mode).
     */
    public boolean first()
    {
        return first;
    }

    /**
     * @return true in multi-process mode.
     */
    public boolean multiProcess()
    {
        return multi;
    }

    /**
     * @return true if this open created {@code varve.lock} (single-process mode; it may remove it if it fails).
     */
    public boolean created()
    {
        return created;
    }

    /**
     * @return the store's lock file.
     */
    public LockFile lockFile()
    {
        return file;
    }

    /**
     * Multi-process mode: the open is done; become a member and let the next opener in.
     */
    public void openDone()
    {
        if (!multi)
        {
            return;
        }
        synchronized (file)
        {
            if (file.members++ == 0)
            {
                // nobody holds MEMBERS exclusively: that is tried only under the open mutex, which we hold
                file.membersLock = file.tryLock(MEMBERS, 1, true);
            }
        }
        member = true;
        holdsOpenMutex = false;
        file.mutex(OPEN).unlock();
    }

    /**
     * Multi-process mode: begin the close; no writer opens or closes until {@link #release}.
     *
     * @return true if this writer is the last one open (always, in single-process mode): it may mark the store
     * closed cleanly.
     */
    public boolean closing()
    {
        if (!multi)
        {
            return true;
        }
        file.mutex(OPEN).lock();
        holdsOpenMutex = true;
        synchronized (file)
        {
            if (member && --file.members == 0)
            {
                member = false;
                LockFile.releaseQuietly(file.membersLock);
                file.membersLock = null;
                lastLock = file.tryLock(MEMBERS, 1, false);
                return lastLock != null;
            }
            member = false;
            return false;
        }
    }

    /**
     * Let go of everything this writer holds.
     *
     * @param removeFile single-process mode: remove {@code varve.lock} first (a failed open that created it).
     */
    public void release(final boolean removeFile)
    {
        if (!multi)
        {
            if (removeFile)
            {
                try
                {
                    java.nio.file.Files.deleteIfExists(file.lockPath());
                }
                catch (final IOException ignore)
                {
                    // left behind: harmless, the next open locks it
                }
            }
            LockFile.releaseQuietly(whole);
            whole = null;
            file.release();
            return;
        }
        LockFile.releaseQuietly(lastLock);
        lastLock = null;
        if (member)
        {
            synchronized (file)
            {
                if (--file.members == 0)
                {
                    LockFile.releaseQuietly(file.membersLock);
                    file.membersLock = null;
                }
            }
            member = false;
        }
        if (holdsOpenMutex)
        {
            holdsOpenMutex = false;
            file.mutex(OPEN).unlock();
        }
        dropWriter(file);
        file.release();
    }

    /**
     * A writer in the other mode, or any writer for a single-process opener, holds the store.
     */
    private static StoreLockedException refusal(final Path directory, final LockFile file, final boolean multi)
    {
        List<long[]> members = liveParticipants(directory, file);
        // A single-process opener refused: if a shared lock on WRITERS can be had, the holders are multi-process
        // writers (a single-process one holds the whole file exclusively), one perhaps not registered yet (it
        // registers right after its lock): look again for a moment rather than name a stale pid
        for (int look = 1; !multi && members.isEmpty() && look < REGISTRATION_LOOKS && multiHolds(file); look++)
        {
            java.util.concurrent.locks.LockSupport.parkNanos(PROBE_PAUSE_NS);
            members = liveParticipants(directory, file);
        }
        if (members.isEmpty() && !multi && multiHolds(file))
        {
            return new StoreLockedException("the store at " + directory + " is being opened for writing in " +
                "multi-process mode by another process; open it with VarveConfig.builder(dir).multiProcess(true) " +
                "to write beside it (readers may use VarveDB.openReadOnly)");
        }
        if (!members.isEmpty())
        {
            final String pids = members.stream().map((m) -> Long.toString(m[1])).collect(Collectors.joining(", "));
            return new StoreLockedException("the store at " + directory + " is open for writing in multi-process " +
                "mode by process" + (members.size() > 1 ? "es " : " ") + pids + "; open it with " +
                "VarveConfig.builder(dir).multiProcess(true) to write beside " + (members.size() > 1 ? "them" : "it") +
                " (readers may use VarveDB.openReadOnly)");
        }
        String pid = file.pidHint();
        // a single-process writer writes its pid just after it takes the lock
        for (int look = 1; pid.isEmpty() && look < REGISTRATION_LOOKS; look++)
        {
            java.util.concurrent.locks.LockSupport.parkNanos(PROBE_PAUSE_NS);
            pid = file.pidHint();
        }
        if (multi)
        {
            return new StoreLockedException("the store at " + directory + " is open for writing by process " +
                (pid.isEmpty() ? "(pid unknown)" : pid) + " in single-process mode (the default), which admits no " +
                "other writer; open every writer with VarveConfig.builder(dir).multiProcess(true), or open this " +
                "one with VarveDB.openReadOnly");
        }
        return new StoreLockedException("the store at " + directory + " is open for writing by another process" +
            (pid.isEmpty() ? "" : " (pid " + pid + ")") + " in single-process mode (the default); only one writer " +
            "at a time (readers may use VarveDB.openReadOnly; writers in several processes need " +
            "VarveConfig.builder(dir).multiProcess(true) in all of them)");
    }

    /**
     * @return true if a shared lock on WRITERS can be had for an instant: whoever holds the store holds it in
     * multi-process mode.
     */
    private static boolean multiHolds(final LockFile file)
    {
        try
        {
            return file.writersShareable();
        }
        catch (final OverlappingFileLockException ex)
        {
            return false;
        }
    }

    private static List<long[]> liveParticipants(final Path directory, final LockFile file)
    {
        return ProcessRegistry.activeParticipants(directory, file).stream()
            .filter((m) -> m[4] == 1).collect(Collectors.toList());
    }

    /**
     * Write this process's pid into the held lock file, for the message another opener gets. Best effort: the pid
     * only names the holder, and writing it needs a disk block, which a full disk refuses; the lock itself is held
     * without it.
     */
    private static void writePid(final LockFile file)
    {
        try
        {
            file.channel().truncate(0);
            file.channel().write(ByteBuffer.wrap(
                (ProcessHandle.current().pid() + "\n").getBytes(StandardCharsets.US_ASCII)), 0);
        }
        catch (final IOException ex)
        {
            // an empty lock file: a refused opener says the holder's pid is unknown
        }
    }
}
