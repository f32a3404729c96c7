package io.varvedb.internal.process;

import io.varvedb.StoreLockedException;
import io.varvedb.internal.io.FileHeaders;
import io.varvedb.internal.io.ForceObserver;
import io.varvedb.internal.io.MappedFile;
import org.agrona.concurrent.UnsafeBuffer;

import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

import static io.varvedb.internal.process.RegistryDescriptor.*;

/**
 * The table of processes that have a store open for writing in multi-process mode, and of their appenders'
 * {@link Lane lanes}, in {@code varve.procs} (see {@link RegistryDescriptor}). One instance per open store
 * instance; the entries are shared by every process through the mapping, and a participant's liveness is its
 * record lock in {@code varve.lock}.
 */
public final class ProcessRegistry
{
    private final MappedFile file;
    private final UnsafeBuffer buffer;
    private final LockFile lockFile;
    private int participant = -1;
    private FileLock participantLock;
    private boolean closed;

    private ProcessRegistry(final MappedFile file, final LockFile lockFile)
    {
        this.file = file;
        this.buffer = file.buffer();
        this.lockFile = lockFile;
    }

    /**
     * Map the registry of the store in {@code directory}, creating it if it has none. The caller holds the
     * {@link LockFileDescriptor#OPEN} mutex, so no two processes create it.
     *
     * @param directory the store directory.
     * @param lockFile  the store's lock file.
     * @param observer  sees the creation.
     * @return the registry.
     */
    public static ProcessRegistry open(final Path directory, final LockFile lockFile, final ForceObserver observer)
    {
        final Path path = directory.resolve(FILE_NAME);
        final MappedFile mapped = Files.exists(path) ?
            MappedFile.open(path, false, observer) :
            MappedFile.create(path, LENGTH, RegistryDescriptor::writeHeader, true, observer);
        try
        {
            FileHeaders.check(mapped.buffer(), path, LENGTH, MAGIC_OFFSET, MAGIC, FORMAT_VERSION_OFFSET,
                FORMAT_VERSION, "process registry");
            if (mapped.length() != LENGTH || mapped.buffer().getInt(PARTICIPANTS_OFFSET) != PARTICIPANTS ||
                mapped.buffer().getInt(LANES_OFFSET) != LANES)
            {
                throw new io.varvedb.CorruptStoreException(path + " has the wrong shape: " + mapped.length() +
                    " bytes; delete it while no process has the store open");
            }
        }
        catch (final RuntimeException ex)
        {
            mapped.unmap();
            throw ex;
        }
        return new ProcessRegistry(mapped, lockFile);
    }

    /**
     * Map a registry read-only, for tools; null if the store has none.
     *
     * @param directory the store directory.
     * @return the buffer's owner, or null.
     */
    public static MappedFile openForReading(final Path directory)
    {
        final Path path = directory.resolve(FILE_NAME);
        if (!Files.exists(path))
        {
            return null;
        }
        final MappedFile mapped = MappedFile.open(path, true, ForceObserver.NONE);
        if (mapped.length() != LENGTH || mapped.buffer().getLong(MAGIC_OFFSET) != MAGIC)
        {
            mapped.unmap();
            return null;
        }
        return mapped;
    }

    /**
     * For the first opener, with nobody else open: every entry and lane is left over from processes gone.
     */
    public void reset()
    {
        for (int p = 0; p < PARTICIPANTS; p++)
        {
            buffer.putIntVolatile(participantOffset(p) + STATE_OFFSET, FREE);
        }
        for (int lane = 0; lane < LANES; lane++)
        {
            clearLane(buffer, laneOffset(lane));
        }
    }

    /**
     * Register this store instance: take a free entry and hold its lock for as long as the store is open. The
     * caller holds the {@link LockFileDescriptor#OPEN} mutex.
     *
     * @return the participant index.
     * @throws StoreLockedException if every entry is taken.
     */
    public int register()
    {
        for (int p = 0; p < PARTICIPANTS; p++)
        {
            final int offset = participantOffset(p);
            if (buffer.getIntVolatile(offset + STATE_OFFSET) != FREE)
            {
                continue;
            }
            final FileLock lock;
            try
            {
                lock = lockFile.tryLock(LockFileDescriptor.participantRange(p), 1, false);
            }
            catch (final OverlappingFileLockException ex)
            {
                continue;
            }
            if (lock == null)
            {
                // a survivor is repairing it (it frees the entry just before it lets go of the lock)
                continue;
            }
            final ProcessHandle self = ProcessHandle.current();
            buffer.putInt(offset + MODE_OFFSET, MODE_MULTI);
            buffer.putLong(offset + PID_OFFSET, self.pid());
            buffer.putLong(offset + PROCESS_START_OFFSET,
                self.info().startInstant().map(Instant::toEpochMilli).orElse(0L));
            buffer.putLong(offset + OPENED_AT_OFFSET, System.currentTimeMillis());
            // release: the fields above come before anyone sees the entry active
            buffer.putIntRelease(offset + STATE_OFFSET, ACTIVE);
            participant = p;
            participantLock = lock;
            return p;
        }
        throw new StoreLockedException("the store's process table is full: " + PARTICIPANTS + " store instances " +
            "have it open for writing in multi-process mode");
    }

    /**
     * Free this instance's entry and lanes, then let go of its lock. Every appender of this instance is done.
     */
    public synchronized void unregister()
    {
        if (participant < 0)
        {
            return;
        }
        freeLanesOf(participant);
        buffer.putIntVolatile(participantOffset(participant) + STATE_OFFSET, FREE);
        LockFile.releaseQuietly(participantLock);
        participantLock = null;
        participant = -1;
    }

    /**
     * Take a free lane for an appender of this instance.
     *
     * @return the lane.
     * @throws StoreLockedException if all lanes are taken.
     */
    public Lane acquireLane()
    {
        final long owner = participant + 1;
        final int start = (int)(Thread.currentThread().getId() % LANES);
        for (int i = 0; i < LANES; i++)
        {
            final int lane = (start + i) % LANES;
            final int offset = laneOffset(lane);
            if (buffer.getLongVolatile(offset + LANE_OWNER_OFFSET) == 0 &&
                buffer.compareAndSetLong(offset + LANE_OWNER_OFFSET, 0, owner))
            {
                buffer.putLong(offset + LANE_CLAIM_OFFSET, NONE);
                buffer.putLong(offset + LANE_SLOT_OFFSET, NONE);
                buffer.putLongVolatile(offset + LANE_FROM_OFFSET, NONE);
                return new Lane(buffer, lane);
            }
        }
        throw new StoreLockedException("all " + LANES + " appender lanes of the store are taken: close the " +
            "appenders you no longer use (one per thread is enough)");
    }

    /**
     * Give a lane back; its appender is idle and will not append again.
     *
     * @param lane the lane.
     */
    public void releaseLane(final Lane lane)
    {
        clearLane(buffer, laneOffset(lane.index()));
    }

    /**
     * Give back the lane of an appender that was closed or collected, unless this instance has closed meanwhile
     * (its lanes were freed with it, and may be another's by now).
     *
     * @param lane the lane.
     */
    public synchronized void releaseLaneIfOpen(final Lane lane)
    {
        if (!closed && participant >= 0 && ownerOf(lane.index()) == participant)
        {
            releaseLane(lane);
        }
    }

    private void freeLanesOf(final int p)
    {
        for (int lane = 0; lane < LANES; lane++)
        {
            final int offset = laneOffset(lane);
            if (buffer.getLongVolatile(offset + LANE_OWNER_OFFSET) == p + 1)
            {
                clearLane(buffer, offset);
            }
        }
    }

    /**
     * @param lane a lane index.
     * @return its owner's participant index, or -1 if free.
     */
    public int ownerOf(final int lane)
    {
        return (int)buffer.getLongVolatile(laneOffset(lane) + LANE_OWNER_OFFSET) - 1;
    }

    /**
     * @param p a participant.
     * @return true if its entry is active.
     */
    public boolean isActive(final int p)
    {
        return buffer.getIntVolatile(participantOffset(p) + STATE_OFFSET) == ACTIVE;
    }

    /**
     * Take the lock of a participant whose entry is active but whose process is gone: the caller then repairs what
     * it left and {@link #free frees} it. Null if the participant is alive, free, or being repaired by another.
     *
     * @param p a participant.
     * @return the dead participant's lock, or null.
     */
    public FileLock claimIfDead(final int p)
    {
        if (p == participant || !isActive(p))
        {
            return null;
        }
        final FileLock lock;
        try
        {
            lock = lockFile.tryLock(LockFileDescriptor.participantRange(p), 1, false);
        }
        catch (final OverlappingFileLockException ex)
        {
            return null;
        }
        if (lock != null && !isActive(p))
        {
            // freed between the look and the lock
            LockFile.releaseQuietly(lock);
            return null;
        }
        return lock;
    }

    /**
     * Free a dead participant once its lanes are repaired, then let go of its lock.
     *
     * @param p    the participant.
     * @param lock its lock, from {@link #claimIfDead}.
     */
    public void free(final int p, final FileLock lock)
    {
        freeLanesOf(p);
        buffer.putIntVolatile(participantOffset(p) + STATE_OFFSET, FREE);
        LockFile.releaseQuietly(lock);
    }

    /**
     * @param p a participant.
     * @return the indexes of its lanes.
     */
    public int[] lanesOf(final int p)
    {
        final List<Integer> lanes = new ArrayList<>();
        for (int lane = 0; lane < LANES; lane++)
        {
            if (buffer.getLongVolatile(laneOffset(lane) + LANE_OWNER_OFFSET) == p + 1)
            {
                lanes.add(lane);
            }
        }
        return lanes.stream().mapToInt(Integer::intValue).toArray();
    }

    /**
     * @return the lowest in-flight mark of any lane, of any process (a dead one's until it is repaired), or
     * {@link Long#MAX_VALUE}: the index checkpoint and a processor's checkpoint never pass it.
     */
    public long oldestInFlight()
    {
        long oldest = Long.MAX_VALUE;
        for (int lane = 0; lane < LANES; lane++)
        {
            final int offset = laneOffset(lane);
            if (buffer.getLongVolatile(offset + LANE_OWNER_OFFSET) != 0)
            {
                final long from = buffer.getLongAcquire(offset + LANE_FROM_OFFSET);
                if (from != NONE)
                {
                    oldest = Math.min(oldest, from);
                }
            }
        }
        return oldest;
    }

    /**
     * The lowest in-flight mark among lanes of live participants (a participant being repaired counts as live: its
     * repairer holds its lock), for the decision whether a hole in the log can still be a live appender's.
     *
     * @return the lowest mark of a live lane, or {@link Long#MAX_VALUE}.
     */
    public long oldestLiveInFlight()
    {
        long oldest = Long.MAX_VALUE;
        final boolean[] alive = new boolean[PARTICIPANTS];
        final boolean[] known = new boolean[PARTICIPANTS];
        for (int lane = 0; lane < LANES; lane++)
        {
            final int offset = laneOffset(lane);
            final long owner = buffer.getLongVolatile(offset + LANE_OWNER_OFFSET);
            if (owner == 0)
            {
                continue;
            }
            final long from = buffer.getLongAcquire(offset + LANE_FROM_OFFSET);
            if (from == NONE || from >= oldest)
            {
                continue;
            }
            final int p = (int)owner - 1;
            if (!known[p])
            {
                known[p] = true;
                // an entry being repaired is locked by its repairer: it counts as alive until it is freed
                alive[p] = p == participant || lockFile.isLocked(p);
            }
            if (alive[p])
            {
                oldest = from;
            }
        }
        return oldest;
    }

    /**
     * @return the buffer over the file (lanes are read by the repairer).
     */
    public UnsafeBuffer buffer()
    {
        return buffer;
    }

    /**
     * The active entries of a store's registry, read from a mapping of its own (for refusals and tools).
     *
     * @param directory the store directory.
     * @param lockFile  the store's lock file, to tell the living; null to report all as alive.
     * @return as {@link #activeParticipants(UnsafeBuffer, LockFile)}; empty if the store has no registry or it
     * cannot be read.
     */
    public static List<long[]> activeParticipants(final Path directory, final LockFile lockFile)
    {
        final MappedFile registry;
        try
        {
            registry = openForReading(directory);
        }
        catch (final RuntimeException ex)
        {
            // unreadable or vanished: there is no entry to show
            return List.of();
        }
        if (registry == null)
        {
            return List.of();
        }
        try
        {
            return activeParticipants(registry.buffer(), lockFile);
        }
        finally
        {
            registry.unmap();
        }
    }

    /**
     * @param buffer   a registry's buffer.
     * @param lockFile the store's lock file, to tell the living; null to report all as alive.
     * @return for each active participant: index, pid, process start, opened at, 1 if alive else 0.
     */
    public static List<long[]> activeParticipants(final UnsafeBuffer buffer, final LockFile lockFile)
    {
        final List<long[]> active = new ArrayList<>();
        for (int p = 0; p < PARTICIPANTS; p++)
        {
            final int offset = participantOffset(p);
            if (buffer.getIntVolatile(offset + STATE_OFFSET) == ACTIVE)
            {
                active.add(new long[]{ p, buffer.getLong(offset + PID_OFFSET),
                    buffer.getLong(offset + PROCESS_START_OFFSET), buffer.getLong(offset + OPENED_AT_OFFSET),
                    lockFile == null || lockFile.isLocked(p) ? 1 : 0 });
            }
        }
        return active;
    }

    /**
     * Release the mapping.
     */
    public synchronized void close()
    {
        closed = true;
        file.unmap();
    }
}
