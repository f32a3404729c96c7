package io.varvedb.tools;

import io.varvedb.VarveDB;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Buyer threads of this process racing on one open store: the whole demo by default, and each buyer process of
 * {@code demo --processes}.
 */
final class BuyerThreads implements DemoRace
{
    private final DemoBuyer[] buyers;
    private final List<Thread> running = new ArrayList<>();
    private final AtomicLong stop = new AtomicLong();
    private final int products;

    /**
     * @param db           the store, open for writing.
     * @param count        buyer threads.
     * @param firstNumber  the first buyer's number (buyers of different processes must differ: the number seeds
     *                     a buyer's choices and is written into its reservations).
     * @param firstProduct the first product's stream.
     * @param products     products on sale.
     * @param maxUnits     most units one order reserves.
     * @param maxAttempts  appends one order tries.
     */
    BuyerThreads(final VarveDB db, final int count, final int firstNumber, final long firstProduct,
        final int products, final int maxUnits, final int maxAttempts)
    {
        this.products = products;
        this.buyers = new DemoBuyer[count];
        for (int i = 0; i < count; i++)
        {
            buyers[i] = new DemoBuyer(db, firstNumber + i, firstProduct, products, maxUnits, maxAttempts, stop);
        }
    }

    /**
     * Start every buyer.
     */
    void start()
    {
        for (final DemoBuyer buyer : buyers)
        {
            final Thread thread = new Thread(buyer, "buyer-" + buyer.number);
            thread.start();
            running.add(thread);
        }
    }

    @Override
    public boolean finished()
    {
        return running.stream().noneMatch(Thread::isAlive);
    }

    @Override
    public void stop()
    {
        stop.set(1);
        for (final Thread thread : running)
        {
            try
            {
                thread.join();
            }
            catch (final InterruptedException ex)
            {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }

    @Override
    public long orders()
    {
        return java.util.Arrays.stream(buyers).mapToLong((buyer) -> buyer.orders.get()).sum();
    }

    @Override
    public long conflicts()
    {
        return java.util.Arrays.stream(buyers).mapToLong((buyer) -> buyer.conflicts.get()).sum();
    }

    @Override
    public int soldOut()
    {
        int max = 0;
        for (final DemoBuyer buyer : buyers)
        {
            max = Math.max(max, buyer.soldOutSeen);
        }
        return max;
    }

    /**
     * After {@link #stop}: each buyer sends its last acknowledged order again, as if it had crashed before it saw
     * the acknowledgement (see {@link DemoBuyer#retryLastOrder}).
     *
     * @param db the store.
     * @return orders retried, each answered with its original version and written nothing.
     */
    int retryLastOrders(final io.varvedb.VarveDB db)
    {
        int retried = 0;
        try (io.varvedb.Appender appender = db.appender())
        {
            for (final DemoBuyer buyer : buyers)
            {
                retried += buyer.retryLastOrder(appender) ? 1 : 0;
            }
        }
        return retried;
    }

    /**
     * After {@link #stop}: rethrow what made a buyer fail, if one did.
     */
    void rethrowFailure()
    {
        for (final DemoBuyer buyer : buyers)
        {
            if (buyer.failure != null)
            {
                throw buyer.failure;
            }
        }
    }

    /**
     * @return after {@link #stop}: what the buyers did.
     */
    DemoTally tally()
    {
        return DemoTally.of(buyers, products);
    }
}
