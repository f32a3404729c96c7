package io.varvedb.internal.index;

/**
 * Layout of {@code index/event-ids.idx}: a fixed-size, open-addressing (linear probing) hash table from a 128-bit
 * event id to the log position of the event that carries it, for exactly-once appends. Like the stream index it is
 * derived from the log (every event appended with an id carries the id in its record) and rebuilt from it when it
 * cannot be trusted.
 * <p>
 * The file is created with its full length but only its header has disk blocks; the slots get theirs, all at once,
 * when the first id is appended ({@link #ALLOCATED_OFFSET}), so a store that never uses ids costs one page, and a
 * full disk is an exception at that first id, never a {@code SIGBUS} at a write into a hole.
 * <pre>
 * Header (4096 bytes, so the slots start page-aligned):
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +---------------------------------------------------------------+
 *  |                 Magic "VARVEEID" (8 bytes)                    |    0
 *  |                                                               |
 *  +---------------------------------------------------------------+
 *  |                        Format Version                         |    8
 *  +---------------------------------------------------------------+
 *  |                 Capacity (most ids the table takes)           |   12
 *  +---------------------------------------------------------------+
 *  |                Table Size (slots, a power of two)             |   16
 *  +---------------------------------------------------------------+
 *  |      Allocated: 1 once the slots have disk blocks, else 0     |   20
 *  +---------------------------------------------------------------+
 *  |  Covered Position: the log end the table reflects after a     |   24
 *  |  clean close; -1 while a writer has it open                   |
 *  +---------------------------------------------------------------+
 *  |  Sealed Checksum: 1 &lt;&lt; 32 | CRC32C of capacity, table size,     |   32
 *  |  allocated, used and (if allocated) every slot, at the last    |
 *  |  clean close; 0 while open                                     |
 *  +---------------------------------------------------------------+
 *  |                     reserved, zero                           ...  40
 *  +---------------------------------------------------------------+
 *  |  Used: ids held (committed or pending) plus capacity reserved |  128
 *  |  by appends about to insert (own cache line)                  |
 *  +---------------------------------------------------------------+
 *  |                     reserved, zero                           ... 136
 *  +---------------------------------------------------------------+
 *  |  Dead: slots of appends that wrote nothing (own cache line)   |  192
 *  |                                                               |
 *  +---------------------------------------------------------------+
 *  |                     reserved, zero                           ... 200
 *  +---------------------------------------------------------------+
 *
 * Slot (32 bytes), at 4096 + slot * 32:
 *  +---------------------------------------------------------------+
 *  | Status (claimed by one CAS from 0; see below)                 |  0
 *  |                                                               |
 *  +---------------------------------------------------------------+
 *  |                  Event Id, high 64 bits                       |  8
 *  |                                                               |
 *  +---------------------------------------------------------------+
 *  |                  Event Id, low 64 bits                        | 16
 *  |                                                               |
 *  +---------------------------------------------------------------+
 *  |        Position of the event's record in the log              | 24
 *  |                                                               |
 *  +---------------------------------------------------------------+
 *
 * Status (64 bits):
 *  +---+-------------+-----------------+-------------------------------+
 *  |St | zero (14)   |  Holder (16)    |          Tag (32)             |
 *  +---+-------------+-----------------+-------------------------------+
 *   63-62             47-32              31-0
 * </pre>
 * <ul>
 *   <li>{@code 0}: free. A probe for an id stops here: the id is not in the table.</li>
 *   <li>{@link #PENDING}: an appender won the slot and is appending the event; the id, written after the CAS, may
 *   not be readable yet. A probe for an id with the same tag waits for the outcome; the holder (the appender's lane
 *   plus one in multi-process mode, else 0) lets a survivor resolve the slot of a dead process.</li>
 *   <li>{@link #COMMITTED}: the event is in the log at the position the slot holds. Set by a release store after
 *   the record was published, so whoever acquires it reads the id and the position whole.</li>
 *   <li>{@link #DEAD}: the append that took the slot wrote nothing (an id of its batch found in the store late, a
 *   race for a new stream lost, a full index). Probes pass it, and it is never taken again while the table is open
 *   (two appends of one id that each took a different dead slot could both write it): it stops counting against the
 *   capacity at once, and the slot itself is freed when the table is next rebuilt. Appends take their id only
 *   after everything that is likely to fail (the codec, the payload's copy), so dead slots are rare.</li>
 * </ul>
 * The sealed checksum lets an open after a clean close find damage the table took at rest (a flipped bit in a slot
 * would make a retry look new, and write its event twice) before trusting it; a damaged table is rebuilt from the log.
 * <p>
 * The tag is the upper half of the id's 64-bit hash (the lower half picks the first slot), so a probe passes a slot
 * of another id without reading its key, and waits only for a pending slot that is likely its own id.
 */
public final class EventIdTableDescriptor
{
    /** "VARVEEID" as a little-endian long. */
    public static final long MAGIC = 0x4449454556524156L;
    /** Format version this build reads and writes. */
    public static final int FORMAT_VERSION = 1;
    /** File name, under {@code index/}. */
    public static final String FILE_NAME = "event-ids.idx";

    /** Offset of the magic. */
    public static final int MAGIC_OFFSET = 0;
    /** Offset of the format version. */
    public static final int FORMAT_VERSION_OFFSET = 8;
    /** Offset of the capacity. */
    public static final int CAPACITY_OFFSET = 12;
    /** Offset of the table size. */
    public static final int TABLE_SIZE_OFFSET = 16;
    /** Offset of the allocated flag. */
    public static final int ALLOCATED_OFFSET = 20;
    /** Offset of the covered position. */
    public static final int COVERED_POSITION_OFFSET = 24;
    /** Offset of the sealed checksum. */
    public static final int SEALED_CHECKSUM_OFFSET = 32;
    /** Offset of the count of ids held, plus capacity reserved. */
    public static final int USED_OFFSET = 128;
    /** Offset of the count of dead slots. */
    public static final int DEAD_OFFSET = 192;
    /** Length of the header; the slots start here. */
    public static final int HEADER_LENGTH = 4096;

    /** Length of a slot. */
    public static final int SLOT_LENGTH = 32;
    /** Offset of a slot's status. */
    public static final int STATUS_OFFSET = 0;
    /** Offset of a slot's id, high half. */
    public static final int ID_HIGH_OFFSET = 8;
    /** Offset of a slot's id, low half. */
    public static final int ID_LOW_OFFSET = 16;
    /** Offset of a slot's event position. */
    public static final int POSITION_OFFSET = 24;

    /** Covered position while a writer has the table open. */
    public static final long OPEN = -1;
    /** Status state: an append holds the slot. */
    public static final long PENDING = 1L << 62;
    /** Status state: the event is in the log. */
    public static final long COMMITTED = 2L << 62;
    /** Status state: the slot holds nothing, for good. */
    public static final long DEAD = 3L << 62;
    /** The state bits of a status. */
    public static final long STATE_MASK = 3L << 62;
    private static final int HOLDER_SHIFT = 32;
    private static final long HOLDER_MASK = 0xFFFFL;
    private static final long TAG_MASK = 0xFFFF_FFFFL;

    /** Default capacity: ids the table takes before appends with ids are refused. */
    public static final int DEFAULT_CAPACITY = 1 << 20;
    /** Largest capacity: the table (1 GiB at this capacity) must fit one mapping at a load factor of one half. */
    public static final int MAX_CAPACITY = 1 << 24;

    private EventIdTableDescriptor()
    {
    }

    /**
     * @param capacity ids the table must take.
     * @return its number of slots: a power of two at least twice the capacity, so probes stay short.
     */
    public static int tableSize(final int capacity)
    {
        int size = 1;
        while (size < capacity)
        {
            size <<= 1;
        }
        return size << 1;
    }

    /**
     * @param tableSize slots.
     * @return the file's length.
     */
    public static long fileLength(final int tableSize)
    {
        return HEADER_LENGTH + (long)tableSize * SLOT_LENGTH;
    }

    /**
     * @param high high half of an id.
     * @param low  low half.
     * @return its 64-bit hash: the low half picks the first slot, the high half is the tag.
     */
    public static long hash(final long high, final long low)
    {
        long h = high * 0x9E3779B97F4A7C15L ^ Long.rotateLeft(low * 0xC2B2AE3D27D4EB4FL, 31);
        h ^= h >>> 29;
        h *= 0xBF58476D1CE4E5B9L;
        return h ^ (h >>> 32);
    }

    /**
     * @param tag    the id's tag.
     * @param holder the appender's holder number.
     * @return the status of a slot held by that appender.
     */
    public static long pending(final int tag, final int holder)
    {
        return PENDING | ((holder & HOLDER_MASK) << HOLDER_SHIFT) | (tag & TAG_MASK);
    }

    /**
     * @param tag the id's tag.
     * @return the status of a committed slot.
     */
    public static long committed(final int tag)
    {
        return COMMITTED | (tag & TAG_MASK);
    }

    /**
     * @param tag the id's tag.
     * @return the status of a dead slot.
     */
    public static long dead(final int tag)
    {
        return DEAD | (tag & TAG_MASK);
    }

    /**
     * @param status a slot's status.
     * @return its tag.
     */
    public static int tag(final long status)
    {
        return (int)status;
    }

    /**
     * @param status a pending slot's status.
     * @return its holder.
     */
    public static int holder(final long status)
    {
        return (int)((status >>> HOLDER_SHIFT) & HOLDER_MASK);
    }
}
