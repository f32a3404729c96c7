package io.varvedb.tools;

import io.varvedb.StoreIOException;
import io.varvedb.internal.process.LockFile;
import io.varvedb.internal.process.LockFileDescriptor;
import io.varvedb.internal.process.ProcessRegistry;

import java.io.IOException;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;

/**
 * Who has a store open for writing: a single-process writer (the default mode), or the processes registered in
 * {@code varve.procs} by multi-process writers. Liveness comes from the record locks on {@code varve.lock}, read
 * through the engine's {@link LockFile}: this JVM may have the same store open through the engine, and a channel
 * of our own on that file would, once closed, drop every lock this JVM holds on it.
 *
 * @param singleWriter  true if a single-process writer has the store open.
 * @param singlePid     that writer's pid, -1 if unknown (or there is none).
 * @param registered    the multi-process writers' entries, alive or dead but not yet repaired.
 */
public record Writers(boolean singleWriter, long singlePid, List<Registered> registered)
{
    /** No writer, and no entries. */
    public static final Writers NONE = new Writers(false, -1, List.of());

    /**
     * Look at the store's lock file and process table. Creates nothing: a store without a lock file has no writer.
     *
     * @param directory a store directory.
     * @return who writes it.
     */
    public static Writers of(final Path directory)
    {
        if (!Files.exists(directory.resolve(LockFileDescriptor.FILE_NAME)))
        {
            return NONE;
        }
        final LockFile file;
        try
        {
            file = LockFile.acquire(directory);
        }
        catch (final IOException ex)
        {
            throw CliException.store("cannot open " + directory.resolve(LockFileDescriptor.FILE_NAME) + ": " +
                ex.getMessage());
        }
        try
        {
            return of(file, directory);
        }
        finally
        {
            // the last reference closes the channel; a store this JVM has open keeps its own reference
            file.release();
        }
    }

    /**
     * @param file      the store's lock file, acquired by the caller.
     * @param directory the store directory.
     * @return who writes it.
     */
    static Writers of(final LockFile file, final Path directory)
    {
        final List<Registered> registered = registered(file, directory);
        final boolean multiAlive = registered.stream().anyMatch(Registered::alive);
        final boolean single = !multiAlive && singleWriterHolds(file);
        return new Writers(single, single ? pidHint(file) : -1, registered);
    }

    /**
     * @return true if a writer (single- or multi-process) has the store open.
     */
    public boolean anyLive()
    {
        return singleWriter || registered.stream().anyMatch(Registered::alive);
    }

    /**
     * @return the live multi-process writers' entries.
     */
    public List<Registered> live()
    {
        return registered.stream().filter(Registered::alive).collect(Collectors.toList());
    }

    /**
     * @return who has it open, for a sentence: "process 42", "processes 42, 43 in multi-process mode"; empty if
     * nobody does.
     */
    public String describe()
    {
        if (singleWriter)
        {
            return singlePid >= 0 ? "process " + singlePid : "another process (pid unknown)";
        }
        final List<Registered> live = live();
        if (live.isEmpty())
        {
            return "";
        }
        return (live.size() == 1 ? "process " : "processes ") +
            live.stream().map((r) -> Long.toString(r.pid())).collect(Collectors.joining(", ")) +
            " in multi-process mode";
    }

    private static List<Registered> registered(final LockFile file, final Path directory)
    {
        final List<Registered> entries = new ArrayList<>();
        for (final long[] entry : ProcessRegistry.activeParticipants(directory, file))
        {
            entries.add(new Registered((int)entry[0], entry[1], entry[2], entry[3], entry[4] == 1));
        }
        return entries;
    }

    /**
     * A single-process writer holds the whole file exclusively; multi-process writers hold byte
     * {@link LockFileDescriptor#WRITERS} only shared. So a shared lock on that byte is refused exactly while a
     * single-process writer (or an older build) of another process is open. It is held for an instant: a
     * single-process writer opening in that instant is refused (StoreLockedException) and may retry, which is why
     * the callers look only at stores not marked closed cleanly.
     */
    private static boolean singleWriterHolds(final LockFile file)
    {
        try
        {
            return !file.writersShareable();
        }
        catch (final OverlappingFileLockException ex)
        {
            // this JVM holds byte 0: as a single-process writer, since no multi-process entry of ours is alive
            return true;
        }
        catch (final StoreIOException ex)
        {
            return false;
        }
    }

    /**
     * The single-process writer's pid, which it writes into the lock file; -1 if there is none.
     */
    private static long pidHint(final LockFile file)
    {
        try
        {
            final String pid = file.pidHint();
            return pid.isEmpty() ? -1 : Long.parseLong(pid);
        }
        catch (final NumberFormatException ex)
        {
            return -1;
        }
    }

    /**
     * One entry of {@code varve.procs}: a store instance a process opened in multi-process mode.
     *
     * @param participant    the entry's index.
     * @param pid            the process id.
     * @param startedMillis  when the process started, 0 if unknown.
     * @param openedAtMillis when it opened the store.
     * @param alive          true if its process still holds its lock; false if it died and no writer has repaired
     *                       what it left yet.
     */
    public record Registered(int participant, long pid, long startedMillis, long openedAtMillis, boolean alive)
    {
    }
}
