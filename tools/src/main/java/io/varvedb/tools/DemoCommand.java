package io.varvedb.tools;

import io.varvedb.Appender;
import io.varvedb.ConcurrencyConflictException;
import io.varvedb.ExpectedVersion;
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
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * {@code varve demo}: the inventory story. Products with limited stock are streams; buyer threads race to reserve
 * units, each reading a product's stream, deciding, and appending {@code StockReserved} with
 * {@code ExpectedVersion.exact(version)}. When two buyers decide on the same version, one append wins and the other
 * gets a {@link ConcurrencyConflictException}, re-reads and decides again, so no unit is sold twice. At the end the
 * store is closed, reopened, and every product stream replayed from disk to prove it. With {@code --processes N}
 * the buyers are N child JVMs ({@link BuyerProcesses}) writing the store in multi-process mode, so the conflicts
 * are decided between processes, by the same compare-and-set on the stream's slot.
 */
@Command(
    name = "demo",
    mixinStandardHelpOptions = true,
    header = "Buyers race for limited stock; optimistic concurrency prevents overselling, proven from disk.",
    description = {
        "Products with limited stock are streams. Each buyer thread reads a product's stream, decides, and appends StockReserved expecting the exact version it read; a ConcurrencyConflictException means another buyer was faster, so it re-reads and decides again. At the end the store is closed, reopened read-only, and every product stream replayed to prove that no product sold more than its stock and that every acknowledged reservation is on disk.",
        "With --processes N the buyers are N processes (each a JVM with its buyer threads) that open the store in multi-process mode and race just as threads do: ExpectedVersion is decided across processes.",
        "Exit status 1 if any invariant fails."
    })
public final class DemoCommand implements Callable<Integer>
{
    private static final long PROGRESS_INTERVAL_MS = 500;
    /** Appends one order may try before its buyer gives it up, by default: a bounded retry, as the README shows. */
    static final int DEFAULT_MAX_ATTEMPTS = 100;
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

    @Option(names = "--processes", paramLabel = "N", defaultValue = "1",
        description = "Buyer processes: with more than 1, the demo opens the store in multi-process mode and " +
            "starts N buyer JVMs that open it too and race their --threads buyer threads, so conflicts are " +
            "decided across processes; --threads then defaults to the cores divided among them " +
            "(default: ${DEFAULT-VALUE}, buyer threads of this process only).")
    private int processes;

    @Option(names = "--fresh",
        description = "Delete the store in --dir first, instead of adding to it: only a VarveDB store, and only " +
            "while no writer has it open (exit status 3 otherwise, nothing deleted).")
    private boolean fresh;

    @Override
    public Integer call()
    {
        final int cores = Runtime.getRuntime().availableProcessors();
        final int buyerCount = threads != null ? threads :
            processes > 1 ? Math.max(1, cores / processes) : Math.max(MIN_BUYERS, cores);
        checkArguments(buyerCount);
        final PrintWriter out = spec.commandLine().getOut();
        final Path dir = directory.toAbsolutePath().normalize();
        if (fresh && Files.exists(dir))
        {
            deleteStore(dir);
        }
        Stores.refuseForeign(dir);

        final long firstProduct;
        final DemoTally tally;
        final List<BuyerProcesses.Result> perProcess;
        final long elapsedNanos;
        final boolean soldOut;
        int retriedOrders = 0;
        boolean retriesWroteNothing = true;
        try (VarveDB db = VarveDB.open(storeConfig(dir, processes > 1)))
        {
            firstProduct = freeStreamRange(db, products);
            if (processes > 1)
            {
                out.printf(Locale.ROOT, "VarveDB demo: %d buyer processes x %d thread%s race for %s products with " +
                    "%s units each (%s units)%n", processes, buyerCount, buyerCount == 1 ? "" : "s", Format.count(products), Format.count(stock),
                    Format.count((long)products * stock));
            }
            else
            {
                out.printf(Locale.ROOT, "VarveDB demo: %d buyers race for %s products with %s units each " +
                    "(%s units)%n", buyerCount, Format.count(products), Format.count(stock),
                    Format.count((long)products * stock));
            }
            out.printf(Locale.ROOT, "store %s%s, products are streams %d..%d%n%n", dir,
                processes > 1 ? " (multi-process mode)" : "", firstProduct, firstProduct + products - 1);
            out.flush();
            putOnSale(db, firstProduct);

            if (processes > 1)
            {
                // the demo keeps the store open meanwhile: the buyer processes join a store already open
                try (BuyerProcesses race = new BuyerProcesses(processes, buyerCount, dir, firstProduct, products,
                    maxUnits, maxAttempts))
                {
                    final long startNanos = System.nanoTime();
                    race.go();
                    soldOut = watch(out, race, startNanos, deadline(startNanos));
                    elapsedNanos = System.nanoTime() - startNanos;
                    perProcess = race.results();
                }
                tally = new DemoTally(products);
                perProcess.forEach((result) -> tally.add(result.tally()));
            }
            else
            {
                final BuyerThreads race = new BuyerThreads(db, buyerCount, 1, firstProduct, products, maxUnits,
                    maxAttempts);
                final long startNanos = System.nanoTime();
                race.start();
                soldOut = watch(out, race, startNanos, deadline(startNanos));
                elapsedNanos = System.nanoTime() - startNanos;
                race.rethrowFailure();
                tally = race.tally();
                perProcess = List.of();
                final long tail = db.tailPosition();
                retriedOrders = race.retryLastOrders(db);
                retriesWroteNothing = db.tailPosition() == tail;
            }
        }

        printSummary(out, tally, elapsedNanos, soldOut);
        if (retriedOrders > 0)
        {
            out.printf(Locale.ROOT, "  retried orders    %s buyers sent their last order again with its event id, as " +
                "after a crash: each answered with its original version, %s%n", Format.count(retriedOrders),
                retriesWroteNothing ? "nothing written" : "BUT THE LOG GREW");
        }
        printProcesses(out, perProcess, buyerCount);
        final boolean proven = prove(out, dir, firstProduct, tally);
        out.flush();
        return proven && retriesWroteNothing ? ExitCode.OK : ExitCode.CHECK_FAILED;
    }

    /**
     * @param dir          the store directory.
     * @param multiProcess true for {@code --processes} above 1, in the demo and in each buyer process.
     * @return the demo store's configuration.
     */
    static VarveConfig storeConfig(final Path dir, final boolean multiProcess)
    {
        return VarveConfig.builder(dir)
            .indexCapacity(DEMO_INDEX_CAPACITY)
            .segmentSize(DEMO_SEGMENT_SIZE)
            .multiProcess(multiProcess)
            .build();
    }

    private long deadline(final long startNanos)
    {
        return startNanos + (long)(durationSeconds * TimeUnit.SECONDS.toNanos(1));
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
        if (processes < 1)
        {
            throw CliException.usage("--processes must be at least 1, got " + processes);
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

    private boolean watch(final PrintWriter out, final DemoRace race, final long startNanos, final long deadline)
    {
        final boolean interactive = System.console() != null;
        long lastReport = startNanos;
        long lastReservations = 0;
        long lastConflicts = 0;
        while (true)
        {
            final long now = System.nanoTime();
            final boolean allDone = race.finished();
            if (allDone || now - deadline >= 0)
            {
                race.stop();
                final long end = System.nanoTime();
                final long reservations = race.orders();
                final long conflicts = race.conflicts();
                if (reservations != lastReservations || lastReport == startNanos)
                {
                    printProgress(out, interactive, end - startNanos, reservations, conflicts,
                        reservations - lastReservations, conflicts - lastConflicts, end - lastReport,
                        race.soldOut());
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
                final long reservations = race.orders();
                final long conflicts = race.conflicts();
                printProgress(out, interactive, reportAt - startNanos, reservations, conflicts,
                    reservations - lastReservations, conflicts - lastConflicts, reportAt - lastReport,
                    race.soldOut());
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

    private void printSummary(final PrintWriter out, final DemoTally tally, final long elapsedNanos,
        final boolean soldOut)
    {
        final Histogram latency = tally.latency;
        final long orders = tally.orders;
        final long conflicts = tally.conflicts;
        final long units = tally.units;
        final long retriedOrders = tally.retriedOrders;
        final long givenUpOrders = tally.givenUpOrders;
        final long maxRetries = tally.maxRetries;
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

    /**
     * With {@code --processes}: what each buyer process did, as it reported when it had closed the store.
     */
    private static void printProcesses(final PrintWriter out, final List<BuyerProcesses.Result> results,
        final int threadsEach)
    {
        if (results.isEmpty())
        {
            return;
        }
        out.println();
        out.printf(Locale.ROOT, "Buyer processes (each a JVM with %d buyer thread%s, all writing one store in " +
            "multi-process mode):%n", threadsEach, threadsEach == 1 ? "" : "s");
        out.println("  process        pid  reservations         units   conflicts    retried");
        for (final BuyerProcesses.Result result : results)
        {
            final DemoTally tally = result.tally();
            out.printf(Locale.ROOT, "  %7d %10d %13s %13s %11s %10s%n", result.number(), result.pid(),
                Format.count(tally.orders), Format.count(tally.units), Format.count(tally.conflicts),
                Format.count(tally.retriedOrders));
        }
    }

    private static String trimZero(final double percentile)
    {
        return percentile == Math.rint(percentile) ? Long.toString((long)percentile) : Double.toString(percentile);
    }

    /**
     * Reopen the closed store and replay every product stream: each must be versions 1..n without gaps, start with
     * its StockAdded, never reserve more than it holds, and contain every reservation a buyer was told succeeded.
     */
    private boolean prove(final PrintWriter out, final Path dir, final long firstProduct, final DemoTally tally)
    {
        out.println();
        out.println("Proof: the store was closed, reopened read-only, and every product stream replayed from disk.");
        out.println("  stream      stock   reserved       left    events  check");
        boolean allGood = true;
        final long acknowledgedTotal = tally.orders;
        long replayedTotal = 0;
        try (VarveDB db = Stores.openToLook(dir))
        {
            for (int p = 0; p < products; p++)
            {
                final long streamId = firstProduct + p;
                final long acknowledged = tally.ordersByProduct[p];
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
}
