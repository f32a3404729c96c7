package io.varvedb.internal.store;

import org.agrona.DirectBuffer;
import org.agrona.MutableDirectBuffer;

/**
 * Layout of the payload of a stream metadata event ({@code VarveDB.setStreamMetadata}, {@code deleteStream}),
 * appended to the stream's metadata stream (named {@code "$$" + name}, or {@code "$$$" + id} for a numeric stream).
 * Little-endian, 48 bytes.
 * <pre>
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +---------------------------------------------------------------+
 *  |                  Magic "VMETA" + format (int)                 |  0
 *  +---------------------------------------------------------------+
 *  |                  Flags (bit 0: deleted softly)                |  4
 *  +---------------------------------------------------------------+
 *  |                   Target Stream Id (8 bytes)                  |  8
 *  |                                                               |
 *  +---------------------------------------------------------------+
 *  |                   Max Count (0 = no limit)                    | 16
 *  |                                                               |
 *  +---------------------------------------------------------------+
 *  |              Max Age, nanoseconds (0 = no limit)              | 24
 *  |                                                               |
 *  +---------------------------------------------------------------+
 *  |              Truncate Before: first visible version           | 32
 *  |                          (0 = none)                           |
 *  +---------------------------------------------------------------+
 *  |                     reserved, zero                            | 40
 *  |                                                               |
 *  +---------------------------------------------------------------+
 * </pre>
 * The target's id is in the payload, so the metadata of a stream is found from its metadata stream's last event
 * alone. The record's own checksum covers the payload.
 */
public final class StreamMetadataDescriptor
{
    /** Magic and format version 1. */
    public static final int MAGIC = 0x564d4401;
    /** Offset of the magic. */
    public static final int MAGIC_OFFSET = 0;
    /** Offset of the flags. */
    public static final int FLAGS_OFFSET = 4;
    /** Offset of the target stream id. */
    public static final int TARGET_OFFSET = 8;
    /** Offset of max count. */
    public static final int MAX_COUNT_OFFSET = 16;
    /** Offset of max age. */
    public static final int MAX_AGE_OFFSET = 24;
    /** Offset of truncate-before. */
    public static final int TRUNCATE_BEFORE_OFFSET = 32;
    /** Length of the payload. */
    public static final int LENGTH = 48;
    /** Flag: deleted softly. */
    public static final int FLAG_DELETED = 1;

    private StreamMetadataDescriptor()
    {
    }

    /**
     * @param buffer   to write into, {@link #LENGTH} bytes from {@code offset}.
     * @param offset   where.
     * @param target   the stream the metadata is for.
     * @param maxCount limit, 0 for none.
     * @param maxAge   limit in nanoseconds, 0 for none.
     * @param truncateBefore first visible version, 0 for none.
     * @param deleted  deleted softly.
     */
    public static void write(
        final MutableDirectBuffer buffer, final int offset, final long target, final long maxCount,
        final long maxAge, final long truncateBefore, final boolean deleted)
    {
        buffer.setMemory(offset, LENGTH, (byte)0);
        buffer.putInt(offset + MAGIC_OFFSET, MAGIC);
        buffer.putInt(offset + FLAGS_OFFSET, deleted ? FLAG_DELETED : 0);
        buffer.putLong(offset + TARGET_OFFSET, target);
        buffer.putLong(offset + MAX_COUNT_OFFSET, maxCount);
        buffer.putLong(offset + MAX_AGE_OFFSET, maxAge);
        buffer.putLong(offset + TRUNCATE_BEFORE_OFFSET, truncateBefore);
    }

    /**
     * @param buffer holding a payload.
     * @param offset of it.
     * @param length of it.
     * @return true if it is a metadata payload this build reads.
     */
    public static boolean isValid(final DirectBuffer buffer, final int offset, final int length)
    {
        return length >= LENGTH && buffer.getInt(offset + MAGIC_OFFSET) == MAGIC &&
            buffer.getLong(offset + MAX_COUNT_OFFSET) >= 0 && buffer.getLong(offset + MAX_AGE_OFFSET) >= 0 &&
            buffer.getLong(offset + TRUNCATE_BEFORE_OFFSET) >= 0;
    }
}
