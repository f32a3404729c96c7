package io.varvedb.internal.counters;

import io.varvedb.StoreIOException;
import io.varvedb.internal.io.ForceObserver;
import io.varvedb.internal.io.MappedFile;
import org.agrona.concurrent.UnsafeBuffer;

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
            try
            {
                // only the header page (the region descriptors) gets blocks now: CASes there never hit a hole
                MappedFile.create(path, LENGTH, HEADER_LENGTH, CountersFileDescriptor::writeHeader, false,
                    ForceObserver.NONE).unmap();
            }
            catch (final StoreIOException ex)
            {
                // another process made it meanwhile (the rename found it there): map theirs
                if (!Files.exists(path))
                {
                    throw ex;
                }
            }
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
        for (int attempt = 0; attempt < REGIONS * 2; attempt++)
        {
            int best = -1;
            long bestOwner = 0;
            long bestAge = Long.MAX_VALUE;
            for (int r = 0; r < REGIONS; r++)
            {
                final int descriptor = descriptorOffset(r);
                // acquire: the state read below is the owner's, not an older one's
                final long owner = buffer.getLongVolatile(descriptor + OWNER_OFFSET);
                if (owner == 0)
                {
                    best = r;
                    bestOwner = 0;
                    break;
                }
                final int state = buffer.getIntVolatile(descriptor + STATE_OFFSET);
                final long closedAt = buffer.getLong(descriptor + CLOSED_AT_OFFSET);
                final long age;
                if (state == CLOSED)
                {
                    age = closedAt;
                }
                else if ((state == OPEN || state == RESETTING) && !ProcessLiveness.alive(
                    buffer.getLong(descriptor + PID_OFFSET), buffer.getLong(descriptor + PROCESS_START_OFFSET)))
                {
                    // died with the store open: older than anything closed since it opened
                    age = buffer.getLong(descriptor + OPENED_AT_OFFSET);
                }
                else
                {
                    continue;
                }
                if (age < bestAge)
                {
                    bestAge = age;
                    best = r;
                    bestOwner = owner;
                }
            }
            if (best < 0)
            {
                return null;
            }
            final int descriptor = descriptorOffset(best);
            // CAS: of two instances that chose the same region, one takes it and the other looks again
            if (buffer.compareAndSetLong(descriptor + OWNER_OFFSET, bestOwner, token))
            {
                // who owns it first (while the state still says what the last owner left): an owner that dies
                // while it resets the region leaves a dead pid, and the region can be taken over again
                buffer.setMemory(descriptor + ROLE_OFFSET, DESCRIPTOR_LENGTH - ROLE_OFFSET, (byte)0);
                buffer.putInt(descriptor + ROLE_OFFSET, role);
                buffer.putLong(descriptor + PID_OFFSET, ProcessHandle.current().pid());
                buffer.putLong(descriptor + PROCESS_START_OFFSET, ProcessLiveness.selfStart());
                buffer.putLong(descriptor + OPENED_AT_OFFSET, System.currentTimeMillis());
                // release: a reader that sees RESETTING sees the new owner's pid
                buffer.putIntRelease(descriptor + STATE_OFFSET, RESETTING);
                return new long[] { best, token };
            }
        }
        return null;
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
