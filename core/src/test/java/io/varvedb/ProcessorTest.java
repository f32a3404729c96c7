package io.varvedb;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.*;

/**
 * What a processor promises about its start, its checkpoints and its close.
 */
class ProcessorTest
{
    @TempDir
    Path dir;

    /** A handler that counts its calls and blocks in each until released. */
    private static final class BlockingHandler implements EventHandler
    {
        final CountDownLatch inHandler = new CountDownLatch(1);
        final CountDownLatch release = new CountDownLatch(1);
        final AtomicInteger handled = new AtomicInteger();

        @Override
        public void onEvent(final RecordedEvent event)
        {
            handled.incrementAndGet();
            inHandler.countDown();
            awaitKeepingInterrupt(release);
        }

        void awaitInHandler() throws InterruptedException
        {
            assertTrue(inHandler.await(30, TimeUnit.SECONDS), "the handler was called");
        }
    }

    /** Wait in a handler, which may not throw InterruptedException: an interrupt is kept for its thread. */
    private static void awaitKeepingInterrupt(final CountDownLatch latch)
    {
        try
        {
            latch.await();
        }
        catch (final InterruptedException ex)
        {
            Thread.currentThread().interrupt();
        }
    }

    /** A thread whose failure the test sees. */
    private static Thread closer(final Runnable close, final List<Throwable> failures)
    {
        final Thread thread = new Thread(close, "closer");
        thread.setUncaughtExceptionHandler((t, ex) -> failures.add(ex));
        return thread;
    }

    private static void append(final VarveDB db, final int count)
    {
        final Appender appender = db.appender();
        for (int i = 0; i < count; i++)
        {
            appender.append(1 + i % 5, ExpectedVersion.ANY, 1, new byte[24]);
        }
    }

    /**
     * A processor started FROM_NOW in another process is killed before its first checkpoint; the events appended
     * after it started must reach the processor of that name started next, not be skipped by a new "now".
     */
    @Test
    void aProcessorStartedFromNowResumesFromItsFirstStartAfterACrash() throws Exception
    {
        try (VarveDB db = VarveDB.open(TestStores.small(dir)))
        {
            append(db, 100);
            final Process child = MultiProcessTest.start(List.of(), "process-from-now", dir.toString(), "from-now");
            final BufferedReader out = MultiProcessTest.stdout(child);
            final String started = out.readLine();
            assertNotNull(started, "the child started its processor");
            assertEquals("started " + db.tailPosition(), started);
            final long firstStart = db.tailPosition();
            append(db, 50);
            child.destroyForcibly();
            assertTrue(child.waitFor(30, TimeUnit.SECONDS));

            append(db, 7);
            final List<Long> seen = Collections.synchronizedList(new ArrayList<>());
            try (Processor processor = db.processor("from-now", (e) -> seen.add(e.position()),
                ProcessorOptions.defaults().startPosition(VarveDB.FROM_NOW)))
            {
                assertEquals(firstStart, processor.position(), "resumes where the first one started");
                while (processor.poll(100) > 0)
                {
                    // drain
                }
            }
            assertEquals(57, seen.size(), "every event appended since the first start, none skipped");
            assertEquals(firstStart, (long)seen.get(0));
        }
    }

    @Test
    void theStartingPointIsPersistedWhenTheProcessorIsCreated()
    {
        try (VarveDB db = VarveDB.open(TestStores.small(dir)))
        {
            append(db, 10);
            final long now = db.tailPosition();
            try (Processor processor = db.processor("p", (e) -> { },
                ProcessorOptions.defaults().startPosition(VarveDB.FROM_NOW)))
            {
                assertEquals(now, processor.checkpointedPosition());
                assertEquals(now, db.checkpoints().get("p"), "on disk before any event was handled");
            }
        }
    }

    /**
     * close() once gave up after 10 s, or at the first interrupt, and released the name while the handler still
     * ran, so a second processor of that name started beside the first.
     */
    @Test
    void closeWaitsForTheHandlerAndHoldsTheNameUntilItReturns() throws Exception
    {
        try (VarveDB db = VarveDB.open(TestStores.small(dir)))
        {
            append(db, 3);
            final BlockingHandler handler = new BlockingHandler();
            final Processor first = db.processor("slow", handler).start();
            handler.awaitInHandler();

            final List<Throwable> failures = Collections.synchronizedList(new ArrayList<>());
            final Thread closer = closer(first::close, failures);
            closer.start();
            for (int i = 0; i < 5; i++)
            {
                Thread.sleep(50);
                closer.interrupt();
            }
            closer.join(300);
            assertTrue(closer.isAlive(), "close() returned while the handler still ran");
            assertThrows(StoreLockedException.class, () -> db.processor("slow", (e) -> { }),
                "a second processor of the name while the first's handler runs");

            handler.release.countDown();
            closer.join(TimeUnit.SECONDS.toMillis(30));
            assertFalse(closer.isAlive());
            assertEquals(List.of(), failures, "close() failed");
            assertEquals(1, handler.handled.get(), "no event delivered after close() was called");
            assertFalse(first.isRunning());
            final long second = StoreChecker.readAll(db).get(1).position();
            assertEquals(second, first.checkpointedPosition(), "the handler returned: its event is done");
            try (Processor next = db.processor("slow", (e) -> { }))
            {
                assertEquals(second, next.position(), "the next resumes after the event the first was handling");
            }
        }
    }

    /** The same, with a handler slower than the 10 s close() used to wait. */
    @Test
    void closeWaitsForAHandlerSlowerThanTenSeconds() throws Exception
    {
        try (VarveDB db = VarveDB.open(TestStores.small(dir)))
        {
            append(db, 1);
            final CountDownLatch inHandler = new CountDownLatch(1);
            final AtomicLong handlerReturned = new AtomicLong();
            final Processor first = db.processor("slower", (e) ->
            {
                inHandler.countDown();
                try
                {
                    Thread.sleep(11_000);
                }
                catch (final InterruptedException ex)
                {
                    Thread.currentThread().interrupt();
                }
                handlerReturned.set(System.nanoTime());
            }).start();
            assertTrue(inHandler.await(30, TimeUnit.SECONDS));
            first.close();
            final long closed = System.nanoTime();
            assertNotEquals(0, handlerReturned.get(), "close() returned before the handler did");
            assertTrue(handlerReturned.get() <= closed);
            db.processor("slower", (e) -> { }).close();
        }
    }

    @Test
    void closeFromAnotherThreadWaitsForAPollInProgress() throws Exception
    {
        try (VarveDB db = VarveDB.open(TestStores.small(dir)))
        {
            append(db, 20);
            final BlockingHandler handler = new BlockingHandler();
            final Processor processor = db.processor("polled", handler);
            final Thread poller = new Thread(() -> processor.poll(100), "poller");
            poller.start();
            handler.awaitInHandler();
            final List<Throwable> failures = Collections.synchronizedList(new ArrayList<>());
            final Thread closer = closer(processor::close, failures);
            closer.start();
            closer.join(300);
            assertTrue(closer.isAlive(), "close() returned while a poll's handler still ran");
            assertThrows(StoreLockedException.class, () -> db.processor("polled", (e) -> { }));
            handler.release.countDown();
            closer.join(TimeUnit.SECONDS.toMillis(30));
            poller.join(TimeUnit.SECONDS.toMillis(30));
            assertFalse(closer.isAlive());
            assertEquals(List.of(), failures, "close() failed");
            assertEquals(1, handler.handled.get(), "the poll delivered nothing after close() was called");
            assertThrows(StoreClosedException.class, () -> processor.poll(10));
        }
    }

    /**
     * Closed from inside its handler at the 10th event: nothing more is delivered, and the checkpoint written by
     * close() is the last one, so a restart delivers the 10th event again and skips nothing.
     */
    @Test
    void closeFromTheHandlerStopsDeliveryAndWritesNothingAfterItReturns() throws Exception
    {
        try (VarveDB db = VarveDB.open(TestStores.small(dir)))
        {
            append(db, 100);
            final List<Long> seen = Collections.synchronizedList(new ArrayList<>());
            final AtomicLong checkpointAtClose = new AtomicLong(-1);
            final Processor[] holder = new Processor[1];
            holder[0] = db.processor("self-closing", (e) ->
            {
                seen.add(e.position());
                if (seen.size() == 10)
                {
                    holder[0].close();
                    checkpointAtClose.set(db.checkpoints().get("self-closing"));
                }
            }, ProcessorOptions.defaults().checkpointEveryEvents(1));
            // started only once the handler can see it: it closes the processor through holder[0]
            holder[0].start();
            SubscriptionTest.await(() -> !holder[0].isRunning(), "the processor thread to end");
            Thread.sleep(50);
            assertEquals(10, seen.size(), "no event after the one during which close() was called");
            assertEquals(checkpointAtClose.get(), (long)db.checkpoints().get("self-closing"),
                "the checkpoint did not move after close() returned");
            assertEquals(seen.get(9), checkpointAtClose.get(), "the event being handled comes again");
            assertNull(holder[0].failure());
        }
    }

    @Test
    void aRunningSubscriptionClosedFromItsHandlerStopsThere() throws Exception
    {
        try (VarveDB db = VarveDB.open(TestStores.small(dir)))
        {
            append(db, 100);
            final AtomicInteger seen = new AtomicInteger();
            final RunningSubscription[] holder = new RunningSubscription[1];
            final CountDownLatch created = new CountDownLatch(1);
            holder[0] = db.subscribeToAll(VarveDB.START_POSITION, (e) ->
            {
                awaitKeepingInterrupt(created);
                if (seen.incrementAndGet() == 10)
                {
                    holder[0].close();
                }
            });
            created.countDown();
            SubscriptionTest.await(() -> !holder[0].isRunning(), "the subscription thread to end");
            Thread.sleep(50);
            assertEquals(10, seen.get());
            assertNull(holder[0].failure());
        }
    }

    /** poll() and delivered() count what the handler got, not what the read went over after a close(). */
    @Test
    void pollCountsOnlyWhatWasDelivered() throws Exception
    {
        try (VarveDB db = VarveDB.open(TestStores.small(dir)))
        {
            append(db, 50);
            final Subscription subscription = db.subscription(VarveDB.START_POSITION);
            final AtomicInteger calls = new AtomicInteger();
            assertEquals(1, subscription.poll((e) ->
            {
                calls.incrementAndGet();
                subscription.close();
            }, 100));
            assertEquals(1, calls.get());

            final Subscription stream = db.streamSubscription(1, 1);
            assertEquals(1, stream.poll((e) -> stream.close(), 100));

            final AtomicInteger handled = new AtomicInteger();
            final RunningSubscription[] holder = new RunningSubscription[1];
            final CountDownLatch created = new CountDownLatch(1);
            holder[0] = db.subscribeToAll(VarveDB.START_POSITION, (e) ->
            {
                awaitKeepingInterrupt(created);
                handled.incrementAndGet();
                holder[0].close();
            });
            created.countDown();
            SubscriptionTest.await(() -> !holder[0].isRunning(), "the subscription thread to end");
            holder[0].close();
            assertEquals(1, handled.get());
            assertEquals(1, holder[0].delivered());
        }
    }

    /** A read-only follower's processor follows the writer's durable mode, which the meta file records. */
    @Test
    void aFollowersCheckpointNeverPassesTheWritersDurablePosition()
    {
        final VarveConfig config = VarveConfig.builder(dir).segmentSize(TestStores.SEGMENT).indexCapacity(64)
            .durability(Durability.GROUP_COMMIT).flushIntervalMicros(TimeUnit.HOURS.toMicros(1)).build();
        try (VarveDB db = VarveDB.open(config); VarveDB follower = VarveDB.openReadOnly(dir))
        {
            append(db, 20);
            assertTrue(db.durablePosition() < db.tailPosition());
            try (Processor processor = follower.processor("follower", (e) -> { }))
            {
                while (processor.poll(10) > 0)
                {
                    processor.checkpoint();
                }
                assertEquals(db.tailPosition(), processor.position());
                assertTrue(processor.checkpointedPosition() <= follower.durablePosition(),
                    "checkpoint " + processor.checkpointedPosition() + ", durable " + follower.durablePosition());
            }
        }
    }

    @Test
    void aRunningSubscriptionCloseWaitsForItsHandler() throws Exception
    {
        try (VarveDB db = VarveDB.open(TestStores.small(dir)))
        {
            append(db, 3);
            final BlockingHandler handler = new BlockingHandler();
            final RunningSubscription subscription = db.subscribeToAll(VarveDB.START_POSITION, handler);
            handler.awaitInHandler();
            final List<Throwable> failures = Collections.synchronizedList(new ArrayList<>());
            final Thread closer = closer(subscription::close, failures);
            closer.start();
            closer.interrupt();
            closer.join(300);
            assertTrue(closer.isAlive(), "close() returned while the handler still ran");
            handler.release.countDown();
            closer.join(TimeUnit.SECONDS.toMillis(30));
            assertFalse(closer.isAlive());
            assertEquals(List.of(), failures, "close() failed");
            assertEquals(1, handler.handled.get());
        }
    }

    /**
     * In the durable modes a checkpoint never passes the durable position: after a power cut it can never point
     * past the recovered log. Closing makes the processor's position durable first, so a clean restart replays
     * nothing.
     */
    @Test
    void inTheDurableModesACheckpointNeverPassesTheDurablePosition()
    {
        final VarveConfig config = VarveConfig.builder(dir).segmentSize(TestStores.SEGMENT).indexCapacity(64)
            .durability(Durability.GROUP_COMMIT).flushIntervalMicros(TimeUnit.HOURS.toMicros(1)).build();
        try (VarveDB db = VarveDB.open(config))
        {
            append(db, 50);
            final long durable = db.durablePosition();
            assertTrue(durable < db.tailPosition(), "the flusher has not forced the new events yet");
            final Processor processor = db.processor("durable", (e) -> { },
                ProcessorOptions.defaults().checkpointEveryEvents(1));
            while (processor.poll(10) > 0)
            {
                assertTrue(processor.checkpointedPosition() <= db.durablePosition(),
                    "checkpoint " + processor.checkpointedPosition() + " passed the durable position " +
                    db.durablePosition());
            }
            assertEquals(db.tailPosition(), processor.position());
            processor.close();
            assertEquals(db.tailPosition(), processor.checkpointedPosition(), "close() made its position durable");
            assertTrue(db.durablePosition() >= processor.checkpointedPosition());
        }
    }
}
