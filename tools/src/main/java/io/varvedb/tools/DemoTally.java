package io.varvedb.tools;

import org.HdrHistogram.Histogram;

import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.Base64;
import java.util.zip.DataFormatException;

/**
 * What buyers did, added up: over the threads of one process, then over the processes of {@code demo
 * --processes}, which send theirs to the demo as one line of text ({@link #encode}, {@link #decode}).
 */
final class DemoTally
{
    long orders;
    long conflicts;
    long units;
    long retriedOrders;
    long givenUpOrders;
    long maxRetries;
    final long[] ordersByProduct;
    final Histogram latency = new Histogram(DemoBuyer.HIGHEST_TRACKABLE_NANOS, DemoBuyer.SIGNIFICANT_DIGITS);

    DemoTally(final int products)
    {
        this.ordersByProduct = new long[products];
    }

    /**
     * @param buyers buyer threads that have finished.
     * @param products products on sale.
     * @return their tally.
     */
    static DemoTally of(final DemoBuyer[] buyers, final int products)
    {
        final DemoTally tally = new DemoTally(products);
        for (final DemoBuyer buyer : buyers)
        {
            tally.latency.add(buyer.latency);
            tally.orders += buyer.orders.get();
            tally.conflicts += buyer.conflicts.get();
            tally.units += buyer.unitsReserved;
            tally.retriedOrders += buyer.retriedOrders;
            tally.givenUpOrders += buyer.givenUpOrders;
            tally.maxRetries = Math.max(tally.maxRetries, buyer.maxRetries);
            for (int p = 0; p < products; p++)
            {
                tally.ordersByProduct[p] += buyer.ordersByProduct[p];
            }
        }
        return tally;
    }

    /**
     * Add another tally (of another process) to this one.
     *
     * @param other a tally over the same products.
     */
    void add(final DemoTally other)
    {
        latency.add(other.latency);
        orders += other.orders;
        conflicts += other.conflicts;
        units += other.units;
        retriedOrders += other.retriedOrders;
        givenUpOrders += other.givenUpOrders;
        maxRetries = Math.max(maxRetries, other.maxRetries);
        for (int p = 0; p < ordersByProduct.length; p++)
        {
            ordersByProduct[p] += other.ordersByProduct[p];
        }
    }

    /**
     * @return this tally as one line of words: the counts, the orders by product (comma-separated) and the
     * latency histogram (compressed, base64), so the demo can print the same summary for processes as for threads.
     */
    String encode()
    {
        final ByteBuffer histogram = ByteBuffer.allocate(latency.getNeededByteBufferCapacity());
        final int length = latency.encodeIntoCompressedByteBuffer(histogram);
        final StringBuilder byProduct = new StringBuilder();
        for (final long count : ordersByProduct)
        {
            byProduct.append(byProduct.length() == 0 ? "" : ",").append(count);
        }
        return orders + " " + conflicts + " " + units + " " + retriedOrders + " " + givenUpOrders + " " +
            maxRetries + " " + byProduct + " " +
            Base64.getEncoder().encodeToString(Arrays.copyOf(histogram.array(), length));
    }

    /**
     * @param line     what {@link #encode} wrote.
     * @param products products on sale.
     * @return the tally.
     * @throws IllegalArgumentException if the line is not one.
     */
    static DemoTally decode(final String line, final int products)
    {
        final String[] words = line.trim().split(" ");
        final String[] byProduct = words.length == 8 ? words[6].split(",") : new String[0];
        if (byProduct.length != products)
        {
            throw new IllegalArgumentException("not a buyer process's tally: " + line);
        }
        final DemoTally tally = new DemoTally(products);
        tally.orders = Long.parseLong(words[0]);
        tally.conflicts = Long.parseLong(words[1]);
        tally.units = Long.parseLong(words[2]);
        tally.retriedOrders = Long.parseLong(words[3]);
        tally.givenUpOrders = Long.parseLong(words[4]);
        tally.maxRetries = Long.parseLong(words[5]);
        for (int p = 0; p < products; p++)
        {
            tally.ordersByProduct[p] = Long.parseLong(byProduct[p]);
        }
        try
        {
            tally.latency.add(Histogram.decodeFromCompressedByteBuffer(
                ByteBuffer.wrap(Base64.getDecoder().decode(words[7])), DemoBuyer.HIGHEST_TRACKABLE_NANOS));
        }
        catch (final DataFormatException ex)
        {
            throw new IllegalArgumentException("a buyer process's latency histogram is damaged: " + ex.getMessage(), ex);
        }
        return tally;
    }
}
