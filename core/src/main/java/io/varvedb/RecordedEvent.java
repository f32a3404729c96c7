package io.varvedb;

import io.varvedb.internal.log.RecordDescriptor;
import org.agrona.DirectBuffer;
import org.agrona.concurrent.UnsafeBuffer;

/**
 * A committed event, read in place from the mapped log. A flyweight: the reader re-points it at each event, so
 * it is valid only inside {@link EventHandler#onEvent}; copy what you keep.
 */
public final class RecordedEvent
{
    /** Event type of a stream's tombstone ({@link #isTombstone()}). */
    public static final int TOMBSTONE_EVENT_TYPE = RecordDescriptor.TOMBSTONE_EVENT_TYPE;

    private static final byte[] EMPTY = new byte[0];
    private final UnsafeBuffer payload = new UnsafeBuffer(EMPTY);
    /** Decrypted payloads, in an encrypted store: this reader's own, reused from event to event. */
    private final UnsafeBuffer clear = new UnsafeBuffer(EMPTY);
    private int clearUsed;
    /** Decrypts the event id of a decrypted event that has one; null otherwise. */
    private io.varvedb.internal.crypto.IdCipher ids;
    private UnsafeBuffer buffer;
    private int offset;
    private int frameLength;
    private long position;

    RecordedEvent()
    {
    }

    void wrap(final UnsafeBuffer buffer, final int offset, final int frameLength, final long position)
    {
        this.buffer = buffer;
        this.offset = offset;
        this.frameLength = frameLength;
        this.position = position;
        this.ids = null;
        final short flags = buffer.getShort(offset + RecordDescriptor.FLAGS_OFFSET);
        // an encrypted event read without its key: the cipher text, of the clear payload's length
        payload.wrap(buffer, offset + RecordDescriptor.payloadOffset(flags),
            RecordDescriptor.payloadLength(flags, frameLength));
    }

    /**
     * Point at an event whose payload was decrypted into {@link #clearBuffer}.
     */
    void wrapDecrypted(
        final UnsafeBuffer buffer, final int offset, final int frameLength, final long position, final int length)
    {
        this.buffer = buffer;
        this.offset = offset;
        this.frameLength = frameLength;
        this.position = position;
        payload.wrap(clear, 0, length);
        clearUsed = length;
    }

    /**
     * @param length bytes needed.
     * @return this flyweight's own buffer for a decrypted payload, grown (the one allocation) if it is shorter.
     */
    UnsafeBuffer clearBuffer(final int length)
    {
        if (clear.capacity() < length)
        {
            clear.wrap(new byte[(int)Math.min(Integer.MAX_VALUE - 8, Math.max(length, 2L * clear.capacity()))]);
        }
        return clear;
    }

    /**
     * @param ids decrypts this event's id (set after {@link #wrapDecrypted}); null for none.
     */
    void ids(final io.varvedb.internal.crypto.IdCipher ids)
    {
        this.ids = ids;
    }

    void clear()
    {
        buffer = null;
        ids = null;
        payload.wrap(EMPTY);
        if (clearUsed > 0)
        {
            // the last clear text read goes with the read
            clear.setMemory(0, clearUsed, (byte)0);
            clearUsed = 0;
        }
    }

    /**
     * @return the stream the event belongs to.
     */
    public long streamId()
    {
        return buffer.getLong(offset + RecordDescriptor.STREAM_ID_OFFSET);
    }

    /**
     * @return the event's version in its stream, from 1.
     */
    public long version()
    {
        return buffer.getLong(offset + RecordDescriptor.VERSION_OFFSET);
    }

    /**
     * @return where the event's record starts in the global log.
     */
    public long position()
    {
        return position;
    }

    /**
     * @return where the next record may start: pass it to {@link VarveDB#readAll} to continue after this event.
     */
    public long nextPosition()
    {
        return position + RecordDescriptor.alignedLength(frameLength);
    }

    /**
     * @return when the event was appended, in nanoseconds since the epoch.
     */
    public long timestamp()
    {
        return buffer.getLong(offset + RecordDescriptor.TIMESTAMP_OFFSET);
    }

    /**
     * @return the event type the appender gave.
     */
    public int eventType()
    {
        return buffer.getInt(offset + RecordDescriptor.EVENT_TYPE_OFFSET);
    }

    /**
     * @return a view of the payload; index 0 is its first byte. Valid during the callback only.
     */
    public DirectBuffer payload()
    {
        return payload;
    }

    /**
     * @return the payload's length in bytes.
     */
    public int payloadLength()
    {
        return payload.capacity();
    }

    /**
     * @return true when the event was appended with an event id (exactly once).
     */
    public boolean hasEventId()
    {
        return (buffer.getShort(offset + RecordDescriptor.FLAGS_OFFSET) & RecordDescriptor.FLAG_EVENT_ID) != 0;
    }

    /**
     * @return the high 64 bits of the event's id, or 0 if it has none.
     */
    public long eventIdHigh()
    {
        if (!hasEventId())
        {
            return 0;
        }
        final long high = buffer.getLong(offset + RecordDescriptor.EVENT_ID_HIGH_OFFSET);
        if (ids == null)
        {
            return high;
        }
        ids.open(high, buffer.getLong(offset + RecordDescriptor.EVENT_ID_LOW_OFFSET));
        return ids.high();
    }

    /**
     * @return the low 64 bits of the event's id, or 0 if it has none.
     */
    public long eventIdLow()
    {
        if (!hasEventId())
        {
            return 0;
        }
        final long low = buffer.getLong(offset + RecordDescriptor.EVENT_ID_LOW_OFFSET);
        if (ids == null)
        {
            return low;
        }
        ids.open(buffer.getLong(offset + RecordDescriptor.EVENT_ID_HIGH_OFFSET), low);
        return ids.low();
    }

    /**
     * @return the event's id as a {@link java.util.UUID} (allocates), or null if it has none.
     */
    public java.util.UUID eventId()
    {
        if (!hasEventId())
        {
            return null;
        }
        final long high = buffer.getLong(offset + RecordDescriptor.EVENT_ID_HIGH_OFFSET);
        final long low = buffer.getLong(offset + RecordDescriptor.EVENT_ID_LOW_OFFSET);
        if (ids == null)
        {
            return new java.util.UUID(high, low);
        }
        // one decryption for both halves (eventIdHigh() and eventIdLow() each decrypt the block)
        ids.open(high, low);
        return new java.util.UUID(ids.high(), ids.low());
    }

    /**
     * @return the stored CRC32C of the record.
     */
    public int checksum()
    {
        return buffer.getInt(offset + RecordDescriptor.CHECKSUM_OFFSET);
    }

    /**
     * @return true if this event's payload is encrypted in the log. Reads of a store opened with its master key
     * deliver the clear text whatever this says; only a store opened with
     * {@link VarveConfig.Builder#readCiphertext} delivers the cipher text.
     */
    public boolean isEncrypted()
    {
        return (buffer.getShort(offset + RecordDescriptor.FLAGS_OFFSET) & RecordDescriptor.FLAG_ENCRYPTED) != 0;
    }

    /**
     * @return true if this is a stream's tombstone ({@link VarveDB#tombstoneStream}): the last event of a stream
     * deleted for good, with event type {@link #TOMBSTONE_EVENT_TYPE} and no payload. The global log
     * ({@link VarveDB#readAll}, subscriptions to all) shows it, so followers learn of the deletion; stream reads
     * never deliver it (they throw {@link StreamDeletedException}).
     */
    public boolean isTombstone()
    {
        return (buffer.getShort(offset + RecordDescriptor.FLAGS_OFFSET) & RecordDescriptor.FLAG_TOMBSTONE) != 0;
    }

    /**
     * @return true if this event is stream metadata ({@link VarveDB#setStreamMetadata}), in a stream whose name
     * starts with {@code "$$"}: event type {@link StreamMetadata#EVENT_TYPE}.
     */
    public boolean isStreamMetadata()
    {
        return eventType() == StreamMetadata.EVENT_TYPE && streamId() < 0;
    }

    /**
     * @return true when the event was appended as part of a batch.
     */
    public boolean isInBatch()
    {
        return (buffer.getShort(offset + RecordDescriptor.FLAGS_OFFSET) & RecordDescriptor.BATCH_FLAGS) != 0;
    }

    /**
     * @return true for the last event of a batch (a batch's events are one after another in the log): what a
     * follower that copies the log needs to append the batch again as one.
     */
    public boolean isLastInBatch()
    {
        final short flags = buffer.getShort(offset + RecordDescriptor.FLAGS_OFFSET);
        return (flags & RecordDescriptor.BATCH_FLAGS) != 0 && (flags & RecordDescriptor.FLAG_BATCH_MORE) == 0;
    }

    /**
     * Decode the payload.
     *
     * @param codec to decode with.
     * @param <T>   event type.
     * @return the decoded event.
     */
    public <T> T decode(final Codec<T> codec)
    {
        return codec.decode(payload, 0, payloadLength());
    }

    @Override
    public String toString()
    {
        return "RecordedEvent{stream=" + streamId() + ", version=" + version() + ", position=" + position +
            ", type=" + eventType() + ", payloadLength=" + payloadLength() + ", timestamp=" + timestamp() +
            (hasEventId() ? ", eventId=" + eventId() : "") + "}";
    }
}
