package com.example.inventory;

import com.example.inventory.StockEvents.Stock;
import com.example.inventory.StockEvents.StockAdded;
import com.example.inventory.StockEvents.StockReserved;
import io.varvedb.Appender;
import io.varvedb.ConcurrencyConflictException;
import io.varvedb.ExpectedVersion;
import io.varvedb.VarveConfig;
import io.varvedb.VarveDB;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import java.util.stream.Stream;

/**
 * A small inventory service on VarveDB: buyer threads race for limited stock. Each product is a stream; a buyer
 * folds the stream into the units still available, decides, and appends a {@code StockReserved} only if the stream
 * is still at the version it decided on ({@link ExpectedVersion#exact}). A buyer that loses the race gets a
 * {@link ConcurrencyConflictException}, reads what it missed, and decides again, a bounded number of times.
 * Every order carries an event id, so that a retry of it (after a crash that lost the answer) is reserved once.
 * At the end, every product's stream is read back to check that none was oversold.
 */
public final class InventoryService
{
    /** How often one order is decided again after a conflict before it gives up. */
    static final int MAX_ATTEMPTS = 10;
    /** High half of this run's order event ids: random, so that two runs on one store never share an id. */
    private static final long RUN_ID = ThreadLocalRandom.current().nextLong();

    private final VarveDB db;
    private final int products;
    private final AtomicLong nextOrderId = new AtomicLong();
    private final AtomicLong unitsSold = new AtomicLong();
    private final AtomicLong orders = new AtomicLong();
    private final AtomicLong conflicts = new AtomicLong();
    private final AtomicLong gaveUp = new AtomicLong();

    InventoryService(final VarveDB db, final int products)
    {
        this.db = db;
        this.products = products;
    }

    /**
     * Run the service: {@code java -jar inventory-service.jar [DIR]}.
     *
     * @param args optionally the store's directory, new or empty (a store already stocked refuses to be stocked
     *             again: {@code NO_STREAM}), kept for a look with {@code ./varve info DIR}; by default a temporary
     *             directory, removed at the end.
     * @throws Exception if the run fails or a product was oversold.
     */
    public static void main(final String[] args) throws Exception
    {
        final Path dir = args.length > 0 ? Path.of(args[0]) : Files.createTempDirectory("inventory-");
        final Summary summary = run(dir, 4, 2_000, 4);
        System.out.println(summary);
        if (args.length == 0)
        {
            try (Stream<Path> files = Files.walk(dir))
            {
                for (final Path file : files.sorted(Comparator.reverseOrder()).toList())
                {
                    Files.delete(file);
                }
            }
            Files.deleteIfExists(projectionFile(dir));
            System.out.println("(the temporary store is removed; name a directory to keep the store)");
        }
        if (!summary.oversold().isEmpty() || summary.projectedUnitsSold() != summary.unitsSold())
        {
            System.exit(1);
        }
    }

    /**
     * Stock {@code products} products with {@code stock} units each, let {@code buyers} threads buy until every
     * product is sold out, then check the store.
     *
     * @return what happened, and the products that were oversold (none).
     */
    static Summary run(final Path dir, final int products, final int stock, final int buyers) throws Exception
    {
        final VarveConfig config = VarveConfig.builder(dir).segmentSize(4 << 20).indexCapacity(1024).build();
        try (VarveDB db = VarveDB.open(config))
        {
            final InventoryService service = new InventoryService(db, products);
            service.addStock(stock);

            // the read model: units sold per product, saved beside the store, resumed from its own saved position
            final SalesProjection projection = new SalesProjection(projectionFile(dir)).start(db);

            final long start = System.nanoTime();
            final List<Thread> threads = new ArrayList<>();
            for (int i = 0; i < buyers; i++)
            {
                final Thread buyer = new Thread(service::buyUntilSoldOut, "buyer-" + i);
                buyer.start();
                threads.add(buyer);
            }
            for (final Thread buyer : threads)
            {
                buyer.join();
            }
            final long millis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
            // let the projection catch up with the last order, then stop it (it saves what it reached)
            final long end = db.tailPosition();
            while (projection.position() < end)
            {
                Thread.sleep(1);
            }
            projection.close();
            final long projected = projection.unitsSold().values().stream().mapToLong(Long::longValue).sum();
            return new Summary(dir, products, stock, buyers, service.orders.get(), service.unitsSold.get(),
                service.conflicts.get(), service.gaveUp.get(), millis, projected, service.oversoldProducts(stock));
        }
    }

    /** Where the projection of the store in {@code dir} keeps its state: beside the store, not inside it. */
    static Path projectionFile(final Path dir)
    {
        return dir.toAbsolutePath().resolveSibling(dir.getFileName() + ".sales");
    }

    /** Each product's stream starts with its stock; {@code NO_STREAM} makes that happen once. */
    private void addStock(final int stock)
    {
        try (Appender appender = db.appender())
        {
            for (long product = 1; product <= products; product++)
            {
                appender.append(product, ExpectedVersion.NO_STREAM, StockEvents.STOCK_ADDED, new StockAdded(stock),
                    StockEvents.ADDED);
            }
        }
    }

    /** A buyer: orders 1-3 units of a random product until no product has any left. */
    private void buyUntilSoldOut()
    {
        // one appender per thread; each buyer keeps its own view of every product, brought up to date on demand
        try (Appender appender = db.appender())
        {
            final Stock[] view = new Stock[products + 1];
            for (int p = 1; p <= products; p++)
            {
                view[p] = new Stock();
            }
            final ThreadLocalRandom random = ThreadLocalRandom.current();
            int soldOut = 0;
            while (soldOut < products)
            {
                final long product = 1 + random.nextInt(products);
                final int units = 1 + random.nextInt(3);
                if (!reserve(appender, product, view[(int)product], units) && view[(int)product].available() == 0)
                {
                    soldOut = countSoldOut(view);
                }
            }
        }
    }

    /**
     * Reserve {@code units} of {@code product} if that many are left.
     *
     * @return true if reserved; false if not enough are left, or the order gave up after {@link #MAX_ATTEMPTS}.
     */
    private boolean reserve(final Appender appender, final long product, final Stock stock, final int units)
    {
        long backoffNanos = 1_000;
        // one order, one event id, kept across its attempts: were this buyer to crash after the append and send the
        // order again, the store would answer with the first attempt's version instead of reserving twice
        final long orderId = nextOrderId.incrementAndGet();
        final UUID orderEventId = new UUID(RUN_ID, orderId);
        for (int attempt = 1; attempt <= MAX_ATTEMPTS; attempt++)
        {
            // read only what this buyer has not seen yet of the stream
            db.readStream(product, stock.version() + 1, Integer.MAX_VALUE, stock::apply);
            if (stock.available() < units)
            {
                // sold out, unless by this very order in an attempt whose answer was lost
                return db.readEvent(orderEventId, (event) -> { });
            }
            try
            {
                appender.append(product, ExpectedVersion.exact(stock.version()), StockEvents.STOCK_RESERVED,
                    orderEventId, new StockReserved(orderId, units), StockEvents.RESERVED);
                if (!appender.lastWasDuplicate())
                {
                    orders.incrementAndGet();
                    unitsSold.addAndGet(units);
                }
                return true;
            }
            catch (final ConcurrencyConflictException e)
            {
                // another buyer appended since this one read: back off a little, read what it missed, decide again
                conflicts.incrementAndGet();
                LockSupport.parkNanos(ThreadLocalRandom.current().nextLong(backoffNanos));
                backoffNanos = Math.min(backoffNanos * 2, 1_000_000);
            }
        }
        gaveUp.incrementAndGet();
        return false;
    }

    private static int countSoldOut(final Stock[] view)
    {
        int soldOut = 0;
        for (int p = 1; p < view.length; p++)
        {
            soldOut += view[p].available() == 0 ? 1 : 0;
        }
        return soldOut;
    }

    /**
     * Read every product's stream from the start, as a new process would.
     *
     * @return the products that sold more than their stock: none, thanks to the expected versions.
     */
    private List<Long> oversoldProducts(final int stock)
    {
        final List<Long> oversold = new ArrayList<>();
        long reserved = 0;
        for (long product = 1; product <= products; product++)
        {
            final Stock replayed = new Stock();
            db.readStream(product, 1, Integer.MAX_VALUE, replayed::apply);
            reserved += replayed.reserved();
            if (replayed.available() < 0 || replayed.reserved() > stock)
            {
                oversold.add(product);
            }
        }
        if (reserved != unitsSold.get())
        {
            throw new IllegalStateException("the store holds " + reserved + " units reserved, the buyers were told " +
                unitsSold.get());
        }
        return oversold;
    }

    /** What a run did. */
    record Summary(Path dir, int products, int stock, int buyers, long orders, long unitsSold, long conflicts,
        long gaveUp, long millis, long projectedUnitsSold, List<Long> oversold)
    {
        @Override
        public String toString()
        {
            return String.format("Inventory service: %d buyers, %d products x %,d units, store in %s%n" +
                "  %,d orders sold %,d units in %,d ms; %,d conflicts caught and decided again, %,d orders gave up%n" +
                "  the sales projection counted %,d units sold%n" +
                "%s", buyers, products, stock, dir, orders, unitsSold, millis, conflicts, gaveUp, projectedUnitsSold,
                oversold.isEmpty() ? "OK: no product oversold" : "OVERSOLD: products " + oversold);
        }
    }
}
