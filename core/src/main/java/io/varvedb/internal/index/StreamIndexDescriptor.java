package io.varvedb.internal.index;

import org.agrona.concurrent.UnsafeBuffer;

/**
 * Layout of {@code index/streams.idx}: a fixed-size, open-addressing hash table with one slot per stream,
 * followed by nothing; the per-stream position blocks live in {@link BlockDescriptor chunk files}.
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
 *  |  Sealed Checksum: 1 &lt;&lt; 32 | CRC32C of the slots and allocated  |   32
 *  |  blocks at the last clean close; 0 while open or never sealed   |
 *  +---------------------------------------------------------------+
 *  |        Stream Count: streams with a slot (own cache line)     |  128
 *  |                                                               |
 *  +---------------------------------------------------------------+
 *  |              Blocks Allocated (own cache line)                |  256
 *  |                                                               |
 *  +---------------------------------------------------------------+
 *  |   Streams Reserved: the stream count plus creations in flight |  384
 *  |   (own cache line; equal to the stream count at rest)         |
 *  +---------------------------------------------------------------+
 *
 * Slot (32 bytes), at 4096 + slot * 32:
 *  +---------------------------------------------------------------+
 *  |           Stream Id (0 = free; claimed by one CAS)            |  0
 *  |                                                               |
 *  +---------------------------------------------------------------+
 *  |   State: committed version &lt;&lt; 1 | PENDING (changed by CAS)     |  8
 *  |                                                               |
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
 * State {@code version << 1} is a stream at {@code version} with no append in flight.
 * {@code version << 1 | PENDING} means one appender won the CAS from {@code version} and is writing event
 * {@code version + 1}; the stream's committed version is still {@code version}. The winner's release store of
 * {@code (version + 1) << 1} commits it. Only the winner writes a pending slot, so appenders to one stream write
 * their records one after another and each stream's events lie in the log in version order.
 */
public final class StreamIndexDescriptor
{
    /** "VARVEIDX" as a little-endian long. */
    public static final long MAGIC = 0x5844494556524156L;
    /** Format version this build reads and writes. */
    public static final int FORMAT_VERSION = 1;
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
    /** Marks a sealed checksum as present: a CRC32C may itself be 0. */
    public static final long SEALED = 1L << 32;
    /** Offset of the stream count. */
    public static final int STREAM_COUNT_OFFSET = 128;
    /**
     * Offset of the reservation count: a creator of a new stream moves it by CAS, never past the capacity, before
     * it claims a slot, and gives it back if the stream turns out to exist already.
     */
    public static final int STREAMS_RESERVED_OFFSET = 384;
    /** Offset of the count of allocated blocks. */
    public static final int BLOCK_COUNT_OFFSET = 256;
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
        return (committedVersion << 1) | PENDING;
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
        return state >>> 1;
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
    }
}
