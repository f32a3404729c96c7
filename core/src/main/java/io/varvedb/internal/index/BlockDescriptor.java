package io.varvedb.internal.index;

import org.agrona.concurrent.UnsafeBuffer;

/**
 * Layout of the per-stream position blocks, in chunk files {@code index/blocks-<chunk, 10 digits>.idx}.
 * <p>
 * Blocks are handed out in increasing order from the counter in {@code streams.idx}. A chunk file has its full
 * length from its creation but disk blocks only for its header; the blocks' ranges get theirs in steps that end
 * on multiples of 2 MiB in the file ({@link #ALLOCATION_STEP}, the largest page-cache folio: see
 * {@link StreamIndexDescriptor}), with zeros written through the file channel, so a full disk is an exception and
 * never a {@code SIGBUS}. The steps are taken ahead of the counter: by the pre-allocator, which keeps an eighth of
 * the blocks taken (from {@link #MIN_LEAD} to {@link #MAX_LEAD}) allocated ahead, or by a taker that gets there
 * first. No block is written before its range is allocated; the rest of a chunk file is a hole.
 * A stream's blocks form a list: block {@code k} of a stream (its ordinal) holds the log positions of versions
 * {@code k * ENTRIES + 1 .. (k + 1) * ENTRIES}. Block numbers start at 1; 0 means "none".
 * <pre>
 * Chunk file header (256 bytes):
 *  +---------------------------------------------------------------+
 *  |                 Magic "VARVEBLK" (8 bytes)                    |  0
 *  +---------------------------------------------------------------+
 *  |                        Format Version                         |  8
 *  +---------------------------------------------------------------+
 *  |                          Chunk Index                          | 12
 *  +---------------------------------------------------------------+
 *  |                       Blocks Per Chunk                        | 16
 *  +---------------------------------------------------------------+
 *  |                     reserved, zero                           ... 20
 *  +---------------------------------------------------------------+
 *
 * Block (256 bytes), block b at 256 + ((b - 1) % blocksPerChunk) * 256 of chunk (b - 1) / blocksPerChunk:
 *  +---------------------------------------------------------------+
 *  |                          Stream Id                            |   0
 *  +---------------------------------------------------------------+
 *  |                 Ordinal (k: the stream's k-th block)          |   8
 *  +---------------------------------------------------------------+
 *  |                   Previous Block (0 = none)                   |  16
 *  +---------------------------------------------------------------+
 *  |        Next Block (0 = none yet; set once, with release)      |  24
 *  +---------------------------------------------------------------+
 *  |                 Jump Block (skew-binary ancestor)             |  32
 *  +---------------------------------------------------------------+
 *  |                     reserved, zero (24 bytes)                ...  40
 *  +---------------------------------------------------------------+
 *  |  Entries: 24 x (log position + 1); 0 = not written yet       ...  64
 *  +---------------------------------------------------------------+
 * </pre>
 * Jump pointers follow Myers' skew-binary scheme ("An applicative random-access stack", 1983): from any block,
 * the block of any earlier ordinal is reached in O(log n) hops, so reading a stream from version {@code v} costs
 * O(log(stream length)) plus the events delivered, never a scan of the global log.
 */
public final class BlockDescriptor
{
    /** "VARVEBLK" as a little-endian long. */
    public static final long MAGIC = 0x4b4c424556524156L;
    /** Format version this build reads and writes. */
    public static final int FORMAT_VERSION = 1;
    /** Chunk file name prefix, under {@code index/}. */
    public static final String FILE_PREFIX = "blocks-";
    /** Chunk file name suffix. */
    public static final String FILE_SUFFIX = ".idx";

    /** Offset of the magic in a chunk header. */
    public static final int MAGIC_OFFSET = 0;
    /** Offset of the format version in a chunk header. */
    public static final int FORMAT_VERSION_OFFSET = 8;
    /** Offset of the chunk index in a chunk header. */
    public static final int CHUNK_INDEX_OFFSET = 12;
    /** Offset of blocks per chunk in a chunk header. */
    public static final int BLOCKS_PER_CHUNK_OFFSET = 16;
    /** Length of a chunk header. */
    public static final int CHUNK_HEADER_LENGTH = 256;

    /** Length of a block. */
    public static final int BLOCK_LENGTH = 256;
    /** Offset of the stream id in a block. */
    public static final int STREAM_ID_OFFSET = 0;
    /** Offset of the ordinal in a block. */
    public static final int ORDINAL_OFFSET = 8;
    /** Offset of the previous block in a block. */
    public static final int PREV_OFFSET = 16;
    /** Offset of the next block in a block. */
    public static final int NEXT_OFFSET = 24;
    /** Offset of the jump block in a block. */
    public static final int JUMP_OFFSET = 32;
    /** Offset of the first entry in a block. */
    public static final int ENTRIES_OFFSET = 64;
    /** Size of one entry. */
    public static final int ENTRY_LENGTH = 8;
    /** Entries (versions) per block. */
    public static final int ENTRIES = (BLOCK_LENGTH - ENTRIES_OFFSET) / ENTRY_LENGTH;

    /**
     * The position of a version whose event is gone from the log: scavenged, before a rebuild of the index met the
     * stream's first kept event at a later version (what a scavenger drops of a stream is a prefix of its versions).
     * Stored as every entry is, plus one, so it is no "not written yet"; no log position is this large. Readers skip
     * it as they skip an event whose segment was compacted without it.
     */
    public static final long GONE_POSITION = Long.MAX_VALUE - 1;

    /** Default blocks per chunk file: 16 MiB files. */
    public static final int DEFAULT_BLOCKS_PER_CHUNK = 65536;

    /**
     * Bytes allocated at a time (2 MiB, {@link StreamIndexDescriptor#UNIT_LENGTH}): a chunk file gets disk blocks for
     * its header when created and for its blocks in ranges that end on a multiple of this in the file (or at the
     * chunk's end), ahead of the block counter, so no page-cache folio holds both blocks in use and a hole.
     */
    public static final int ALLOCATION_STEP = StreamIndexDescriptor.UNIT_LENGTH;
    /** The fewest blocks the pre-allocator keeps allocated ahead of the block counter (1 MiB), chunk permitting. */
    public static final int MIN_LEAD = 4096;
    /** The most blocks the pre-allocator keeps allocated ahead of the block counter (4 MiB). */
    public static final int MAX_LEAD = 16384;

    private BlockDescriptor()
    {
    }

    /**
     * @param chunkIndex index of the chunk.
     * @return its file name.
     */
    public static String fileName(final int chunkIndex)
    {
        final String digits = Integer.toString(chunkIndex);
        return FILE_PREFIX + "0".repeat(Math.max(0, 10 - digits.length())) + digits + FILE_SUFFIX;
    }

    /**
     * @param blocksPerChunk blocks in the chunk.
     * @return length of a chunk file.
     */
    public static long chunkLength(final int blocksPerChunk)
    {
        return CHUNK_HEADER_LENGTH + (long)blocksPerChunk * BLOCK_LENGTH;
    }

    /**
     * @param version a stream version, from 1.
     * @return the ordinal of the block that holds it.
     */
    public static long ordinalOf(final long version)
    {
        return (version - 1) / ENTRIES;
    }

    /**
     * @param version a stream version, from 1.
     * @return the offset of its entry within its block.
     */
    public static int entryOffset(final long version)
    {
        return ENTRIES_OFFSET + (int)((version - 1) % ENTRIES) * ENTRY_LENGTH;
    }

    /**
     * Write a chunk file's header.
     *
     * @param buffer         over the file.
     * @param chunkIndex     index of the chunk.
     * @param blocksPerChunk blocks in it.
     */
    public static void writeHeader(final UnsafeBuffer buffer, final int chunkIndex, final int blocksPerChunk)
    {
        buffer.putLong(MAGIC_OFFSET, MAGIC);
        buffer.putInt(FORMAT_VERSION_OFFSET, FORMAT_VERSION);
        buffer.putInt(CHUNK_INDEX_OFFSET, chunkIndex);
        buffer.putInt(BLOCKS_PER_CHUNK_OFFSET, blocksPerChunk);
    }
}
