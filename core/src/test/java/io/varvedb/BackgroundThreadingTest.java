package io.varvedb;

import org.agrona.concurrent.Agent;
import org.agrona.concurrent.AgentRunner;
import org.agrona.concurrent.BackoffIdleStrategy;
import org.agrona.concurrent.BusySpinIdleStrategy;
import org.agrona.concurrent.IdleStrategy;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Who runs the background work ({@link BackgroundThreading}): the threads each mode starts, through the application's
 * thread factory and idle strategy, appends and durability in each mode, the application's own duty cycle in
 * INVOKED mode (and close() while it runs), and failures reported whoever runs the work.
 */
class BackgroundThreadingTest
{
    private static final int PAYLOAD = 1000;

    @TempDir
    Path dir;

    private VarveConfig.Builder small(final Path store)
    {
        return VarveConfig.builder(store).segmentSize(TestStores.SEGMENT).indexCapacity(256).indexBlocksPerChunk(64);
    }

    /** Makes daemon threads named by the application, and remembers the role each was made for. */
    static final class CountingThreadFactory implements ThreadFactory
    {
        final List<String> roles = new CopyOnWriteArrayList<>();
        final List<Thread> threads = new CopyOnWriteArrayList<>();

        @Override
        public Thread newThread(final Runnable runnable)
        {
            // the documented contract: the runnable is an AgentRunner whose agent names the role
            final String role = ((AgentRunner)runnable).agent().roleName();
            final Thread thread = new Thread(runnable, "app-" + role);
            thread.setDaemon(true);
            roles.add(role);
            threads.add(thread);
            return thread;
        }
    }

    @ParameterizedTest
    @EnumSource(BackgroundThreading.class)
    void eachModeStartsItsThreadsThroughTheThreadFactory(final BackgroundThreading threading) throws Exception
    {
        for (final boolean multiProcess : new boolean[]{ false, true })
        {
            final Path store = dir.resolve(threading + "-" + multiProcess);
            final CountingThreadFactory factory = new CountingThreadFactory();
            final VarveConfig config = small(store).backgroundThreading(threading).threadFactory(factory)
                .multiProcess(multiProcess).build();
            try (VarveDB db = VarveDB.open(config))
            {
                final List<String> expected = switch (threading)
                {
                    case DEDICATED -> multiProcess ?
                        List.of("varve-flusher", "varve-preallocator", "varve-repairer") :
                        List.of("varve-flusher", "varve-preallocator");
                    case SHARED -> List.of("varve-background");
                    case INVOKED -> List.of();
                };
                assertEquals(expected, factory.roles, threading + ", multiProcess " + multiProcess);
                for (final Thread thread : factory.threads)
                {
                    assertTrue(thread.isAlive(), thread + " started by the store");
                    assertTrue(thread.getName().startsWith("app-varve-"), "the factory's name is kept: " + thread);
                }
                db.appender().append(1, ExpectedVersion.ANY, 1, new byte[8]);
            }
            for (final Thread thread : factory.threads)
            {
                assertFalse(thread.isAlive(), thread + " ended by close()");
            }
            // a read-only store has no background work, in any mode
            final CountingThreadFactory readOnlyFactory = new CountingThreadFactory();
            try (VarveDB db = VarveDB.openReadOnly(small(store).backgroundThreading(threading)
                .threadFactory(readOnlyFactory).build()))
            {
                assertEquals(1, db.streamVersion(1));
            }
            assertEquals(List.of(), readOnlyFactory.roles);
        }
    }

    @Test
    void theDefaultThreadsAreDaemonsNamedAfterTheirRole() throws Exception
    {
        // only this test class uses SHARED, so a thread of that name is this store's
        try (VarveDB db = VarveDB.open(small(dir).backgroundThreading(BackgroundThreading.SHARED).build()))
        {
            final List<Thread> shared = threadsNamed("varve-background");
            assertEquals(1, shared.size(), String.valueOf(shared));
            assertTrue(shared.get(0).isDaemon());
        }
        assertEquals(List.of(), threadsNamed("varve-background"));
    }

    private static List<Thread> threadsNamed(final String name)
    {
        return Thread.getAllStackTraces().keySet().stream()
            .filter((thread) -> thread.getName().equals(name) && thread.isAlive()).toList();
    }

    @ParameterizedTest
    @EnumSource(BackgroundThreading.class)
    void appendsAcrossManySegmentsInEveryMode(final BackgroundThreading threading) throws Exception
    {
        final VarveConfig config = small(dir).backgroundThreading(threading).durability(Durability.GROUP_COMMIT)
            .flushIntervalMicros(100).build();
        final int events = 40 * TestStores.SEGMENT / PAYLOAD;
        try (VarveDB db = VarveDB.open(config))
        {
            final Appender appender = db.appender();
            for (int i = 0; i < events; i++)
            {
                appender.append(1 + i % 7, ExpectedVersion.ANY, 1, payload(i));
                if (threading == BackgroundThreading.INVOKED && i % 100 == 0)
                {
                    db.doBackgroundWork();
                }
            }
            assertTrue(db.log().tail() > 30L * TestStores.SEGMENT, "many segments: " + db.log().tail());
            check(db, events);
            appender.awaitDurable(appender.lastPosition());
            assertTrue(db.durablePosition() > appender.lastPosition());
        }
        try (VarveDB db = VarveDB.open(config))
        {
            assertTrue(db.openedCleanly());
            check(db, events);
        }
    }

    /** INVOKED, and the application never calls: appenders allocate their space themselves, and nothing is lost. */
    @Test
    void appendsGoOnWhenTheApplicationNeverDoesTheWork() throws Exception
    {
        final VarveConfig config = small(dir).backgroundThreading(BackgroundThreading.INVOKED).build();
        final int events = 20 * TestStores.SEGMENT / PAYLOAD;
        try (VarveDB db = VarveDB.open(config))
        {
            final Appender appender = db.appender();
            for (int i = 0; i < events; i++)
            {
                appender.append(1 + i % 7, ExpectedVersion.ANY, 1, payload(i));
            }
            check(db, events);
        }
        try (VarveDB db = VarveDB.open(config))
        {
            assertTrue(db.openedCleanly());
            check(db, events);
        }
    }

    private static byte[] payload(final int i)
    {
        final byte[] bytes = new byte[PAYLOAD];
        new org.agrona.concurrent.UnsafeBuffer(bytes).putInt(0, i);
        bytes[PAYLOAD - 1] = (byte)i;
        return bytes;
    }

    private static void check(final VarveDB db, final int events)
    {
        final int[] next = { 0 };
        long position = VarveDB.START_POSITION;
        while (next[0] < events)
        {
            final long[] after = { position };
            final int read = db.readAll(position, 1000, (event) ->
            {
                assertEquals(next[0], event.payload().getInt(0));
                assertEquals(1 + next[0] % 7, event.streamId());
                next[0]++;
                after[0] = event.nextPosition();
            });
            assertTrue(read > 0, "read stopped at event " + next[0]);
            position = after[0];
        }
        for (int s = 1; s <= 7; s++)
        {
            assertEquals((events - s + 7) / 7, db.streamVersion(s), "stream " + s);
        }
    }

    @Test
    void inInvokedModeGroupCommitForcesOnlyWhenTheApplicationDoesTheWork() throws Exception
    {
        final VarveConfig config = small(dir).backgroundThreading(BackgroundThreading.INVOKED)
            .durability(Durability.GROUP_COMMIT).flushIntervalMicros(100).build();
        try (VarveDB db = VarveDB.open(config))
        {
            final long atOpen = db.durablePosition();
            final Appender appender = db.appender();
            for (int i = 0; i < 3 * TestStores.SEGMENT / PAYLOAD; i++)
            {
                appender.append(1, ExpectedVersion.ANY, 1, payload(i));
            }
            // 500 flush intervals: a thread of the store would have forced by now
            Thread.sleep(50);
            assertEquals(atOpen, db.durablePosition(), "no thread of the store forces in INVOKED mode");
            db.doBackgroundWork();
            assertEquals(db.log().tail(), db.durablePosition(), "the application's duty cycle forced the log");
        }
    }

    /** The contrast that makes the test above mean something: a thread of the store forces on its own. */
    @ParameterizedTest
    @EnumSource(value = BackgroundThreading.class, names = { "DEDICATED", "SHARED" })
    void theStoresOwnThreadsForceWithoutBeingAsked(final BackgroundThreading threading) throws Exception
    {
        final VarveConfig config = small(dir).backgroundThreading(threading)
            .durability(Durability.GROUP_COMMIT).flushIntervalMicros(100).build();
        try (VarveDB db = VarveDB.open(config))
        {
            final Appender appender = db.appender();
            appender.append(1, ExpectedVersion.ANY, 1, payload(1));
            final long end = db.log().tail();
            SubscriptionTest.await(() -> db.durablePosition() >= end, "the flusher's force");
        }
    }

    @Test
    void theBackgroundAgentRunsOnTheApplicationsRunnerAndCloseIsSafeWhileItSpins() throws Exception
    {
        final VarveConfig config = small(dir).backgroundThreading(BackgroundThreading.INVOKED)
            .durability(Durability.GROUP_COMMIT).flushIntervalMicros(100).build();
        final VarveDB db = VarveDB.open(config);
        final Agent agent = db.backgroundAgent();
        assertSame(agent, db.backgroundAgent());
        assertEquals("varve-background", agent.roleName());
        final AtomicBoolean storeClosed = new AtomicBoolean();
        final AtomicLong cyclesAfterClose = new AtomicLong();
        final AtomicLong workAfterClose = new AtomicLong();
        final List<Throwable> runnerErrors = new CopyOnWriteArrayList<>();
        final AgentRunner runner = new AgentRunner(new BusySpinIdleStrategy(), runnerErrors::add, null, new Agent()
        {
            @Override
            public int doWork() throws Exception
            {
                final boolean after = storeClosed.get();
                final int work = agent.doWork();
                if (after)
                {
                    cyclesAfterClose.incrementAndGet();
                    workAfterClose.addAndGet(work);
                }
                return work;
            }

            @Override
            public void onClose()
            {
                agent.onClose();
            }

            @Override
            public String roleName()
            {
                return "application";
            }
        });
        final Thread thread = AgentRunner.startOnThread(runner);
        try
        {
            final Appender appender = db.appender();
            for (int i = 0; i < 5 * TestStores.SEGMENT / PAYLOAD; i++)
            {
                appender.append(1 + i % 3, ExpectedVersion.ANY, 1, payload(i));
            }
            final long end = db.log().tail();
            SubscriptionTest.await(() -> db.durablePosition() >= end, "the application's runner forced the log");

            db.close();
            storeClosed.set(true);
            SubscriptionTest.await(() -> cyclesAfterClose.get() > 10_000, "cycles after close");
            assertEquals(0, workAfterClose.get(), "a closed store's duty cycle does nothing");
            assertEquals(0, db.doBackgroundWork());
            assertTrue(thread.isAlive(), "the application's runner goes on");
            assertEquals(List.of(), runnerErrors);
            assertEquals(List.of(), CloseRaceTest.mappingsOf(dir), "every mapping released while the runner spins");
        }
        finally
        {
            runner.close();
            db.close();
        }
        assertEquals(List.of(), runnerErrors);
        try (VarveDB again = VarveDB.open(config))
        {
            assertTrue(again.openedCleanly());
        }
    }

    @Test
    void theAgentsOnCloseDoesNotCloseTheStore() throws Exception
    {
        try (VarveDB db = VarveDB.open(small(dir).backgroundThreading(BackgroundThreading.INVOKED).build()))
        {
            db.backgroundAgent().onClose();
            assertFalse(db.isClosed());
            db.appender().append(1, ExpectedVersion.NO_STREAM, 1, new byte[8]);
            assertTrue(db.doBackgroundWork() >= 0);
            assertEquals(1, db.streamVersion(1));
        }
    }

    @Test
    void concurrentDutyCyclesFromTwoThreadsAreSafe() throws Exception
    {
        final VarveConfig config = small(dir).backgroundThreading(BackgroundThreading.INVOKED)
            .durability(Durability.GROUP_COMMIT).flushIntervalMicros(10).build();
        final int events = 20 * TestStores.SEGMENT / PAYLOAD;
        try (VarveDB db = VarveDB.open(config))
        {
            final AtomicBoolean done = new AtomicBoolean();
            final List<Throwable> failures = new CopyOnWriteArrayList<>();
            final List<Thread> workers = new ArrayList<>();
            for (int w = 0; w < 2; w++)
            {
                workers.add(new Thread(() ->
                {
                    try
                    {
                        while (!done.get())
                        {
                            db.doBackgroundWork();
                        }
                    }
                    catch (final Throwable ex)
                    {
                        failures.add(ex);
                    }
                }));
            }
            workers.forEach(Thread::start);
            final Appender appender = db.appender();
            for (int i = 0; i < events; i++)
            {
                appender.append(1 + i % 7, ExpectedVersion.ANY, 1, payload(i));
            }
            final long end = db.log().tail();
            SubscriptionTest.await(() -> db.durablePosition() >= end, "the workers forced the log");
            done.set(true);
            for (final Thread worker : workers)
            {
                worker.join();
            }
            assertEquals(List.of(), failures);
            check(db, events);
        }
    }

    /** A counting strategy around a real one: each of the store's threads gets its own, and idles with it. */
    @ParameterizedTest
    @EnumSource(value = BackgroundThreading.class, names = { "DEDICATED", "SHARED" })
    void theApplicationsIdleStrategyIsUsed(final BackgroundThreading threading) throws Exception
    {
        final AtomicInteger made = new AtomicInteger();
        final AtomicLong idles = new AtomicLong();
        final List<Thread> idlers = new CopyOnWriteArrayList<>();
        final VarveConfig config = small(dir).backgroundThreading(threading).backgroundIdleStrategy(() ->
        {
            made.incrementAndGet();
            final IdleStrategy delegate = new BackoffIdleStrategy(1, 1, 1_000, 100_000);
            return new IdleStrategy()
            {
                @Override
                public void idle(final int workCount)
                {
                    if (!idlers.contains(Thread.currentThread()))
                    {
                        idlers.add(Thread.currentThread());
                    }
                    idles.incrementAndGet();
                    delegate.idle(workCount);
                }

                @Override
                public void idle()
                {
                    idle(0);
                }

                @Override
                public void reset()
                {
                    delegate.reset();
                }
            };
        }).build();
        try (VarveDB db = VarveDB.open(config))
        {
            final int threads = threading == BackgroundThreading.DEDICATED ? 2 : 1;
            assertEquals(threads, made.get(), "one strategy per thread");
            SubscriptionTest.await(() -> idles.get() > 100 && idlers.size() == threads,
                "every thread idles with the application's strategy");
            db.appender().append(1, ExpectedVersion.ANY, 1, new byte[8]);
        }
    }

    @Test
    void invokedModeUsesNoThreadFactoryNorIdleStrategy() throws Exception
    {
        final CountingThreadFactory factory = new CountingThreadFactory();
        final AtomicInteger made = new AtomicInteger();
        final VarveConfig config = small(dir).backgroundThreading(BackgroundThreading.INVOKED).threadFactory(factory)
            .backgroundIdleStrategy(() ->
            {
                made.incrementAndGet();
                return new BusySpinIdleStrategy();
            }).build();
        try (VarveDB db = VarveDB.open(config))
        {
            db.appender().append(1, ExpectedVersion.ANY, 1, new byte[8]);
            db.doBackgroundWork();
        }
        assertEquals(List.of(), factory.roles);
        assertEquals(0, made.get());
    }

    @ParameterizedTest
    @EnumSource(value = BackgroundThreading.class, names = { "DEDICATED", "SHARED" })
    void doBackgroundWorkIsRefusedWhenTheStoreRunsItsOwnThreads(final BackgroundThreading threading)
    {
        try (VarveDB db = VarveDB.open(small(dir).backgroundThreading(threading).build()))
        {
            final IllegalStateException refused = assertThrows(IllegalStateException.class, db::doBackgroundWork);
            assertTrue(refused.getMessage().contains("BackgroundThreading." + threading), refused.getMessage());
            assertThrows(IllegalStateException.class, db::backgroundAgent);
        }
    }

    @Test
    void doBackgroundWorkIsRefusedByAReadOnlyStore()
    {
        final VarveConfig config = small(dir).backgroundThreading(BackgroundThreading.INVOKED).build();
        try (VarveDB db = VarveDB.open(config))
        {
            db.appender().append(1, ExpectedVersion.ANY, 1, new byte[8]);
        }
        try (VarveDB db = VarveDB.openReadOnly(config))
        {
            final IllegalStateException refused = assertThrows(IllegalStateException.class, db::doBackgroundWork);
            assertTrue(refused.getMessage().contains("read-only"), refused.getMessage());
            assertThrows(IllegalStateException.class, db::backgroundAgent);
        }
    }

    @Test
    void nullOptionsAreRefusedNamingTheOption()
    {
        final VarveConfig.Builder builder = VarveConfig.builder(dir);
        assertEquals("backgroundThreading",
            assertThrows(NullPointerException.class, () -> builder.backgroundThreading(null)).getMessage());
        assertEquals("threadFactory",
            assertThrows(NullPointerException.class, () -> builder.threadFactory(null)).getMessage());
        assertEquals("backgroundIdleStrategy",
            assertThrows(NullPointerException.class, () -> builder.backgroundIdleStrategy(null)).getMessage());
        assertEquals("backgroundErrorHandler",
            assertThrows(NullPointerException.class, () -> builder.backgroundErrorHandler(null)).getMessage());
        final VarveConfig defaults = builder.build();
        assertEquals(BackgroundThreading.DEDICATED, defaults.backgroundThreading());
        assertNull(defaults.threadFactory());
        assertNull(defaults.backgroundIdleStrategy());
    }

    /** A factory that refuses, or fails on the second thread: the open fails whole, and no thread is left. */
    @Test
    void aThreadFactoryThatRefusesFailsTheOpenAndLeavesNoThread() throws Exception
    {
        final VarveConfig refusing = small(dir).threadFactory((runnable) -> null).build();
        final IllegalStateException refused = assertThrows(IllegalStateException.class, () -> VarveDB.open(refusing));
        assertTrue(refused.getMessage().contains("varve-flusher"), refused.getMessage());

        final CountingThreadFactory counting = new CountingThreadFactory();
        final VarveConfig failingSecond = small(dir).threadFactory((runnable) ->
        {
            if (counting.threads.size() == 1)
            {
                throw new IllegalStateException("no more threads");
            }
            return counting.newThread(runnable);
        }).build();
        assertThrows(IllegalStateException.class, () -> VarveDB.open(failingSecond));
        assertEquals(1, counting.threads.size());
        counting.threads.get(0).join(10_000);
        assertFalse(counting.threads.get(0).isAlive(), "the thread started before the failure is stopped");
        assertEquals(List.of(), CloseRaceTest.mappingsOf(dir));
        try (VarveDB db = VarveDB.open(small(dir).build()))
        {
            db.appender().append(1, ExpectedVersion.ANY, 1, new byte[8]);
        }
    }

    /**
     * A factory that starts the thread itself (the attack of issue 12): the open failed with a raw
     * IllegalThreadStateException and left the thread running the store's duty forever. Now a specific refusal, and
     * the thread ends.
     */
    @ParameterizedTest
    @EnumSource(value = BackgroundThreading.class, names = { "DEDICATED", "SHARED" })
    void aThreadFactoryThatStartsTheThreadItselfIsRefusedAndTheThreadEnds(final BackgroundThreading threading)
        throws Exception
    {
        final List<Thread> started = new CopyOnWriteArrayList<>();
        final VarveConfig config = small(dir).backgroundThreading(threading).threadFactory((runnable) ->
        {
            final Thread thread = new Thread(runnable, "started-by-the-factory");
            thread.setDaemon(true);
            thread.start();
            started.add(thread);
            return thread;
        }).build();
        final IllegalStateException refused = assertThrows(IllegalStateException.class, () -> VarveDB.open(config));
        assertTrue(refused.getMessage().contains("already started"), refused.getMessage());
        assertEquals(1, started.size());
        started.get(0).join(10_000);
        assertFalse(started.get(0).isAlive(), "the thread the factory started is stopped");
        assertEquals(List.of(), CloseRaceTest.mappingsOf(dir));
        try (VarveDB db = VarveDB.open(small(dir).build()))
        {
            db.appender().append(1, ExpectedVersion.ANY, 1, new byte[8]);
        }
    }

    /**
     * A real full disk: the pre-allocator cannot allocate the log's first space. Whoever runs it, the failure reaches
     * the error handler and is counted, and the store goes on serving (that a failing task does not starve the others
     * on its thread is BackgroundDutyTest's).
     */
    @ParameterizedTest
    @EnumSource(BackgroundThreading.class)
    void aFailingDutyCycleReachesTheErrorHandlerInEveryMode(final BackgroundThreading threading) throws Exception
    {
        Assumptions.assumeTrue(Tmpfs.available(dir.resolve("probe")), "needs permission to mount a tmpfs");
        try (Tmpfs fs = Tmpfs.mount(dir.resolve("full"), "1m"))
        {
            final Path store = fs.path().resolve("store");
            final List<Throwable> reported = new CopyOnWriteArrayList<>();
            final List<String> reportedOn = new CopyOnWriteArrayList<>();
            final VarveConfig config = VarveConfig.builder(store).segmentSize(4 << 20).indexCapacity(64)
                .indexBlocksPerChunk(16).backgroundThreading(threading).backgroundErrorHandler((error) ->
                {
                    reportedOn.add(Thread.currentThread().getName());
                    reported.add(error);
                }).build();
            try (VarveDB db = VarveDB.open(config))
            {
                final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
                while (db.preallocationFailures() == 0 || reported.isEmpty())
                {
                    assertTrue(System.nanoTime() < deadline, "the pre-allocator's failure is reported");
                    if (threading == BackgroundThreading.INVOKED)
                    {
                        assertEquals(0, db.doBackgroundWork(), "a failed task did no work");
                    }
                    Thread.sleep(1);
                }
                assertTrue(reported.get(0) instanceof StoreIOException, String.valueOf(reported.get(0)));
                assertTrue(reported.get(0).getMessage().contains("No space left on device"),
                    reported.get(0).getMessage());
                final String expectedThread = switch (threading)
                {
                    case DEDICATED -> "varve-preallocator";
                    case SHARED -> "varve-background";
                    case INVOKED -> Thread.currentThread().getName();
                };
                assertEquals(expectedThread, reportedOn.get(0), "the handler runs on the thread that ran the work");
                assertEquals(0, db.streamVersion(1));
            }
        }
    }

    /** INVOKED: the error handler, called on the application's thread inside doBackgroundWork, closes the store. */
    @Test
    void anErrorHandlerMayCloseTheStoreFromTheApplicationsDutyCycle() throws Exception
    {
        Assumptions.assumeTrue(Tmpfs.available(dir.resolve("probe")), "needs permission to mount a tmpfs");
        try (Tmpfs fs = Tmpfs.mount(dir.resolve("bg"), "1m"))
        {
            final Path store = fs.path().resolve("store");
            final AtomicReference<VarveDB> opened = new AtomicReference<>();
            final CountDownLatch closedByHandler = new CountDownLatch(1);
            final VarveConfig config = VarveConfig.builder(store).segmentSize(4 << 20).indexCapacity(64)
                .indexBlocksPerChunk(16).backgroundThreading(BackgroundThreading.INVOKED).backgroundErrorHandler(
                    (error) ->
                    {
                        opened.get().close();
                        closedByHandler.countDown();
                    }).build();
            final VarveDB db = VarveDB.open(config);
            opened.set(db);
            final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (closedByHandler.getCount() > 0)
            {
                assertTrue(System.nanoTime() < deadline, "the handler closed the store");
                db.doBackgroundWork();
            }
            assertTrue(db.isClosed());
            assertEquals(0, db.doBackgroundWork());
            db.close();
            assertEquals(List.of(), CloseRaceTest.mappingsOf(store));
            try (VarveDB again = VarveDB.open(config))
            {
                assertEquals(0, again.streamVersion(1));
            }
        }
    }
}
