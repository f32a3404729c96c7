package io.varvedb;

import org.agrona.concurrent.Agent;
import org.agrona.concurrent.AgentRunner;
import org.agrona.concurrent.BusySpinIdleStrategy;
import org.agrona.concurrent.CompositeAgent;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

import static java.nio.ByteOrder.LITTLE_ENDIAN;
import static org.junit.jupiter.api.Assertions.*;

/**
 * The README's Java examples cannot rot: each one is here verbatim, between {@code README:<name>:begin} and
 * {@code README:<name>:end}, compiled by the build, and a test checks that the README's block after
 * {@code <!-- README:<name> -->} is the same text. Change one, change both; the test says where they differ.
 */
class ReadmeExampleTest
{
    // README:inventory:begin
    static final int STOCK_ADDED = 1;                          // the application's event types
    static final int STOCK_RESERVED = 2;
    static final int MAX_ATTEMPTS = 10;                        // then the caller decides: retry later, or refuse

    static void openAndSell(long productId)
    {
        try (VarveDB db = VarveDB.open(Path.of("data")))
        {
            Appender appender = db.appender();                 // one per thread, cheap, reusable
            appender.append(productId, ExpectedVersion.NO_STREAM, STOCK_ADDED, units(100));
            boolean reserved = reserve(db, appender, productId, 3);
        }
    }

    /** Reserves {@code quantity} units unless that would oversell; false when sold out. */
    static boolean reserve(VarveDB db, Appender appender, long productId, int quantity)
    {
        for (int attempt = 1; ; attempt++)
        {
            long version = db.streamVersion(productId);        // 0 when the stream has no events
            if (available(db, productId, version) < quantity)
            {
                return false;                                  // sold out: never oversell
            }
            try
            {
                appender.append(productId, ExpectedVersion.exact(version), STOCK_RESERVED, units(quantity));
                return true;
            }
            catch (ConcurrencyConflictException e)
            {
                // e.streamId(), e.expectedVersion(), e.actualVersion(): someone else reserved first; decide again,
                // but not forever: on a hot product one order can lose the race over and over
                if (attempt == MAX_ATTEMPTS)
                {
                    throw e;
                }
                // back off a random while below 2, 4, 8 ... 1,024 us, so racing buyers spread out
                LockSupport.parkNanos(ThreadLocalRandom.current().nextLong(1_000L << Math.min(attempt, 10)));
            }
        }
    }

    /** Replays the stream's events 1..version: units added less units reserved. */
    static long available(VarveDB db, long productId, long version)
    {
        long[] units = {0};
        long from = 1;
        while (from <= version)                                // maxCount is an int: read a long stream in chunks
        {
            int read = db.readStream(productId, from, (int)Math.min(version - from + 1, 65_536), event ->
                units[0] += (event.eventType() == STOCK_ADDED ? 1 : -1) * event.payload().getInt(0, LITTLE_ENDIAN));
            if (read == 0)
            {
                break;
            }
            from += read;
        }
        return units[0];
    }

    static byte[] units(int count)
    {
        return ByteBuffer.allocate(Integer.BYTES).order(LITTLE_ENDIAN).putInt(count).array();
    }
    // README:inventory:end

    // README:inventory-processes:begin
    /** Runs in each checkout process; any number of them sell from one store at once. Orders reserved. */
    static int sellFromThisProcess(Path data, long productId, int orders)
    {
        VarveConfig config = VarveConfig.builder(data).multiProcess(true).build();  // in every writer process
        try (VarveDB db = VarveDB.open(config))
        {
            Appender appender = db.appender();
            int reserved = 0;
            while (reserved < orders && reserve(db, appender, productId, 3))  // the same reserve() as above
            {
                reserved++;                                // one CAS decided it, whichever process wrote last
            }
            return reserved;                               // short of `orders`: sold out, in every process
        }
    }
    // README:inventory-processes:end

    // README:inventory-once:begin
    /** Reserves for one order exactly once: a retry of the order (its id again) gets the first attempt's answer. */
    static boolean reserveOnce(VarveDB db, Appender appender, long productId, int quantity, UUID orderId)
    {
        for (int attempt = 1; ; attempt++)
        {
            long version = db.streamVersion(productId);
            if (available(db, productId, version) < quantity)
            {
                return db.readEvent(orderId, event -> { });  // sold out, unless by this very order, reserved before
            }
            try
            {
                appender.append(productId, ExpectedVersion.exact(version), STOCK_RESERVED, orderId, units(quantity));
                return true;                               // reserved now, or before: appender.lastWasDuplicate()
            }
            catch (ConcurrencyConflictException e)
            {
                if (attempt == MAX_ATTEMPTS)
                {
                    throw e;
                }
                LockSupport.parkNanos(ThreadLocalRandom.current().nextLong(1_000L << Math.min(attempt, 10)));
            }
        }
    }
    // README:inventory-once:end

    // README:threading:begin
    static void runTheStoresWorkOnMyThread(Path data, Agent myAgent, ThreadFactory pinnedToACore)
    {
        VarveConfig config = VarveConfig.builder(data).backgroundThreading(BackgroundThreading.INVOKED).build();
        VarveDB db = VarveDB.open(config);
        AgentRunner runner = new AgentRunner(new BusySpinIdleStrategy(), Throwable::printStackTrace, null,
            new CompositeAgent(myAgent, db.backgroundAgent()));  // the store's work between your own
        AgentRunner.startOnThread(runner, pinnedToACore);        // your factory: pins, names, sets priority
        // ... append from any thread; at shutdown, in either order:
        runner.close();                                          // onClose() does not close the store
        db.close();                                              // later duty cycles do nothing, return 0
    }
    // README:threading:end

    // README:named-streams:begin
    static long placeOrder(VarveDB db, Appender appender, String orderId, byte[] orderPlaced)
    {
        long stream = db.streamId("order-" + orderId);        // created on first use; -1, -2, ... for good
        appender.append(stream, ExpectedVersion.NO_STREAM, ORDER_PLACED, orderPlaced);
        return db.streamVersion("order-" + orderId);         // or by name, at the cost of a lookup
    }
    // README:named-streams:end

    // README:encryption:begin
    static long forgetCustomer(Path dir, byte[] masterKey, byte[] newMasterKey, byte[] customerCreated)
    {
        try (VarveDB db = VarveDB.open(VarveConfig.builder(dir).encryption(masterKey).build())) // 32 bytes, or a SecretKey
        {
            db.appender().append("customer-42", ExpectedVersion.ANY, 1, customerCreated); // cipher text on disk
            db.readStream("customer-42", 1, 100, (event) -> event.payload());               // clear text to you
            db.shredStream("customer-42");    // forgotten for good: no one can ever decrypt its events again
            db.rotateMasterKey(newMasterKey); // one call, crash-safe: later opens need the new key
            return db.streamVersion("customer-42");                                        // the stream stays, unreadable
        }
    }
    // README:encryption:end

    // README:lifecycle:begin
    static ScavengeResult forget(VarveDB db, long orderId, long cartId, long customerId, long accountId)
    {
        db.setStreamMetadata(orderId, StreamMetadata.NONE.withMaxCount(1_000));              // keep the last 1,000
        db.setStreamMetadata("sensor-7", StreamMetadata.NONE.withMaxAge(Duration.ofDays(30))); // by timestamp
        db.setStreamMetadata(cartId, StreamMetadata.NONE.withTruncateBefore(42));            // versions >= 42
        long version = db.streamVersion(customerId);
        db.deleteStream(customerId, ExpectedVersion.exact(version)); // soft: reads empty, numbering goes on
        db.tombstoneStream(accountId, ExpectedVersion.ANY);          // for good: every later append refused
        return db.scavenge();                                         // disk back, positions unchanged
    }
    // README:lifecycle:end

    private static final int ORDER_PLACED = 1;

    @TempDir
    Path dir;

    @Test
    void theReadmeHoldsTheLifecycleExampleVerbatimAndItDoesWhatItSays() throws IOException
    {
        assertSameText("lifecycle");
        try (VarveDB db = VarveDB.open(VarveConfig.builder(dir).segmentSize(64 * 1024).indexCapacity(1024)
            .indexBlocksPerChunk(64).nameCapacity(64).build()))
        {
            final Appender appender = db.appender();
            for (int i = 0; i < 4000; i++)
            {
                appender.append(1 + i % 4, ExpectedVersion.ANY, 1, new byte[64]);
            }
            appender.append("sensor-7", ExpectedVersion.ANY, 1, new byte[64]);
            final ScavengeResult result = forget(db, 1, 2, 3, 4);
            assertEquals(1_000, db.readStream(1, 1, 2_000, (e) -> { }));
            assertEquals(1_000 - 41, db.readStream(2, 1, 2_000, (e) -> { }));
            assertEquals(0, db.readStream(3, 1, 2_000, (e) -> { }));
            assertEquals(1_000, db.streamVersion(3));
            assertTrue(db.isTombstoned(4));
            assertEquals(1, db.readStream("sensor-7", 1, 10, (e) -> { }), "younger than 30 days");
            assertTrue(result.eventsDropped() > 0 && result.bytesReclaimed() > 0, result.toString());
        }
    }

    @Test
    void theReadmeHoldsTheEncryptionExampleVerbatimAndItDoesWhatItSays() throws IOException
    {
        assertSameText("encryption");
        final byte[] key = new byte[32];
        final byte[] newKey = new byte[32];
        java.util.Arrays.fill(newKey, (byte)7);
        assertEquals(1, forgetCustomer(dir, key, newKey, "Alice, 7 Elm Street".getBytes()));
        assertThrows(EncryptionKeyException.class, () -> VarveDB.open(VarveConfig.builder(dir).encryption(key).build()));
        try (VarveDB db = VarveDB.open(VarveConfig.builder(dir).encryption(newKey).build()))
        {
            assertThrows(StreamShreddedException.class, () -> db.readStream("customer-42", 1, 10, (e) -> { }));
        }
    }

    @Test
    void theReadmeHoldsTheNamedStreamsExampleVerbatim() throws IOException
    {
        assertSameText("named-streams");
    }

    @Test
    void theNamedStreamsExampleRuns()
    {
        try (VarveDB db = VarveDB.open(dir); Appender appender = db.appender())
        {
            assertEquals(1, placeOrder(db, appender, "7781", new byte[]{ 1 }));
            assertEquals("order-7781", db.streamName(db.findStreamId("order-7781")));
        }
    }

    @Test
    void theReadmeHoldsTheInventoryExampleVerbatim() throws IOException
    {
        assertSameText("inventory");
    }

    @Test
    void theReadmeHoldsTheTwoProcessExampleVerbatim() throws IOException
    {
        assertSameText("inventory-processes");
    }

    @Test
    void theReadmeHoldsTheExactlyOnceExampleVerbatim() throws IOException
    {
        assertSameText("inventory-once");
    }

    /** An order retried after its acknowledgement was lost is reserved once, even when it sold the last units. */
    @Test
    void aRetriedOrderIsReservedOnce()
    {
        final long productId = 7;
        try (VarveDB db = VarveDB.open(TestStores.small(dir)); Appender appender = db.appender())
        {
            appender.append(productId, ExpectedVersion.NO_STREAM, STOCK_ADDED, units(5));
            final UUID first = UUID.randomUUID();
            final UUID last = UUID.randomUUID();
            assertTrue(reserveOnce(db, appender, productId, 2, first));
            assertTrue(reserveOnce(db, appender, productId, 2, first), "a retry of the same order");
            assertTrue(appender.lastWasDuplicate());
            assertTrue(reserveOnce(db, appender, productId, 3, last));
            // the retry of the order that took the last units: it finds the product sold out, by itself
            assertTrue(reserveOnce(db, appender, productId, 3, last));
            assertFalse(reserveOnce(db, appender, productId, 1, UUID.randomUUID()), "sold out for a new order");
            assertEquals(3, db.streamVersion(productId), "one StockAdded and two reservations, each once");
            assertEquals(0, available(db, productId, db.streamVersion(productId)));
        }
    }

    @Test
    void theReadmeHoldsTheThreadingExampleVerbatim() throws IOException
    {
        assertSameText("threading");
    }

    /** The threading example runs: the application's thread, made by its factory, does the store's work. */
    @Test
    void theThreadingExampleRunsTheStoresWorkOnTheApplicationsThread() throws Exception
    {
        final List<Thread> made = new ArrayList<>();
        final Agent myAgent = new Agent()
        {
            @Override
            public int doWork()
            {
                return 0;
            }

            @Override
            public String roleName()
            {
                return "mine";
            }
        };
        runTheStoresWorkOnMyThread(dir, myAgent, (runnable) ->
        {
            final Thread thread = new Thread(runnable);
            thread.setDaemon(true);
            made.add(thread);
            return thread;
        });
        assertEquals(1, made.size());
        made.get(0).join(10_000);
        assertFalse(made.get(0).isAlive(), "the runner was closed");
        try (VarveDB db = VarveDB.open(dir))
        {
            assertTrue(db.openedCleanly(), "the example closed the store");
        }
    }

    /** The two-process example does what the README says: checkout processes racing never oversell. */
    @Test
    void checkoutProcessesRacingForOneProductNeverOversellIt() throws Exception
    {
        final long productId = 42;
        final int stock = 600;
        try (VarveDB db = VarveDB.open(VarveConfig.builder(dir).multiProcess(true).build()))
        {
            db.appender().append(productId, ExpectedVersion.NO_STREAM, STOCK_ADDED, units(stock));
        }
        final List<Process> checkouts = new ArrayList<>();
        for (int p = 0; p < 2; p++)
        {
            checkouts.add(MultiProcessTest.start(List.of(), "readme-checkout", dir.toString(),
                Long.toString(productId)));
        }
        for (final Process checkout : checkouts)
        {
            final List<String> said = MultiWriterProcessTest.readAll(checkout);
            assertTrue(checkout.waitFor(60, java.util.concurrent.TimeUnit.SECONDS));
            assertEquals(0, checkout.exitValue(), "checkout process output: " + said);
            Long.parseLong(said.get(said.size() - 1));
        }
        try (VarveDB db = VarveDB.openReadOnly(dir))
        {
            final long[] reservedEvents = { 0 };
            db.readStream(productId, 1, Integer.MAX_VALUE, (e) ->
                reservedEvents[0] += e.eventType() == STOCK_RESERVED ? 1 : 0);
            assertEquals(stock / 3, reservedEvents[0], "every unit sold once, in orders of 3, by the processes");
            assertEquals(0, available(db, productId, db.streamVersion(productId)), "sold out, not oversold");
        }
    }

    /** A checkout process of the two-process example: sells until sold out, then prints its orders. */
    static void checkout(final Path data, final long productId)
    {
        long orders = 0;
        while (true)
        {
            try
            {
                orders += sellFromThisProcess(data, productId, Integer.MAX_VALUE);
                System.out.println(orders);
                return;
            }
            catch (final ConcurrencyConflictException e)
            {
                // an order that lost MAX_ATTEMPTS races in a row: the caller's choice, here to try again (the orders
                // it reserved before are in the log; this count of them is only what the process reports)
            }
        }
    }

    /** The example does what the README says: buyers racing for one product never oversell it. */
    @Test
    void theInventoryExampleNeverOversells() throws Exception
    {
        final long productId = 42;
        try (VarveDB db = VarveDB.open(TestStores.small(dir)))
        {
            db.appender().append(productId, ExpectedVersion.NO_STREAM, STOCK_ADDED, units(1000));
            final AtomicLong reserved = new AtomicLong();
            final AtomicLong gaveUp = new AtomicLong();
            final List<Thread> buyers = new ArrayList<>();
            for (int b = 0; b < 4; b++)
            {
                buyers.add(new Thread(() ->
                {
                    try (Appender appender = db.appender())
                    {
                        while (true)
                        {
                            try
                            {
                                if (!reserve(db, appender, productId, 3))
                                {
                                    return;
                                }
                                reserved.addAndGet(3);
                            }
                            catch (final ConcurrencyConflictException e)
                            {
                                gaveUp.incrementAndGet();
                            }
                        }
                    }
                }));
            }
            buyers.forEach(Thread::start);
            for (final Thread buyer : buyers)
            {
                buyer.join();
            }
            assertEquals(999, reserved.get(), "333 orders of 3 from 1,000 units; gave up " + gaveUp);
            assertEquals(1, available(db, productId, db.streamVersion(productId)));
            assertFalse(reserve(db, db.appender(), productId, 3), "sold out");
            assertTrue(reserve(db, db.appender(), productId, 1));
            assertEquals(0, available(db, productId, db.streamVersion(productId)));
        }
    }

    /**
     * @param name the example's name, in the README's {@code <!-- README:name -->} and in this file's markers.
     */
    static void assertSameText(final String name) throws IOException
    {
        final String source = Files.readString(Path.of("src/test/java/io/varvedb/ReadmeExampleTest.java"));
        final String begin = "    // README:" + name + ":begin\n";
        final String end = "    // README:" + name + ":end\n";
        final int from = source.indexOf(begin);
        final int to = source.indexOf(end);
        assertTrue(from >= 0 && to > from, "markers of " + name + " in ReadmeExampleTest");
        final StringBuilder expected = new StringBuilder();
        for (final String line : source.substring(from + begin.length(), to).split("\n", -1))
        {
            expected.append(line.startsWith("    ") ? line.substring(4) : line).append('\n');
        }

        final String readme = Files.readString(readme());
        final String marker = "<!-- README:" + name + " -->\n```java\n";
        final int start = readme.indexOf(marker);
        assertTrue(start >= 0, "README.md has no " + marker.trim());
        final int stop = readme.indexOf("```\n", start + marker.length());
        final String actual = readme.substring(start + marker.length(), stop);
        assertEquals(expected.toString().stripTrailing(), actual.stripTrailing(),
            "README.md's example '" + name + "' differs from the one the build compiles in ReadmeExampleTest");
    }

    private static Path readme()
    {
        Path directory = Path.of("").toAbsolutePath();
        // the build runs the tests in core/; the project's README is next to core/
        while (directory != null && !(Files.exists(directory.resolve("README.md")) &&
            Files.isDirectory(directory.resolve("core"))))
        {
            directory = directory.getParent();
        }
        assertNotNull(directory, "README.md of the project");
        return directory.resolve("README.md");
    }
}
