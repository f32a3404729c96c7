package io.varvedb.internal.log;

import org.agrona.concurrent.UnsafeBuffer;

/**
 * Layout of a log segment file, {@code log/<base position, 20 digits>.log}. A segment file has its full length
 * ({@link #HEADER_LENGTH} plus the data length) from its creation and reads as zeros wherever nothing was written,
 * but gets its disk blocks as the log grows into it: it is created with blocks for its header only, the rest a hole,
 * and the writer zero-fills (allocates) it ahead of its tail a chunk at a time ({@code Log.allocate}) before anyone
 * writes there. So a file's length says nothing about its use of the disk; the log's tail does. Segments are never
 * overwritten or reused: the log keeps every event.
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
 *  |                     reserved, zero (32 bytes)                ... 32
 *  +---------------------------------------------------------------+
 *  |              Records (see RecordDescriptor) ...              ... 64
 *  +---------------------------------------------------------------+
 * </pre>
 * A log position {@code p} lives in segment {@code p / dataLength} at file offset
 * {@code HEADER_LENGTH + p % dataLength}. Records tile a segment's data exactly: a record that would cross the
 * end is replaced by padding up to the end.
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
    /** Length of the header; the first record starts here. */
    public static final int HEADER_LENGTH = 64;

    /** File name suffix. */
    public static final String SUFFIX = ".log";
    /** Digits of the base position in the file name. */
    public static final int NAME_DIGITS = 20;

    private SegmentDescriptor()
    {
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
