package io.varvedb.internal.index;

import org.agrona.concurrent.UnsafeBuffer;

/**
 * Layout of {@code index/names.idx}, the table of named streams: a header, an array of name entries indexed by the
 * order in which names were created, and an open-addressed hash table from a name to its entry. The n-th name
 * created ({@code n} from 0) owns stream id {@code -(n + 1)}: numeric stream ids are positive, so the two never
 * meet. All integers are little-endian.
 * <pre>
 * Header (128 bytes):
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +---------------------------------------------------------------+
 *  |                 Magic "VARVENAM" (8 bytes)                    |    0
 *  |                                                               |
 *  +---------------------------------------------------------------+
 *  |                        Format Version                         |    8
 *  +---------------------------------------------------------------+
 *  |             Capacity (most names, entries in the file)        |   12
 *  +---------------------------------------------------------------+
 *  |            Table Size (hash slots, a power of two)            |   16
 *  +---------------------------------------------------------------+
 *  |       Clean: 1 once forced at a clean close, 0 while open     |   20
 *  +---------------------------------------------------------------+
 *  |                     reserved, zero                            |   24
 *  +---------------------------------------------------------------+
 *  |  Sealed Checksum: 1 &lt;&lt; 32 | CRC32C of the capacity, table size, |   32
 *  |  counter, every entry and every hash slot at the last clean    |
 *  |  close; 0 while open                                           |
 *  +---------------------------------------------------------------+
 *  |                     reserved, zero                           ...  40
 *  +---------------------------------------------------------------+
 *  |  Counter: names allocated, entries [0, counter) were handed   |   64
 *  |  out (moved by CAS; own cache line)                           |
 *  +---------------------------------------------------------------+
 *  |                     reserved, zero                           ...  72
 *  +---------------------------------------------------------------+
 *
 * Entry n (128 bytes), at 128 + n * 128:
 *  +---------------------------------------------------------------+
 *  |  State: 0 empty, 1 written, 2 logged, 3 abandoned (release)   |  0
 *  +---------------------------------------------------------------+
 *  |                   Name Length (UTF-8 bytes)                   |  4
 *  +---------------------------------------------------------------+
 *  |  Checksum: CRC32C of n (8 bytes), the length and the name     |  8
 *  +---------------------------------------------------------------+
 *  |                     reserved, zero                            | 12
 *  +---------------------------------------------------------------+
 *  |                 Name (UTF-8, up to 112 bytes)                ... 16
 *  +---------------------------------------------------------------+
 *
 * Hash slot (8 bytes), at 128 + capacity * 128 + slot * 8:
 *  +-------------------------------+-------------------------------+
 *  |   n + 1 (0 = free; one CAS)   |  Tag: the name's 32-bit hash  |  0
 *  +-------------------------------+-------------------------------+
 * </pre>
 * An entry is written whole, then published by a release store of its state ({@link #WRITTEN}); its slot is CASed
 * from 0 only after that, so a slot never points to an unpublished entry. The entry becomes {@link #LOGGED} once the
 * log holds the name's record (a release store after that record's publication): only a logged name's id is handed
 * out or accepted by appends, so the log never holds an event of a named stream before the record naming it, and
 * recovery, which keeps a prefix of the log, never keeps an event whose name it lost. An entry allocated by a
 * creator that lost the race for its name is {@link #ABANDONED}: its id was never handed out, so the process that
 * abandoned it (or the next writer's open, which collects every abandoned entry) gives it to the next new name,
 * and racing creators do not use up the capacity.
 * <p>
 * After a clean close the table is trusted only if it matches the checksum sealed at that close: a flipped bit in a
 * hash slot, the counter or an entry's state would otherwise give a name a second id or hand an id out twice.
 * <p>
 * The table is derived from the log: a writer's first open after a crash checks every entry's checksum, puts the
 * name records recovery sees back into their entries, and rebuilds the hash slots from the entries.
 */
public final class NameTableDescriptor
{
    /** The file's name, in the {@code index/} directory. */
    public static final String FILE_NAME = "names.idx";
    /** "VARVENAM" read as a little-endian long. */
    public static final long MAGIC = 0x4d414e4556524156L;
    /** The only format this build reads and writes. */
    public static final int FORMAT_VERSION = 1;

    /** Offset of the magic. */
    public static final int MAGIC_OFFSET = 0;
    /** Offset of the format version. */
    public static final int FORMAT_VERSION_OFFSET = 8;
    /** Offset of the capacity. */
    public static final int CAPACITY_OFFSET = 12;
    /** Offset of the hash table's size in slots. */
    public static final int TABLE_SIZE_OFFSET = 16;
    /** Offset of the clean mark. */
    public static final int CLEAN_OFFSET = 20;
    /** Offset of the counter of names allocated, alone on its cache line: every creation CASes it. */
    public static final int COUNTER_OFFSET = 64;
    /** Offset of the sealed checksum. */
    public static final int SEALED_CHECKSUM_OFFSET = 32;
    /** Length of the header; entry 0 starts here. */
    public static final int HEADER_LENGTH = 128;

    /** The clean mark's value after a clean close. */
    public static final int CLEAN = 1;
    /** The clean mark's value while a writer has the table open. */
    public static final int DIRTY = 0;

    /** Length of one entry. */
    public static final int ENTRY_LENGTH = 128;
    /** Offset of an entry's state. */
    public static final int ENTRY_STATE_OFFSET = 0;
    /** Offset of an entry's name length. */
    public static final int ENTRY_LENGTH_OFFSET = 4;
    /** Offset of an entry's checksum. */
    public static final int ENTRY_CHECKSUM_OFFSET = 8;
    /** Offset of an entry's name. */
    public static final int ENTRY_NAME_OFFSET = 16;
    /** The longest name, in UTF-8 bytes: what an entry holds after its fixed fields. */
    public static final int MAX_NAME_LENGTH = ENTRY_LENGTH - ENTRY_NAME_OFFSET;

    /** Entry state: never written (or cleared as damaged). */
    public static final int EMPTY = 0;
    /** Entry state: written and published; its name's record may not be in the log yet. */
    public static final int WRITTEN = 1;
    /** Entry state: the log holds the name's record; the id is handed out. */
    public static final int LOGGED = 2;
    /** Entry state: its creator lost the race for the name; the entry is never used. */
    public static final int ABANDONED = 3;

    /** Length of a hash slot. */
    public static final int SLOT_LENGTH = Long.BYTES;
    /** The most names a table may hold: its file stays below 2 GiB. */
    public static final int MAX_CAPACITY = 1 << 23;

    private NameTableDescriptor()
    {
    }

    /**
     * @param capacity most names.
     * @return slots of the hash table: a power of two, at least twice the capacity, so probes stay short.
     */
    public static int tableSize(final int capacity)
    {
        return Integer.highestOneBit(Math.max(1, capacity) * 2 - 1) << 1;
    }

    /**
     * @param capacity most names.
     * @return the file's length.
     */
    public static long fileLength(final int capacity)
    {
        return slotsOffset(capacity) + (long)tableSize(capacity) * SLOT_LENGTH;
    }

    /**
     * @param n an entry's index.
     * @return its offset in the file.
     */
    public static int entryOffset(final int n)
    {
        return HEADER_LENGTH + n * ENTRY_LENGTH;
    }

    /**
     * @param capacity most names.
     * @return the offset of hash slot 0.
     */
    public static int slotsOffset(final int capacity)
    {
        return HEADER_LENGTH + capacity * ENTRY_LENGTH;
    }

    /**
     * @param streamId a named stream's id (negative).
     * @return its entry's index.
     */
    public static long entryOf(final long streamId)
    {
        return -streamId - 1;
    }

    /**
     * @param n an entry's index.
     * @return the stream id the entry's name owns.
     */
    public static long streamIdOf(final int n)
    {
        return -((long)n + 1);
    }

    /**
     * @param tag a name's hash.
     * @param n   its entry.
     * @return the slot's value.
     */
    public static long slot(final int tag, final int n)
    {
        return ((long)tag << 32) | ((long)n + 1);
    }

    /**
     * @param slot a slot's value, not 0.
     * @return the entry it points to.
     */
    public static int slotEntry(final long slot)
    {
        return (int)slot - 1;
    }

    /**
     * @param slot a slot's value.
     * @return its tag.
     */
    public static int slotTag(final long slot)
    {
        return (int)(slot >>> 32);
    }

    /**
     * Write a new file's header; everything else is zero (no names).
     *
     * @param buffer   over the new file.
     * @param capacity most names.
     */
    public static void writeHeader(final UnsafeBuffer buffer, final int capacity)
    {
        buffer.putLong(MAGIC_OFFSET, MAGIC);
        buffer.putInt(FORMAT_VERSION_OFFSET, FORMAT_VERSION);
        buffer.putInt(CAPACITY_OFFSET, capacity);
        buffer.putInt(TABLE_SIZE_OFFSET, tableSize(capacity));
        buffer.putInt(CLEAN_OFFSET, DIRTY);
    }
}
