package io.varvedb.internal.counters;

import org.agrona.concurrent.UnsafeBuffer;
import org.agrona.concurrent.status.CountersReader;

/**
 * Layout of {@code varve.counters}, the live counters of every process that has the store open (the way Aeron's
 * CnC file carries a media driver's counters). Little-endian, mapped read-write by each process with the store
 * open and read-only by {@code varve stat}. It is not part of the store's data: deleting it loses only counts.
 * <pre>
 * Header (4096 bytes):
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +---------------------------------------------------------------+
 *  |                 Magic "VARVECNT" (8 bytes)                    |   0
 *  |                                                               |
 *  +---------------------------------------------------------------+
 *  |                        Format Version                         |   8
 *  +---------------------------------------------------------------+
 *  |                       Regions (count)                         |  12
 *  +---------------------------------------------------------------+
 *  |                 Counters per region (count)                   |  16
 *  +---------------------------------------------------------------+
 *  |                  Region length (bytes)                        |  20
 *  +---------------------------------------------------------------+
 *  |                     reserved, zero                           ...  24
 *  +---------------------------------------------------------------+
 *
 * Region descriptor r (128 bytes) at 128 + r * 128, in the header page: who holds region r. The header page is
 * given disk blocks when the file is made, so taking a region (a CAS here) never writes into a hole.
 *  +---------------------------------------------------------------+
 *  |   Owner: a random token of the instance that holds the region;|   0
 *  |   0 = never used. Set after the state word is taken           |
 *  +---------------------------------------------------------------+
 *  |   State word: state (low 32 bits: 0 free, 1 resetting, 2 open,|   8
 *  |   3 closed) and the pid that set it (high 32 bits). A region  |
 *  |   is taken by one CAS of this word, to (own pid, resetting)   |
 *  +---------------------------------------------------------------+
 *  |                         Process Id                            |  16
 *  |                                                               |
 *  +---------------------------------------------------------------+
 *  |          Process Start (epoch milliseconds, 0 unknown)        |  24
 *  |                                                               |
 *  +---------------------------------------------------------------+
 *  |                 Opened At (epoch milliseconds)                |  32
 *  |                                                               |
 *  +---------------------------------------------------------------+
 *  |          Closed At (epoch milliseconds, 0 while open)         |  40
 *  |                                                               |
 *  +---------------------------------------------------------------+
 *  |  Histogram Sequence: odd while the latency blobs are written  |  48
 *  |                                                               |
 *  +---------------------------------------------------------------+
 *  |      Total Histogram Length (bytes, 0 = not recorded)         |  56
 *  +---------------------------------------------------------------+
 *  |       Interval Histogram Length (bytes)                       |  60
 *  +---------------------------------------------------------------+
 *  |          Histogram Published At (epoch milliseconds)          |  64
 *  |                                                               |
 *  +---------------------------------------------------------------+
 *  |                 Role: 1 writer, 2 shared writer, 3 reader     |  72
 *  +---------------------------------------------------------------+
 *  |                     reserved, zero                           ...  76
 *  +---------------------------------------------------------------+
 *
 * Region r at 4096 + r * region length: the counters of one open store instance (one process, or one of several
 * instances a process opened). A hole until its first owner gives it blocks (zeros) after taking it.
 *  +---------------------------------------------------------------+
 *  |   Total histogram: append latency since open, HdrHistogram   ...  0
 *  |   compressed encoding (HISTOGRAM_LENGTH bytes)                |
 *  +---------------------------------------------------------------+
 *  |   Interval histogram: the last publication period's          ...  HISTOGRAM_LENGTH
 *  +---------------------------------------------------------------+
 *  |   Counter metadata: Agrona CountersManager layout,           ...  METADATA_OFFSET
 *  |   COUNTERS * CountersReader.METADATA_LENGTH bytes             |
 *  +---------------------------------------------------------------+
 *  |   Counter values: Agrona layout, one 128-byte record each    ...  VALUES_OFFSET
 *  +---------------------------------------------------------------+
 * </pre>
 * A region and its descriptor are written only by their owner: its counters by the threads the engine gives each of them (single
 * writers, plain ordered stores), its allocation under the owner's lock. A reader sees a region reset for a new
 * owner as the owner word changing: it reads the owner before and after and throws away what it read if it moved.
 */
public final class CountersFileDescriptor
{
    /** "VARVECNT" as a little-endian long. */
    public static final long MAGIC = 0x544E434556524156L;
    /** Format version this build reads and writes. */
    public static final int FORMAT_VERSION = 1;
    /** File name in the store directory. */
    public static final String FILE_NAME = "varve.counters";

    /** Offset of the magic. */
    public static final int MAGIC_OFFSET = 0;
    /** Offset of the format version. */
    public static final int FORMAT_VERSION_OFFSET = 8;
    /** Offset of the number of regions. */
    public static final int REGIONS_OFFSET = 12;
    /** Offset of the number of counters per region. */
    public static final int COUNTERS_OFFSET = 16;
    /** Offset of a region's length. */
    public static final int REGION_LENGTH_OFFSET = 20;
    /** Length of the file header. */
    public static final int HEADER_LENGTH = 4096;

    /** Instances that can hold a region at once; the region of a closed or dead one is taken over when needed. */
    public static final int REGIONS = 16;
    /** Counters one instance can allocate: a few per appender, two per subscription, a dozen of its own. */
    public static final int COUNTERS = 512;

    /** Offset of the first region descriptor. */
    public static final int DESCRIPTORS_OFFSET = 128;
    /** Length of a region descriptor. */
    public static final int DESCRIPTOR_LENGTH = 128;

    /** Offset in a region descriptor of its owner token. */
    public static final int OWNER_OFFSET = 0;
    /** Offset in a region descriptor of its state word: the state, and the pid of the process that set it. */
    public static final int STATE_OFFSET = 8;
    /** Offset in a region descriptor of its owner's role. */
    public static final int ROLE_OFFSET = 72;
    /** Offset in a region descriptor of the first field a new owner clears. */
    public static final int FIELDS_OFFSET = 16;
    /** Offset in a region descriptor of its owner's process id. */
    public static final int PID_OFFSET = 16;
    /** Offset in a region descriptor of its owner process's start time. */
    public static final int PROCESS_START_OFFSET = 24;
    /** Offset in a region descriptor of the time its owner opened the store. */
    public static final int OPENED_AT_OFFSET = 32;
    /** Offset in a region descriptor of the time its owner closed the store. */
    public static final int CLOSED_AT_OFFSET = 40;
    /** Offset in a region descriptor of the histograms' sequence (a seqlock: odd while written). */
    public static final int HISTOGRAM_SEQUENCE_OFFSET = 48;
    /** Offset in a region descriptor of the total histogram's encoded length. */
    public static final int TOTAL_HISTOGRAM_LENGTH_OFFSET = 56;
    /** Offset in a region descriptor of the interval histogram's encoded length. */
    public static final int INTERVAL_HISTOGRAM_LENGTH_OFFSET = 60;
    /** Offset in a region descriptor of the time the histograms were last published. */
    public static final int HISTOGRAM_AT_OFFSET = 64;

    /** Room for one encoded histogram: HdrHistogram's compressed form of a 3-digit 1 ns - 1 h histogram is ~1-20 KiB. */
    public static final int HISTOGRAM_LENGTH = 32 * 1024;
    /** Offset in a region of the total histogram. */
    public static final int TOTAL_HISTOGRAM_OFFSET = 0;
    /** Offset in a region of the interval histogram. */
    public static final int INTERVAL_HISTOGRAM_OFFSET = TOTAL_HISTOGRAM_OFFSET + HISTOGRAM_LENGTH;
    /** Offset in a region of the counters' metadata. */
    public static final int METADATA_OFFSET = INTERVAL_HISTOGRAM_OFFSET + HISTOGRAM_LENGTH;
    /** Length of the counters' metadata. */
    public static final int METADATA_LENGTH = COUNTERS * CountersReader.METADATA_LENGTH;
    /** Offset in a region of the counters' values. */
    public static final int VALUES_OFFSET = METADATA_OFFSET + METADATA_LENGTH;
    /** Length of the counters' values. */
    public static final int VALUES_LENGTH = COUNTERS * CountersReader.COUNTER_LENGTH;
    /** Length of one region. */
    public static final int REGION_LENGTH = VALUES_OFFSET + VALUES_LENGTH;
    /** Length of the file. */
    public static final int LENGTH = HEADER_LENGTH + REGIONS * REGION_LENGTH;

    /** Region state: never used. */
    public static final int FREE = 0;
    /** Region state: a new owner is clearing it. */
    public static final int RESETTING = 1;
    /** Region state: its owner has the store open (or died with it open). */
    public static final int OPEN = 2;
    /** Region state: its owner closed the store; the values are its last. */
    public static final int CLOSED = 3;

    /** Role: the single writer. */
    public static final int ROLE_WRITER = 1;
    /** Role: one of several writer processes (multi-process mode). */
    public static final int ROLE_SHARED_WRITER = 2;
    /** Role: a read-only open. */
    public static final int ROLE_READER = 3;

    private CountersFileDescriptor()
    {
    }

    /**
     * @param pid   the process setting the state.
     * @param state the state.
     * @return the state word.
     */
    public static long stateWord(final long pid, final int state)
    {
        return (pid << Integer.SIZE) | (state & 0xFFFF_FFFFL);
    }

    /**
     * @param word a state word.
     * @return its state.
     */
    public static int stateOf(final long word)
    {
        return (int)word;
    }

    /**
     * @param word a state word.
     * @return the pid of the process that set it.
     */
    public static long pidOf(final long word)
    {
        return word >>> Integer.SIZE;
    }

    /**
     * @param region a region's index.
     * @return the offset of its descriptor in the file.
     */
    public static int descriptorOffset(final int region)
    {
        return DESCRIPTORS_OFFSET + region * DESCRIPTOR_LENGTH;
    }

    /**
     * @param region a region's index.
     * @return the offset of its first byte in the file.
     */
    public static int regionOffset(final int region)
    {
        return HEADER_LENGTH + region * REGION_LENGTH;
    }

    /**
     * Write the header of a new file.
     *
     * @param buffer the file's mapping.
     */
    public static void writeHeader(final UnsafeBuffer buffer)
    {
        buffer.putInt(FORMAT_VERSION_OFFSET, FORMAT_VERSION);
        buffer.putInt(REGIONS_OFFSET, REGIONS);
        buffer.putInt(COUNTERS_OFFSET, COUNTERS);
        buffer.putInt(REGION_LENGTH_OFFSET, REGION_LENGTH);
        // release: a reader that sees the magic sees the shape
        buffer.putLongRelease(MAGIC_OFFSET, MAGIC);
    }

    /**
     * @param role a role code.
     * @return its name, as {@code varve stat} shows it.
     */
    public static String roleName(final int role)
    {
        switch (role)
        {
            case ROLE_WRITER:
                return "writer";
            case ROLE_SHARED_WRITER:
                return "shared-writer";
            case ROLE_READER:
                return "reader";
            default:
                return "unknown(" + role + ")";
        }
    }
}
