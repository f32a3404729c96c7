package io.varvedb.internal.store;

/**
 * Layout of a processor checkpoint, {@code checkpoints/<name>.ckpt}: the log position a named processor resumes
 * from. Written whole to a temporary file, forced, renamed over the old one, and the directory forced, so a crash
 * leaves either the old checkpoint or the new one, never a mix.
 * <pre>
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +---------------------------------------------------------------+
 *  |                 Magic "VARVECKP" (8 bytes)                    |  0
 *  |                                                               |
 *  +---------------------------------------------------------------+
 *  |                        Format Version                         |  8
 *  +---------------------------------------------------------------+
 *  |                     reserved, zero                            | 12
 *  +---------------------------------------------------------------+
 *  |              Position: next log position to process           | 16
 *  |                                                               |
 *  +---------------------------------------------------------------+
 *  |        Updated (epoch milliseconds of this checkpoint)        | 24
 *  |                                                               |
 *  +---------------------------------------------------------------+
 *  |                  Checksum: CRC32C of bytes [0, 32)            | 32
 *  +---------------------------------------------------------------+
 * </pre>
 */
public final class CheckpointDescriptor
{
    /** "VARVECKP" as a little-endian long. */
    public static final long MAGIC = 0x504b434556524156L;
    /** Format version this build reads and writes. */
    public static final int FORMAT_VERSION = 1;
    /** Directory of checkpoints in the store directory. */
    public static final String DIRECTORY = "checkpoints";
    /** Checkpoint file suffix. */
    public static final String SUFFIX = ".ckpt";
    /** Lock file suffix: held by the running processor of that name. */
    public static final String LOCK_SUFFIX = ".lock";

    /** Offset of the magic. */
    public static final int MAGIC_OFFSET = 0;
    /** Offset of the format version. */
    public static final int FORMAT_VERSION_OFFSET = 8;
    /** Offset of the position. */
    public static final int POSITION_OFFSET = 16;
    /** Offset of the update time. */
    public static final int UPDATED_OFFSET = 24;
    /** Offset of the checksum. */
    public static final int CHECKSUM_OFFSET = 32;
    /** Length of the file. */
    public static final int LENGTH = 36;

    /** Processor names: letters, digits, '.', '_' and '-', 1 to 100 of them, not starting with '.'. */
    public static final String NAME_PATTERN = "[A-Za-z0-9_\\-][A-Za-z0-9._\\-]{0,99}";

    private CheckpointDescriptor()
    {
    }
}
