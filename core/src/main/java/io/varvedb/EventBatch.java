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
 * caller may reuse its buffers at once; typed events ({@link #add(int, Object, Codec)}) are encoded into the
 * batch when added, so a failing codec fails the add, never the append.
 */
public final class EventBatch
{
    private static final int INITIAL_EVENTS = 16;
    private final ExpandableDirectByteBuffer data = new ExpandableDirectByteBuffer(4096);
    private static final byte[] NO_BYTES = new byte[0];
    private final UnsafeBuffer arrayView = new UnsafeBuffer(NO_BYTES);
    private final UnsafeBuffer codecView = new UnsafeBuffer(NO_BYTES);
    private int[] eventTypes = new int[INITIAL_EVENTS];
    private int[] offsets = new int[INITIAL_EVENTS];
    private int[] lengths = new int[INITIAL_EVENTS];
    private long[] idHighs = new long[INITIAL_EVENTS];
    private long[] idLows = new long[INITIAL_EVENTS];
    private int withIds;
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
        growIfFull();
        data.putBytes(dataLength, payload, offset, length);
        return added(eventType, length);
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
     * Add a typed event, encoded by {@code codec} into the batch's own buffer now, at add time: a codec that
     * throws (or returns a length outside {@code [0, maxEncodedLength]}) leaves the batch as it was, and the
     * exception reaches the caller before anything is appended, so the batch stays all or nothing. The
     * event object is not kept: the caller may change or reuse it at once. Allocates nothing after warm-up
     * (beyond what the codec does).
     *
     * @param eventType the event's type.
     * @param event     the event.
     * @param codec     encodes it; {@link Codec#encode} is called once, with a view of the batch's buffer.
     * @param <T>       the event's class.
     * @return this batch.
     * @throws IllegalArgumentException if the codec reports a negative maximum or writes more than it.
     */
    public <T> EventBatch add(final int eventType, final T event, final Codec<T> codec)
    {
        if (event == null || codec == null)
        {
            throw new NullPointerException("event and codec must not be null");
        }
        final int maxLength = codec.maxEncodedLength(event);
        if (maxLength < 0)
        {
            throw new IllegalArgumentException("codec returned a negative maxEncodedLength: " + maxLength);
        }
        if ((long)dataLength + maxLength > Integer.MAX_VALUE - 8)
        {
            throw new IllegalArgumentException("a batch holds less than 2 GiB of payload; " + dataLength +
                " bytes plus " + maxLength + " do not fit");
        }
        data.checkLimit(dataLength + maxLength);
        final int length;
        try
        {
            codecView.wrap(data, dataLength, maxLength);
            length = codec.encode(event, codecView, maxLength);
        }
        finally
        {
            codecView.wrap(NO_BYTES);
        }
        if (length < 0 || length > maxLength)
        {
            throw new IllegalArgumentException("codec " + codec.getClass().getName() + " wrote " + length +
                " bytes, outside [0, maxEncodedLength " + maxLength + "]");
        }
        growIfFull();
        return added(eventType, length);
    }

    /**
     * Add an event with an event id (see {@link Appender#append(long, ExpectedVersion, int, long, long, byte[])}).
     *
     * @param eventType the event's type.
     * @param eventId   its id, unique in the store.
     * @param payload   the payload.
     * @return this batch.
     */
    public EventBatch add(final int eventType, final java.util.UUID eventId, final byte[] payload)
    {
        final long high = eventId.getMostSignificantBits();
        final long low = eventId.getLeastSignificantBits();
        add(eventType, payload);
        return eventId(high, low);
    }

    /**
     * Give the event added last an event id, for exactly-once appends: a batch whose events all carry ids is a
     * retry-safe unit. Appended again whole (the same ids in the same order, to the same stream) it writes nothing
     * and returns the first append's result; one that shares only some ids with earlier appends is refused with
     * {@link EventIdConflictException}. Either every event of a batch has an id or none has. Allocates nothing.
     *
     * @param high the id's high 64 bits.
     * @param low  the id's low 64 bits; the id 0, 0 means none.
     * @return this batch.
     * @throws IllegalStateException if the batch is empty.
     */
    public EventBatch eventId(final long high, final long low)
    {
        if (size == 0)
        {
            throw new IllegalStateException("eventId names the event added last: add one first");
        }
        final int last = size - 1;
        final boolean had = (idHighs[last] | idLows[last]) != 0;
        final boolean has = (high | low) != 0;
        idHighs[last] = high;
        idLows[last] = low;
        withIds += (has ? 1 : 0) - (had ? 1 : 0);
        return this;
    }

    /** Record the event whose {@code length} bytes were just written at {@code dataLength}. */
    private EventBatch added(final int eventType, final int length)
    {
        idHighs[size] = 0;
        idLows[size] = 0;
        eventTypes[size] = eventType;
        offsets[size] = dataLength;
        lengths[size] = length;
        dataLength += length;
        size++;
        return this;
    }

    private void growIfFull()
    {
        if (size == eventTypes.length)
        {
            final int capacity = size * 2;
            eventTypes = Arrays.copyOf(eventTypes, capacity);
            offsets = Arrays.copyOf(offsets, capacity);
            lengths = Arrays.copyOf(lengths, capacity);
            idHighs = Arrays.copyOf(idHighs, capacity);
            idLows = Arrays.copyOf(idLows, capacity);
        }
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
        withIds = 0;
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

    /**
     * @return how many of the batch's events carry an event id.
     */
    int eventIdCount()
    {
        return withIds;
    }

    long eventIdHigh(final int index)
    {
        return idHighs[index];
    }

    long eventIdLow(final int index)
    {
        return idLows[index];
    }

    MutableDirectBuffer data()
    {
        return data;
    }
}
