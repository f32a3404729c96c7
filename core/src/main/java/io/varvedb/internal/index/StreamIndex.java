package io.varvedb.internal.index;

import io.varvedb.CorruptStoreException;
import io.varvedb.StreamIndexFullException;
import io.varvedb.internal.io.FileHeaders;
import io.varvedb.internal.io.ForceObserver;
import io.varvedb.internal.io.MappedFile;
import org.agrona.concurrent.BackoffIdleStrategy;
import org.agrona.concurrent.IdleStrategy;
import org.agrona.concurrent.UnsafeBuffer;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import static io.varvedb.internal.index.BlockDescriptor.BLOCK_LENGTH;
import static io.varvedb.internal.index.BlockDescriptor.CHUNK_HEADER_LENGTH;
import static io.varvedb.internal.index.BlockDescriptor.JUMP_OFFSET;
import static io.varvedb.internal.index.BlockDescriptor.NEXT_OFFSET;
import static io.varvedb.internal.index.BlockDescriptor.ORDINAL_OFFSET;
import static io.varvedb.internal.index.BlockDescriptor.PREV_OFFSET;
import static io.varvedb.internal.index.BlockDescriptor.chunkLength;
import static io.varvedb.internal.index.BlockDescriptor.entryOffset;
import static io.varvedb.internal.index.BlockDescriptor.fileName;
import static io.varvedb.internal.index.BlockDescriptor.ordinalOf;
import static io.varvedb.internal.index.StreamIndexDescriptor.*;

/**
 * The off-heap stream index: the hash table of stream slots ({@link StreamIndexDescriptor}) and the per-stream
 * position blocks ({@link BlockDescriptor}). Everything lives in mapped files, so the Java heap does not grow
 * with the number of streams or events.
 * <p>
 * Thread safety: slots are claimed with one CAS on the stream id; versions change with one CAS on the state.
 * Blocks of a stream are written only by the appender holding that stream's pending state, so block allocation
 * needs no lock beyond the atomic add on the global block counter.
 * <p>
 * Disk space: the files start small and grow as streams appear (see {@link StreamIndexDescriptor} and
 * {@link BlockDescriptor}). The table's slot area and the chunk files are holes until allocated, and nothing is
 * ever written into a range before it is allocated: a write into a hole of a shared mapping on a full disk is a
 * {@code SIGBUS}, where an allocation through the file channel fails with an exception. A creator of a stream
 * makes sure of its slot's allocation unit before it claims the slot ({@link #findOrCreateSlot}); a taker of a
 * block makes sure of the block's range before it takes the block number ({@link #allocateBlock}). Both are a
 * volatile read on the fast path; the allocation itself is done under a lock, by one thread at a time, and
 * published after it (a unit's bit, the allocated-blocks frontier) with release semantics.
 */
public final class StreamIndex
{
    private static final long MIX = 0x9E3779B97F4A7C15L;
    /** Skew-binary search needs at most about 2 log2(n) hops; more means the links are damaged. */
    private static final int MAX_HOPS = 256;

    private final Path directory;
    private final MappedFile tableFile;
    private final UnsafeBuffer table;
    private final int capacity;
    private final int mask;
    private final int blocksPerChunk;
    private final boolean readOnly;
    private final ForceObserver observer;
    private final Object chunkLock = new Object();
    /** One allocator of table units at a time. */
    private final Object unitLock = new Object();
    private final int unitShift;
    private final int unitCount;
    /**
     * Every block up to this number has its range in its chunk file allocated (written by the block allocator
     * under chunkLock, read by takers without it). Blocks are only ever written after this passed them.
     */
    /** Null in single-process mode; else the record locks that serialise allocation between processes. */
    private io.varvedb.internal.process.LockFile lockFile;
    private volatile MappedFile[] chunks = new MappedFile[0];
    private volatile UnsafeBuffer[] chunkBuffers = new UnsafeBuffer[0];
    /** Guarded by chunkLock. */
    private boolean closed;

    private StreamIndex(
        final Path directory, final MappedFile tableFile, final boolean readOnly, final ForceObserver observer)
    {
        this.observer = observer;
        this.directory = directory;
        this.tableFile = tableFile;
        this.table = tableFile.buffer();
        this.capacity = table.getInt(CAPACITY_OFFSET);
        this.mask = table.getInt(TABLE_SIZE_OFFSET) - 1;
        this.blocksPerChunk = table.getInt(BLOCKS_PER_CHUNK_OFFSET);
        this.readOnly = readOnly;
        final int tableSize = mask + 1;
        this.unitShift = Integer.numberOfTrailingZeros(StreamIndexDescriptor.unitLength(tableSize));
        this.unitCount = StreamIndexDescriptor.unitCount(tableSize);
    }

    /**
     * At open, by the writer that recovers (nobody else has the index open): blocks counted were taken, and every
     * block taken had its range allocated first (in this boot, or forced at a clean close); beyond the count nobody
     * wrote, so allocating there again is harmless.
     */
    public void allocatedFromCount()
    {
        table.putLongVolatile(ALLOCATED_BLOCKS_OFFSET, table.getLongVolatile(BLOCK_COUNT_OFFSET));
    }

    /**
     * Share the index with other writer processes: allocation of units, blocks and chunk files then happens under
     * record locks of the store's lock file too.
     *
     * @param lockFile the store's lock file.
     */
    public void shareWith(final io.varvedb.internal.process.LockFile lockFile)
    {
        this.lockFile = lockFile;
    }

    private void lockAcross(final long range)
    {
        io.varvedb.internal.process.LockFile.lockIfShared(lockFile, range);
    }

    private void unlockAcross(final long range)
    {
        io.varvedb.internal.process.LockFile.unlockIfShared(lockFile, range);
    }

    private long allocatedBlockCount()
    {
        // acquire: pairs with the release in allocateBlocks, so the range's zero-fill happens-before our writes
        return table.getLongAcquire(ALLOCATED_BLOCKS_OFFSET);
    }

    /**
     * Create a new, empty index.
     *
     * @param directory      the {@code index/} directory; created if missing.
     * @param capacity       most streams.
     * @param blocksPerChunk blocks per chunk file.
     * @param observer       sees every file created and every force.
     * @return the index.
     */
    public static StreamIndex create(
        final Path directory, final int capacity, final int blocksPerChunk, final ForceObserver observer)
    {
        createDirectory(directory);
        final int tableSize = StreamIndexDescriptor.tableSize(capacity);
        // only the first unit (the header and the first slots) gets disk blocks now: the rest grows unit by unit
        final MappedFile file = MappedFile.create(directory.resolve(FILE_NAME), fileLength(tableSize),
            firstUnitLength(tableSize), (buffer) -> writeHeader(buffer, capacity, tableSize, blocksPerChunk), true,
            observer);
        return new StreamIndex(directory, file, false, observer);
    }

    /**
     * Open an existing index, checking its header.
     *
     * @param directory the {@code index/} directory.
     * @param readOnly  map read-only.
     * @return the index.
     */
    public static StreamIndex open(final Path directory, final boolean readOnly)
    {
        return open(directory, readOnly, ForceObserver.NONE);
    }

    /**
     * Open an existing index, checking its header.
     *
     * @param directory the {@code index/} directory.
     * @param readOnly  map read-only.
     * @param observer  sees every file created and every force.
     * @return the index.
     */
    public static StreamIndex open(final Path directory, final boolean readOnly, final ForceObserver observer)
    {
        final Path path = directory.resolve(FILE_NAME);
        // a refused index is deleted and rebuilt, or the open fails: either way its mapping goes at once
        final MappedFile file = MappedFile.open(path, readOnly, observer, (opened) ->
        {
            FileHeaders.check(opened.buffer(), path, HEADER_LENGTH, MAGIC_OFFSET, StreamIndexDescriptor.MAGIC,
                FORMAT_VERSION_OFFSET, StreamIndexDescriptor.FORMAT_VERSION, "stream index");
            final int tableSize = opened.buffer().getInt(TABLE_SIZE_OFFSET);
            if (Integer.bitCount(tableSize) != 1 || fileLength(tableSize) != opened.length() ||
                opened.buffer().getInt(BLOCKS_PER_CHUNK_OFFSET) <= 0)
            {
                throw new CorruptStoreException(path + ": header says " + tableSize + " slots but the file is " +
                    opened.length() + " bytes");
            }
            if (opened.buffer().getInt(UNIT_LENGTH_OFFSET) != StreamIndexDescriptor.unitLength(tableSize))
            {
                throw new CorruptStoreException(path + ": header says allocation units of " +
                    opened.buffer().getInt(UNIT_LENGTH_OFFSET) + " bytes, a table of " + tableSize + " slots has " +
                    StreamIndexDescriptor.unitLength(tableSize));
            }
        });
        return new StreamIndex(directory, file, readOnly, observer);
    }

    /**
     * Refuse an index written in a newer format than this build reads, leaving it untouched: it is derived from
     * the log, but it is not this build's to rebuild over. An index whose header is damaged is not refused here.
     *
     * @param directory the {@code index/} directory.
     * @throws io.varvedb.StoreFormatException if {@code streams.idx} carries the index magic and a newer format.
     */
    public static void refuseNewerFormat(final Path directory)
    {
        final Path path = directory.resolve(FILE_NAME);
        final java.nio.ByteBuffer header = java.nio.ByteBuffer.allocate(FORMAT_VERSION_OFFSET + Integer.BYTES)
            .order(java.nio.ByteOrder.LITTLE_ENDIAN);
        try (java.nio.channels.FileChannel channel = java.nio.channels.FileChannel.open(path))
        {
            while (header.hasRemaining() && channel.read(header) > 0)
            {
                // read the magic and the format version
            }
        }
        catch (final IOException ex)
        {
            return;
        }
        if (!header.hasRemaining() && header.getLong(MAGIC_OFFSET) == StreamIndexDescriptor.MAGIC &&
            header.getInt(FORMAT_VERSION_OFFSET) > StreamIndexDescriptor.FORMAT_VERSION)
        {
            throw new io.varvedb.StoreFormatException(path + " is a stream index of format version " +
                header.getInt(FORMAT_VERSION_OFFSET) + "; this build reads version " +
                StreamIndexDescriptor.FORMAT_VERSION + "; left untouched");
        }
    }

    /**
     * @param directory the {@code index/} directory.
     * @return true when an index file is there.
     */
    public static boolean exists(final Path directory)
    {
        return Files.exists(directory.resolve(FILE_NAME));
    }

    /**
     * Forget every stream, and delete the chunk files: used before rebuilding the index from the log.
     * Single-threaded, writer only, before anyone reads the index.
     * <p>
     * Clearing the bitmap is what empties the table: a unit whose bit is clear is free throughout, whatever it holds
     * (nobody reads it, and its allocation zeroes it before anyone writes there). The bitmap is not trusted here:
     * after a power cut (the usual reason for a rebuild) the header may have reached the disk without a unit whose
     * allocation it records. So every bit but unit 0's is cleared, and each unit the rebuild uses is allocated
     * again, through the channel; unit 0, which holds the header, has its slots zeroed through the channel, which
     * also gives it back any disk block a power cut took.
     */
    public void reset()
    {
        tableFile.allocate(HEADER_LENGTH, (int)firstUnitLength(mask + 1) - HEADER_LENGTH);
        for (int offset = UNIT_BITMAP_OFFSET; offset < UNIT_BITMAP_OFFSET + UNIT_BITMAP_LENGTH; offset += Long.BYTES)
        {
            table.putLongVolatile(offset, offset == UNIT_BITMAP_OFFSET ? 1L : 0L);
        }
        table.putLong(STREAM_COUNT_OFFSET, 0);
        table.putLong(STREAMS_RESERVED_OFFSET, 0);
        table.putLong(BLOCK_COUNT_OFFSET, 0);
        table.putLong(INDEXED_POSITION_OFFSET, -1);
        table.putLong(SEALED_CHECKSUM_OFFSET, 0);
        table.putLongVolatile(ALLOCATED_BLOCKS_OFFSET, 0);
        // the chunk files go too, whatever state they are in (a damaged header, a wrong length): the rebuild makes
        // new ones. Nothing reads the index yet, so releasing the mappings is safe.
        synchronized (chunkLock)
        {
            unmapChunks();
            try (java.util.stream.Stream<Path> files = Files.list(directory))
            {
                for (final Path file : files.toList())
                {
                    final String name = file.getFileName().toString();
                    if (name.startsWith(BlockDescriptor.FILE_PREFIX))
                    {
                        Files.delete(file);
                    }
                }
            }
            catch (final IOException ex)
            {
                throw new io.varvedb.StoreIOException("cannot delete the index chunks in " + directory + ": " +
                    ex.getMessage(), ex);
            }
        }
    }

    // ---------------------------------------------------------------------------------------------------- slots

    /**
     * @param slot a slot's offset.
     * @return true if the allocation unit the slot lies in has disk blocks (its bit, read with acquire semantics).
     */
    public boolean unitAllocated(final int slot)
    {
        final int unit = slot >>> unitShift;
        // acquire: pairs with the release in allocateUnit, so the unit's zero-fill happens-before our writes there
        return (table.getLongAcquire(UNIT_BITMAP_OFFSET + (unit >>> 6) * Long.BYTES) & (1L << unit)) != 0;
    }

    /**
     * For scans of the whole table, which must not read units never allocated (see {@link #findSlot}).
     *
     * @param index a slot index.
     * @return {@code index} if its unit is allocated, else the index of the first slot of the next allocated unit
     * (or {@link #tableSize()} if none follows).
     */
    public int nextAllocatedSlot(final int index)
    {
        if (index >= tableSize())
        {
            return tableSize();
        }
        for (int unit = slotOffset(index) >>> unitShift; unit < unitCount; unit++)
        {
            if (unitAllocated(unit << unitShift))
            {
                // unit 0 starts with the header: its first slot lies behind it
                return Math.max(index, ((unit << unitShift) - HEADER_LENGTH) / SLOT_LENGTH);
            }
        }
        return tableSize();
    }

    /**
     * @return allocation units with disk blocks.
     */
    public int allocatedUnits()
    {
        int units = 0;
        for (int offset = UNIT_BITMAP_OFFSET; offset < UNIT_BITMAP_OFFSET + UNIT_BITMAP_LENGTH; offset += Long.BYTES)
        {
            units += Long.bitCount(table.getLongVolatile(offset));
        }
        return units;
    }

    /**
     * @return allocation units of the table.
     */
    public int unitCount()
    {
        return unitCount;
    }

    /**
     * @return the length of an allocation unit of the table.
     */
    public int unitLength()
    {
        return 1 << unitShift;
    }

    /**
     * Make sure the slot's allocation unit has disk blocks before anything is written to the slot.
     *
     * @param slot a slot's offset.
     * @throws io.varvedb.StoreIOException if the file system refuses (a full disk).
     */
    private void ensureUnit(final int slot)
    {
        if (!unitAllocated(slot))
        {
            allocateUnit(slot >>> unitShift);
        }
    }

    private void allocateUnit(final int unit)
    {
        synchronized (unitLock)
        {
            lockAcross(io.varvedb.internal.process.LockFileDescriptor.INDEX_UNITS);
            try
            {
                allocateUnitLocked(unit);
            }
            finally
            {
                unlockAcross(io.varvedb.internal.process.LockFileDescriptor.INDEX_UNITS);
            }
        }
    }

    private void allocateUnitLocked(final int unit)
    {
        final int word = UNIT_BITMAP_OFFSET + (unit >>> 6) * Long.BYTES;
        final long bit = 1L << unit;
        // looked at again under the lock: another process may have allocated it meanwhile, and then may be
        // writing slots there, which zeros would destroy
        if ((table.getLongVolatile(word) & bit) != 0)
        {
            return;
        }
        // nobody writes into a unit whose bit is clear, so these zeros overwrite nothing (unit 0 is allocated
        // with the file: this is never it)
        final int offset = unit << unitShift;
        tableFile.allocate(offset, Math.min(1 << unitShift, table.capacity() - offset));
        while (true)
        {
            final long bits = table.getLongVolatile(word);
            // a CAS is a release: a creator that sees the bit (acquire) sees the unit allocated
            if (table.compareAndSetLong(word, bits, bits | bit))
            {
                return;
            }
        }
    }


    /**
     * Find a stream's slot without creating it.
     *
     * @param streamId a positive stream id.
     * @return the slot's offset in the table, or -1 if the stream has no slot.
     */
    public int findSlot(final long streamId)
    {
        int index = hash(streamId);
        for (int probes = 0; probes <= mask; probes++)
        {
            final int slot = slotOffset(index);
            // a unit never allocated holds only free slots, and is never read: on tmpfs a read of a hole in a
            // mapping allocates a page (a SIGBUS when full), and on ext4 it may bring a large folio over holes
            if (!unitAllocated(slot))
            {
                return -1;
            }
            // acquire: a slot's id is published by the claiming CAS; seeing it, we see the zeroed fields behind it
            final long id = table.getLongAcquire(slot + SLOT_STREAM_ID_OFFSET);
            if (id == streamId)
            {
                return slot;
            }
            if (id == 0)
            {
                return -1;
            }
            index = (index + 1) & mask;
        }
        return -1;
    }

    /**
     * Find a stream's slot, claiming a free one for a new stream.
     *
     * @param streamId a positive stream id.
     * @return the slot's offset in the table.
     * @throws StreamIndexFullException when the stream is new and the index holds {@code capacity} streams.
     */
    public int findOrCreateSlot(final long streamId)
    {
        int index = hash(streamId);
        boolean reserved = false;
        while (true)
        {
            final int slot = slotOffset(index);
            // acquire: a slot's id is published by the claiming CAS; seeing it, we see the zeroed fields behind it.
            // A unit never allocated is free throughout, and not read (see findSlot).
            final long id = unitAllocated(slot) ? table.getLongAcquire(slot + SLOT_STREAM_ID_OFFSET) : 0;
            if (id == streamId)
            {
                if (reserved)
                {
                    // another thread created the same stream between our reservation and our claim
                    table.getAndAddLong(STREAMS_RESERVED_OFFSET, -1);
                }
                return slot;
            }
            if (id == 0)
            {
                if (!reserved)
                {
                    // The stream is not in the table up to here: it is new, or being created by another thread.
                    // Reserve room first: the table has SLOTS_PER_STREAM slots per allowed stream, so once a
                    // stream holds a reservation, a free slot is certain to exist and this probe terminates.
                    reserved = reserve(streamId);
                    if (!reserved)
                    {
                        // it was created while we waited for room: find it from the start of its probe sequence
                        index = hash(streamId);
                    }
                    continue;
                }
                try
                {
                    // the slot is written from here on: its unit gets disk blocks first (a full disk fails here,
                    // with the stream not created)
                    ensureUnit(slot);
                }
                catch (final RuntimeException | Error ex)
                {
                    table.getAndAddLong(STREAMS_RESERVED_OFFSET, -1);
                    throw ex;
                }
                // CAS is the single point where a slot changes owner; a loser re-reads and goes on probing.
                if (table.compareAndSetLong(slot + SLOT_STREAM_ID_OFFSET, 0, streamId))
                {
                    // counted after the claim: the stream count never includes a stream that has no slot
                    table.getAndAddLong(STREAM_COUNT_OFFSET, 1);
                    return slot;
                }
                continue;
            }
            index = (index + 1) & mask;
        }
    }

    /** How long a creator waits for creations in flight that hold the last reservations. */
    private static final long RESERVATION_WAIT_NS = TimeUnit.SECONDS.toNanos(1);
    private static final int SPINS = 100;
    private static final int YIELDS = 100;
    private static final long PARK_MIN_NS = TimeUnit.MICROSECONDS.toNanos(1);
    private static final long PARK_MAX_NS = TimeUnit.MICROSECONDS.toNanos(100);

    /**
     * Take one of the capacity's reservations for a stream that is not in the table.
     * <p>
     * When every reservation is taken but some belong to creations still in flight, the index may not be full:
     * several threads creating one stream each hold a reservation until they see who won, and all but one then
     * give theirs back. So wait for those creations to settle rather than report a full index that is not.
     *
     * @param streamId the stream to create.
     * @return true with a reservation held; false if the stream appeared meanwhile (nothing held).
     * @throws StreamIndexFullException when the index holds {@code capacity} streams and the stream is not one.
     */
    private boolean reserve(final long streamId)
    {
        long deadline = 0;
        IdleStrategy idle = null;
        while (true)
        {
            final long reserved = table.getLongVolatile(STREAMS_RESERVED_OFFSET);
            if (reserved < capacity)
            {
                // CAS, not an add: a creator refused for want of room never inflates the count others compare
                if (table.compareAndSetLong(STREAMS_RESERVED_OFFSET, reserved, reserved + 1))
                {
                    return true;
                }
                continue;
            }
            if (findSlot(streamId) >= 0)
            {
                return false;
            }
            final long created = table.getLongVolatile(STREAM_COUNT_OFFSET);
            final long now = System.nanoTime();
            if (deadline == 0)
            {
                deadline = now + RESERVATION_WAIT_NS;
            }
            if (created >= capacity || now - deadline > 0)
            {
                // re-check: the last reservation holder may have created this very stream just now
                if (findSlot(streamId) >= 0)
                {
                    return false;
                }
                throw full(streamId, reserved, created);
            }
            // creations in flight settle within a few probes, unless their thread was descheduled
            if (idle == null)
            {
                idle = new BackoffIdleStrategy(SPINS, YIELDS, PARK_MIN_NS, PARK_MAX_NS);
            }
            idle.idle();
        }
    }

    /**
     * Refuse a new stream when the index holds {@code capacity} streams already, with no creation in flight that
     * could still give room back: checked before a first append uses any log space.
     *
     * @param streamId a positive stream id.
     * @throws StreamIndexFullException if the stream is new and the index is full for certain.
     */
    public void refuseIfFull(final long streamId)
    {
        final long created = table.getLongVolatile(STREAM_COUNT_OFFSET);
        if (created >= capacity && findSlot(streamId) < 0)
        {
            throw full(streamId, created, created);
        }
    }

    private StreamIndexFullException full(final long streamId, final long reserved, final long created)
    {
        return new StreamIndexFullException("the stream index is full: it holds " + capacity +
            " streams, the capacity this store was created with (VarveConfig.Builder.indexCapacity); " +
            "stream " + streamId + " cannot be created" + (created >= capacity ? "" :
            " (" + (reserved - created) + " creations still in flight)"));
    }

    /**
     * Make the reservation count equal the stream count: at open, when no creation can be in flight.
     */
    public void settleReservations()
    {
        table.putLongVolatile(STREAMS_RESERVED_OFFSET, table.getLongVolatile(STREAM_COUNT_OFFSET));
    }

    /**
     * @param slot offset from {@link #findSlot}.
     * @return the slot's state, read with acquire semantics.
     */
    public long state(final int slot)
    {
        return table.getLongAcquire(slot + SLOT_STATE_OFFSET);
    }

    /**
     * Move a stream's state by CAS: the one step that decides who appends the next version.
     *
     * @param slot     offset from {@link #findSlot}.
     * @param expected state read before.
     * @param update   new state.
     * @return true if this caller won.
     */
    public boolean compareAndSetState(final int slot, final long expected, final long update)
    {
        // full fence: the winner's later writes of the record and block cannot float above the claim
        return table.compareAndSetLong(slot + SLOT_STATE_OFFSET, expected, update);
    }

    /**
     * Publish a state owned by the caller (it holds the pending bit).
     *
     * @param slot  offset from {@link #findSlot}.
     * @param state new state.
     */
    public void releaseState(final int slot, final long state)
    {
        // release: the record and its block entry are written before anyone sees the version committed
        table.putLongRelease(slot + SLOT_STATE_OFFSET, state);
    }

    /**
     * @param slot offset from {@link #findSlot}.
     * @return the stream id held by the slot.
     */
    public long streamIdAt(final int slot)
    {
        return table.getLongAcquire(slot + SLOT_STREAM_ID_OFFSET);
    }

    /**
     * @return streams in the index.
     */
    public long streamCount()
    {
        return table.getLongVolatile(STREAM_COUNT_OFFSET);
    }

    /**
     * @return streams in the index plus creations in flight: never below the streams that hold a slot.
     */
    public long reservedCount()
    {
        return table.getLongVolatile(STREAMS_RESERVED_OFFSET);
    }

    /**
     * @return most streams the index accepts.
     */
    public int capacity()
    {
        return capacity;
    }

    /**
     * @return slots in the hash table.
     */
    public int tableSize()
    {
        return mask + 1;
    }

    /**
     * @param index slot index, 0 to {@link #tableSize()} - 1.
     * @return the slot's offset.
     */
    public int slotOffset(final int index)
    {
        return HEADER_LENGTH + index * SLOT_LENGTH;
    }

    // --------------------------------------------------------------------------------------------------- blocks

    /**
     * Make sure the block that will hold {@code version} exists, allocating it when {@code version} is the first
     * of a new block. Called by the appender holding the stream's pending state, before any log space is
     * claimed, so a failure here (no room for a new chunk file) leaves nothing half-written.
     *
     * @param slot     the stream's slot.
     * @param streamId the stream.
     * @param version  the version about to be written.
     */
    public void prepareBlock(final int slot, final long streamId, final long version)
    {
        final long ordinal = ordinalOf(version);
        final long last = table.getLong(slot + SLOT_LAST_BLOCK_OFFSET);
        if (last != 0 && ordinal(last) >= ordinal)
        {
            return;
        }
        linkBlock(slot, streamId, allocateBlock(), ordinal);
    }

    /**
     * Take a block for a stream that does not hold its slot yet: the first append to a new stream does all that
     * can fail (this, the log claim, the codec) before it creates the stream, so that a failure leaves no slot
     * behind. The block is the caller's until it {@link #linkBlock links} it; block numbers only grow, so blocks
     * taken later are linked later, and a stream's links (previous, jump) always point to lower numbers.
     *
     * @return a block number whose chunk is mapped.
     * @throws io.varvedb.StoreIOException if a new chunk file is needed and cannot be created.
     */
    public long allocateBlock()
    {
        // allocate the range the next number falls in before taking it: no disk for it then costs nothing, where
        // a number taken first would be lost
        ensureBlockAllocated(blockCount() + 1);
        final long block = table.getAndAddLong(BLOCK_COUNT_OFFSET, 1) + 1;
        // another taker may have got the number checked above: ours may lie further (then a failure here loses it)
        ensureBlockAllocated(block);
        return block;
    }

    /**
     * Make sure block {@code block}'s range in its chunk file has disk blocks, allocating it (and the rest of its
     * step) if the pre-allocator has not got there yet.
     *
     * @param block a block number.
     * @throws io.varvedb.StoreIOException if a chunk file or its space cannot be had.
     */
    private void ensureBlockAllocated(final long block)
    {
        if (block > allocatedBlockCount())
        {
            allocateBlocks(block, false);
        }
    }

    /**
     * Allocate the block ranges up to {@code target}, in whole {@link BlockDescriptor#ALLOCATION_STEP steps},
     * creating and mapping the chunk files on the way.
     *
     * @param target     the highest block number wanted.
     * @param background called by the pre-allocator: refuse, rather than fill the disk to its last block, when
     *                   the file system reports less room than the allocation needs.
     */
    private void allocateBlocks(final long target, final boolean background)
    {
        while (true)
        {
            // one step per hold of the lock: a taker that needs the next step waits for one step, not for the
            // pre-allocator's whole lead
            synchronized (chunkLock)
            {
                lockAcross(io.varvedb.internal.process.LockFileDescriptor.INDEX_BLOCKS);
                try
                {
                    if (allocateBlockStep(target, background))
                    {
                        return;
                    }
                }
                finally
                {
                    unlockAcross(io.varvedb.internal.process.LockFileDescriptor.INDEX_BLOCKS);
                }
            }
        }
    }

    /** Under chunkLock and the block lock: one step; true if the target was reached before it. */
    private boolean allocateBlockStep(final long target, final boolean background)
    {
        // read under the lock: another process may have moved it
        final long allocated = table.getLongVolatile(ALLOCATED_BLOCKS_OFFSET);
        if (allocated >= target)
        {
            return true;
        }
        final long first = allocated + 1;
        final int chunk = (int)((first - 1) / blocksPerChunk);
        final int from = blockOffset(first);
        // to the next multiple of the unit in the file (or its end): no page-cache folio then holds both
        // allocated blocks and a hole (see StreamIndexDescriptor)
        final long to = Math.min(chunkLength(blocksPerChunk),
            ((long)from / BlockDescriptor.ALLOCATION_STEP + 1) * BlockDescriptor.ALLOCATION_STEP);
        final int length = (int)(to - from);
        final long last = first - 1 + length / BLOCK_LENGTH;
        if (background)
        {
            requireSpace(length, "stream index blocks " + first + ".." + last + " in " + fileName(chunk));
        }
        final MappedFile file = chunkFile(chunk, true);
        // blocks beyond the frontier were never written, so these zeros overwrite nothing
        file.allocate(from, length);
        // release: a taker that sees the new frontier sees the range allocated
        table.putLongRelease(ALLOCATED_BLOCKS_OFFSET, last);
        return false;
    }

    private void requireSpace(final long length, final String what)
    {
        MappedFile.requireSpace(directory, length, what + " in " + directory);
    }

    /**
     * @return blocks whose ranges this writer has allocated in the chunk files (those of blocks counted at open
     * included); tests and tools.
     */
    public long allocatedBlocks()
    {
        return allocatedBlockCount();
    }

    /**
     * @param slot the stream's slot.
     * @return the ordinal its next block will have: 0 if it has none.
     */
    public long nextOrdinal(final int slot)
    {
        final long last = table.getLong(slot + SLOT_LAST_BLOCK_OFFSET);
        return last == 0 ? 0 : ordinal(last) + 1;
    }

    /**
     * Link a block {@link #allocateBlock taken} by the caller as the stream's next one. The caller holds the
     * stream's pending state.
     *
     * @param slot     the stream's slot.
     * @param streamId the stream.
     * @param block    the block.
     * @param ordinal  which of the stream's blocks it is: one more than its last block's.
     */
    public void linkBlock(final int slot, final long streamId, final long block, final long ordinal)
    {
        appendBlock(slot, streamId, block, table.getLong(slot + SLOT_LAST_BLOCK_OFFSET), ordinal);
    }

    /**
     * Record the log position of {@code version}, whose block {@link #prepareBlock} made sure of.
     *
     * @param slot     the stream's slot.
     * @param version  the version written.
     * @param position where its record starts in the log.
     */
    public void putPosition(final int slot, final long version, final long position)
    {
        long block = table.getLong(slot + SLOT_LAST_BLOCK_OFFSET);
        if (ordinal(block) != ordinalOf(version))
        {
            // blocks prepared ahead (a batch, or an append that failed after preparing) lie beyond this version
            block = findBlock(slot, version);
        }
        // release: a reader that sees the entry sees the committed record it points to
        chunkBuffer(block).putLongRelease(blockOffset(block) + entryOffset(version), position + 1);
    }

    private void appendBlock(
        final int slot, final long streamId, final long block, final long prev, final long ordinal)
    {
        final UnsafeBuffer buffer = chunkBuffer(block);
        final int offset = blockOffset(block);

        long jump = block;
        if (prev != 0)
        {
            final long prevJump = checkedLink(prev, jump(prev), "jump");
            final long prevJumpJump = checkedLink(prevJump, jump(prevJump), "jump");
            jump = ordinal(prev) - ordinal(prevJump) == ordinal(prevJump) - ordinal(prevJumpJump) ?
                prevJumpJump : prev;
        }

        buffer.setMemory(offset, BLOCK_LENGTH, (byte)0);
        buffer.putLong(offset + BlockDescriptor.STREAM_ID_OFFSET, streamId);
        buffer.putLong(offset + ORDINAL_OFFSET, ordinal);
        buffer.putLong(offset + PREV_OFFSET, prev);
        buffer.putLong(offset + JUMP_OFFSET, jump);

        // release on each link: a reader following any of them sees the block's header and zeroed entries
        if (prev == 0)
        {
            table.putLongRelease(slot + SLOT_FIRST_BLOCK_OFFSET, block);
        }
        else
        {
            chunkBuffer(prev).putLongRelease(blockOffset(prev) + NEXT_OFFSET, block);
        }
        table.putLongRelease(slot + SLOT_LAST_BLOCK_OFFSET, block);
    }

    /**
     * Find the block holding {@code version} of a stream, in O(log n) hops.
     *
     * @param slot    the stream's slot.
     * @param version a version from 1.
     * @return the block number, or 0 if no block holds that version yet.
     */
    public long findBlock(final int slot, final long version)
    {
        final long target = ordinalOf(version);
        if (target == 0)
        {
            return table.getLongAcquire(slot + SLOT_FIRST_BLOCK_OFFSET);
        }
        long block = table.getLongAcquire(slot + SLOT_LAST_BLOCK_OFFSET);
        if (block == 0)
        {
            return 0;
        }
        if (block > blockCount())
        {
            throw new CorruptStoreException("stream index: a stream's last block " + block + " is beyond the " +
                blockCount() + " allocated in " + directory + "; delete the index directory to rebuild it");
        }
        if (ordinal(block) < target)
        {
            return 0;
        }
        for (int hops = 0; ; hops++)
        {
            if (block <= 0 || block > blockCount() || hops > MAX_HOPS)
            {
                throw new CorruptStoreException("stream index: damaged block links (block " + block + ", hop " +
                    hops + ") while looking for ordinal " + target + " in " + directory +
                    "; delete the index directory to rebuild it from the log");
            }
            final long ordinal = ordinal(block);
            if (ordinal == target)
            {
                return block;
            }
            if (ordinal < target)
            {
                throw new CorruptStoreException("stream index: block " + block + " of ordinal " + ordinal +
                    " reached while looking for ordinal " + target + " in " + directory +
                    "; delete the index directory to rebuild it from the log");
            }
            final long jump = jump(block);
            if (jump <= 0 || jump > blockCount())
            {
                throw new CorruptStoreException("stream index: block " + block + " has a damaged jump link " +
                    jump + " in " + directory + "; delete the index directory to rebuild it from the log");
            }
            block = ordinal(jump) >= target ? jump : previous(block);
        }
    }

    /**
     * @param block a block number.
     * @param version a version the block holds.
     * @return the log position recorded for it, or -1 if not written yet.
     */
    public long positionAt(final long block, final long version)
    {
        // acquire: pairs with the release in putPosition
        return chunkBuffer(block).getLongAcquire(blockOffset(block) + entryOffset(version)) - 1;
    }

    /**
     * @param slot    the stream's slot.
     * @param version a version from 1.
     * @return its log position, or -1 if the index has none.
     */
    public long positionOf(final int slot, final long version)
    {
        final long block = findBlock(slot, version);
        return block == 0 ? -1 : positionAt(block, version);
    }

    /**
     * Erase the entries of every version after {@code version}: recovery found their records gone.
     *
     * @param slot    the stream's slot.
     * @param version the last version to keep.
     */
    public void clearAfter(final int slot, final long version)
    {
        long block = findBlock(slot, version + 1);
        long next = version + 1;
        while (block != 0)
        {
            final UnsafeBuffer buffer = chunkBuffer(block);
            final int offset = blockOffset(block) + entryOffset(next);
            if (buffer.getLong(offset) == 0)
            {
                return;
            }
            buffer.putLongRelease(offset, 0);
            next++;
            if (ordinalOf(next) != ordinalOf(next - 1))
            {
                block = next(block);
            }
        }
    }

    /**
     * @param slot the stream's slot.
     * @return its last block, or 0.
     */
    public long lastBlock(final int slot)
    {
        return table.getLongAcquire(slot + SLOT_LAST_BLOCK_OFFSET);
    }

    /**
     * @param slot the stream's slot.
     * @return its first block, or 0.
     */
    public long firstBlock(final int slot)
    {
        return table.getLongAcquire(slot + SLOT_FIRST_BLOCK_OFFSET);
    }

    /**
     * @param block a block number, at most {@link #blockCount()}.
     * @return the stream the block belongs to.
     */
    public long blockStreamId(final long block)
    {
        return chunkBuffer(block).getLong(blockOffset(block) + BlockDescriptor.STREAM_ID_OFFSET);
    }

    /**
     * @param block a block number, at most {@link #blockCount()}.
     * @return its ordinal: the block holds versions {@code ordinal * ENTRIES + 1} on.
     */
    public long blockOrdinal(final long block)
    {
        return ordinal(block);
    }

    /**
     * Set the counters recovery recomputed from the slots themselves: they may lag on disk behind the slots.
     *
     * @param streams   streams in the table.
     * @param maxBlock  highest block number any stream uses.
     */
    public void repairCounters(final long streams, final long maxBlock)
    {
        table.putLongVolatile(STREAM_COUNT_OFFSET, streams);
        table.putLongVolatile(STREAMS_RESERVED_OFFSET, streams);
        if (table.getLongVolatile(BLOCK_COUNT_OFFSET) < maxBlock)
        {
            table.putLongVolatile(BLOCK_COUNT_OFFSET, maxBlock);
        }
        synchronized (chunkLock)
        {
            // blocks the slots use were written: never allocate (zero) them again
            if (allocatedBlockCount() < maxBlock)
            {
                table.putLongVolatile(ALLOCATED_BLOCKS_OFFSET, maxBlock);
            }
        }
    }

    /**
     * The block holding {@code version}, which follows the one holding {@code version - 1}: the {@code next} link
     * when it leads to the right block, else a search by the jump links. A committed version always has a block,
     * so a reader never stops short on a damaged link: it finds the block another way or says the index is
     * damaged.
     *
     * @param slot     the stream's slot.
     * @param block    the block holding {@code version - 1}.
     * @param streamId the stream.
     * @param version  a committed version.
     * @return its block.
     * @throws CorruptStoreException if no valid block holds it.
     */
    public long blockAfter(final int slot, final long block, final long streamId, final long version)
    {
        final long next = next(block);
        return isBlockOf(next, streamId, ordinalOf(version)) ? next : requireBlock(slot, streamId, version);
    }

    /**
     * The block holding {@code version}, which precedes the one holding {@code version + 1}; see
     * {@link #blockAfter}.
     *
     * @param slot     the stream's slot.
     * @param block    the block holding {@code version + 1}.
     * @param streamId the stream.
     * @param version  a committed version, from 1.
     * @return its block.
     * @throws CorruptStoreException if no valid block holds it.
     */
    public long blockBefore(final int slot, final long block, final long streamId, final long version)
    {
        final long previous = previous(block);
        return isBlockOf(previous, streamId, ordinalOf(version)) ? previous : requireBlock(slot, streamId, version);
    }

    private long requireBlock(final int slot, final long streamId, final long version)
    {
        final long found = findBlock(slot, version);
        if (!isBlockOf(found, streamId, ordinalOf(version)))
        {
            throw new CorruptStoreException("stream index: stream " + streamId + " has no valid block for its " +
                "committed version " + version + " in " + directory + "; delete the index directory to rebuild it " +
                "from the log");
        }
        return found;
    }

    private long checkedLink(final long from, final long to, final String link)
    {
        if (to <= 0 || to > from)
        {
            throw new CorruptStoreException("stream index: block " + from + " has a damaged " + link + " link " + to +
                " in " + directory + "; delete the index directory to rebuild it from the log");
        }
        return to;
    }

    private boolean isBlockOf(final long block, final long streamId, final long ordinal)
    {
        return block > 0 && block <= blockCount() && ordinal(block) == ordinal && blockStreamId(block) == streamId;
    }

    /**
     * @param block a block number.
     * @return the next block of the same stream, or 0.
     */
    public long next(final long block)
    {
        return chunkBuffer(block).getLongAcquire(blockOffset(block) + NEXT_OFFSET);
    }

    /**
     * @param block a block number.
     * @return the previous block of the same stream, or 0.
     */
    public long previous(final long block)
    {
        return chunkBuffer(block).getLong(blockOffset(block) + PREV_OFFSET);
    }

    /**
     * @param block a block number, at most {@link #blockCount()}.
     * @return its jump link: an earlier block of the stream (itself for the first block).
     */
    public long jump(final long block)
    {
        return chunkBuffer(block).getLong(blockOffset(block) + JUMP_OFFSET);
    }

    private long ordinal(final long block)
    {
        return chunkBuffer(block).getLong(blockOffset(block) + ORDINAL_OFFSET);
    }

    /**
     * @return blocks allocated so far.
     */
    public long blockCount()
    {
        return table.getLongVolatile(BLOCK_COUNT_OFFSET);
    }

    private int blockOffset(final long block)
    {
        return CHUNK_HEADER_LENGTH + (int)((block - 1) % blocksPerChunk) * BLOCK_LENGTH;
    }

    private UnsafeBuffer chunkBuffer(final long block)
    {
        final int chunk = (int)((block - 1) / blocksPerChunk);
        final UnsafeBuffer[] buffers = chunkBuffers;
        if (chunk < buffers.length)
        {
            final UnsafeBuffer buffer = buffers[chunk];
            if (buffer != null)
            {
                return buffer;
            }
        }
        return ensureChunk(chunk);
    }

    /**
     * Map chunk {@code chunk}, creating its file when writable and missing. Called ahead of need by the
     * pre-allocator, and by appenders only if they outrun it.
     *
     * @param chunk chunk index.
     * @return the chunk's buffer.
     */
    public UnsafeBuffer ensureChunk(final int chunk)
    {
        synchronized (chunkLock)
        {
            return chunkFile(chunk, false).buffer();
        }
    }

    /**
     * Map chunk {@code chunk}, creating its file (with disk blocks for its header only) when writable and missing.
     * Under chunkLock.
     *
     * @param chunk    chunk index.
     * @param creating the block allocator, which makes chunk files ahead of the block counter; any other caller
     *                 finds a missing chunk below the counter damage.
     * @return the chunk's file.
     */
    private MappedFile chunkFile(final int chunk, final boolean creating)
    {
        if (closed)
        {
            throw new io.varvedb.StoreClosedException("the stream index in " + directory + " is closed");
        }
        MappedFile[] files = chunks;
        if (chunk < files.length && files[chunk] != null)
        {
            return files[chunk];
        }
        final Path path = directory.resolve(fileName(chunk));
        final MappedFile file;
        // another process may be creating it: whether it exists is decided under the lock that creation takes
        // (none in single-process mode, and for a read-only index)
        lockAcross(io.varvedb.internal.process.LockFileDescriptor.INDEX_BLOCKS);
        try
        {
            file = openOrCreateChunk(chunk, path, creating);
        }
        finally
        {
            unlockAcross(io.varvedb.internal.process.LockFileDescriptor.INDEX_BLOCKS);
        }

        final int newLength = Math.max(files.length, chunk + 1);
        files = java.util.Arrays.copyOf(files, newLength);
        files[chunk] = file;
        final UnsafeBuffer[] buffers = java.util.Arrays.copyOf(chunkBuffers, newLength);
        buffers[chunk] = file.buffer();
        chunks = files;
        // volatile publication of the array holding the fully built mapping
        chunkBuffers = buffers;
        return file;
    }

    private MappedFile openOrCreateChunk(final int chunk, final Path path, final boolean creating)
    {
        final MappedFile file;
        if (Files.exists(path))
        {
            file = MappedFile.open(path, readOnly, observer, (opened) ->
            {
                if (!readOnly && MappedFile.isBlank(opened.buffer(), CHUNK_HEADER_LENGTH))
                {
                    // created just before a crash, its header never reached the disk: perhaps a hole now
                    opened.allocate(0, CHUNK_HEADER_LENGTH);
                    BlockDescriptor.writeHeader(opened.buffer(), chunk, blocksPerChunk);
                }
                FileHeaders.check(opened.buffer(), path, CHUNK_HEADER_LENGTH, BlockDescriptor.MAGIC_OFFSET,
                    BlockDescriptor.MAGIC, BlockDescriptor.FORMAT_VERSION_OFFSET, BlockDescriptor.FORMAT_VERSION,
                    "stream index chunk");
                if (opened.length() != chunkLength(blocksPerChunk))
                {
                    throw new CorruptStoreException(path + " is " + opened.length() + " bytes, expected " +
                        chunkLength(blocksPerChunk));
                }
            });
        }
        else if (readOnly || (!creating && chunk > (blockCount() + blocksPerChunk) / blocksPerChunk))
        {
            throw new CorruptStoreException("stream index chunk " + path + " is missing (" + blockCount() +
                " blocks allocated); delete the index directory to rebuild it from the log");
        }
        else
        {
            // only the header gets disk blocks now: the blocks' ranges are allocated step by step ahead of the
            // block counter (allocateBlocks)
            file = MappedFile.create(path, chunkLength(blocksPerChunk), CHUNK_HEADER_LENGTH,
                (buffer) -> BlockDescriptor.writeHeader(buffer, chunk, blocksPerChunk), false, observer);
        }
        return file;
    }

    /**
     * @return true when the chunk file of every allocated block exists.
     */
    public boolean chunksPresent()
    {
        final long used = blockCount();
        final int chunkCount = used == 0 ? 0 : (int)((used - 1) / blocksPerChunk) + 1;
        for (int chunk = 0; chunk < chunkCount; chunk++)
        {
            if (!Files.exists(directory.resolve(fileName(chunk))))
            {
                return false;
            }
        }
        return true;
    }

    /**
     * Allocate the blocks the next streams and versions will take, ahead of the block counter: a lead of an
     * eighth of the blocks taken so far, at least {@link BlockDescriptor#MIN_LEAD} and at most
     * {@link BlockDescriptor#MAX_LEAD} blocks, so a store that takes blocks quickly finds them ready and a small
     * one stays small.
     */
    public void preallocate()
    {
        if (readOnly)
        {
            return;
        }
        final long count = blockCount();
        final long lead = Math.min(Math.min(BlockDescriptor.MAX_LEAD, blocksPerChunk),
            Math.max(BlockDescriptor.MIN_LEAD, count / 8));
        if (allocatedBlockCount() < count + lead / 2)
        {
            // see Log.preallocate: never fill the disk to its last block in the background only to fail
            allocateBlocks(count + lead, true);
        }
    }

    /**
     * Release the mappings of the table and every chunk. The caller guarantees that no thread is using, or can start
     * to use, the index.
     */
    public void close()
    {
        synchronized (chunkLock)
        {
            closed = true;
            unmapChunks();
            tableFile.unmap();
        }
    }

    private void unmapChunks()
    {
        final MappedFile[] files = chunks;
        chunks = new MappedFile[0];
        chunkBuffers = new UnsafeBuffer[0];
        MappedFile.unmapAll(files);
    }

    /**
     * @return the log position up to which the index was known complete at the last clean close, or -1.
     */
    public long indexedPosition()
    {
        return table.getLongVolatile(INDEXED_POSITION_OFFSET);
    }

    /**
     * @param position log end the index now reflects; -1 while open for writing.
     */
    public void indexedPosition(final long position)
    {
        table.putLongVolatile(INDEXED_POSITION_OFFSET, position);
    }

    /**
     * Seal the index after a clean close: store a checksum of every slot and allocated block, so the next open can
     * tell whether the files were damaged at rest. Writer only, with no appender running.
     */
    public void seal()
    {
        table.putLongVolatile(SEALED_CHECKSUM_OFFSET, SEALED | contentChecksum());
    }

    /**
     * Forget the seal: the writer is about to change the index.
     */
    public void unseal()
    {
        table.putLongVolatile(SEALED_CHECKSUM_OFFSET, 0);
    }

    /**
     * @return null if the index is sealed and its content matches the seal, or if it was never sealed (a store
     * written by an older build); otherwise what differs.
     */
    public String checkSeal()
    {
        final long sealed = sealWord();
        if (sealed == 0)
        {
            return null;
        }
        final long actual = SEALED | contentChecksum();
        return actual == sealed ? null : "the index files changed since they were sealed at the last clean close " +
            "(checksum " + Long.toHexString(actual) + ", sealed " + Long.toHexString(sealed) + ")";
    }

    /**
     * @return the seal word: 0, or {@link StreamIndexDescriptor#SEALED} with a checksum.
     */
    public long sealWord()
    {
        return table.getLongVolatile(SEALED_CHECKSUM_OFFSET);
    }

    /**
     * @return CRC32C of the slots of the allocated units, the unit bitmap, the allocated blocks and the counters;
     * -1 (never equal to a seal) when the
     * allocated blocks are not all there to read.
     */
    private long contentChecksum()
    {
        final java.util.zip.CRC32C crc = new java.util.zip.CRC32C();
        // the allocated units' slots: the others are free throughout, and never read
        final java.nio.ByteBuffer slots = table.byteBuffer().duplicate();
        for (int unit = 0; unit < unitCount; unit++)
        {
            if (unitAllocated(unit << unitShift))
            {
                final int start = Math.max(HEADER_LENGTH, unit << unitShift);
                final int end = (int)Math.min(table.capacity(), (long)(unit + 1) << unitShift);
                slots.limit(table.wrapAdjustment() + end).position(table.wrapAdjustment() + start);
                crc.update(slots);
            }
        }
        // the bitmap too: a bit set at rest for a unit that has no disk blocks would let a creation write into a hole,
        // a bit cleared would hide the unit's streams
        final java.nio.ByteBuffer bitmap = table.byteBuffer().duplicate();
        bitmap.limit(table.wrapAdjustment() + UNIT_BITMAP_OFFSET + UNIT_BITMAP_LENGTH)
            .position(table.wrapAdjustment() + UNIT_BITMAP_OFFSET);
        crc.update(bitmap);
        final long blocks = blockCount();
        if (blocks < 0 || (blocks - 1) / blocksPerChunk > Integer.MAX_VALUE)
        {
            return -1L;
        }
        for (long first = 1; first <= blocks; first += blocksPerChunk)
        {
            if (!Files.exists(directory.resolve(fileName((int)((first - 1) / blocksPerChunk)))))
            {
                // chunk files missing (or a block count damaged upward): never create files to checksum them
                return -1L;
            }
            final UnsafeBuffer chunk = chunkBuffer(first);
            final long inChunk = Math.min(blocksPerChunk, blocks - first + 1);
            final java.nio.ByteBuffer view = chunk.byteBuffer().duplicate();
            final int start = chunk.wrapAdjustment() + blockOffset(first);
            view.limit(start + (int)inChunk * BLOCK_LENGTH).position(start);
            crc.update(view);
        }
        // the counters are part of what the slots mean
        final java.nio.ByteBuffer counters = java.nio.ByteBuffer.allocate(2 * Long.BYTES)
            .putLong(0, streamCount()).putLong(Long.BYTES, blocks);
        crc.update(counters);
        return crc.getValue();
    }

    /**
     * Flush the index files.
     */
    public void force()
    {
        tableFile.force();
        for (final MappedFile chunk : chunks)
        {
            if (chunk != null)
            {
                chunk.force();
            }
        }
    }

    private int hash(final long streamId)
    {
        final long h = streamId * MIX;
        return (int)(h ^ (h >>> 32)) & mask;
    }

    private static void createDirectory(final Path directory)
    {
        try
        {
            Files.createDirectories(directory);
        }
        catch (final IOException ex)
        {
            throw new io.varvedb.StoreIOException("cannot create " + directory + ": " + ex.getMessage(), ex);
        }
    }
}
