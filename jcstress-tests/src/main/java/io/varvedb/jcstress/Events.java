package io.varvedb.jcstress;

import io.varvedb.RecordedEvent;
import io.varvedb.internal.log.RecordDescriptor;
import org.agrona.DirectBuffer;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.zip.CRC32C;

/**
 * Payloads the tests write, and an independent check of an event read back: the test rebuilds the record's
 * checksummed bytes from what the reader handed out and recomputes the CRC32C itself, so a torn or misplaced
 * record cannot pass just because core agrees with itself.
 * <p>
 * The event type is the number of the actor that wrote the event; the payload is a pattern of the stream id and
 * that number, so an event read back tells who wrote it and whether every byte is that writer's.
 */
public final class Events
{
    /** {@link #check} result: stream id or version is not the one asked for. */
    public static final int WRONG_ID = -1;
    /** {@link #check} result: payload length or event type is wrong. */
    public static final int WRONG_SHAPE = -2;
    /** {@link #check} result: a payload byte is not the writer's pattern. */
    public static final int WRONG_PAYLOAD = -3;
    /** {@link #check} result: the stored checksum does not match the bytes. */
    public static final int WRONG_CHECKSUM = -4;
    /** {@link #check} result: the batch flags are wrong. */
    public static final int WRONG_FLAGS = -5;

    /** Flags of a single event. */
    public static final short SINGLE = 0;

    private static final int CHECKSUMMED_HEADER = RecordDescriptor.HEADER_LENGTH - RecordDescriptor.CHECKSUM_START;
    private static final int STREAM_MULTIPLIER = 31;
    private static final int WRITER_MULTIPLIER = 101;

    private Events()
    {
    }

    /**
     * @param streamId the stream the event goes to.
     * @param writer   the actor writing it, from 1; also its event type.
     * @param length   payload length.
     * @return the payload.
     */
    public static byte[] payload(final long streamId, final int writer, final int length)
    {
        final byte[] bytes = new byte[length];
        for (int i = 0; i < length; i++)
        {
            bytes[i] = patternByte(streamId, writer, i);
        }
        return bytes;
    }

    /**
     * Flags of event {@code i} of a batch of {@code count}.
     *
     * @param i     index in the batch.
     * @param count batch size.
     * @return the flags core should have written.
     */
    public static short batchFlags(final int i, final int count)
    {
        short flags = i < count - 1 ? RecordDescriptor.FLAG_BATCH_MORE : 0;
        if (i > 0)
        {
            flags |= RecordDescriptor.FLAG_BATCH_CONTINUATION;
        }
        return flags;
    }

    /**
     * Check an event completely against what its writer wrote.
     *
     * @param event    the event, inside the handler.
     * @param streamId expected stream.
     * @param version  expected version.
     * @param length   expected payload length.
     * @param flags    expected flags ({@link #SINGLE} or {@link #batchFlags}).
     * @return the writer's number (its event type, > 0) when every byte is right, else one of the negative codes.
     */
    public static int check(
        final RecordedEvent event, final long streamId, final long version, final int length, final short flags)
    {
        if (event.streamId() != streamId || event.version() != version)
        {
            return WRONG_ID;
        }
        final int writer = event.eventType();
        if (event.payloadLength() != length || writer <= 0)
        {
            return WRONG_SHAPE;
        }
        if (event.isInBatch() != (flags != SINGLE))
        {
            return WRONG_FLAGS;
        }
        for (int i = 0; i < length; i++)
        {
            if (event.payload().getByte(i) != patternByte(streamId, writer, i))
            {
                return WRONG_PAYLOAD;
            }
        }

        final ByteBuffer bytes = ByteBuffer.allocate(CHECKSUMMED_HEADER + length).order(ByteOrder.LITTLE_ENDIAN);
        bytes.putShort(RecordDescriptor.TYPE_EVENT)
            .putShort(flags)
            .putInt(writer)
            .putLong(event.streamId())
            .putLong(event.version())
            .putLong(event.timestamp());
        event.payload().getBytes(0, bytes, CHECKSUMMED_HEADER, length);
        bytes.position(0).limit(CHECKSUMMED_HEADER + length);
        final CRC32C crc = new CRC32C();
        crc.update(bytes);
        if ((int)crc.getValue() != event.checksum())
        {
            return WRONG_CHECKSUM;
        }
        return writer;
    }

    /**
     * Checks records in place, in the mapping of a log segment, with plain loads only: no load in here orders
     * anything, so a record passes only if whatever made its bytes visible to the calling thread happened before
     * the call. Keeps scratch space, so one per thread.
     */
    static final class RecordCheck
    {
        private static final int INITIAL_SCRATCH = 1 << 10;
        private final CRC32C crc = new CRC32C();
        private byte[] scratch = new byte[INITIAL_SCRATCH];
        private ByteBuffer view = wrap(scratch);

        /**
         * Check an event record completely, as {@link Events#check} checks a delivered event: the event type names
         * the writer, the payload is that writer's pattern for the stream id in the record, and the stored CRC32C
         * matches the one recomputed here from the bytes copied out of the mapping.
         *
         * @param buffer      the segment's mapping.
         * @param offset      of the record in {@code buffer}.
         * @param frameLength the record's frame length, already read and positive.
         * @param version     the version the record must have.
         * @param lengths     payload length expected of each writer, indexed by writer (event type).
         * @return the writer's number (> 0) when every byte is right, else one of the negative {@link Events} codes.
         */
        int check(
            final DirectBuffer buffer, final int offset, final int frameLength, final long version, final int[] lengths)
        {
            // [checksum, frameLength): the checksum, then the bytes it covers
            final int copied = frameLength - RecordDescriptor.CHECKSUM_OFFSET;
            final int length = frameLength - RecordDescriptor.HEADER_LENGTH;
            if (length < 0)
            {
                return WRONG_SHAPE;
            }
            if (scratch.length < copied)
            {
                scratch = new byte[Math.max(copied, scratch.length * 2)];
                view = wrap(scratch);
            }
            buffer.getBytes(offset + RecordDescriptor.CHECKSUM_OFFSET, scratch, 0, copied);
            final int at = -RecordDescriptor.CHECKSUM_OFFSET;
            final short recordType = view.getShort(at + RecordDescriptor.RECORD_TYPE_OFFSET);
            final short flags = view.getShort(at + RecordDescriptor.FLAGS_OFFSET);
            final int writer = view.getInt(at + RecordDescriptor.EVENT_TYPE_OFFSET);
            final long streamId = view.getLong(at + RecordDescriptor.STREAM_ID_OFFSET);
            if (recordType != RecordDescriptor.TYPE_EVENT || writer <= 0 || writer >= lengths.length ||
                length != lengths[writer])
            {
                return WRONG_SHAPE;
            }
            if (streamId <= 0 || view.getLong(at + RecordDescriptor.VERSION_OFFSET) != version)
            {
                return WRONG_ID;
            }
            if (flags != SINGLE)
            {
                return WRONG_FLAGS;
            }
            final int payload = at + RecordDescriptor.HEADER_LENGTH;
            for (int i = 0; i < length; i++)
            {
                if (scratch[payload + i] != patternByte(streamId, writer, i))
                {
                    return WRONG_PAYLOAD;
                }
            }
            crc.reset();
            crc.update(scratch, at + RecordDescriptor.CHECKSUM_START, copied - (at + RecordDescriptor.CHECKSUM_START));
            if ((int)crc.getValue() != view.getInt(0))
            {
                return WRONG_CHECKSUM;
            }
            return writer;
        }

        private static ByteBuffer wrap(final byte[] bytes)
        {
            return ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        }
    }

    private static byte patternByte(final long streamId, final int writer, final int i)
    {
        return (byte)(streamId * STREAM_MULTIPLIER + writer * WRITER_MULTIPLIER + i);
    }
}
