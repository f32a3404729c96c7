package io.varvedb.tools;

import io.varvedb.Appender;
import io.varvedb.ConcurrencyConflictException;
import io.varvedb.EventHandler;
import io.varvedb.ExpectedVersion;
import io.varvedb.RecordedEvent;
import io.varvedb.VarveDB;
import org.HdrHistogram.Histogram;
import org.agrona.concurrent.UnsafeBuffer;

import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * One buyer thread: picks a product it has not seen sold out, catches up on its stream, decides how many units
 * to reserve, and appends expecting the exact version it decided on.
 */
final class DemoBuyer implements Runnable, EventHandler
{
    /** Latencies above this are recorded as this. */
    static final long HIGHEST_TRACKABLE_NANOS = TimeUnit.SECONDS.toNanos(10);
    /** The latency histograms' precision. */
    static final int SIGNIFICANT_DIGITS = 3;
    /** Retries that back off by spinning; later ones yield. */
    private static final int BACKOFF_SPIN_RETRIES = 9;

    private final VarveDB db;
    final int number;
    private final long firstProduct;
    private final int productCount;
    private final int maxUnits;
    private final int maxAttempts;
    private final AtomicLong stop;
    private final SplittableRandom random;
    private final long[] knownVersion;
    private final long[] stockOf;
    private final long[] reservedOf;
    private final boolean[] soldOut;
    final long[] ordersByProduct;
    private final UnsafeBuffer payload = new UnsafeBuffer(new byte[Inventory.MAX_PAYLOAD_LENGTH]);
    final Histogram latency = new Histogram(HIGHEST_TRACKABLE_NANOS, SIGNIFICANT_DIGITS);
    final AtomicLong orders = new AtomicLong();
    final AtomicLong conflicts = new AtomicLong();
    volatile int soldOutSeen;
    long unitsReserved;
    long retriedOrders;
    long givenUpOrders;
    long maxRetries;
    private int current;
    volatile RuntimeException failure;
    /** High half of this buyer's order ids: random, so that ids of other buyers and earlier runs never meet. */
    private final long orderIdHigh = java.util.concurrent.ThreadLocalRandom.current().nextLong() | 1;
    private long orderSequence;
    /** The last order acknowledged: what a buyer restarted after a crash would send again. */
    private long lastStream;
    private long lastIdLow;
    private long lastExpected = -1;
    private long lastVersion;
    private int lastUnits;

    DemoBuyer(
        final VarveDB db,
        final int number,
        final long firstProduct,
        final int productCount,
        final int maxUnits,
        final int maxAttempts,
        final AtomicLong stop)
    {
        this.maxAttempts = maxAttempts;
        this.db = db;
        this.number = number;
        this.firstProduct = firstProduct;
        this.productCount = productCount;
        this.maxUnits = maxUnits;
        this.stop = stop;
        this.random = new SplittableRandom(number * 0x9E3779B97F4A7C15L);
        this.knownVersion = new long[productCount];
        this.stockOf = new long[productCount];
        this.reservedOf = new long[productCount];
        this.soldOut = new boolean[productCount];
        this.ordersByProduct = new long[productCount];
    }

    @Override
    public void run()
    {
        try (Appender appender = db.appender())
        {
            int soldOutCount = 0;
            while (soldOutCount < productCount && stop.get() == 0)
            {
                final int product = pickProduct();
                final int wanted = 1 + random.nextInt(maxUnits);
                if (!order(appender, product, wanted))
                {
                    soldOut[product] = true;
                    soldOutCount++;
                    soldOutSeen = soldOutCount;
                }
            }
        }
        catch (final RuntimeException ex)
        {
            failure = ex;
        }
    }

    /**
     * Send the last acknowledged order again, as this buyer would after a crash that lost the acknowledgement: the
     * same event id, the same (by now stale) expected version.
     *
     * @param appender to append with.
     * @return true if the store answered with the original version and wrote nothing; false if there was no
     * order to retry.
     * @throws IllegalStateException if the retry was not answered as a duplicate of the original.
     */
    boolean retryLastOrder(final Appender appender)
    {
        if (lastExpected < 0)
        {
            return false;
        }
        final int length = Inventory.encodeStockReserved(payload, lastUnits, number);
        final long version = appender.append(lastStream, ExpectedVersion.exact(lastExpected),
            Inventory.STOCK_RESERVED, orderIdHigh, lastIdLow, payload, 0, length);
        if (version != lastVersion || !appender.lastWasDuplicate())
        {
            throw new IllegalStateException("buyer " + number + " retried its order (stream " + lastStream +
                ", version " + lastVersion + ") and got version " + version + (appender.lastWasDuplicate() ?
                " as a duplicate" : ", written again"));
        }
        return true;
    }

    private int pickProduct()
    {
        int product = random.nextInt(productCount);
        while (soldOut[product])
        {
            product = product + 1 == productCount ? 0 : product + 1;
        }
        return product;
    }

    /**
     * @return false if the product turned out to be sold out.
     */
    private boolean order(final Appender appender, final int product, final int wanted)
    {
        final long streamId = firstProduct + product;
        // one event id per order, kept across its retries: should this buyer crash after the append and send the
        // order again, the store answers with the original version instead of reserving twice
        final long orderIdLow = ((long)number << 40) | ++orderSequence;
        int retries = 0;
        while (true)
        {
            catchUp(product, streamId);
            final long left = stockOf[product] - reservedOf[product];
            if (left <= 0)
            {
                return false;
            }
            // a buyer who finds fewer units than wanted takes what is left, so stock runs out exactly
            final int units = (int)Math.min(wanted, left);
            final int length = Inventory.encodeStockReserved(payload, units, number);
            final long start = System.nanoTime();
            final long version;
            final long expected = knownVersion[product];
            try
            {
                version = appender.append(streamId, ExpectedVersion.exact(expected),
                    Inventory.STOCK_RESERVED, orderIdHigh, orderIdLow, payload, 0, length);
            }
            catch (final ConcurrencyConflictException ex)
            {
                // another buyer appended since we read: our decision may be stale, so re-read and decide again,
                // but not forever (a hot product can make one order lose the race over and over)
                conflicts.lazySet(conflicts.get() + 1);
                retries++;
                if (retries >= maxAttempts)
                {
                    givenUpOrders++;
                    maxRetries = Math.max(maxRetries, retries - 1);
                    return true;
                }
                backOff(retries);
                continue;
            }
            latency.recordValue(Math.min(System.nanoTime() - start, HIGHEST_TRACKABLE_NANOS));
            lastStream = streamId;
            lastIdLow = orderIdLow;
            lastExpected = expected;
            lastVersion = version;
            lastUnits = units;
            // our own event: fold it now rather than read it back
            knownVersion[product] = version;
            reservedOf[product] += units;
            unitsReserved += units;
            ordersByProduct[product]++;
            orders.lazySet(orders.get() + 1);
            if (retries > 0)
            {
                retriedOrders++;
                maxRetries = Math.max(maxRetries, retries);
            }
            return true;
        }
    }

    /**
     * Exponential backoff with jitter after a conflict, so buyers racing for one product spread out: a
     * random spin of up to 32, 64, ... 8,192 pauses, then a yield per retry.
     */
    private void backOff(final int retries)
    {
        if (retries > BACKOFF_SPIN_RETRIES)
        {
            Thread.yield();
            return;
        }
        for (int spins = random.nextInt(16 << retries); spins >= 0; spins--)
        {
            Thread.onSpinWait();
        }
    }

    private void catchUp(final int product, final long streamId)
    {
        current = product;
        db.readStream(streamId, knownVersion[product] + 1, Integer.MAX_VALUE, this);
    }

    @Override
    public void onEvent(final RecordedEvent event)
    {
        final int units = Inventory.units(event.payload(), event.payloadLength());
        if (event.eventType() == Inventory.STOCK_ADDED)
        {
            stockOf[current] += units;
        }
        else if (event.eventType() == Inventory.STOCK_RESERVED)
        {
            reservedOf[current] += units;
        }
        knownVersion[current] = event.version();
    }
}
