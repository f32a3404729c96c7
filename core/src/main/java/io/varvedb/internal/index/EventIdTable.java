package io.varvedb.internal.index;

import io.varvedb.CorruptStoreException;
import io.varvedb.EventIdTableFullException;
import io.varvedb.StoreIOException;
import io.varvedb.internal.io.FileHeaders;
import io.varvedb.internal.io.ForceObserver;
import io.varvedb.internal.io.MappedFile;
import io.varvedb.internal.process.LockFile;
import io.varvedb.internal.process.LockFileDescriptor;
import org.agrona.concurrent.UnsafeBuffer;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.locks.LockSupport;

import static io.varvedb.internal.index.EventIdTableDescriptor.*;

/**
 * The event-id table ({@link EventIdTableDescriptor}): which 128-bit event ids are in the log, and where. Shared by
 * every appender of every writer process through the mapped file; each slot is claimed by one CAS, so of two
 * appends of one id, in any threads or processes, exactly one takes the slot and the other finds it.
 * <p>
 * Results of {@link #find} and {@link #insert}: a slot {@code >= 0} was inserted (pending, held by the caller);
 * {@link #NOT_FOUND}; or {@link #found(long)} of a committed slot holding the id, which {@link #slotOf} decodes.
 */
public final class EventIdTable implements AutoCloseable
{
    /** The id is not in the table. */
    public static final long NOT_FOUND = -1;
    private static final int SPINS_BEFORE_YIELD = 64;
    private static final int YIELDS_BEFORE_PARK = 4096;
    private static final int HOLDER_CHECK_INTERVAL = 1024;
    private static final long PARK_NS = 50_000;

    /** Asked about the holder of a slot pending for long: repair it if its process died. */
    @FunctionalInterface
    public interface HolderCheck
    {
        /**
         * @param holder the holder named in the slot's status.
         */
        void check(int holder);
    }

    /** Tells whether a published event at a log position carries an id: how a pending slot is resolved. */
    @FunctionalInterface
    public interface LogCheck
    {
        /**
         * @param position a log position.
         * @param high     the id's high half.
         * @param low      the id's low half.
         * @return true if a published event record there carries this id.
         */
        boolean carries(long position, long high, long low);
    }

    private final Path path;
    private final ForceObserver observer;
    private final Object allocationLock = new Object();
    private MappedFile file;
    private UnsafeBuffer table;
    private int mask;
    private int capacity;
    private LockFile sharedWith;
    /** The next page of the slots {@link #touchAhead} touches (the pre-allocator's thread only). */
    private int touchedTo = HEADER_LENGTH;
    private volatile boolean pagesTouched;

    private EventIdTable(final Path path, final MappedFile file, final ForceObserver observer)
    {
        this.path = path;
        this.observer = observer;
        map(file);
    }

    private void map(final MappedFile file)
    {
        this.touchedTo = HEADER_LENGTH;
        this.pagesTouched = false;
        this.file = file;
        this.table = file.buffer();
        this.mask = table.getInt(TABLE_SIZE_OFFSET) - 1;
        this.capacity = table.getInt(CAPACITY_OFFSET);
    }

    /**
     * @param directory the {@code index/} directory.
     * @return true if the table's file is there.
     */
    public static boolean exists(final Path directory)
    {
        return Files.exists(directory.resolve(FILE_NAME));
    }

    /**
     * Create an empty table: a sparse file whose header alone has disk blocks.
     *
     * @param directory the {@code index/} directory.
     * @param capacity  ids it takes.
     * @param observer  sees the creation and every force.
     * @return the table.
     */
    public static EventIdTable create(final Path directory, final int capacity, final ForceObserver observer)
    {
        final Path path = directory.resolve(FILE_NAME);
        return new EventIdTable(path, createFile(path, capacity, observer), observer);
    }

    private static MappedFile createFile(final Path path, final int capacity, final ForceObserver observer)
    {
        if (capacity < 1 || capacity > MAX_CAPACITY)
        {
            throw new IllegalArgumentException("event id capacity must be from 1 to " + MAX_CAPACITY + ": " + capacity);
        }
        final int tableSize = tableSize(capacity);
        return MappedFile.create(path, fileLength(tableSize), HEADER_LENGTH, (buffer) ->
        {
            buffer.putLong(MAGIC_OFFSET, MAGIC);
            buffer.putInt(FORMAT_VERSION_OFFSET, FORMAT_VERSION);
            buffer.putInt(CAPACITY_OFFSET, capacity);
            buffer.putInt(TABLE_SIZE_OFFSET, tableSize);
            buffer.putInt(ALLOCATED_OFFSET, 0);
            buffer.putLong(COVERED_POSITION_OFFSET, 0);
            buffer.putLong(USED_OFFSET, 0);
            buffer.putLong(DEAD_OFFSET, 0);
            // not forced: a crash that leaves the header zero leaves a file the next open refuses and makes again
        }, false, observer);
    }

    /**
     * Open an existing table, checking its header.
     *
     * @param directory the {@code index/} directory.
     * @param readOnly  map read-only.
     * @param observer  sees every force.
     * @return the table.
     * @throws io.varvedb.StoreFormatException if it is not a table this build reads.
     * @throws CorruptStoreException           if its header contradicts its length.
     */
    public static EventIdTable open(final Path directory, final boolean readOnly, final ForceObserver observer)
    {
        final Path path = directory.resolve(FILE_NAME);
        final MappedFile file = MappedFile.open(path, readOnly, observer, (opened) ->
        {
            FileHeaders.check(opened.buffer(), path, HEADER_LENGTH, MAGIC_OFFSET, MAGIC, FORMAT_VERSION_OFFSET,
                FORMAT_VERSION, "event id table");
            final int tableSize = opened.buffer().getInt(TABLE_SIZE_OFFSET);
            final int capacity = opened.buffer().getInt(CAPACITY_OFFSET);
            if (Integer.bitCount(tableSize) != 1 || fileLength(tableSize) != opened.length() || capacity < 1 ||
                tableSize(capacity) != tableSize)
            {
                throw new CorruptStoreException(path + ": header says " + tableSize + " slots for " + capacity +
                    " ids but the file is " + opened.length() + " bytes");
            }
        });
        return new EventIdTable(path, file, observer);
    }

    /**
     * Multi-process mode: allocate the slots under the store's lock, shared with the other writer processes.
     *
     * @param lockFile the store's lock file.
     */
    public void shareWith(final LockFile lockFile)
    {
        this.sharedWith = lockFile;
    }

    /**
     * @return ids the table takes.
     */
    public int capacity()
    {
        return capacity;
    }

    /**
     * @return ids held (committed or pending), plus room reserved by appends about to insert.
     */
    public long used()
    {
        return table.getLongVolatile(USED_OFFSET);
    }

    /**
     * @return dead slots: appends with ids that wrote nothing, until the next rebuild.
     */
    public long deadSlots()
    {
        return table.getLongVolatile(DEAD_OFFSET);
    }

    /**
     * @return the log end this table reflected at its last clean close, or {@link EventIdTableDescriptor#OPEN}.
     */
    public long coveredPosition()
    {
        return table.getLongVolatile(COVERED_POSITION_OFFSET);
    }

    /**
     * @param position the log end the table now reflects (clean close), or {@link EventIdTableDescriptor#OPEN}.
     */
    public void coveredPosition(final long position)
    {
        table.putLongVolatile(COVERED_POSITION_OFFSET, position);
    }

    /**
     * Look an id up.
     *
     * @param high  high half of the id.
     * @param low   low half.
     * @param check asked about the holder of a slot of this id pending for long; null in single-process mode.
     * @return {@link #found(long)} of its committed slot, or {@link #NOT_FOUND}.
     */
    public long find(final long high, final long low, final HolderCheck check)
    {
        if (table.getIntVolatile(ALLOCATED_OFFSET) == 0)
        {
            // no id was ever inserted: the slots are a hole, never read (on tmpfs a read would allocate pages)
            return NOT_FOUND;
        }
        final long hash = hash(high, low);
        final int tag = (int)(hash >>> 32);
        int index = (int)hash & mask;
        for (int probes = 0; probes <= mask; probes++)
        {
            final int offset = slotOffset(index);
            final long status = awaitOutcome(offset, tag, check);
            if (status == 0)
            {
                return NOT_FOUND;
            }
            if (matches(offset, status, tag, high, low))
            {
                return found(index);
            }
            index = (index + 1) & mask;
        }
        return NOT_FOUND;
    }

    /**
     * Insert an id, or find it: the slot a caller inserts is pending, held by it, until it calls {@link #commit}
     * (the event is published) or {@link #kill} (nothing was written). The caller has {@link #reserve reserved}
     * room for it, and {@link #release releases} it if the id is found.
     *
     * @param high     high half of the id.
     * @param low      low half.
     * @param holder   the caller's holder number (its lane plus one in multi-process mode, else 0).
     * @param position where the event's record is claimed in the log.
     * @param check    asked about the holder of a slot of this id pending for long; null in single-process mode.
     * @return the slot inserted ({@code >= 0}), or {@link #found(long)} of the committed slot holding the id.
     * @throws EventIdTableFullException if no slot is free (dead slots filled the table).
     */
    public long insert(final long high, final long low, final int holder, final long position, final HolderCheck check)
    {
        ensureAllocated();
        final long hash = hash(high, low);
        final int tag = (int)(hash >>> 32);
        int index = (int)hash & mask;
        for (int probes = 0; probes <= mask; )
        {
            final int offset = slotOffset(index);
            final long status = awaitOutcome(offset, tag, check);
            if (status == 0)
            {
                // the CAS that decides which append of this id writes it: only one moves the slot off free
                if (table.compareAndSetLong(offset + STATUS_OFFSET, 0, pending(tag, holder)))
                {
                    // plain stores: a reader of this id waits for the slot's outcome, a release store, before it
                    // reads them; a survivor resolving the slot of a dead holder checks them against the log
                    table.putLong(offset + ID_HIGH_OFFSET, high);
                    table.putLong(offset + ID_LOW_OFFSET, low);
                    table.putLong(offset + POSITION_OFFSET, position);
                    return index;
                }
                continue; // another id (or this one) took the slot: look at it again
            }
            if (matches(offset, status, tag, high, low))
            {
                return found(index);
            }
            index = (index + 1) & mask;
            probes++;
        }
        // every slot is held or dead: only dead slots of failed appends can have filled it (the capacity is half of it)
        throw new EventIdTableFullException("the event id table " + path + " has no free slot left: " +
            table.getLongVolatile(DEAD_OFFSET) + " slots are dead (appends with ids that wrote nothing), held until " +
            "the table is rebuilt; reopen the store to reclaim them. Event id " + new java.util.UUID(high, low) +
            " was not appended");
    }

    /**
     * Touch up to {@code maxPages} more pages of the slots, once they have disk blocks: a write fault on a page of
     * the mapping costs microseconds, and ids land on every page of the table long before it fills. Each touch is
     * an atomic add of zero to the page's first word, a slot's status (slots tile the pages exactly), so it can
     * never undo an appender's CAS or store on it.
     *
     * @param maxPages most pages to touch.
     * @return pages touched.
     */
    public int touchAhead(final int maxPages)
    {
        if (pagesTouched || table.getIntVolatile(ALLOCATED_OFFSET) == 0)
        {
            return 0;
        }
        final int end = table.capacity();
        int touched = 0;
        while (touched < maxPages && touchedTo < end)
        {
            // an RMW of zero: atomic with every CAS and store of the appenders on this status word
            table.getAndAddLong(touchedTo, 0);
            touchedTo += MappedFile.PAGE_SIZE;
            touched++;
        }
        if (touchedTo >= end)
        {
            pagesTouched = true;
        }
        return touched;
    }

    /**
     * @return true once {@link #touchAhead} has touched every page of the slots.
     */
    public boolean pagesTouched()
    {
        return pagesTouched;
    }

    /**
     * Reserve room for ids an append is about to insert, all or none: a batch is refused whole when the table cannot
     * take all its new ids, before any is inserted. Give back with {@link #release} what is not inserted.
     *
     * @param count ids.
     * @param high  the high half of an id of the append, for the message.
     * @param low   its low half.
     * @throws EventIdTableFullException if the table holds (or has reserved) too many to take {@code count} more.
     */
    public void reserve(final int count, final long high, final long low)
    {
        // counted before any insert, so that concurrent appends can never hold more ids than the capacity
        if (table.getAndAddLong(USED_OFFSET, count) + count > capacity)
        {
            table.getAndAddLong(USED_OFFSET, -count);
            throw full(high, low, count);
        }
    }

    /**
     * Give back reserved room that no id took (the id was found in the store, or the append failed first).
     *
     * @param count ids.
     */
    public void release(final int count)
    {
        table.getAndAddLong(USED_OFFSET, -count);
    }

    /**
     * Insert an id found in the log, committed at once (recovery: single-threaded, nobody appends). An id the table
     * holds already is left as it is.
     *
     * @param high     high half of the id.
     * @param low      low half.
     * @param position the event's position.
     * @return true if inserted, false if the table held the id already.
     */
    public boolean insertCommitted(final long high, final long low, final long position)
    {
        reserve(1, high, low);
        final long result = insert(high, low, 0, position, null);
        if (result >= 0)
        {
            commit((int)result);
            return true;
        }
        release(1);
        return false;
    }

    /**
     * The event of an inserted slot is published: the id is in the log.
     *
     * @param slot a slot {@link #insert} returned.
     */
    public void commit(final int slot)
    {
        final int offset = slotOffset(slot);
        final long status = table.getLong(offset + STATUS_OFFSET);
        // release: the id and position above, and the published record, happen-before a finder seeing COMMITTED
        table.putLongRelease(offset + STATUS_OFFSET, committed(tag(status)));
    }

    /**
     * Nothing was written for an inserted slot: it holds no id, for good (until a rebuild frees it).
     *
     * @param slot a slot {@link #insert} returned.
     */
    public void kill(final int slot)
    {
        final int offset = slotOffset(slot);
        final long status = table.getLong(offset + STATUS_OFFSET);
        // release: a waiter that sees DEAD moves on past the slot
        table.putLongRelease(offset + STATUS_OFFSET, dead(tag(status)));
        died();
    }

    /**
     * The event of an id is being scavenged away: the id is forgotten (its slot goes dead), so a later append with
     * it writes it again. Does nothing if the table does not hold the id for that position.
     *
     * @param high     high half of the id.
     * @param low      low half.
     * @param position the event's position.
     * @return true if the id was forgotten.
     */
    public boolean forget(final long high, final long low, final long position)
    {
        final long result = find(high, low, null);
        if (result == NOT_FOUND)
        {
            return false;
        }
        final int offset = slotOffset(slotOf(result));
        final long status = table.getLongVolatile(offset + STATUS_OFFSET);
        if ((status & STATE_MASK) != COMMITTED || table.getLong(offset + POSITION_OFFSET) != position)
        {
            return false;
        }
        // CAS: only a committed slot goes dead here (a rebuild frees it); a racing appender that read its position
        // finds the event scavenged, looks again, and sees the id absent
        if (!table.compareAndSetLong(offset + STATUS_OFFSET, status, dead(tag(status))))
        {
            return false;
        }
        died();
        return true;
    }

    /** A slot went dead: it holds no id, so it no longer counts against the capacity. */
    private void died()
    {
        table.getAndAddLong(USED_OFFSET, -1);
        table.getAndAddLong(DEAD_OFFSET, 1);
    }

    /**
     * @param slot a slot {@link #find} returned.
     * @return true if it is still committed: a scavenger marks the slot of an event it drops dead before it
     * rewrites the event's segment, so a slot found committed whose event is gone was killed meanwhile.
     */
    public boolean isCommitted(final int slot)
    {
        // acquire: pairs with the release of kill() or commit()
        return (table.getLongAcquire(slotOffset(slot) + STATUS_OFFSET) & EventIdTableDescriptor.STATE_MASK) ==
            EventIdTableDescriptor.COMMITTED;
    }

    /**
     * @param slot a committed slot.
     * @return the position of the event holding its id.
     */
    public long positionAt(final int slot)
    {
        return table.getLong(slotOffset(slot) + POSITION_OFFSET);
    }

    /**
     * Resolve the pending slots of holders that are gone: committed if their event is in the log, dead otherwise.
     * At a writer's open every pending slot is a dead process's ({@code holder < 0}: all of them); in multi-process
     * mode a survivor resolves the slots of one dead process's lane after it repaired the lane's append.
     *
     * @param holder the holder whose slots to resolve, or -1 for all.
     * @param log    tells whether the log holds the event a slot names.
     * @return slots resolved.
     */
    public int resolvePending(final int holder, final LogCheck log)
    {
        return resolvePending((h) -> holder < 0 || h == holder, log);
    }

    /**
     * {@link #resolvePending(int, LogCheck)} for several holders in one pass over the table.
     *
     * @param holders which holders' slots to resolve.
     * @param log     tells whether the log holds the event a slot names.
     * @return slots resolved.
     */
    public int resolvePending(final java.util.function.IntPredicate holders, final LogCheck log)
    {
        if (table.getIntVolatile(ALLOCATED_OFFSET) == 0)
        {
            return 0;
        }
        int resolved = 0;
        for (int index = 0; index <= mask; index++)
        {
            final int offset = slotOffset(index);
            final long status = table.getLongVolatile(offset + STATUS_OFFSET);
            if ((status & STATE_MASK) == PENDING && holders.test(holder(status)))
            {
                final boolean inLog = log.carries(table.getLong(offset + POSITION_OFFSET),
                    table.getLong(offset + ID_HIGH_OFFSET), table.getLong(offset + ID_LOW_OFFSET));
                // a CAS: of two survivors resolving at once, one decides (and counts)
                if (table.compareAndSetLong(offset + STATUS_OFFSET, status, inLog ? committed(tag(status)) :
                    dead(tag(status))))
                {
                    if (!inLog)
                    {
                        died();
                    }
                    resolved++;
                }
            }
        }
        return resolved;
    }

    /**
     * Empty the table for a rebuild from the log: the file is made again, a hole but for its header, so that nothing
     * a power cut left in it (a slot without the allocation that should come first) can survive. Single-threaded,
     * before anyone uses the table.
     */
    public void reset()
    {
        reset(capacity);
    }

    /**
     * {@link #reset()}, to a table of another capacity.
     *
     * @param capacity ids the new table takes.
     */
    public void reset(final int capacity)
    {
        file.unmap();
        try
        {
            Files.deleteIfExists(path);
        }
        catch (final IOException ex)
        {
            throw new StoreIOException("cannot delete " + path + ": " + ex.getMessage(), ex);
        }
        map(createFile(path, capacity, observer));
    }

    /**
     * At a clean close, after the last append: checksum what the table holds, so that the next open can find damage
     * done at rest.
     */
    public void seal()
    {
        table.putLongVolatile(SEALED_CHECKSUM_OFFSET, (1L << 32) | (checksum() & 0xFFFF_FFFFL));
    }

    /**
     * While the table is open for writing, no seal vouches for it.
     */
    public void unseal()
    {
        table.putLongVolatile(SEALED_CHECKSUM_OFFSET, 0);
    }

    /**
     * @return true if the table carries a seal from a clean close and still matches it.
     */
    public boolean sealIntact()
    {
        final long sealed = table.getLongVolatile(SEALED_CHECKSUM_OFFSET);
        return (sealed >>> 32) == 1 && (int)sealed == checksum();
    }

    private int checksum()
    {
        final java.util.zip.CRC32C crc = new java.util.zip.CRC32C();
        final java.nio.ByteBuffer header = java.nio.ByteBuffer.allocate(24).order(java.nio.ByteOrder.LITTLE_ENDIAN)
            .putInt(table.getInt(CAPACITY_OFFSET)).putInt(table.getInt(TABLE_SIZE_OFFSET))
            .putInt(table.getInt(ALLOCATED_OFFSET)).putLong(table.getLong(USED_OFFSET)).flip();
        crc.update(header);
        if (table.getInt(ALLOCATED_OFFSET) != 0)
        {
            // a view of the mapping: the slots are read in place, not copied
            crc.update(table.byteBuffer().duplicate().position(HEADER_LENGTH).limit(table.capacity()));
        }
        return (int)crc.getValue();
    }

    /**
     * Force the table's changes to disk.
     */
    public void force()
    {
        file.force();
    }

    /**
     * @return the table's file.
     */
    public Path path()
    {
        return path;
    }

    @Override
    public void close()
    {
        file.unmap();
    }

    /**
     * @param slot a slot.
     * @return the {@link #find}/{@link #insert} result naming it as found.
     */
    public static long found(final long slot)
    {
        return -2 - slot;
    }

    /**
     * @param result a {@link #found(long)} result.
     * @return the slot.
     */
    public static int slotOf(final long result)
    {
        return (int)(-2 - result);
    }

    private boolean matches(final int offset, final long status, final int tag, final long high, final long low)
    {
        return (status & STATE_MASK) == COMMITTED && tag(status) == tag &&
            table.getLong(offset + ID_HIGH_OFFSET) == high && table.getLong(offset + ID_LOW_OFFSET) == low;
    }

    /**
     * @return the slot's status once it is not a pending slot of an id with this tag (free, committed, dead, or
     * another id's).
     */
    private long awaitOutcome(final int offset, final int tag, final HolderCheck check)
    {
        int spins = 0;
        while (true)
        {
            // acquire: a COMMITTED status makes the id and position written before it visible
            final long status = table.getLongAcquire(offset + STATUS_OFFSET);
            if ((status & STATE_MASK) != PENDING || tag(status) != tag)
            {
                return status;
            }
            // perhaps our id, being appended by someone else: its outcome decides ours
            spins++;
            if (spins < SPINS_BEFORE_YIELD)
            {
                Thread.onSpinWait();
            }
            else
            {
                if (check != null && (spins & (HOLDER_CHECK_INTERVAL - 1)) == 0)
                {
                    check.check(holder(status));
                }
                if (spins < YIELDS_BEFORE_PARK)
                {
                    Thread.yield();
                }
                else
                {
                    LockSupport.parkNanos(PARK_NS);
                }
            }
        }
    }

    private EventIdTableFullException full(final long high, final long low, final int count)
    {
        return new EventIdTableFullException("the event id table " + path + " is full: it takes " + capacity +
            " ids (VarveConfig.Builder.eventIdCapacity), " + Math.max(0, table.getLongVolatile(USED_OFFSET)) +
            " are held or being appended; " + (count == 1 ? "event id " + new java.util.UUID(high, low) + " was" :
            "the " + count + " ids of a batch (" + new java.util.UUID(high, low) + ", ...) were") + " not appended. " +
            "Reopen the store with a larger capacity: the table is rebuilt from the log");
    }

    /**
     * Give the slots disk blocks before the first id is written to them, once, under a lock shared with the other
     * writer processes: a write into a hole of a shared mapping on a full disk is a {@code SIGBUS}.
     */
    private void ensureAllocated()
    {
        if (table.getIntVolatile(ALLOCATED_OFFSET) != 0)
        {
            return;
        }
        synchronized (allocationLock)
        {
            LockFile.lockIfShared(sharedWith, LockFileDescriptor.EVENT_IDS);
            try
            {
                // looked at again under the lock: once set, slots may be being written, which zeros would destroy
                if (table.getIntVolatile(ALLOCATED_OFFSET) == 0)
                {
                    file.allocateBlocks(HEADER_LENGTH, file.length() - HEADER_LENGTH);
                    // release: an inserter that sees the flag (acquire) sees the slots allocated
                    table.putIntRelease(ALLOCATED_OFFSET, 1);
                }
            }
            finally
            {
                LockFile.unlockIfShared(sharedWith, LockFileDescriptor.EVENT_IDS);
            }
        }
    }

    private static int slotOffset(final int index)
    {
        return HEADER_LENGTH + index * SLOT_LENGTH;
    }
}
