package io.varvedb.internal.log;

import org.agrona.BitUtil;
import org.agrona.concurrent.UnsafeBuffer;

/**
 * Layout of one record in the log. All integers are little-endian.
 * <pre>
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +---------------------------------------------------------------+
 *  |R|                    Frame Length                             |  0  published last (release)
 *  +---------------------------------------------------------------+
 *  |                   Checksum (CRC32C of [8, frameLength))       |  4
 *  +-------------------------------+-------------------------------+
 *  |         Record Type           |            Flags              |  8
 *  +-------------------------------+-------------------------------+
 *  |                          Event Type                           | 12
 *  +---------------------------------------------------------------+
 *  |                          Stream Id                            | 16
 *  |                                                               |
 *  +---------------------------------------------------------------+
 *  |                           Version                             | 24
 *  |                                                               |
 *  +---------------------------------------------------------------+
 *  |                  Timestamp (epoch nanoseconds)                | 32
 *  |                                                               |
 *  +---------------------------------------------------------------+
 *  |                       Payload ...                            ...  40
 *  +---------------------------------------------------------------+
 *  |            zero bytes up to the next 16-byte boundary        ...
 *  +---------------------------------------------------------------+
 * </pre>
 * Frame length counts header and payload, not the alignment bytes; the next record starts at the frame length
 * rounded up to {@link #ALIGNMENT}.
 * <ul>
 *   <li>{@code 0}: nothing claimed here yet (or a claim whose writer has not started): readers stop.</li>
 *   <li>negative: claimed, being written; {@code -frameLength} tells recovery how much was claimed.</li>
 *   <li>positive: committed. The release store of the positive length is the last write of the record, so a
 *   reader that acquires a positive length sees every other byte of it.</li>
 * </ul>
 * A {@link #TYPE_PADDING} record fills space no event uses: the end of a segment, an abandoned claim (see
 * {@link Padding}). Its header repeats the frame length where an event has its stream id, and its checksum covers
 * bytes {@code [8, 24)}, that copy included:
 * <pre>
 *  +---------------------------------------------------------------+
 *  |R|                    Frame Length                             |  0
 *  +---------------------------------------------------------------+
 *  |                 Checksum (CRC32C of [8, 24))                  |  4
 *  +-------------------------------+-------------------------------+
 *  |     Record Type = PADDING     |          Flags = 0            |  8
 *  +-------------------------------+-------------------------------+
 *  |                        Event Type = 0                         | 12
 *  +---------------------------------------------------------------+
 *  |                 Frame Length again (8 bytes)                  | 16
 *  |                                                               |
 *  +---------------------------------------------------------------+
 *  |               anything, up to the frame length               ... 24
 *  +---------------------------------------------------------------+
 * </pre>
 * The smallest padding, 16 bytes (the rest of a segment a claim did not fit in, the part of the claim beyond it,
 * or what a typed append claimed for its codec's maximum and did not use), has no room for the copy: its checksum is still computed as if the copy were
 * there, so it covers the frame length, and a reader checks it even with checksums off (it is one constant, as the
 * only such padding is 16 bytes long).
 * <p>
 * A {@link #TYPE_STREAM_NAME} record says which name a named stream's id stands for (see {@code NameTableDescriptor}):
 * it is written once when the name is created, before any event of the stream, and the name table is rebuilt from
 * such records after a crash. Its header is an event's, with the named (negative) stream id and version 0; its
 * checksum covers {@code [8, frameLength)} as an event's does:
 * <pre>
 *  +---------------------------------------------------------------+
 *  |R|                    Frame Length                             |  0
 *  +---------------------------------------------------------------+
 *  |            Checksum (CRC32C of [8, frameLength))              |  4
 *  +-------------------------------+-------------------------------+
 *  |   Record Type = STREAM_NAME   |          Flags = 0            |  8
 *  +-------------------------------+-------------------------------+
 *  |                        Event Type = 0                         | 12
 *  +---------------------------------------------------------------+
 *  |               Stream Id (negative: -(n + 1))                  | 16
 *  |                                                               |
 *  +---------------------------------------------------------------+
 *  |                         Version = 0                           | 24
 *  |                                                               |
 *  +---------------------------------------------------------------+
 *  |                  Timestamp (epoch nanoseconds)                | 32
 *  |                                                               |
 *  +---------------------------------------------------------------+
 *  |                   Name Length (UTF-8 bytes)                   | 40
 *  +---------------------------------------------------------------+
 *  |                       Name (UTF-8) ...                       ...  44
 *  +---------------------------------------------------------------+
 * </pre>
 * Readers of events skip it as they skip padding. The same name may be recorded more than once (two creators that
 * both found it not yet recorded); every copy names the same id.
 * <p>
 * <b>Bytes per event.</b> Every header field is read by someone: the frame length (framing and publication), the
 * checksum (damage), type and flags (padding, batches), event type, stream id and version (the index is rebuilt
 * from them), the timestamp (users). What an event costs beyond them is alignment: with 32-byte alignment (format
 * version 2) a 64-byte payload took 128 bytes of log, a quarter of it zeros; 16 bytes (version 3) make it 112, so
 * 12.5% fewer bytes reach the page cache and the disk per event, and the writeback bandwidth that bounds a
 * sustained append rate lasts that much longer. Alignment below 16 would need paddings shorter than their own
 * header (a segment end 8 bytes away): the type of an 8-byte record could not be read.
 * <p>
 * {@link #FLAG_BATCH_MORE} marks every record of a batch but the last, {@link #FLAG_BATCH_CONTINUATION} every
 * record but the first: recovery keeps a batch only if all of it is there.
 * <p>
 * {@link #FLAG_TOMBSTONE} marks the tombstone of a stream deleted for good.
 * <p>
 * {@link #FLAG_EVENT_ID} marks an event appended with an event id (exactly-once appends): the 128-bit id follows
 * the header, and the payload follows the id. The checksum covers it like every byte after the checksum field, and
 * the log being the source of truth, the id table ({@code index/event-ids.idx}) is rebuilt from these copies.
 * An event without an id spends no byte on it:
 * <pre>
 *  +---------------------------------------------------------------+
 *  |              header as above, Flags has EVENT_ID             ...  0
 *  +---------------------------------------------------------------+
 *  |                    Event Id, high 64 bits                     | 40
 *  |                                                               |
 *  +---------------------------------------------------------------+
 *  |                    Event Id, low 64 bits                      | 48
 *  |                                                               |
 *  +---------------------------------------------------------------+
 *  |                       Payload ...                            ...  56
 *  +---------------------------------------------------------------+
 * </pre>
 * {@link #FLAG_ENCRYPTED} marks an event of an encrypted store (see {@code KeyFileDescriptor}): its payload is
 * AES-256-GCM cipher text under its stream's data key, and the header (and event id) stay in clear, so recovery,
 * the index and positions need no key:
 * <pre>
 *  +---------------------------------------------------------------+
 *  |      header as above, Flags has ENCRYPTED (and EVENT_ID?)    ...  0
 *  +---------------------------------------------------------------+
 *  |          event id, if EVENT_ID (16 bytes)                    ...  40
 *  +---------------------------------------------------------------+
 *  |                     Writer Generation                         | 40 or 56
 *  +---------------------------------------------------------------+
 *  |                  Cipher Text (payload length) ...            ...
 *  +---------------------------------------------------------------+
 *  |                  GCM Tag (16 bytes)                          ...
 *  +---------------------------------------------------------------+
 * </pre>
 * <ul>
 *   <li><b>Nonce</b> (96 bits): the record's log position (8 bytes, little-endian) followed by the writer
 *   generation (4 bytes) stored in the record. A position is claimed once per open (an atomic add on the tail; an
 *   abandoned claim becomes padding, never a second record), and every writable open takes a new generation from
 *   the key file before its first append; so a data key never sees the same nonce twice, even when a crash hands a
 *   torn record's position to another record at the next open. Scavenging keeps every kept record's bytes and
 *   position, so it needs no key and reuses nothing.</li>
 *   <li><b>Authenticated data</b>: bytes {@code [8, 40)} of the header (record type, flags, event type, stream id,
 *   version, timestamp) and the event id if there is one; with the position in the nonce, a record copied to
 *   another position, or another stream or version, fails its tag.</li>
 *   <li>The checksum covers the record as stored, cipher text included: damage is found by the CRC before any
 *   decryption, and a tag failure with a good CRC means a forgery or a record moved whole.</li>
 * </ul>
 * The metadata events and tombstones the store writes itself, and name records, are never encrypted.
 */
public final class RecordDescriptor
{
    /** Records start on this boundary; also the smallest record (a padding, see above). */
    public static final int ALIGNMENT = 16;

    /** Offset of the frame length. */
    public static final int FRAME_LENGTH_OFFSET = 0;
    /** Offset of the CRC32C checksum. */
    public static final int CHECKSUM_OFFSET = 4;
    /** Offset of the record type. */
    public static final int RECORD_TYPE_OFFSET = 8;
    /** Offset of the flags. */
    public static final int FLAGS_OFFSET = 10;
    /** Offset of the user's event type. */
    public static final int EVENT_TYPE_OFFSET = 12;
    /** Offset of the stream id. */
    public static final int STREAM_ID_OFFSET = 16;
    /** Offset of the stream version. */
    public static final int VERSION_OFFSET = 24;
    /** Offset of the timestamp. */
    public static final int TIMESTAMP_OFFSET = 32;
    /** Length of the header; the payload starts here. */
    public static final int HEADER_LENGTH = 40;
    /** First byte covered by the checksum. */
    public static final int CHECKSUM_START = RECORD_TYPE_OFFSET;
    /** Offset of a padding record's copy of its frame length. */
    public static final int PADDING_LENGTH_OFFSET = STREAM_ID_OFFSET;
    /** End of what a padding record's checksum covers. */
    public static final int PADDING_CHECKSUM_END = PADDING_LENGTH_OFFSET + Long.BYTES;

    /** An event. */
    public static final short TYPE_EVENT = 1;
    /** Space that holds no event. */
    public static final short TYPE_PADDING = 2;

    /** The name of a named stream. */
    public static final short TYPE_STREAM_NAME = 3;

    /** Offset of a name record's name length. */
    public static final int NAME_LENGTH_OFFSET = HEADER_LENGTH;
    /** Offset of a name record's name. */
    public static final int NAME_OFFSET = NAME_LENGTH_OFFSET + Integer.BYTES;

    /** Another record of the same batch follows this one. */
    public static final short FLAG_BATCH_MORE = 1;
    /** This record continues a batch begun by the record before it. */
    public static final short FLAG_BATCH_CONTINUATION = 2;
    /** Both batch flags. */
    public static final short BATCH_FLAGS = FLAG_BATCH_MORE | FLAG_BATCH_CONTINUATION;
    /** The event carries an event id after its header. */
    public static final short FLAG_EVENT_ID = 4;

    /**
     * The event is its stream's tombstone ({@code VarveDB.tombstoneStream}): the stream's last event, with no
     * payload and event type {@link #TOMBSTONE_EVENT_TYPE}; recovery marks the stream tombstoned when it indexes
     * it. Only the store writes this flag, so no payload can forge a tombstone.
     */
    public static final short FLAG_TOMBSTONE = 8;
    /** The event type of a tombstone record. */
    public static final int TOMBSTONE_EVENT_TYPE = 0x7ffffff1;

    /**
     * The event's payload is encrypted: a writer generation follows the header (and event id), the cipher text
     * follows it, and a GCM tag ends the frame.
     */
    public static final short FLAG_ENCRYPTED = 16;
    /** Bytes of the writer generation before an encrypted payload (the nonce's stored part). */
    public static final int NONCE_PREFIX_LENGTH = 4;
    /** Bytes of the GCM tag after an encrypted payload. */
    public static final int TAG_LENGTH = 16;
    /** Bytes an encrypted event takes beyond its clear one. */
    public static final int ENCRYPTION_OVERHEAD = NONCE_PREFIX_LENGTH + TAG_LENGTH;
    /** First byte of an encrypted event's authenticated header. */
    public static final int AAD_START = RECORD_TYPE_OFFSET;

    /** Offset of the event id's high 64 bits, in a record with {@link #FLAG_EVENT_ID}. */
    public static final int EVENT_ID_HIGH_OFFSET = 40;
    /** Offset of the event id's low 64 bits, in a record with {@link #FLAG_EVENT_ID}. */
    public static final int EVENT_ID_LOW_OFFSET = 48;
    /** Bytes an event id takes after the header. */
    public static final int EVENT_ID_LENGTH = 16;

    private RecordDescriptor()
    {
    }

    /**
     * @param payloadLength bytes of payload.
     * @return the frame length of an event record.
     */
    public static int frameLength(final int payloadLength)
    {
        return HEADER_LENGTH + payloadLength;
    }

    /**
     * @param payloadLength bytes of payload.
     * @param withEventId   the record carries an event id.
     * @return the frame length of an event record.
     */
    public static int frameLength(final int payloadLength, final boolean withEventId)
    {
        return HEADER_LENGTH + (withEventId ? EVENT_ID_LENGTH : 0) + payloadLength;
    }

    /**
     * @param payloadLength bytes of payload.
     * @param withEventId   the record carries an event id.
     * @param encrypted     the payload is encrypted.
     * @return the frame length of an event record.
     */
    public static int frameLength(final int payloadLength, final boolean withEventId, final boolean encrypted)
    {
        return frameLength(payloadLength, withEventId) + (encrypted ? ENCRYPTION_OVERHEAD : 0);
    }

    /**
     * @param buffer a segment's buffer.
     * @param offset of a record in it.
     * @param high   an event id's high half.
     * @param low    its low half.
     * @return true if a published event record there carries this id: what an id table's slot must point at.
     */
    public static boolean carriesEventId(final UnsafeBuffer buffer, final int offset, final long high, final long low)
    {
        // acquire: pairs with the appender's release of the frame length, the last write of the record
        return buffer.getIntAcquire(offset + FRAME_LENGTH_OFFSET) >= HEADER_LENGTH + EVENT_ID_LENGTH &&
            buffer.getShort(offset + RECORD_TYPE_OFFSET) == TYPE_EVENT &&
            (buffer.getShort(offset + FLAGS_OFFSET) & FLAG_EVENT_ID) != 0 &&
            buffer.getLong(offset + EVENT_ID_HIGH_OFFSET) == high &&
            buffer.getLong(offset + EVENT_ID_LOW_OFFSET) == low;
    }

    /**
     * @param flags an event record's flags.
     * @return where its payload starts, from the record's start.
     */
    public static int payloadOffset(final short flags)
    {
        return HEADER_LENGTH + ((flags & FLAG_EVENT_ID) != 0 ? EVENT_ID_LENGTH : 0) +
            ((flags & FLAG_ENCRYPTED) != 0 ? NONCE_PREFIX_LENGTH : 0);
    }

    /**
     * @param flags an event record's flags.
     * @return the smallest frame length such a record can have (no payload).
     */
    public static int minFrameLength(final short flags)
    {
        return payloadOffset(flags) + ((flags & FLAG_ENCRYPTED) != 0 ? TAG_LENGTH : 0);
    }

    /**
     * @param flags       an event record's flags.
     * @param frameLength its frame length.
     * @return the length of its payload (clear or encrypted: the same).
     */
    public static int payloadLength(final short flags, final int frameLength)
    {
        return frameLength - minFrameLength(flags);
    }

    /**
     * @param nameLength bytes of the name.
     * @return the frame length of a name record.
     */
    public static int nameFrameLength(final int nameLength)
    {
        return NAME_OFFSET + nameLength;
    }

    /**
     * @param frameLength a frame length.
     * @return the space the record occupies in the log.
     */
    public static int alignedLength(final int frameLength)
    {
        return BitUtil.align(frameLength, ALIGNMENT);
    }
}
