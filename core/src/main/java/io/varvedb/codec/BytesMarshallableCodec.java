package io.varvedb.codec;

import io.varvedb.Codec;
import net.openhft.chronicle.bytes.Bytes;
import net.openhft.chronicle.bytes.BytesMarshallable;
import net.openhft.chronicle.bytes.PointerBytesStore;
import org.agrona.DirectBuffer;
import org.agrona.MutableDirectBuffer;

import java.util.Objects;
import java.util.function.Supplier;

/**
 * A {@link Codec} for Chronicle Bytes {@link BytesMarshallable} events: {@code writeMarshallable} writes straight
 * into the log space the appender claimed, through a Chronicle {@link PointerBytesStore} over that memory, with no
 * intermediate copy and, after the first call on a thread, no allocation.
 * <p>
 * Chronicle Bytes is an optional dependency of VarveDB: only applications that use this class need the
 * {@code chronicle-bytes} jar and its JVM flags (see the README).
 *
 * @param <T> the event class.
 */
public final class BytesMarshallableCodec<T extends BytesMarshallable> implements Codec<T>
{
    private final Supplier<T> factory;
    private final int maxEncodedLength;
    private final ThreadLocal<Scratch> scratch = ThreadLocal.withInitial(Scratch::new);

    /**
     * @param factory          makes an empty event for {@link #decode}.
     * @param maxEncodedLength upper bound of any event's encoded length; the appender claims this much and
     *                         returns the unused part as padding, so keep it tight.
     */
    public BytesMarshallableCodec(final Supplier<T> factory, final int maxEncodedLength)
    {
        if (maxEncodedLength <= 0)
        {
            throw new IllegalArgumentException("maxEncodedLength must be positive, got " + maxEncodedLength);
        }
        this.factory = Objects.requireNonNull(factory, "factory");
        this.maxEncodedLength = maxEncodedLength;
    }

    @Override
    public int maxEncodedLength(final T value)
    {
        return maxEncodedLength;
    }

    @Override
    public int encode(final T value, final MutableDirectBuffer buffer, final int maxLength)
    {
        final Bytes<Void> bytes = scratch.get().over(buffer.addressOffset(), maxLength);
        value.writeMarshallable(bytes);
        return (int)bytes.writePosition();
    }

    @Override
    public T decode(final DirectBuffer buffer, final int offset, final int length)
    {
        return readInto(buffer, offset, length, factory.get());
    }

    /**
     * Decode into an existing event, allocating nothing.
     *
     * @param buffer holding the payload.
     * @param offset of the payload.
     * @param length of the payload.
     * @param target event to fill.
     * @return {@code target}.
     */
    public T readInto(final DirectBuffer buffer, final int offset, final int length, final T target)
    {
        final Bytes<Void> bytes = scratch.get().over(buffer.addressOffset() + offset, length);
        bytes.writePosition(length);
        target.readMarshallable(bytes);
        return target;
    }

    /**
     * One thread's Chronicle view, re-pointed at each call's memory.
     */
    private static final class Scratch
    {
        private final PointerBytesStore store = new PointerBytesStore();
        private Bytes<Void> bytes;

        Bytes<Void> over(final long address, final int length)
        {
            store.set(address, length);
            if (bytes == null)
            {
                bytes = store.bytesForWrite();
            }
            bytes.clear();
            return bytes;
        }
    }
}
