package io.varvedb.kafka;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;

import io.varvedb.RecordedEvent;
import org.agrona.DirectBuffer;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.Headers;

/**
 * How {@link KafkaPublisher} writes one event of the store's global log as one Kafka record, for
 * {@link KafkaReplica} and for any other consumer (in any language) that reads the topic.
 * <ul>
 *   <li><b>key</b>: the stream's key, UTF-8: its name for a named stream, its decimal id for a numeric one. A
 *   metadata event (a stream's {@code "$$"} metadata stream) and a tombstone carry their stream's key, so the
 *   default partitioner puts every event about a stream in one partition, in order.</li>
 *   <li><b>value</b>: the payload bytes as appended (empty, never null, for a tombstone: a null value would
 *   delete the key in a compacted topic).</li>
 *   <li><b>timestamp</b>: the event's timestamp in milliseconds (create time).</li>
 *   <li><b>headers</b>, binary big-endian: {@value #POSITION} (8 bytes, the event's position in the primary's
 *   global log), {@value #PREVIOUS} (8 bytes, the position of the event published just before it, in any
 *   partition, {@value #NONE} for the first: a consumer of all partitions merges them back into the global order
 *   by following this chain, and sees any gap), {@value #STREAM} (8, the primary's stream id), {@value #VERSION} (8),
 *   {@value #EVENT_TYPE} (4), {@value #TIMESTAMP} (8, epoch nanoseconds), {@value #FLAGS} (1, the {@code FLAG_}
 *   bits), {@value #EVENT_ID} (16, high then low 64 bits; only for an event appended with an id) and
 *   {@value #STREAM_NAME} (UTF-8; only for an event of a named stream, metadata streams included).</li>
 * </ul>
 */
public final class KafkaRecordFormat
{
    /** Header: the event's position in the primary's log, 8 bytes. */
    public static final String POSITION = "varve.position";
    /** Header: the position of the event published before this one ({@link #NONE} for the first), 8 bytes. */
    public static final String PREVIOUS = "varve.previous";
    /** Header: the primary's stream id, 8 bytes. */
    public static final String STREAM = "varve.stream";
    /** Header: the event's version in its stream, 8 bytes. */
    public static final String VERSION = "varve.version";
    /** Header: the application's event type, 4 bytes. */
    public static final String EVENT_TYPE = "varve.type";
    /** Header: the event's timestamp in epoch nanoseconds, 8 bytes. */
    public static final String TIMESTAMP = "varve.timestamp";
    /** Header: {@code FLAG_} bits, 1 byte. */
    public static final String FLAGS = "varve.flags";
    /** Header: the event id, 16 bytes, when it has one. */
    public static final String EVENT_ID = "varve.event-id";
    /** Header: the stream's name (UTF-8), for a named stream. */
    public static final String STREAM_NAME = "varve.stream-name";

    private static final byte[] NO_BYTES = new byte[0];

    /** {@link #PREVIOUS} of the first event ever published to a topic. */
    public static final long NONE = -1;

    /** Flag: the event is one of a batch. */
    public static final int FLAG_IN_BATCH = 1;
    /** Flag: the event is the last of its batch. */
    public static final int FLAG_LAST_IN_BATCH = 2;
    /** Flag: the event is its stream's tombstone. */
    public static final int FLAG_TOMBSTONE = 4;
    /** Flag: the event is stream metadata, in a {@code "$$"} metadata stream; its key is its target stream's. */
    public static final int FLAG_METADATA = 8;

    private KafkaRecordFormat()
    {
    }

    /**
     * @param headers of a record.
     * @param name    of an 8-byte header.
     * @return its value.
     * @throws IllegalArgumentException if the record has no such header of 8 bytes: not published by VarveDB.
     */
    public static long longHeader(final Headers headers, final String name)
    {
        final byte[] value = required(headers, name, Long.BYTES);
        return ByteBuffer.wrap(value).getLong();
    }

    /**
     * @param headers of a record.
     * @param name    of a 4-byte header.
     * @return its value.
     * @throws IllegalArgumentException if the record has no such header of 4 bytes.
     */
    public static int intHeader(final Headers headers, final String name)
    {
        return ByteBuffer.wrap(required(headers, name, Integer.BYTES)).getInt();
    }

    /**
     * @param headers of a record.
     * @return its {@link #FLAGS}.
     */
    public static int flags(final Headers headers)
    {
        return required(headers, FLAGS, 1)[0] & 0xff;
    }

    /**
     * @param headers of a record.
     * @return its stream's name, or null for a numeric stream.
     */
    public static String streamName(final Headers headers)
    {
        final Header header = headers.lastHeader(STREAM_NAME);
        return header == null ? null : new String(header.value(), StandardCharsets.UTF_8);
    }

    /**
     * @param headers of a record.
     * @return its event id as 16 bytes (high, low), or null if it has none.
     */
    public static byte[] eventId(final Headers headers)
    {
        final Header header = headers.lastHeader(EVENT_ID);
        if (header == null)
        {
            return null;
        }
        if (header.value() == null || header.value().length != 2 * Long.BYTES)
        {
            throw new IllegalArgumentException("header " + EVENT_ID + " is not 16 bytes");
        }
        return header.value();
    }

    /**
     * @param headers of a record.
     * @return true if the record carries the headers of an event published by VarveDB.
     */
    public static boolean isVarveRecord(final Headers headers)
    {
        return headers.lastHeader(POSITION) != null && headers.lastHeader(PREVIOUS) != null &&
            headers.lastHeader(VERSION) != null;
    }

    /** @return the record's value: the event's payload, empty (never null) for a record without one. */
    static byte[] value(final ConsumerRecord<byte[], byte[]> record)
    {
        return record.value() == null ? NO_BYTES : record.value();
    }

    /**
     * Compare an event of a store with a record that should be its copy: what a publisher checks of the topic's last
     * record, and a replica of an event it holds already. Stream and version are the caller's: a named stream's id
     * is the store's own.
     *
     * @return what differs (event type, timestamp, event id or payload), or null if nothing does.
     */
    static String difference(final RecordedEvent event, final ConsumerRecord<byte[], byte[]> record)
    {
        final Headers headers = record.headers();
        if (event.eventType() != intHeader(headers, EVENT_TYPE))
        {
            return "event type";
        }
        if (event.timestamp() != longHeader(headers, TIMESTAMP))
        {
            return "timestamp";
        }
        final byte[] id = eventId(headers);
        if (event.hasEventId() != (id != null) || (id != null &&
            (event.eventIdHigh() != ByteBuffer.wrap(id).getLong(0) ||
            event.eventIdLow() != ByteBuffer.wrap(id).getLong(Long.BYTES))))
        {
            return "event id";
        }
        final byte[] value = value(record);
        if (event.payloadLength() != value.length)
        {
            return "payload";
        }
        final DirectBuffer payload = event.payload();
        for (int i = 0; i < value.length; i++)
        {
            if (payload.getByte(i) != value[i])
            {
                return "payload";
            }
        }
        return null;
    }

    static byte[] longBytes(final long value)
    {
        return ByteBuffer.allocate(Long.BYTES).putLong(value).array();
    }

    static byte[] intBytes(final int value)
    {
        return ByteBuffer.allocate(Integer.BYTES).putInt(value).array();
    }

    private static byte[] required(final Headers headers, final String name, final int length)
    {
        final Header header = headers.lastHeader(name);
        if (header == null || header.value() == null || header.value().length != length)
        {
            throw new IllegalArgumentException("not a VarveDB record: header " + name + " missing or not " + length +
                " bytes");
        }
        return header.value();
    }
}
