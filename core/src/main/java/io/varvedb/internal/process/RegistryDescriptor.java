package io.varvedb.internal.process;

import org.agrona.concurrent.UnsafeBuffer;

/**
 * Layout of {@code varve.procs}, the table of the processes that have a store open for writing in multi-process
 * mode, and of the lanes their appenders write through. Little-endian, mapped by every writer process.
 * <pre>
 * Header (4096 bytes):
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +---------------------------------------------------------------+
 *  |                 Magic "VARVEPRC" (8 bytes)                    |   0
 *  |                                                               |
 *  +---------------------------------------------------------------+
 *  |                        Format Version                         |   8
 *  +---------------------------------------------------------------+
 *  |                  Participants (table entries)                 |  12
 *  +---------------------------------------------------------------+
 *  |                        Lanes (entries)                        |  16
 *  +---------------------------------------------------------------+
 *  |                     reserved, zero                           ...  20
 *  +---------------------------------------------------------------+
 *
 * Participant p (64 bytes) at 4096 + p * 64: one open store instance of a writer process. It is alive exactly while
 * byte 1024 + p of varve.lock is locked (see LockFileDescriptor): the kernel drops that lock when the process dies.
 *  +---------------------------------------------------------------+
 *  |        State: 0 free, 1 active (written under the OPEN lock)  |   0
 *  +---------------------------------------------------------------+
 *  |                      Mode: 2 multi-process                    |   4
 *  +---------------------------------------------------------------+
 *  |                         Process Id                            |   8
 *  |                                                               |
 *  +---------------------------------------------------------------+
 *  |          Process Start (epoch milliseconds, 0 unknown)        |  16
 *  |                                                               |
 *  +---------------------------------------------------------------+
 *  |                 Opened At (epoch milliseconds)                |  24
 *  |                                                               |
 *  +---------------------------------------------------------------+
 *  |                     reserved, zero                           ...  32
 *  +---------------------------------------------------------------+
 *
 * Lane l (64 bytes, one cache line) at 4096 + participants * 64 + l * 64: what one appender is doing, so that a
 * survivor can finish or undo it if its process dies. Written only by the appender that owns the lane (and, once
 * its process is dead, by the one survivor that holds the dead participant's lock).
 *  +---------------------------------------------------------------+
 *  |      Owner: participant + 1, 0 = free (claimed by CAS)        |   0
 *  |                                                               |
 *  +---------------------------------------------------------------+
 *  |  From: the log tail read before this append's claim, set      |   8
 *  |  (release) before the claim's atomic add; -1 when idle        |
 *  +---------------------------------------------------------------+
 *  |      Claim Position: where the claim landed; -1 unknown       |  16
 *  |                                                               |
 *  +---------------------------------------------------------------+
 *  |                 Claim Length (aligned bytes)                  |  24
 *  |                                                               |
 *  +---------------------------------------------------------------+
 *  |  Slot: the stream slot this append holds or is about to CAS;  |  32
 *  |  -1 none (set, release, before the CAS that takes the slot)   |
 *  +---------------------------------------------------------------+
 *  |       Previous Version: the slot's version before the CAS     |  40
 *  |                                                               |
 *  +---------------------------------------------------------------+
 *  |                     reserved, zero                           ...  48
 *  +---------------------------------------------------------------+
 * </pre>
 * A slot held by an appender says which lane holds it ({@code StreamIndexDescriptor.pendingState}), so a survivor
 * that finds a stream pending knows whom to ask about; the lane says, for the one stream it may hold, at which
 * version, and where its record went, so the survivor can tell a published record (finish the append) from one
 * that never was (pad it and give the stream back at its old version).
 */
public final class RegistryDescriptor
{
    /** "VARVEPRC" as a little-endian long. */
    public static final long MAGIC = 0x4352504556524156L;
    /** Format version this build reads and writes. */
    public static final int FORMAT_VERSION = 1;
    /** File name in the store directory. */
    public static final String FILE_NAME = "varve.procs";

    /** Offset of the magic. */
    public static final int MAGIC_OFFSET = 0;
    /** Offset of the format version. */
    public static final int FORMAT_VERSION_OFFSET = 8;
    /** Offset of the number of participant entries. */
    public static final int PARTICIPANTS_OFFSET = 12;
    /** Offset of the number of lanes. */
    public static final int LANES_OFFSET = 16;
    /** Length of the header. */
    public static final int HEADER_LENGTH = 4096;

    /** Most store instances open for writing at once in multi-process mode. */
    public static final int PARTICIPANTS = 256;
    /** Most appenders appending at once, over all those instances. */
    public static final int LANES = 4096;

    /** Length of a participant entry. */
    public static final int PARTICIPANT_LENGTH = 64;
    /** Offset of a participant's state. */
    public static final int STATE_OFFSET = 0;
    /** Offset of a participant's mode. */
    public static final int MODE_OFFSET = 4;
    /** Offset of a participant's process id. */
    public static final int PID_OFFSET = 8;
    /** Offset of a participant's process start time. */
    public static final int PROCESS_START_OFFSET = 16;
    /** Offset of the time a participant opened the store. */
    public static final int OPENED_AT_OFFSET = 24;

    /** A free participant entry. */
    public static final int FREE = 0;
    /** An entry of a process that has the store open (or died with it open, until a survivor repairs). */
    public static final int ACTIVE = 1;
    /** Mode of a multi-process writer. */
    public static final int MODE_MULTI = 2;

    /** Length of a lane. */
    public static final int LANE_LENGTH = 64;
    /** Offset of a lane's owner. */
    public static final int LANE_OWNER_OFFSET = 0;
    /** Offset of a lane's in-flight mark. */
    public static final int LANE_FROM_OFFSET = 8;
    /** Offset of a lane's claim position. */
    public static final int LANE_CLAIM_OFFSET = 16;
    /** Offset of a lane's claim length. */
    public static final int LANE_CLAIM_LENGTH_OFFSET = 24;
    /** Offset of a lane's slot. */
    public static final int LANE_SLOT_OFFSET = 32;
    /** Offset of a lane's previous version. */
    public static final int LANE_PREVIOUS_OFFSET = 40;
    /** A lane's in-flight mark, claim and slot when it has none. */
    public static final long NONE = -1;

    /** Offset of the first participant. */
    public static final int FIRST_PARTICIPANT_OFFSET = HEADER_LENGTH;
    /** Offset of the first lane. */
    public static final int FIRST_LANE_OFFSET = FIRST_PARTICIPANT_OFFSET + PARTICIPANTS * PARTICIPANT_LENGTH;
    /** Length of the file. */
    public static final int LENGTH = FIRST_LANE_OFFSET + LANES * LANE_LENGTH;

    private RegistryDescriptor()
    {
    }

    /**
     * @param participant index.
     * @return offset of its entry.
     */
    public static int participantOffset(final int participant)
    {
        return FIRST_PARTICIPANT_OFFSET + participant * PARTICIPANT_LENGTH;
    }

    /**
     * @param lane index.
     * @return offset of the lane.
     */
    public static int laneOffset(final int lane)
    {
        return FIRST_LANE_OFFSET + lane * LANE_LENGTH;
    }

    /**
     * Write the header of a new registry, and mark every lane idle.
     *
     * @param buffer over the file.
     */
    public static void writeHeader(final UnsafeBuffer buffer)
    {
        buffer.putLong(MAGIC_OFFSET, MAGIC);
        buffer.putInt(FORMAT_VERSION_OFFSET, FORMAT_VERSION);
        buffer.putInt(PARTICIPANTS_OFFSET, PARTICIPANTS);
        buffer.putInt(LANES_OFFSET, LANES);
        for (int lane = 0; lane < LANES; lane++)
        {
            clearLane(buffer, laneOffset(lane));
        }
    }

    /**
     * Mark a lane idle and free.
     *
     * @param buffer over the file.
     * @param offset of the lane.
     */
    public static void clearLane(final UnsafeBuffer buffer, final int offset)
    {
        buffer.putLong(offset + LANE_FROM_OFFSET, NONE);
        buffer.putLong(offset + LANE_CLAIM_OFFSET, NONE);
        buffer.putLong(offset + LANE_CLAIM_LENGTH_OFFSET, 0);
        buffer.putLong(offset + LANE_SLOT_OFFSET, NONE);
        buffer.putLong(offset + LANE_PREVIOUS_OFFSET, 0);
        buffer.putLongVolatile(offset + LANE_OWNER_OFFSET, 0);
    }
}
