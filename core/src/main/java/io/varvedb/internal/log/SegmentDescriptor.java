package io.varvedb.internal.log;

import org.agrona.concurrent.UnsafeBuffer;

/**
 * Layout of a log segment file, {@code log/<base position, 20 digits>.log}. A segment file has its full length
 * ({@link #HEADER_LENGTH} plus the data length) from its creation and reads as zeros wherever nothing was written,
 * but gets its disk blocks as the log grows into it: it is created with blocks for its header only, the rest a hole,
 * and the writer zero-fills (allocates) it ahead of its tail a chunk at a time ({@code Log.allocate}) before anyone
 * writes there. So a file's length says nothing about its use of the disk; the log's tail does. Segments are never
 * reused, and a record never changes once committed; a sealed segment may be <em>compacted</em> (below).
 * <pre>
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +---------------------------------------------------------------+
 *  |                 Magic "VARVESEG" (8 bytes)                    |  0
 *  |                                                               |
 *  +---------------------------------------------------------------+
 *  |                        Format Version                         |  8
 *  +---------------------------------------------------------------+
 *  |                   Segment Data Length (bytes)                 | 12
 *  +---------------------------------------------------------------+
 *  |                        Segment Index                          | 16
 *  |                                                               |
 *  +---------------------------------------------------------------+
 *  |            Base Position (segment index * data length)        | 24
 *  |                                                               |
 *  +---------------------------------------------------------------+
 *  |               Layout (PLAIN = 0, COMPACTED = 1)               | 32
 *  +---------------------------------------------------------------+
 *  |           Kept Records N (compacted; 0 when plain)            | 36
 *  +---------------------------------------------------------------+
 *  |     Records Offset: file offset of the first kept record      | 40
 *  +---------------------------------------------------------------+
 *  |   Map Checksum: CRC32C of header [0, 44) and the position map | 44
 *  +---------------------------------------------------------------+
 *  |                     reserved, zero (16 bytes)                ... 48
 *  +---------------------------------------------------------------+
 *  |     plain: Records (see RecordDescriptor) ...                ... 64
 *  +---------------------------------------------------------------+
 * </pre>
 * In a <b>plain</b> segment (every segment the log writes) a log position {@code p} lives at file offset
 * {@code HEADER_LENGTH + p % dataLength}. Records tile a segment's data exactly: a record that would cross the
 * end is replaced by padding up to the end.
 * <p>
 * A <b>compacted</b> segment is a sealed segment rewritten without some of its records ({@code Log.replaceSegment}),
 * so that the disk space of the dropped ones is given back. Every kept record keeps its log position: a position map
 * says where each one's copy lies in the (shorter) file.
 * <pre>
 *  +---------------------------------------------------------------+
 *  |          header as above, Layout = COMPACTED, N, ...         ...  0
 *  +-------------------------------+-------------------------------+
 *  |  Data Offset of kept record 0 |  File Offset of its copy      | 64   position map: N entries of 8 bytes,
 *  +-------------------------------+-------------------------------+      sorted by data offset (p % dataLength),
 *  |  Data Offset of kept record 1 |  File Offset of its copy      | 72   file offsets increasing too
 *  +-------------------------------+-------------------------------+
 *  |                               ...                            ...
 *  +---------------------------------------------------------------+
 *  |   zeros up to the Records Offset (a multiple of 16)          ...
 *  +---------------------------------------------------------------+
 *  |   kept record 0, byte for byte, then zeros to 16 bytes       ... Records Offset
 *  +---------------------------------------------------------------+
 *  |   kept record 1 ...                                          ...
 *  +---------------------------------------------------------------+
 * </pre>
 * A record's checksum covers {@code [8, frameLength)}, not its position, so a copy is as checkable as the original.
 * The file ends after the last kept record (aligned). A position {@code p} of a compacted segment:
 * <ul>
 *   <li>is a record start if its data offset is a map entry (the record is at the entry's file offset);</li>
 *   <li>lies inside a kept record if the previous entry's record covers it;</li>
 *   <li>else lies in a <em>dropped range</em>: a reader stepping through the log goes on at the <em>ceiling</em>,
 *   the next entry, or the next segment's start if there is none. So any position handed out before the rewrite
 *   (an event's, a cursor's, a checkpoint's) still means the same place in the log after it.</li>
 * </ul>
 * Padding is never kept. A compacted segment may be compacted again (its kept records are read through its map).
 */
public final class SegmentDescriptor
{
    /** "VARVESEG" as a little-endian long. */
    public static final long MAGIC = 0x4745534556524156L;
    /**
     * Format version this build reads and writes. 2: a padding record repeats its frame length and its checksum
     * covers it (version 1's did not, so one flipped bit could hide the events behind a padding). 3: records are
     * aligned on 16 bytes, not 32 (a 64-byte event takes 112 bytes of log, not 128; see {@link RecordDescriptor}).
     */
    public static final int FORMAT_VERSION = 3;

    /** Offset of the magic. */
    public static final int MAGIC_OFFSET = 0;
    /** Offset of the format version. */
    public static final int FORMAT_VERSION_OFFSET = 8;
    /** Offset of the data length. */
    public static final int DATA_LENGTH_OFFSET = 12;
    /** Offset of the segment index. */
    public static final int SEGMENT_INDEX_OFFSET = 16;
    /** Offset of the base position. */
    public static final int BASE_POSITION_OFFSET = 24;
    /** Offset of the layout word: {@link #LAYOUT_PLAIN} or {@link #LAYOUT_COMPACTED}. */
    public static final int LAYOUT_OFFSET = 32;
    /** Offset of a compacted segment's number of kept records (map entries). */
    public static final int KEPT_RECORDS_OFFSET = 36;
    /** Offset of a compacted segment's file offset of its first kept record. */
    public static final int RECORDS_OFFSET_OFFSET = 40;
    /** Offset of a compacted segment's CRC32C of the header up to here and of the position map. */
    public static final int MAP_CHECKSUM_OFFSET = 44;
    /** Length of the header; the first record (plain) or the position map (compacted) starts here. */
    public static final int HEADER_LENGTH = 64;
    /** Offset of a compacted segment's position map. */
    public static final int MAP_OFFSET = HEADER_LENGTH;
    /** Bytes of one map entry. */
    public static final int MAP_ENTRY_LENGTH = 8;
    /** Offset in a map entry of the record's data offset (its position modulo the data length). */
    public static final int ENTRY_DATA_OFFSET = 0;
    /** Offset in a map entry of the file offset of the record's copy. */
    public static final int ENTRY_FILE_OFFSET = 4;

    /** Layout of a segment as the log writes it: positions map to file offsets by arithmetic. */
    public static final int LAYOUT_PLAIN = 0;
    /** Layout of a rewritten segment: positions map to file offsets through the position map. */
    public static final int LAYOUT_COMPACTED = 1;
    /** Suffix of a compacted segment being written; renamed over the segment when whole. */
    public static final String COMPACT_SUFFIX = ".compact.tmp";

    /** File name suffix. */
    public static final String SUFFIX = ".log";
    /** Digits of the base position in the file name. */
    public static final int NAME_DIGITS = 20;

    private SegmentDescriptor()
    {
    }

    /**
     * @param keptRecords map entries.
     * @return the file offset of a compacted segment's first kept record.
     */
    public static int recordsOffset(final int keptRecords)
    {
        return RecordDescriptor.alignedLength(MAP_OFFSET + keptRecords * MAP_ENTRY_LENGTH);
    }

    /**
     * @param buffer a mapped segment's header.
     * @return true if it is a compacted segment.
     */
    public static boolean isCompacted(final org.agrona.DirectBuffer buffer)
    {
        return buffer.capacity() >= HEADER_LENGTH && buffer.getInt(LAYOUT_OFFSET) == LAYOUT_COMPACTED;
    }

    /**
     * @param buffer over a compacted segment file (or its header and map, built in memory).
     * @return the CRC32C its {@link #MAP_CHECKSUM_OFFSET} must hold: over {@code [0, MAP_CHECKSUM_OFFSET)} and the
     * map.
     */
    public static int mapChecksum(final org.agrona.DirectBuffer buffer)
    {
        final int entries = buffer.getInt(KEPT_RECORDS_OFFSET);
        final java.util.zip.CRC32C crc = new java.util.zip.CRC32C();
        final byte[] bytes = new byte[Math.max(MAP_CHECKSUM_OFFSET, 4096)];
        buffer.getBytes(0, bytes, 0, MAP_CHECKSUM_OFFSET);
        crc.update(bytes, 0, MAP_CHECKSUM_OFFSET);
        final long end = MAP_OFFSET + (long)entries * MAP_ENTRY_LENGTH;
        for (long at = MAP_OFFSET; at < end; at += bytes.length)
        {
            final int length = (int)Math.min(bytes.length, end - at);
            buffer.getBytes((int)at, bytes, 0, length);
            crc.update(bytes, 0, length);
        }
        return (int)crc.getValue();
    }

    /**
     * @param basePosition of the segment.
     * @return its file name.
     */
    public static String fileName(final long basePosition)
    {
        final String digits = Long.toString(basePosition);
        return "0".repeat(NAME_DIGITS - digits.length()) + digits + SUFFIX;
    }

    /**
     * Write the header of a new segment.
     *
     * @param buffer       over the whole file.
     * @param dataLength   segment data length.
     * @param segmentIndex index of the segment.
     */
    public static void writeHeader(final UnsafeBuffer buffer, final int dataLength, final long segmentIndex)
    {
        buffer.putLong(MAGIC_OFFSET, MAGIC);
        buffer.putInt(FORMAT_VERSION_OFFSET, FORMAT_VERSION);
        buffer.putInt(DATA_LENGTH_OFFSET, dataLength);
        buffer.putLong(SEGMENT_INDEX_OFFSET, segmentIndex);
        buffer.putLong(BASE_POSITION_OFFSET, segmentIndex * dataLength);
    }
}
