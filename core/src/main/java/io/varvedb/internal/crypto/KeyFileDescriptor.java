package io.varvedb.internal.crypto;

/**
 * Layout of {@code varve.keys}, the data keys of an encrypted store. All integers are little-endian.
 * <pre>
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +---------------------------------------------------------------+
 *  |                     Magic "VARVKEYS"                          |  0
 *  |                                                               |
 *  +---------------------------------------------------------------+
 *  |                       Format Version                          |  8
 *  +---------------------------------------------------------------+
 *  |                   Capacity (entries)                          | 12
 *  +---------------------------------------------------------------+
 *  |                   Store Id (16 random bytes)                 ...  16
 *  +---------------------------------------------------------------+
 *  |                   Key Set (rotations so far)                  | 32
 *  |                                                               |
 *  +---------------------------------------------------------------+
 *  |        Check Nonce (12 bytes, random)                        ...  40
 *  +---------------------------------------------------------------+
 *  |        Check Tag (16 bytes)                                  ...  52
 *  +---------------------------------------------------------------+
 *  |                   Complete (1 once whole)                     | 68
 *  +---------------------------------------------------------------+
 *  |                   Writer Generation                           | 72
 *  +---------------------------------------------------------------+
 *  |        Wrapped Name Key (40 bytes, AESWrap)                  ...  80
 *  +---------------------------------------------------------------+
 *  |                   Entry Count                                 | 128 own cache line: claimed with a CAS
 *  |                                                               |
 *  +---------------------------------------------------------------+
 *  |                   Allocated End (bytes)                       | 192 own cache line
 *  |                                                               |
 *  +---------------------------------------------------------------+
 *  |        Wrapped Id Key (40 bytes, AESWrap)                    ...  256
 *  +---------------------------------------------------------------+
 *  |                   Entries, from 4096, 64 bytes each          ...
 *  +---------------------------------------------------------------+
 * </pre>
 * <b>The master key check</b> is an AES-256-GCM tag, under the master key, of no clear text, with the store id and
 * the key set as authenticated data: a wrong master key fails it before anything is unwrapped or written. The
 * check and the key set change together, at each rotation, when the whole file is written anew.
 * <p>
 * <b>An entry</b> holds one stream's data key, wrapped (RFC 3394 AES key wrap, {@code AESWrap}) under the master
 * key; its own integrity check refuses a damaged or foreign wrapping:
 * <pre>
 *  +---------------------------------------------------------------+
 *  |   State: EMPTY 0, CLAIMED (pid &lt;&lt; 8 | 1), READY 2,           |  0  CAS to claim; release when READY
 *  |          DISCARDED 3, SHREDDING 4, SHREDDED 5                 |
 *  +---------------------------------------------------------------+
 *  |                          Stream Id                            |  8
 *  |                                                               |
 *  +---------------------------------------------------------------+
 *  |             Wrapped Data Key (40 bytes), zeros once shredded ...  16
 *  +---------------------------------------------------------------+
 *  |                          Reserved                             | 56
 *  +---------------------------------------------------------------+
 * </pre>
 * Entries are claimed in order: a claimer CASes the state of entry {@code count} from EMPTY to CLAIMED (its pid
 * in it), then moves the count on (anyone may: a claimer that finds the entry taken moves the count past it and
 * tries the next). So every entry below the count has a state other than EMPTY, and a CLAIMED one names a process
 * that can be asked whether it lives. A stream's key is its <em>first</em> entry in file order that is not
 * DISCARDED: a process that made a key checks, once its entry is READY and before using the key, every entry
 * before its own (waiting out the CLAIMED ones); if one holds the same stream, it marks its own DISCARDED and uses
 * that one. In one process, key creation is serialised by a lock and that check finds nothing.
 * <p>
 * <b>Durability.</b> A reopen looks for keys only below the count, so an entry is durable once its page and then the
 * header's are forced. Before each force of the log, a writer forces the entries made since its last such force,
 * by itself or by another process (the log force makes every process's records durable), then the header.
 * <p>
 * <b>Shredding</b> sets SHREDDING, overwrites the wrapped key with zeros, sets SHREDDED and forces the entry's page,
 * then the header's. An open that finds SHREDDING finishes the job. A stream shredded before it had a key gets an
 * entry that is SHREDDED from the start, so that no append can give it one later.
 * <p>
 * <b>The name key</b> encrypts stream names (see {@code NameCipher}), <b>the id key</b> event ids (see
 * {@code IdCipher}); one of each per store, wrapped like the data keys.
 * <p>
 * <b>Rotation</b> of the master key writes a complete new file, {@code varve.keys.next} (the same entries, each
 * wrapped anew; shredded ones stay zeros), forces it and sets Complete last. It then renames {@code varve.keys} to
 * {@code varve.keys.old} and the new file to {@code varve.keys}, forcing the directory after each, and finally
 * overwrites the old file's wrapped keys with zeros before deleting it. An open that finds a rotation cut short
 * settles it with the master key it is given: the file that key opens becomes {@code varve.keys}, the other is
 * overwritten and deleted. Whichever key it is, one whole key set is kept.
 * <p>
 * <b>Writer generation</b> is taken (incremented with a CAS, then forced) by every writable open, before its first
 * append. It is the last 4 bytes of the nonce of every event that open encrypts (see
 * {@code RecordDescriptor}): log positions are unique within one open, but a crash can hand a torn record's
 * position to a different record at the next open, which then has another generation.
 */
public final class KeyFileDescriptor
{
    /** The file's name in the store directory. */
    public static final String FILE_NAME = "varve.keys";
    /** A rotation's new file, until it replaces {@link #FILE_NAME}. */
    public static final String NEXT_FILE_NAME = "varve.keys.next";
    /** The replaced file, until it is overwritten and deleted. */
    public static final String OLD_FILE_NAME = "varve.keys.old";

    /** "VARVKEYS" read as a little-endian long. */
    public static final long MAGIC = 0x535945_4b5652_4156L;
    /** The only format so far. */
    public static final int FORMAT_VERSION = 1;

    /** Offset of the magic. */
    public static final int MAGIC_OFFSET = 0;
    /** Offset of the format version. */
    public static final int FORMAT_VERSION_OFFSET = 8;
    /** Offset of the capacity, in entries. */
    public static final int CAPACITY_OFFSET = 12;
    /** Offset of the store id. */
    public static final int STORE_ID_OFFSET = 16;
    /** Bytes of the store id. */
    public static final int STORE_ID_LENGTH = 16;
    /** Offset of the key set number. */
    public static final int KEY_SET_OFFSET = 32;
    /** Offset of the master key check's nonce. */
    public static final int CHECK_NONCE_OFFSET = 40;
    /** Offset of the master key check's tag. */
    public static final int CHECK_TAG_OFFSET = 52;
    /** Offset of the complete mark (1 once the file is whole). */
    public static final int COMPLETE_OFFSET = 68;
    /** Offset of the writer generation. */
    public static final int GENERATION_OFFSET = 72;
    /** Offset of the wrapped name key. */
    public static final int NAME_KEY_OFFSET = 80;
    /** Offset of the wrapped id key. */
    public static final int ID_KEY_OFFSET = 256;
    /** Offset of the entry count. */
    public static final int COUNT_OFFSET = 128;
    /** Offset of the allocated end. */
    public static final int ALLOCATED_END_OFFSET = 192;
    /** Length of the header; entries start here. */
    public static final int HEADER_LENGTH = 4096;

    /** Bytes per entry. */
    public static final int ENTRY_LENGTH = 64;
    /** Offset of an entry's state. */
    public static final int STATE_OFFSET = 0;
    /** Offset of an entry's stream id. */
    public static final int STREAM_ID_OFFSET = 8;
    /** Offset of an entry's wrapped key. */
    public static final int WRAPPED_KEY_OFFSET = 16;
    /** Bytes of a wrapped key (RFC 3394: the key plus 8). */
    public static final int WRAPPED_KEY_LENGTH = 40;

    /** No entry. */
    public static final long EMPTY = 0;
    /** Low byte of a claimed entry's state; the claimer's pid is above it. */
    public static final long CLAIMED = 1;
    /** The entry holds a key. */
    public static final long READY = 2;
    /** A key made and not used: another entry of the same stream came first, or its maker died. */
    public static final long DISCARDED = 3;
    /** The key is being destroyed. */
    public static final long SHREDDING = 4;
    /** The key was destroyed. */
    public static final long SHREDDED = 5;

    /** Entries are given disk blocks this many bytes at a time. */
    public static final int ALLOCATION_CHUNK = 64 * 1024;

    private KeyFileDescriptor()
    {
    }

    /**
     * @param capacity entries.
     * @return the file's length.
     */
    public static long fileLength(final int capacity)
    {
        return HEADER_LENGTH + (long)capacity * ENTRY_LENGTH;
    }

    /**
     * @param entry an entry's number.
     * @return its offset.
     */
    public static int entryOffset(final long entry)
    {
        return (int)(HEADER_LENGTH + entry * ENTRY_LENGTH);
    }

    /**
     * @param pid a process id.
     * @return the state of an entry that process claimed.
     */
    public static long claimedBy(final long pid)
    {
        return pid << 8 | CLAIMED;
    }

    /**
     * @param state an entry's state.
     * @return true if it is claimed and not yet anything else.
     */
    public static boolean isClaimed(final long state)
    {
        return (state & 0xff) == CLAIMED;
    }
}
