package io.varvedb;

import org.agrona.DirectBuffer;
import org.agrona.ExpandableDirectByteBuffer;
import org.agrona.MutableDirectBuffer;
import org.agrona.concurrent.UnsafeBuffer;

import java.util.Arrays;

/**
 * Events to append to one stream all at once ({@link Appender#appendBatch}): they get consecutive versions and
 * lie contiguous in the log, and either all of them are appended or none is. Reusable: {@link #clear()} and
 * fill again; after warm-up, adding and appending allocate nothing. Payloads are copied in when added, so the
 * caller may reuse its buffers at once.
 */
public final class EventBatch
{
    private static final int INITIAL_EVENTS = 16;
    private final ExpandableDirectByteBuffer data = new ExpandableDirectByteBuffer(4096);
    private final UnsafeBuffer arrayView = new UnsafeBuffer(new byte[0]);
    private int[] eventTypes = new int[INITIAL_EVENTS];
    private int[] offsets = new int[INITIAL_EVENTS];
    private int[] lengths = new int[INITIAL_EVENTS];
    private int size;
    private int dataLength;

    /**
     * Add an event.
     *
     * @param eventType the event's type.
     * @param payload   holding the payload.
     * @param offset    of the payload.
     * @param length    of the payload.
     * @return this batch.
     */
    public EventBatch add(final int eventType, final DirectBuffer payload, final int offset, final int length)
    {
        if (payload == null)
        {
            throw new NullPointerException("payload must not be null (use an empty buffer for no payload)");
        }
        if (offset < 0 || length < 0 || (long)offset + length > payload.capacity())
        {
            throw new IndexOutOfBoundsException("payload range [" + offset + ", " + offset + " + " + length +
                ") is outside a buffer of " + payload.capacity() + " bytes");
        }
        if (size == eventTypes.length)
        {
            final int capacity = size * 2;
            eventTypes = Arrays.copyOf(eventTypes, capacity);
            offsets = Arrays.copyOf(offsets, capacity);
            lengths = Arrays.copyOf(lengths, capacity);
        }
        data.putBytes(dataLength, payload, offset, length);
        eventTypes[size] = eventType;
        offsets[size] = dataLength;
        lengths[size] = length;
        dataLength += length;
        size++;
        return this;
    }

    /**
     * Add an event.
     *
     * @param eventType the event's type.
     * @param payload   the payload.
     * @return this batch.
     */
    public EventBatch add(final int eventType, final byte[] payload)
    {
        if (payload == null)
        {
            throw new NullPointerException("payload must not be null (use new byte[0] for no payload)");
        }
        arrayView.wrap(payload);
        return add(eventType, arrayView, 0, payload.length);
    }

    /**
     * Add an event whose payload is {@code payload[offset, offset + length)}.
     *
     * @param eventType the event's type.
     * @param payload   holding the payload.
     * @param offset    of the payload in the array.
     * @param length    of the payload.
     * @return this batch.
     * @throws IndexOutOfBoundsException if the range is not inside the array; the batch is unchanged.
     */
    public EventBatch add(final int eventType, final byte[] payload, final int offset, final int length)
    {
        if (payload == null)
        {
            throw new NullPointerException("payload must not be null (use new byte[0] for no payload)");
        }
        if (offset < 0 || length < 0 || (long)offset + length > payload.length)
        {
            throw new IndexOutOfBoundsException("payload range [" + offset + ", " + offset + " + " + length +
                ") is outside an array of " + payload.length + " bytes");
        }
        arrayView.wrap(payload);
        return add(eventType, arrayView, offset, length);
    }

    /**
     * Empty the batch for reuse.
     *
     * @return this batch.
     */
    public EventBatch clear()
    {
        size = 0;
        dataLength = 0;
        return this;
    }

    /**
     * @return events in the batch.
     */
    public int size()
    {
        return size;
    }

    int eventType(final int index)
    {
        return eventTypes[index];
    }

    int payloadOffset(final int index)
    {
        return offsets[index];
    }

    int payloadLength(final int index)
    {
        return lengths[index];
    }

    MutableDirectBuffer data()
    {
        return data;
    }
}
