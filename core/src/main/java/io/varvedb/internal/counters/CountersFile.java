package io.varvedb.internal.counters;

import io.varvedb.StoreIOException;
import io.varvedb.internal.io.ForceObserver;
import io.varvedb.internal.io.MappedFile;
import org.agrona.concurrent.UnsafeBuffer;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.ThreadLocalRandom;

import static io.varvedb.internal.counters.CountersFileDescriptor.*;

/**
 * Opens {@code varve.counters} and hands out its regions: each open store instance takes one, free or left by an
 * instance that is gone, and keeps it until it closes (then its values stay readable until another instance needs
 * the region). Taking a region is a CAS on its owner word, so processes need no lock between them.
 */
public final class CountersFile
{
    /** Suffix of the file while it is made. */
    private static final String TEMP_SUFFIX = ".tmp";

    private CountersFile()
    {
    }

    /**
     * Map the store's counters file read-write, creating it if it does not exist.
     *
     * @param directory the store's directory.
     * @return the mapping.
     * @throws StoreIOException if it cannot be made or mapped.
     * @throws io.varvedb.StoreFormatException if the file is not a counters file of this format.
     */
    public static MappedFile openForWriting(final Path directory)
    {
        final Path path = directory.resolve(FILE_NAME);
        if (!Files.exists(path))
        {
            create(path);
        }
        final MappedFile file = MappedFile.open(path, false, ForceObserver.NONE);
        try
        {
            check(file.buffer(), path);
        }
        catch (final RuntimeException ex)
        {
            file.unmap();
            throw ex;
        }
        return file;
    }

    /**
     * Make the file whole under a name of this process's own, then give it its name with a hard link, which fails
     * if the name exists: of processes making it at once, one file wins and every one maps that one (a rename would
     * replace the file another process already took a region in).
     */
    private static void create(final Path path)
    {
        final Path temp = path.resolveSibling(FILE_NAME + "." + ProcessHandle.current().pid() + "." +
            Long.toHexString(ThreadLocalRandom.current().nextLong()) + TEMP_SUFFIX);
        try
        {
            // only the header page (the region descriptors) gets blocks now: CASes there never hit a hole
            MappedFile.create(temp, LENGTH, HEADER_LENGTH, CountersFileDescriptor::writeHeader, false,
                ForceObserver.NONE).unmap();
            try
            {
                Files.createLink(path, temp);
            }
            catch (final java.nio.file.FileAlreadyExistsException madeMeanwhile)
            {
                // another process's file has the name: map theirs
            }
            catch (final UnsupportedOperationException | IOException noLinks)
            {
                // a file system without hard links: a move that refuses to replace (not atomic with the check,
                // so two makers at the very same moment may still race there)
                if (!Files.exists(path))
                {
                    Files.move(temp, path);
                }
            }
        }
        catch (final IOException ex)
        {
            if (!Files.exists(path))
            {
                throw new StoreIOException("cannot create " + path + ": " + ex.getMessage(), ex);
            }
        }
        finally
        {
            try
            {
                Files.deleteIfExists(temp);
            }
            catch (final IOException ignore)
            {
                // a leftover under a temporary name: harmless, removed with the store
            }
        }
    }

    /**
     * Refuse a file that is not a counters file of this build's format and shape.
     *
     * @param buffer the mapping.
     * @param path   the file, for the message.
     */
    public static void check(final UnsafeBuffer buffer, final Path path)
    {
        if (buffer.capacity() < HEADER_LENGTH || buffer.getLongVolatile(MAGIC_OFFSET) != MAGIC)
        {
            throw new io.varvedb.StoreFormatException(path + " is not a VarveDB counters file");
        }
        if (buffer.getInt(FORMAT_VERSION_OFFSET) != FORMAT_VERSION || buffer.getInt(REGIONS_OFFSET) != REGIONS ||
            buffer.getInt(COUNTERS_OFFSET) != COUNTERS || buffer.getInt(REGION_LENGTH_OFFSET) != REGION_LENGTH ||
            buffer.capacity() < LENGTH)
        {
            throw new io.varvedb.StoreFormatException(path + " is a counters file of another format (version " +
                buffer.getInt(FORMAT_VERSION_OFFSET) + ", " + buffer.getInt(REGIONS_OFFSET) + " regions of " +
                buffer.getInt(COUNTERS_OFFSET) + " counters); this build reads version " + FORMAT_VERSION +
                ". Delete it (it holds only counts) or open the store with the build that made it");
        }
    }

    /**
     * Take a region for a new instance: a free one, else the one longest closed or whose process is gone. Its
     * descriptor is reset and marked {@link CountersFileDescriptor#RESETTING}; the caller clears its body and
     * then marks it open.
     *
     * @param buffer the mapping.
     * @param role   the new owner's role.
     * @return the region taken and its owner token, as {@code {region, token}}, or null if every region belongs
     * to an instance still open.
     */
    public static long[] claim(final UnsafeBuffer buffer, final int role)
    {
        final long token = newToken();
        final long pid = ProcessHandle.current().pid();
        for (int attempt = 0; attempt < REGIONS * 2; attempt++)
        {
            int best = -1;
            long bestWord = 0;
            long bestAge = Long.MAX_VALUE;
            for (int r = 0; r < REGIONS; r++)
            {
                final int descriptor = descriptorOffset(r);
                // acquire: the fields read below are at least as new as the state they belong to
                final long word = buffer.getLongVolatile(descriptor + STATE_OFFSET);
                final int state = stateOf(word);
                final long age;
                if (state == FREE)
                {
                    best = r;
                    bestWord = word;
                    break;
                }
                else if (state == CLOSED)
                {
                    age = buffer.getLong(descriptor + CLOSED_AT_OFFSET);
                }
                else if (state == OPEN && !ProcessLiveness.alive(
                    buffer.getLong(descriptor + PID_OFFSET), buffer.getLong(descriptor + PROCESS_START_OFFSET)))
                {
                    // died with the store open: older than anything closed since it opened
                    age = buffer.getLong(descriptor + OPENED_AT_OFFSET);
                }
                else if (state == RESETTING && !ProcessLiveness.alive(pidOf(word), 0))
                {
                    // died while taking the region: the word names it, whatever the other fields still say
                    age = 0;
                }
                else
                {
                    continue;
                }
                if (age < bestAge)
                {
                    bestAge = age;
                    best = r;
                    bestWord = word;
                }
            }
            if (best < 0)
            {
                return null;
            }
            final int descriptor = descriptorOffset(best);
            // CAS of the state word as it was seen: of two instances that chose the same region, one takes it (the
            // word then says RESETTING by a live pid, which nobody takes over) and the other looks again. The word
            // carries the pid, so the taking and who took are one atomic step
            if (buffer.compareAndSetLong(descriptor + STATE_OFFSET, bestWord, stateWord(pid, RESETTING)))
            {
                // release: a reader that sees the new token sees the region as RESETTING, and skips it
                buffer.putLongRelease(descriptor + OWNER_OFFSET, token);
                // and the new token is visible before any field is cleared: a reader that read the old owner's
                // fields while they changed finds the owner word changed when it looks again
                java.lang.invoke.VarHandle.storeStoreFence();
                buffer.setMemory(descriptor + FIELDS_OFFSET, DESCRIPTOR_LENGTH - FIELDS_OFFSET, (byte)0);
                buffer.putInt(descriptor + ROLE_OFFSET, role);
                buffer.putLong(descriptor + PID_OFFSET, pid);
                buffer.putLong(descriptor + PROCESS_START_OFFSET, ProcessLiveness.selfStart());
                buffer.putLong(descriptor + OPENED_AT_OFFSET, System.currentTimeMillis());
                return new long[] { best, token };
            }
        }
        return null;
    }

    /**
     * Give a region back as never used, if it is still the caller's: what it held before was cleared when it was
     * taken, so nothing of anyone else's goes.
     *
     * @param buffer the mapping.
     * @param region the region.
     * @param token  the owner token {@link #claim} gave.
     */
    public static void release(final UnsafeBuffer buffer, final int region, final long token)
    {
        final int descriptor = descriptorOffset(region);
        if (buffer.getLongVolatile(descriptor + OWNER_OFFSET) == token)
        {
            // the state word first: from FREE on, the owner word means nothing
            buffer.putLongVolatile(descriptor + STATE_OFFSET, 0);
            buffer.putLongVolatile(descriptor + OWNER_OFFSET, 0);
        }
    }

    private static long newToken()
    {
        long token;
        do
        {
            token = ThreadLocalRandom.current().nextLong();
        }
        while (token == 0);
        return token;
    }
}
