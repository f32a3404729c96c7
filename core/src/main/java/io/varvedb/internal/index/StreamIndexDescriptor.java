package io.varvedb.internal.index;

import org.agrona.concurrent.UnsafeBuffer;

/**
 * Layout of {@code index/streams.idx}: a fixed-size, open-addressing hash table with one slot per stream,
 * followed by nothing; the per-stream position blocks live in {@link BlockDescriptor chunk files}.
 * <p>
 * The file has the table's full length from its creation, but only its first allocation unit has disk blocks then:
 * the file is divided into units of {@link #UNIT_LENGTH} bytes at file offsets that are multiples of it (unit 0
 * holds the header and the first slots, the last unit may be shorter), each a hole until the first stream whose
 * slot lies in it is created. The creator allocates the unit (zeros written through the file channel, so a full
 * disk is an exception there and never a {@code SIGBUS} at a write into a hole) before it claims the slot, then
 * sets the unit's bit in the header. A set bit means the unit has disk blocks; nobody reads or writes a unit
 * whose bit is clear (it is free throughout, whatever it holds: its allocation zeroes it).
 * <p>
 * Why 2 MiB units, not 4 KiB pages: the page cache may hold a file in folios of up to 2 MiB (x86-64 with 4 KiB
 * pages; ext4 on the Linux 6.18 of our machines uses such large folios), and a write fault on a folio reserves disk
 * for all of it. A 4 KiB unit can share a folio with the holes around it (read ahead after its pages left the
 * cache), and a write to an allocated slot then faults with {@code SIGBUS} on a full disk: measured on a full ext4,
 * a sequential read of the file after its pages were dropped, then one write into the allocated page. The same
 * sequence over a 2 MiB unit aligned in the file writes fine: a unit aligned to the largest folio shares no folio
 * with a hole. (Platforms with larger folios, such as 64 KiB pages, would need larger units.)
 * <pre>
 * Header (4096 bytes, so the slots start page-aligned):
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +---------------------------------------------------------------+
 *  |                 Magic "VARVEIDX" (8 bytes)                    |    0
 *  |                                                               |
 *  +---------------------------------------------------------------+
 *  |                        Format Version                         |    8
 *  +---------------------------------------------------------------+
 *  |                  Capacity (most streams allowed)              |   12
 *  +---------------------------------------------------------------+
 *  |                Table Size (slots, a power of two)             |   16
 *  +---------------------------------------------------------------+
 *  |                      Blocks Per Chunk File                    |   20
 *  +---------------------------------------------------------------+
 *  |    Indexed Position: log end the index reflects (clean close) |   24
 *  |                                                               |
 *  +---------------------------------------------------------------+
 *  |  Sealed Checksum: 1 &lt;&lt; 32 | CRC32C of the slots, unit bitmap   |   32
 *  |  and allocated blocks at the last clean close; 0 while open     |
 *  +---------------------------------------------------------------+
 *  |  Allocation Unit Length (bytes: 2 MiB, see below)              |   40
 *  +---------------------------------------------------------------+
 *  |                     reserved, zero                           ...  44
 *  +---------------------------------------------------------------+
 *  |        Stream Count: streams with a slot (own cache line)     |  128
 *  |                                                               |
 *  +---------------------------------------------------------------+
 *  |          Blocks Taken: the block counter (own cache line)     |  256
 *  |                                                               |
 *  +---------------------------------------------------------------+
 *  |   Streams Reserved: the stream count plus creations in flight |  384
 *  |   (own cache line; equal to the stream count at rest)         |
 *  +---------------------------------------------------------------+
 *  |                     reserved, zero                           ... 392
 *  +---------------------------------------------------------------+
 *  |  Blocks Allocated: block ranges given disk blocks, shared by  | 512
 *  |  every writer process (own cache line; moved under a lock)    |
 *  +---------------------------------------------------------------+
 *  |                     reserved, zero                           ... 520
 *  +---------------------------------------------------------------+
 *  |  Unit Bitmap: bit u (bit u % 64 of the little-endian long at   | 2048
 *  |  2048 + (u / 64) * 8) set = allocation unit u has disk blocks ...
 *  |  (2048 bytes: up to 16,384 units; bit 0 always set)           |
 *  +---------------------------------------------------------------+
 *
 * Allocation unit u covers the bytes [u * 2 MiB, (u + 1) * 2 MiB) of the file, cut at its end: 65,536 slots of a
 * whole unit. Unit 0 (the header and the first 65,408 slots) is allocated when the file is created; a table of
 * the default capacity (64 MiB of slots) has 33 units.
 *
 * Slot (32 bytes), at 4096 + slot * 32:
 *  +---------------------------------------------------------------+
 *  |           Stream Id (0 = free; claimed by one CAS)            |  0
 *  |                                                               |
 *  +---------------------------------------------------------------+
 *  |   State (changed by CAS): committed version &lt;&lt; 1, or          |  8
 *  |   version &lt;&lt; 17 | holder lane &lt;&lt; 1 | PENDING while held      |
 *  +---------------------------------------------------------------+
 *  |              First Block (block number, 0 = none)             | 16
 *  |                                                               |
 *  +---------------------------------------------------------------+
 *  |              Last Block (block number, 0 = none)              | 24
 *  |                                                               |
 *  +---------------------------------------------------------------+
 * </pre>
 * The sealed checksum lets an open after a clean close find any damage the index files took at rest (a bit
 * flipped on disk, pages lost or restored from an older copy) before trusting them: it covers every slot and every
 * allocated block, and is cleared before a writer changes anything.
 * <p>
 * State {@code version << 1} is a stream at {@code version} with no append in flight; with bit 62
 * ({@link #TOMBSTONED}) also set, a stream deleted for good, whose last record (at {@code version}) is its tombstone.
 * {@code version << 17 | holder << 1 | PENDING} means one appender won the CAS from {@code version} and is writing
 * event {@code version + 1}; the stream's committed version is still {@code version}. The holder is the appender's
 * lane in {@code varve.procs} plus one (multi-process mode), or 0 (the single writer process): a survivor that finds
 * a stream pending for long asks whether the lane's process is alive, and finishes or undoes a dead one's append
 * (see {@code Repairer}). The holder is part of the value each CAS compares, so no two appenders, in any process,
 * ever hold the same state. Versions stay below {@link #MAX_VERSION} so the shifted version fits. The winner's release store of
 * {@code (version + 1) << 1} commits it. Only the winner writes a pending slot, so appenders to one stream write
 * their records one after another and each stream's events lie in the log in version order.
 */
public final class StreamIndexDescriptor
{
    /** "VARVEIDX" as a little-endian long. */
    public static final long MAGIC = 0x5844494556524156L;
    /**
     * Format version this build reads and writes. Version 3 names the holder lane in a pending state; version 2
     * (unit bitmap, a file with holes) replaced 1 (a table zero-filled whole at creation). An index of an older
     * version is rebuilt from the log by a writer's open.
     */
    public static final int FORMAT_VERSION = 3;
    /** File name, under {@code index/}. */
    public static final String FILE_NAME = "streams.idx";

    /** Offset of the magic. */
    public static final int MAGIC_OFFSET = 0;
    /** Offset of the format version. */
    public static final int FORMAT_VERSION_OFFSET = 8;
    /** Offset of the capacity. */
    public static final int CAPACITY_OFFSET = 12;
    /** Offset of the table size. */
    public static final int TABLE_SIZE_OFFSET = 16;
    /** Offset of the blocks per chunk. */
    public static final int BLOCKS_PER_CHUNK_OFFSET = 20;
    /** Offset of the indexed position. */
    public static final int INDEXED_POSITION_OFFSET = 24;
    /** Offset of the sealed checksum. */
    public static final int SEALED_CHECKSUM_OFFSET = 32;
    /** Offset of the allocation unit length. */
    public static final int UNIT_LENGTH_OFFSET = 40;
    /** Offset of the bitmap of allocated units. */
    public static final int UNIT_BITMAP_OFFSET = 2048;
    /** Length of the bitmap of allocated units. */
    public static final int UNIT_BITMAP_LENGTH = 2048;
    /** Most allocation units a table has: one bit each in the bitmap. */
    public static final int MAX_UNITS = UNIT_BITMAP_LENGTH * Byte.SIZE;
    /**
     * Length of an allocation unit, and the alignment of every range of the index files allocated at once: the
     * largest page-cache folio of x86-64 with 4 KiB pages, so that no folio holds both allocated bytes and a hole.
     */
    public static final int UNIT_LENGTH = 2 << 20;
    /** Marks a sealed checksum as present: a CRC32C may itself be 0. */
    public static final long SEALED = 1L << 32;
    /** Offset of the stream count. */
    public static final int STREAM_COUNT_OFFSET = 128;
    /**
     * Offset of the reservation count: a creator of a new stream moves it by CAS, never past the capacity, before
     * it claims a slot, and gives it back if the stream turns out to exist already.
     */
    public static final int STREAMS_RESERVED_OFFSET = 384;
    /** Offset of the count of taken blocks. */
    public static final int BLOCK_COUNT_OFFSET = 256;
    /**
     * Offset of the count of blocks whose ranges have disk blocks: moved only under the index's block lock (a record
     * lock across processes in multi-process mode); set from the taken count by the writer that recovers at open.
     */
    public static final int ALLOCATED_BLOCKS_OFFSET = 512;
    /** Length of the header. */
    public static final int HEADER_LENGTH = 4096;

    /** Length of one slot. */
    public static final int SLOT_LENGTH = 32;
    /** Offset of the stream id within a slot. */
    public static final int SLOT_STREAM_ID_OFFSET = 0;
    /** Offset of the state within a slot. */
    public static final int SLOT_STATE_OFFSET = 8;
    /** Offset of the first block within a slot. */
    public static final int SLOT_FIRST_BLOCK_OFFSET = 16;
    /** Offset of the last block within a slot. */
    public static final int SLOT_LAST_BLOCK_OFFSET = 24;

    /** Low bit of the state: an append is in flight. */
    public static final long PENDING = 1L;
    /** Bits of a pending state that name its holder. */
    public static final int HOLDER_BITS = 16;
    /** Shift of the version in a pending state. */
    public static final int PENDING_VERSION_SHIFT = HOLDER_BITS + 1;
    /** Largest holder a pending state can name. */
    public static final int MAX_HOLDER = (1 << HOLDER_BITS) - 1;
    /** Stream versions stay below this (about 7 * 10^13), so a pending state can hold one. */
    public static final long MAX_VERSION = 1L << (Long.SIZE - PENDING_VERSION_SHIFT - 1);

    /**
     * Bit of a committed state (one without {@link #PENDING}) that marks the stream tombstoned: deleted for good by
     * {@code VarveDB.tombstoneStream}. The version bits still hold its last version, that of the tombstone record.
     * A committed version never reaches this bit (versions stay below {@link #MAX_VERSION}), and no appender ever
     * compares-and-sets from such a state: it refuses the stream instead, so the tombstone is final.
     */
    public static final long TOMBSTONED = 1L << 62;

    /** The table has at least this many slots per allowed stream, so probes stay short. */
    public static final int SLOTS_PER_STREAM = 2;

    /**
     * Most streams one index holds: its table of {@code SLOTS_PER_STREAM} slots per stream, rounded up to a power
     * of two, must fit one mapping indexed by {@code int} ({@code 2^24 * 2 * 32} bytes is 1 GiB).
     */
    public static final int MAX_CAPACITY = 1 << 24;

    private StreamIndexDescriptor()
    {
    }

    /**
     * @param version committed version.
     * @return state of a stream at that version with nothing in flight.
     */
    public static long committedState(final long version)
    {
        return version << 1;
    }

    /**
     * @param committedVersion the stream's version before the append that holds it.
     * @return state while version {@code committedVersion + 1} is being written.
     */
    public static long pendingState(final long committedVersion)
    {
        return pendingState(committedVersion, 0);
    }

    /**
     * @param committedVersion the stream's version before the append that holds it.
     * @param holder           the holder's lane plus one, or 0 for the single writer process.
     * @return state while version {@code committedVersion + 1} is being written by that holder.
     */
    public static long pendingState(final long committedVersion, final int holder)
    {
        return (committedVersion << PENDING_VERSION_SHIFT) | ((long)holder << 1) | PENDING;
    }

    /**
     * @param state a pending slot state.
     * @return its holder: a lane plus one, or 0 for the single writer process.
     */
    public static int holder(final long state)
    {
        return (int)((state >>> 1) & MAX_HOLDER);
    }

    /**
     * @param state a slot state.
     * @return true if an append is in flight.
     */
    public static boolean isPending(final long state)
    {
        return (state & PENDING) != 0;
    }

    /**
     * @param state a slot state.
     * @return the committed version it stands for.
     */
    public static long committedVersion(final long state)
    {
        return (state & PENDING) != 0 ? state >>> PENDING_VERSION_SHIFT : (state & ~TOMBSTONED) >>> 1;
    }

    /**
     * @param version the tombstone record's version.
     * @return the state of a stream tombstoned at that version.
     */
    public static long tombstonedState(final long version)
    {
        return committedState(version) | TOMBSTONED;
    }

    /**
     * @param state a slot state.
     * @return true if the stream is tombstoned (deleted for good).
     */
    public static boolean isTombstoned(final long state)
    {
        return (state & (TOMBSTONED | PENDING)) == TOMBSTONED;
    }

    /**
     * @param capacity most streams.
     * @return number of slots in the table.
     */
    public static int tableSize(final int capacity)
    {
        final long wanted = (long)capacity * SLOTS_PER_STREAM;
        final long size = Long.highestOneBit(Math.max(2, wanted - 1)) << 1;
        if (size * SLOT_LENGTH + HEADER_LENGTH > Integer.MAX_VALUE)
        {
            throw new IllegalArgumentException("index capacity too large: " + capacity);
        }
        return (int)size;
    }

    /**
     * @param tableSize slots.
     * @return file length.
     */
    public static long fileLength(final int tableSize)
    {
        return HEADER_LENGTH + (long)tableSize * SLOT_LENGTH;
    }

    /**
     * @param tableSize slots, a power of two.
     * @return the length of an allocation unit for that table ({@link #UNIT_LENGTH}; at most 513 units, the
     * largest table being 1 GiB).
     */
    public static int unitLength(final int tableSize)
    {
        return UNIT_LENGTH;
    }

    /**
     * @param tableSize slots, a power of two.
     * @return the number of allocation units of that table's file, the last one perhaps shorter.
     */
    public static int unitCount(final int tableSize)
    {
        return (int)((fileLength(tableSize) + UNIT_LENGTH - 1) / UNIT_LENGTH);
    }

    /**
     * @param tableSize slots, a power of two.
     * @return bytes of the file allocated at its creation: its first unit.
     */
    public static long firstUnitLength(final int tableSize)
    {
        return Math.min(UNIT_LENGTH, fileLength(tableSize));
    }

    /**
     * Write the header of a new index.
     *
     * @param buffer         over the file.
     * @param capacity       most streams.
     * @param tableSize      slots.
     * @param blocksPerChunk blocks in each chunk file.
     */
    public static void writeHeader(
        final UnsafeBuffer buffer, final int capacity, final int tableSize, final int blocksPerChunk)
    {
        buffer.putLong(MAGIC_OFFSET, MAGIC);
        buffer.putInt(FORMAT_VERSION_OFFSET, FORMAT_VERSION);
        buffer.putInt(CAPACITY_OFFSET, capacity);
        buffer.putInt(TABLE_SIZE_OFFSET, tableSize);
        buffer.putInt(BLOCKS_PER_CHUNK_OFFSET, blocksPerChunk);
        buffer.putLong(INDEXED_POSITION_OFFSET, -1);
        buffer.putInt(UNIT_LENGTH_OFFSET, unitLength(tableSize));
        // unit 0, which holds the header, is allocated with the file
        buffer.putLong(UNIT_BITMAP_OFFSET, 1L);
    }
}
