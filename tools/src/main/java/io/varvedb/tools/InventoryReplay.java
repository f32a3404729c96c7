package io.varvedb.tools;

import io.varvedb.EventHandler;
import io.varvedb.RecordedEvent;
import io.varvedb.VarveDB;

/**
 * The demo's proof for one product: replays its stream from the store and checks that versions run 1..n without a
 * gap, that it starts with {@code StockAdded}, that reservations never exceed the stock at any point, and that the
 * index's version matches what was read.
 */
public final class InventoryReplay implements EventHandler
{
    private long expectedVersion = 1;
    private long stock;
    private long reserved;
    private long reservations;
    private long events;
    private long indexVersion;
    private String problem;

    private InventoryReplay()
    {
    }

    /**
     * @param db       the store.
     * @param streamId a product stream.
     * @return the replayed, checked stream.
     */
    public static InventoryReplay replay(final VarveDB db, final long streamId)
    {
        final InventoryReplay replay = new InventoryReplay();
        replay.indexVersion = db.streamVersion(streamId);
        db.readStream(streamId, 1, Integer.MAX_VALUE, replay);
        return replay;
    }

    @Override
    public void onEvent(final RecordedEvent event)
    {
        events++;
        if (problem != null)
        {
            return;
        }
        if (event.version() != expectedVersion)
        {
            problem = "version " + event.version() + " where " + expectedVersion + " was due";
            return;
        }
        expectedVersion++;
        final int units = Inventory.units(event.payload(), event.payloadLength());
        if (units < 0)
        {
            problem = "version " + event.version() + " has an unreadable payload";
        }
        else if (event.version() == 1 && event.eventType() != Inventory.STOCK_ADDED)
        {
            problem = "the stream does not start with StockAdded";
        }
        else if (event.eventType() == Inventory.STOCK_ADDED)
        {
            stock += units;
        }
        else if (event.eventType() == Inventory.STOCK_RESERVED)
        {
            reserved += units;
            reservations++;
            if (reserved > stock)
            {
                problem = "OVERSOLD at version " + event.version() + ": " + reserved + " units reserved of " + stock;
            }
        }
        else
        {
            problem = "version " + event.version() + " has unknown event type " + event.eventType();
        }
    }

    /**
     * @param acknowledged reservations the buyers were told succeeded on this product.
     * @return what is wrong, or null if the stream proves the product was not oversold.
     */
    public String problem(final long acknowledged)
    {
        if (problem != null)
        {
            return problem;
        }
        if (events != indexVersion)
        {
            return "replay read " + events + " events, the index says version " + indexVersion;
        }
        if (reservations != acknowledged)
        {
            return acknowledged + " reservations acknowledged, " + reservations + " on disk";
        }
        return null;
    }

    /**
     * @return units put on sale.
     */
    public long stock()
    {
        return stock;
    }

    /**
     * @return units reserved.
     */
    public long reserved()
    {
        return reserved;
    }

    /**
     * @return reservation events.
     */
    public long reservations()
    {
        return reservations;
    }

    /**
     * @return events read.
     */
    public long events()
    {
        return events;
    }
}
