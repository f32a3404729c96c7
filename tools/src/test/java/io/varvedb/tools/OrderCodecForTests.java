package io.varvedb.tools;

import io.varvedb.Codec;
import org.agrona.DirectBuffer;
import org.agrona.MutableDirectBuffer;

/**
 * An application's codec, as {@code --codec} loads it: an 8-byte order id, then the sku in ASCII. A payload shorter
 * than 8 bytes cannot be decoded.
 */
public final class OrderCodecForTests implements Codec<OrderCodecForTests.Order>
{
    /**
     * The decoded event.
     *
     * @param id  the order id.
     * @param sku what was ordered.
     */
    public record Order(long id, String sku)
    {
    }

    @Override
    public int maxEncodedLength(final Order value)
    {
        return Long.BYTES + value.sku().length();
    }

    @Override
    public int encode(final Order value, final MutableDirectBuffer buffer, final int maxLength)
    {
        buffer.putLong(0, value.id());
        return Long.BYTES + buffer.putStringWithoutLengthAscii(Long.BYTES, value.sku());
    }

    @Override
    public Order decode(final DirectBuffer buffer, final int offset, final int length)
    {
        if (length < Long.BYTES)
        {
            throw new IllegalArgumentException("an order is at least 8 bytes, this payload has " + length);
        }
        return new Order(buffer.getLong(offset), buffer.getStringWithoutLengthAscii(offset + Long.BYTES,
            length - Long.BYTES));
    }

    /** Not usable by --codec: no no-arg constructor. */
    public static final class NeedsAnArgument extends CodecBase
    {
        /**
         * @param ignored anything.
         */
        public NeedsAnArgument(final String ignored)
        {
        }
    }

    /** Not usable by --codec: its constructor throws. */
    public static final class Throws extends CodecBase
    {
        /** Always throws. */
        public Throws()
        {
            throw new IllegalStateException("no configuration found");
        }
    }

    /** A codec that decodes nothing, for the classes above. */
    public abstract static class CodecBase implements Codec<Object>
    {
        @Override
        public int maxEncodedLength(final Object value)
        {
            return 0;
        }

        @Override
        public int encode(final Object value, final MutableDirectBuffer buffer, final int maxLength)
        {
            return 0;
        }

        @Override
        public Object decode(final DirectBuffer buffer, final int offset, final int length)
        {
            return "nothing";
        }
    }
}
