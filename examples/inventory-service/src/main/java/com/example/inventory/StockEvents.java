package com.example.inventory;

import io.varvedb.Codec;
import io.varvedb.RecordedEvent;
import org.agrona.DirectBuffer;
import org.agrona.MutableDirectBuffer;

/**
 * The events of a product's stream, and the codecs that write them into the log and read them back.
 * A product's stream starts with one {@link StockAdded}; every sale is a {@link StockReserved}.
 */
public final class StockEvents
{
    /** Event type of {@link StockAdded}: the number VarveDB stores with each event. */
    public static final int STOCK_ADDED = 1;
    /** Event type of {@link StockReserved}. */
    public static final int STOCK_RESERVED = 2;

    private StockEvents()
    {
    }

    /** Units put on sale. */
    public record StockAdded(int units)
    {
    }

    /** Units sold to one order. */
    public record StockReserved(long orderId, int units)
    {
    }

    /** Encodes {@link StockAdded} as 4 bytes: units. */
    public static final Codec<StockAdded> ADDED = new Codec<>()
    {
        @Override
        public int maxEncodedLength(final StockAdded event)
        {
            return Integer.BYTES;
        }

        @Override
        public int encode(final StockAdded event, final MutableDirectBuffer buffer, final int maxLength)
        {
            buffer.putInt(0, event.units());
            return Integer.BYTES;
        }

        @Override
        public StockAdded decode(final DirectBuffer buffer, final int offset, final int length)
        {
            return new StockAdded(buffer.getInt(offset));
        }
    };

    /** Encodes {@link StockReserved} as 12 bytes: order id, units. */
    public static final Codec<StockReserved> RESERVED = new Codec<>()
    {
        @Override
        public int maxEncodedLength(final StockReserved event)
        {
            return Long.BYTES + Integer.BYTES;
        }

        @Override
        public int encode(final StockReserved event, final MutableDirectBuffer buffer, final int maxLength)
        {
            buffer.putLong(0, event.orderId());
            buffer.putInt(Long.BYTES, event.units());
            return Long.BYTES + Integer.BYTES;
        }

        @Override
        public StockReserved decode(final DirectBuffer buffer, final int offset, final int length)
        {
            return new StockReserved(buffer.getLong(offset), buffer.getInt(offset + Long.BYTES));
        }
    };

    /**
     * How many units of a product are still for sale, folded from its stream's events in version order.
     */
    public static final class Stock
    {
        private long version;
        private long added;
        private long reserved;

        /**
         * Apply the next event of the stream.
         *
         * @param event an event of this product's stream, read from the store.
         */
        public void apply(final RecordedEvent event)
        {
            switch (event.eventType())
            {
                case STOCK_ADDED -> added += event.decode(ADDED).units();
                case STOCK_RESERVED -> reserved += event.decode(RESERVED).units();
                default -> throw new IllegalStateException("unknown event type " + event.eventType());
            }
            version = event.version();
        }

        /** @return the version of the last event applied: the expected version of the next append. */
        public long version()
        {
            return version;
        }

        /** @return units added minus units reserved; negative would mean oversold. */
        public long available()
        {
            return added - reserved;
        }

        /** @return units reserved. */
        public long reserved()
        {
            return reserved;
        }
    }
}
