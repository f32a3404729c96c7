package io.varvedb.internal.process;

/**
 * The byte ranges of {@code varve.lock} that writers lock. The file's content is only a hint (the pid of a
 * single-process writer, for messages); what counts are the POSIX record locks the kernel holds on its ranges,
 * which it drops the moment their process dies, however it dies. That is what makes them the store's liveness
 * oracle: a lock that can be taken belongs to nobody alive; a lock that cannot is held by a process that still
 * runs, whether it is busy, paused by the collector or stopped by a signal.
 * <pre>
 *  byte offset        lock                      held by
 *  [0, 2^63)          whole file, exclusive     the single-process writer (the default mode), for its whole open
 *  0                  WRITERS, shared           every multi-process writer, for its whole open
 *  1                  MEMBERS, shared           every multi-process writer once its open is done; taken
 *                                               exclusive (tried) to learn "nobody else is open"
 *  2                  OPEN, exclusive           a multi-process writer while it opens or closes (brief)
 *  3                  LOG_ALLOCATION            whoever gives the log disk blocks (off the append path)
 *  4                  SEGMENT_CREATION          whoever creates a log segment file
 *  5                  INDEX_UNITS               whoever allocates a unit of the stream table
 *  6                  INDEX_BLOCKS              whoever allocates index blocks or creates a chunk file
 *  7                  EVENT_IDS                 whoever gives the event id table's slots disk blocks
 *  8                  SCAVENGE                  whoever rewrites (compacts) log segments, or deletes the
 *                                               temporary files a killed rewrite left
 *  1024 + p           PARTICIPANT p, exclusive  the writer registered as participant p of varve.procs
 * </pre>
 * A single-process writer's whole-file lock conflicts with every range, so each mode refuses the other, and older
 * builds (which lock the whole file) are refused by and refuse a multi-process writer.
 * <p>
 * Locks are per process, not per thread or per channel: a JVM must reach this file through one channel only (see
 * {@link LockFile}), since closing any descriptor of a file drops all of its process's locks on it.
 */
public final class LockFileDescriptor
{
    /** File name in the store directory. */
    public static final String FILE_NAME = "varve.lock";

    /** Shared by every multi-process writer; the single-process writer's whole-file lock excludes it. */
    public static final long WRITERS = 0;
    /** Shared by open multi-process writers; exclusive only for the first opener and the last closer. */
    public static final long MEMBERS = 1;
    /** Serialises the opens and closes of multi-process writers. */
    public static final long OPEN = 2;
    /** Serialises the allocation of the log's disk blocks. */
    public static final long LOG_ALLOCATION = 3;
    /** Serialises the creation of log segment files. */
    public static final long SEGMENT_CREATION = 4;
    /** Serialises the allocation of the stream table's units. */
    public static final long INDEX_UNITS = 5;
    /** Serialises the allocation of index blocks and the creation of chunk files. */
    public static final long INDEX_BLOCKS = 6;
    /** Serialises the allocation of the event id table's slots. */
    public static final long EVENT_IDS = 7;
    /** Serialises the rewriting (compaction) of log segments. */
    public static final long SCAVENGE = 8;
    /** Number of the named ranges above. */
    public static final int NAMED_RANGES = 9;
    /** Participant {@code p}'s range is {@code PARTICIPANT_BASE + p}. */
    public static final long PARTICIPANT_BASE = 1024;

    private LockFileDescriptor()
    {
    }

    /**
     * @param participant a participant index.
     * @return the byte of {@code varve.lock} its process holds locked while it is open.
     */
    public static long participantRange(final int participant)
    {
        return PARTICIPANT_BASE + participant;
    }
}
