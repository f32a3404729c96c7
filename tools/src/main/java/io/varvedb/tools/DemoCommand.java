package io.varvedb.tools;

import io.varvedb.Appender;
import io.varvedb.ConcurrencyConflictException;
import io.varvedb.EventHandler;
import io.varvedb.ExpectedVersion;
import io.varvedb.RecordedEvent;
import io.varvedb.VarveConfig;
import io.varvedb.VarveDB;
import org.HdrHistogram.Histogram;
import org.agrona.concurrent.UnsafeBuffer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;

/**
 * {@code varve demo}: the inventory story. Products with limited stock are streams; buyer threads race to reserve
 * units, each reading a product's stream, deciding, and appending {@code StockReserved} with
 * {@code ExpectedVersion.exact(version)}. When two buyers decide on the same version, one append wins and the other
 * gets a {@link ConcurrencyConflictException}, re-reads and decides again, so no unit is sold twice. At the end the
 * store is closed, reopened, and every product stream replayed from disk to prove it.
 */
@Command(
    name = "demo",
    mixinStandardHelpOptions = true,
    header = "Buyers race for limited stock; optimistic concurrency prevents overselling, proven from disk.",
    description = {
        "Products with limited stock are streams. Each buyer thread reads a product's stream, decides, and appends StockReserved expecting the exact version it read; a ConcurrencyConflictException means another buyer was faster, so it re-reads and decides again. At the end the store is closed, reopened read-only, and every product stream replayed to prove that no product sold more than its stock and that every acknowledged reservation is on disk.",
        "Exit status 1 if any invariant fails."
    })
public final class DemoCommand implements Callable<Integer>
{
    private static final long PROGRESS_INTERVAL_MS = 500;
    /** Appends one order may try before its buyer gives it up, by default: a bounded retry, as the README shows. */
    static final int DEFAULT_MAX_ATTEMPTS = 100;
    /** Retries that back off by spinning; later ones yield. */
    private static final int BACKOFF_SPIN_RETRIES = 9;
    private static final long HIGHEST_TRACKABLE_NANOS = TimeUnit.SECONDS.toNanos(10);
    private static final int SIGNIFICANT_DIGITS = 3;
    private static final int DEMO_INDEX_CAPACITY = 1 << 16;
    private static final int DEMO_SEGMENT_SIZE = 16 * 1024 * 1024;
    private static final int MIN_BUYERS = 2;
    private static final double[] PERCENTILES = {50, 90, 99, 99.9, 99.99};

    @Spec
    private CommandSpec spec;

    @Option(names = "--dir", paramLabel = "DIR", defaultValue = "varve-data",
        description = "Store directory, created if missing (default: ${DEFAULT-VALUE}).")
    private Path directory;

    @Option(names = "--products", paramLabel = "N", defaultValue = "8",
        description = "Products on sale, one stream each (default: ${DEFAULT-VALUE}).")
    private int products;

    @Option(names = "--stock", paramLabel = "UNITS", defaultValue = "400000",
        description = "Units of stock per product (default: ${DEFAULT-VALUE}).")
    private int stock;

    @Option(names = "--max-units", paramLabel = "UNITS", defaultValue = "3",
        description = "Most units one order reserves; each order wants 1..UNITS (default: ${DEFAULT-VALUE}).")
    private int maxUnits;

    @Option(names = "--threads", paramLabel = "T",
        description = "Buyer threads (default: the number of cores, at least 2).")
    private Integer threads;

    @Option(names = "--duration", paramLabel = "SECONDS", defaultValue = "10",
        description = "Stop after this long even if stock remains (default: ${DEFAULT-VALUE}).")
    private double durationSeconds;

    @Option(names = "--max-attempts", paramLabel = "N", defaultValue = "" + DEFAULT_MAX_ATTEMPTS,
        description = "Appends one order tries before the buyer gives it up and moves on; between attempts it " +
            "backs off for a random, growing while (default: ${DEFAULT-VALUE}).")
    private int maxAttempts;

    @Option(names = "--fresh",
        description = "Delete the store in --dir first, instead of adding to it: only a VarveDB store, and only " +
            "while no writer has it open (exit status 3 otherwise, nothing deleted).")
    private boolean fresh;

    @Override
    public Integer call()
    {
        final int buyerCount = threads != null ? threads : Math.max(MIN_BUYERS, Runtime.getRuntime().availableProcessors());
        checkArguments(buyerCount);
        final PrintWriter out = spec.commandLine().getOut();
        final Path dir = directory.toAbsolutePath().normalize();
        if (fresh && Files.exists(dir))
        {
            deleteStore(dir);
        }
        Stores.refuseForeign(dir);

        final long firstProduct;
        final Buyer[] buyers = new Buyer[buyerCount];
        final long startNanos;
        final long elapsedNanos;
        final boolean soldOut;
        try (VarveDB db = VarveDB.open(VarveConfig.builder(dir)
            .indexCapacity(DEMO_INDEX_CAPACITY)
            .segmentSize(DEMO_SEGMENT_SIZE)
            .build()))
        {
            firstProduct = freeStreamRange(db, products);
            out.printf(Locale.ROOT, "VarveDB demo: %d buyers race for %s products with %s units each (%s units)%n",
                buyerCount, Format.count(products), Format.count(stock), Format.count((long)products * stock));
            out.printf(Locale.ROOT, "store %s, products are streams %d..%d%n%n", dir, firstProduct,
                firstProduct + products - 1);
            out.flush();
            putOnSale(db, firstProduct);

            final AtomicLong stop = new AtomicLong();
            for (int i = 0; i < buyerCount; i++)
            {
                buyers[i] = new Buyer(db, i + 1, firstProduct, products, maxUnits, maxAttempts, stop);
            }
            final List<Thread> running = new ArrayList<>();
            startNanos = System.nanoTime();
            final long deadline = startNanos + (long)(durationSeconds * TimeUnit.SECONDS.toNanos(1));
            for (final Buyer buyer : buyers)
            {
                final Thread thread = new Thread(buyer, "buyer-" + buyer.number);
                thread.start();
                running.add(thread);
            }
            soldOut = watch(out, buyers, running, startNanos, deadline, stop);
            elapsedNanos = System.nanoTime() - startNanos;
            for (final Buyer buyer : buyers)
            {
                if (buyer.failure != null)
                {
                    throw buyer.failure;
                }
            }
        }

        printSummary(out, buyers, elapsedNanos, soldOut);
        final boolean proven = prove(out, dir, firstProduct, buyers);
        out.flush();
        return proven ? ExitCode.OK : ExitCode.CHECK_FAILED;
    }

    private static void deleteStore(final Path dir)
    {
        // refuse anything that is not recognisably a store: --fresh must never delete someone's files
        Stores.requireStore(dir);
        Stores.readMeta(dir);
        // a writer that has the store open would go on appending to files no longer in the directory, beside the
        // store this run creates: take its lock first, and hold it until everything is deleted
        final WriterLock lock = WriterLock.acquire(dir, "--fresh deletes nothing while it is in use");
        try (Stream<Path> tree = Files.walk(dir))
        {
            final Path lockFile = dir.resolve(Stores.LOCK_FILE);
            for (final Path path : (Iterable<Path>)tree.sorted(Comparator.reverseOrder())::iterator)
            {
                // the lock file stays: deleted under the lock, the next writer would lock a new file of that name
                // while this lock is still held
                if (!path.equals(dir) && !path.equals(lockFile))
                {
                    Files.delete(path);
                }
            }
        }
        catch (final IOException ex)
        {
            throw CliException.store("cannot delete " + dir + ": " + ex.getMessage());
        }
        finally
        {
            lock.close();
        }
        // The lock is released before this run opens the new store (the engine cannot take over a lock held here),
        // so a writer may open the directory first: then this run's open is refused, and nothing of that writer's
        // is deleted.
    }

    private void checkArguments(final int buyerCount)
    {
        if (products < 1)
        {
            throw CliException.usage("--products must be at least 1, got " + products);
        }
        if (stock < 1)
        {
            throw CliException.usage("--stock must be at least 1, got " + stock);
        }
        if (maxUnits < 1)
        {
            throw CliException.usage("--max-units must be at least 1, got " + maxUnits);
        }
        if (buyerCount < 1)
        {
            throw CliException.usage("--threads must be at least 1, got " + buyerCount);
        }
        if (!(durationSeconds > 0))
        {
            throw CliException.usage("--duration must be positive, got " + durationSeconds);
        }
        if (maxAttempts < 1)
        {
            throw CliException.usage("--max-attempts must be at least 1, got " + maxAttempts);
        }
    }

    /**
     * Product streams of earlier runs stay in the store; this run takes the next ids nobody has used.
     */
    private static long freeStreamRange(final VarveDB db, final int count)
    {
        long first = db.streamCount() + 1;
        while (true)
        {
            boolean free = true;
            for (long id = first; id < first + count; id++)
            {
                if (db.streamVersion(id) != 0)
                {
                    free = false;
                    first = id + 1;
                    break;
                }
            }
            if (free)
            {
                return first;
            }
        }
    }

    private void putOnSale(final VarveDB db, final long firstProduct)
    {
        final UnsafeBuffer payload = new UnsafeBuffer(new byte[Inventory.MAX_PAYLOAD_LENGTH]);
        try (Appender appender = db.appender())
        {
            for (long id = firstProduct; id < firstProduct + products; id++)
            {
                final int length = Inventory.encodeStockAdded(payload, stock);
                appender.append(id, ExpectedVersion.NO_STREAM, Inventory.STOCK_ADDED, payload, 0, length);
            }
        }
    }

    private boolean watch(
        final PrintWriter out,
        final Buyer[] buyers,
        final List<Thread> running,
        final long startNanos,
        final long deadline,
        final AtomicLong stop)
    {
        final boolean interactive = System.console() != null;
        long lastReport = startNanos;
        long lastReservations = 0;
        long lastConflicts = 0;
        while (true)
        {
            final long now = System.nanoTime();
            final boolean allDone = running.stream().noneMatch(Thread::isAlive);
            if (allDone || now - deadline >= 0)
            {
                stop.set(1);
                joinAll(running);
                final long end = System.nanoTime();
                final long reservations = sum(buyers, true);
                final long conflicts = sum(buyers, false);
                if (reservations != lastReservations || lastReport == startNanos)
                {
                    printProgress(out, interactive, end - startNanos, reservations, conflicts,
                        reservations - lastReservations, conflicts - lastConflicts, end - lastReport,
                        soldOut(buyers));
                }
                if (interactive)
                {
                    out.println();
                }
                return allDone;
            }
            sleepMillis(Math.min(PROGRESS_INTERVAL_MS, Math.max(1, TimeUnit.NANOSECONDS.toMillis(deadline - now))));
            final long reportAt = System.nanoTime();
            if (reportAt - lastReport >= TimeUnit.MILLISECONDS.toNanos(PROGRESS_INTERVAL_MS))
            {
                final long reservations = sum(buyers, true);
                final long conflicts = sum(buyers, false);
                printProgress(out, interactive, reportAt - startNanos, reservations, conflicts,
                    reservations - lastReservations, conflicts - lastConflicts, reportAt - lastReport,
                    soldOut(buyers));
                lastReport = reportAt;
                lastReservations = reservations;
                lastConflicts = conflicts;
            }
        }
    }

    private void printProgress(
        final PrintWriter out,
        final boolean interactive,
        final long elapsed,
        final long reservations,
        final long conflicts,
        final long newReservations,
        final long newConflicts,
        final long interval,
        final int soldOut)
    {
        final double seconds = Math.max(interval, 1) / 1e9;
        final String line = String.format(Locale.ROOT,
            "%5.1fs  orders %11s (%9s/s)  conflicts %9s (%7s/s)  sold out %d/%d",
            elapsed / 1e9, Format.count(reservations), Format.count((long)(newReservations / seconds)),
            Format.count(conflicts), Format.count((long)(newConflicts / seconds)), soldOut, products);
        if (interactive)
        {
            out.print("\r" + line);
        }
        else
        {
            out.println(line);
        }
        out.flush();
    }

    private int soldOut(final Buyer[] buyers)
    {
        int max = 0;
        for (final Buyer buyer : buyers)
        {
            max = Math.max(max, buyer.soldOutSeen);
        }
        return max;
    }

    private static long sum(final Buyer[] buyers, final boolean reservations)
    {
        long total = 0;
        for (final Buyer buyer : buyers)
        {
            total += reservations ? buyer.orders.get() : buyer.conflicts.get();
        }
        return total;
    }

    private void printSummary(final PrintWriter out, final Buyer[] buyers, final long elapsedNanos, final boolean soldOut)
    {
        final Histogram latency = new Histogram(HIGHEST_TRACKABLE_NANOS, SIGNIFICANT_DIGITS);
        long orders = 0;
        long conflicts = 0;
        long units = 0;
        long retriedOrders = 0;
        long givenUpOrders = 0;
        long maxRetries = 0;
        for (final Buyer buyer : buyers)
        {
            latency.add(buyer.latency);
            orders += buyer.orders.get();
            conflicts += buyer.conflicts.get();
            units += buyer.unitsReserved;
            retriedOrders += buyer.retriedOrders;
            givenUpOrders += buyer.givenUpOrders;
            maxRetries = Math.max(maxRetries, buyer.maxRetries);
        }
        final double seconds = elapsedNanos / 1e9;
        out.println();
        out.println(soldOut ?
            "Every product sold out after " + Format.seconds(seconds) + "." :
            "Stopped after " + Format.seconds(seconds) + " with stock left (--duration).");
        out.printf(Locale.ROOT, "  events written    %s (%s StockAdded + %s StockReserved), %s appends/s%n",
            Format.count(orders + products), Format.count(products), Format.count(orders),
            Format.count((long)(orders / seconds)));
        out.printf(Locale.ROOT, "  units reserved    %s of %s%n", Format.count(units),
            Format.count((long)products * stock));
        out.printf(Locale.ROOT, "  conflicts caught  %s ConcurrencyConflictExceptions; %s orders re-read and " +
            "retried, at most %d times%n", Format.count(conflicts), Format.count(retriedOrders), maxRetries);
        if (givenUpOrders > 0)
        {
            out.printf(Locale.ROOT, "  given up          %s orders after %d attempts each (the buyer moved on)%n",
                Format.count(givenUpOrders), maxAttempts);
        }
        final StringBuilder line = new StringBuilder("  append latency   ");
        for (final double percentile : PERCENTILES)
        {
            line.append(" p").append(trimZero(percentile)).append(' ')
                .append(Format.nanos(latency.getValueAtPercentile(percentile)));
        }
        line.append("  max ").append(Format.nanos(latency.getMaxValue()));
        out.println(line);
        out.println("                    (each successful append() call, timed with System.nanoTime, HdrHistogram)");
    }

    private static String trimZero(final double percentile)
    {
        return percentile == Math.rint(percentile) ? Long.toString((long)percentile) : Double.toString(percentile);
    }

    /**
     * Reopen the closed store and replay every product stream: each must be versions 1..n without gaps, start with
     * its StockAdded, never reserve more than it holds, and contain every reservation a buyer was told succeeded.
     */
    private boolean prove(final PrintWriter out, final Path dir, final long firstProduct, final Buyer[] buyers)
    {
        out.println();
        out.println("Proof: the store was closed, reopened read-only, and every product stream replayed from disk.");
        out.println("  stream      stock   reserved       left    events  check");
        boolean allGood = true;
        long acknowledgedTotal = 0;
        for (final Buyer buyer : buyers)
        {
            acknowledgedTotal += buyer.orders.get();
        }
        long replayedTotal = 0;
        try (VarveDB db = VarveDB.openReadOnly(dir))
        {
            for (int p = 0; p < products; p++)
            {
                final long streamId = firstProduct + p;
                long acknowledged = 0;
                for (final Buyer buyer : buyers)
                {
                    acknowledged += buyer.ordersByProduct[p];
                }
                final InventoryReplay replay = InventoryReplay.replay(db, streamId);
                final String problem = replay.problem(acknowledged);
                allGood &= problem == null;
                replayedTotal += replay.reservations();
                out.printf(Locale.ROOT, "  %6d %10s %10s %10s %9s  %s%n", streamId, Format.count(replay.stock()),
                    Format.count(replay.reserved()), Format.count(replay.stock() - replay.reserved()),
                    Format.count(replay.events()), problem == null ? "ok" : "FAILED: " + problem);
            }
        }
        if (replayedTotal != acknowledgedTotal)
        {
            allGood = false;
            out.printf(Locale.ROOT, "FAILED: buyers were told %s reservations succeeded, the log holds %s%n",
                Format.count(acknowledgedTotal), Format.count(replayedTotal));
        }
        out.println(allGood ?
            "OK: no product oversold; all " + Format.count(acknowledgedTotal) +
                " acknowledged reservations are on disk, each stream's versions run 1..n without gaps." :
            "FAILED: an invariant does not hold (see above).");
        return allGood;
    }

    private static void joinAll(final List<Thread> threads)
    {
        for (final Thread thread : threads)
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

    private static void sleepMillis(final long millis)
    {
        try
        {
            Thread.sleep(millis);
        }
        catch (final InterruptedException ex)
        {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * One buyer thread: picks a product it has not seen sold out, catches up on its stream, decides how many units
     * to reserve, and appends expecting the exact version it decided on.
     */
    private static final class Buyer implements Runnable, EventHandler
    {
        private final VarveDB db;
        private final int number;
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
        private final long[] ordersByProduct;
        private final UnsafeBuffer payload = new UnsafeBuffer(new byte[Inventory.MAX_PAYLOAD_LENGTH]);
        private final Histogram latency = new Histogram(HIGHEST_TRACKABLE_NANOS, SIGNIFICANT_DIGITS);
        private final AtomicLong orders = new AtomicLong();
        private final AtomicLong conflicts = new AtomicLong();
        private volatile int soldOutSeen;
        private long unitsReserved;
        private long retriedOrders;
        private long givenUpOrders;
        private long maxRetries;
        private int current;
        private volatile RuntimeException failure;

        Buyer(
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
                try
                {
                    version = appender.append(streamId, ExpectedVersion.exact(knownVersion[product]),
                        Inventory.STOCK_RESERVED, payload, 0, length);
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
}
