package io.varvedb.internal.store;

import org.agrona.concurrent.UnsafeBuffer;

/**
 * Layout of {@code varve.meta}, the store's identity and its shared counters. One page, little-endian.
 * <pre>
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +---------------------------------------------------------------+
 *  |                  Magic "VARVEMET" (8 bytes)                   |   0
 *  |                                                               |
 *  +---------------------------------------------------------------+
 *  |                        Format Version                         |   8
 *  +---------------------------------------------------------------+
 *  |                   Segment Data Length (bytes)                 |  12
 *  +---------------------------------------------------------------+
 *  |                       Index Capacity (streams)                |  16
 *  +---------------------------------------------------------------+
 *  |          Open State (1 = closed cleanly, 0 = open or crashed) |  20
 *  +---------------------------------------------------------------+
 *  |                Created (epoch milliseconds)                   |  24
 *  |                                                               |
 *  +---------------------------------------------------------------+
 *  |                     reserved, zero                           ...  32
 *  +---------------------------------------------------------------+
 *  |   Tail Position: end of all claimed log space (own cache line) | 128
 *  |                                                               |
 *  +---------------------------------------------------------------+
 *  |                     reserved, zero                           ... 136
 *  +---------------------------------------------------------------+
 *  |  Durable Position: the log below it is forced to disk (line)  | 256
 *  |                                                               |
 *  +---------------------------------------------------------------+
 *  |  Index Checkpoint: the index was forced covering the log below | 264
 *  |  this position; recovery scans the log from here              |
 *  +---------------------------------------------------------------+
 *  |    Boot Id: hash of the kernel's boot id when last opened      | 272
 *  |                                                               |
 *  +---------------------------------------------------------------+
 *  |  reserved, written 0 (format 1 builds before 2026-11-26 set 1  | 280
 *  |  when the index image of the checkpoint was forced)            |
 *  +---------------------------------------------------------------+
 *  |  Writer Durability: the last writer's mode, ordinal + 1 (0 for | 284
 *  |  none recorded), so read-only processes know it too            |
 *  +---------------------------------------------------------------+
 *  |                     reserved, zero                           ... 288
 *  +---------------------------------------------------------------+
 *  |  Allocated End: the log below it has disk blocks and may be   | 384
 *  |  written; shared by every writer process (own cache line)     |
 *  +---------------------------------------------------------------+
 *  |                     reserved, zero                           ... 392
 *  +---------------------------------------------------------------+
 *  |  Replaced Generation: count of log segment files rewritten    | 512
 *  |  (compacted) in place, by any process (own cache line)        |
 *  +---------------------------------------------------------------+
 *  |                     reserved, zero                           ... 520
 *  +---------------------------------------------------------------+
 *  |  Log Start: positions below it were dropped by retention (0:  | 768
 *  |  none); only grows (release), forced before any is dropped     |
 *  +---------------------------------------------------------------+
 *  |   Names Made: 1 once index/names.idx exists (int)              | 776
 *  +---------------------------------------------------------------+
 *  |   Encrypted: 1 for a store created encrypted (int)            | 780
 *  +---------------------------------------------------------------+
 *  |   Key File Id: the store id of its varve.keys (16 bytes)     ... 784
 *  +---------------------------------------------------------------+
 *  |                     reserved, zero                           ... 800
 *  +---------------------------------------------------------------+
 * </pre>
 * Names Made tells a process that has no name table open, in one load, that another process made one (and may
 * have set stream metadata, which lives in named streams).
 * The log start moves before the segments below it are rewritten without their events, so a reader that starts
 * after it moved is told ({@code LogTruncatedException}) rather than served less than it asked for; it is a segment
 * boundary. A store made before it existed has zeros there: nothing dropped.
 * The index checkpoint is trusted by recovery only within the same boot of the machine: a killed process leaves
 * the page cache intact, a power cut or kernel crash does not, and the index's pages may then reach the disk from
 * different moments; after a reboot the index is rebuilt from the log.
 * The durable position and the index checkpoint are written only after what they vouch for has been forced,
 * and are not forced themselves at once: a copy on disk that lags only makes recovery scan a little more.
 * The tail is the counter appenders claim log space from with an atomic add. It sits alone on its cache line
 * (and away from the adjacent line prefetchers pair it with) so claims do not slow readers of the header.
 */
public final class MetaDescriptor
{
    /** "VARVEMET" as a little-endian long. */
    public static final long MAGIC = 0x54454d4556524156L;
    /** Format version this build reads and writes. */
    public static final int FORMAT_VERSION = 1;
    /** File name in the store directory. */
    public static final String FILE_NAME = "varve.meta";

    /** Offset of the magic. */
    public static final int MAGIC_OFFSET = 0;
    /** Offset of the format version. */
    public static final int FORMAT_VERSION_OFFSET = 8;
    /** Offset of the segment data length. */
    public static final int SEGMENT_LENGTH_OFFSET = 12;
    /** Offset of the index capacity. */
    public static final int INDEX_CAPACITY_OFFSET = 16;
    /** Offset of the open state. */
    public static final int CLEAN_SHUTDOWN_OFFSET = 20;
    /** Offset of the creation time. */
    public static final int CREATED_OFFSET = 24;
    /** Offset of the tail position. */
    public static final int TAIL_POSITION_OFFSET = 128;
    /** Offset of the durable position. */
    public static final int DURABLE_POSITION_OFFSET = 256;
    /** Offset of the index checkpoint. */
    public static final int INDEX_CHECKPOINT_OFFSET = 264;
    /** Offset of the boot id. */
    public static final int BOOT_ID_OFFSET = 272;
    /** Offset of a reserved word, written 0 (once a checkpoint-forced flag; no longer read). */
    public static final int CHECKPOINT_FORCED_OFFSET = 280;
    /** Offset of the writer's durability mode: {@code Durability.ordinal() + 1}, or 0 when none is recorded. */
    public static final int WRITER_DURABILITY_OFFSET = 284;
    /**
     * Offset of the allocated end of the log. Set by the writer that recovers at open; moved (release) only under the
     * log's allocation lock, which is a record lock across processes in multi-process mode.
     */
    public static final int ALLOCATED_END_OFFSET = 384;
    /**
     * Offset of the replaced generation: incremented (atomic add) by a writer after it renamed a compacted segment
     * over the old file. Every process compares it (one volatile load) with the count its mappings are up to date
     * with as a read begins, and maps the replaced files anew when it moved, so that the old files' disk blocks are
     * freed once their mappings are released. 0 in a store no one compacted; a store from before it has 0 here.
     */
    public static final int REPLACED_GENERATION_OFFSET = 512;
    /** Offset of the log start (retention). */
    public static final int LOG_START_OFFSET = 768;
    /** Offset of the names-made flag. */
    public static final int NAMES_MADE_OFFSET = 776;
    /**
     * Offset of the encrypted flag: 1 in a store created with a master key, written before its first event and
     * never changed. A store whose key file went missing is still known to be encrypted.
     */
    public static final int ENCRYPTED_OFFSET = 780;
    /**
     * Offset of the store id of the store's key file (16 bytes, written with the encrypted flag): a key file of
     * another store, even one under the same master key, is refused.
     */
    public static final int KEY_FILE_ID_OFFSET = 784;
    /** Length of the file. */
    public static final int LENGTH = 4096;

    /** Value of the open state after a clean close. */
    public static final int CLEAN = 1;
    /** Value of the open state while open for writing, and so after a crash. */
    public static final int DIRTY = 0;

    private MetaDescriptor()
    {
    }

    /**
     * Write the header of a new store.
     *
     * @param buffer        over the file.
     * @param segmentLength segment data length.
     * @param indexCapacity maximum number of streams.
     * @param createdMillis creation time.
     */
    public static void writeHeader(
        final UnsafeBuffer buffer, final int segmentLength, final int indexCapacity, final long createdMillis)
    {
        buffer.putLong(MAGIC_OFFSET, MAGIC);
        buffer.putInt(FORMAT_VERSION_OFFSET, FORMAT_VERSION);
        buffer.putInt(SEGMENT_LENGTH_OFFSET, segmentLength);
        buffer.putInt(INDEX_CAPACITY_OFFSET, indexCapacity);
        buffer.putInt(CLEAN_SHUTDOWN_OFFSET, CLEAN);
        buffer.putLong(CREATED_OFFSET, createdMillis);
        buffer.putLong(TAIL_POSITION_OFFSET, 0);
    }
}
