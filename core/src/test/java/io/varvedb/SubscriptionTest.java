package io.varvedb;

import org.agrona.concurrent.BusySpinIdleStrategy;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.*;

class SubscriptionTest
{
    @TempDir
    Path dir;

    static void await(final java.util.function.BooleanSupplier condition, final String what)
        throws InterruptedException
    {
        final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (!condition.getAsBoolean())
        {
            assertTrue(System.nanoTime() < deadline, "timed out waiting for " + what);
            Thread.sleep(1);
        }
    }

    /**
     * A subscription following two fast appenders across many rolls of small segments. A reader that found no file
     * for the next segment a moment before the writer made it, and the one after it, took it for a missing segment
     * and stopped with CorruptStoreException on a sound store.
     */
    @Test
    void aSubscriptionFollowsFastAppendersAcrossManySegmentRolls() throws Exception
    {
        final int perStream = 150_000;
        try (VarveDB db = VarveDB.open(TestStores.small(dir)))
        {
            final Subscription subscription = db.subscription(VarveDB.FROM_NOW);
            final List<Thread> appenders = new ArrayList<>();
            for (long stream = 1; stream <= 2; stream++)
            {
                final long id = stream;
                final Thread thread = new Thread(() ->
                {
                    final Appender appender = db.appender();
                    final byte[] payload = new byte[100];
                    for (int i = 0; i < perStream; i++)
                    {
                        appender.append(id, ExpectedVersion.ANY, 1, payload);
                    }
                });
                thread.start();
                appenders.add(thread);
            }
            final long[] next = { 0, 1, 1 };
            long seen = 0;
            while (seen < 2L * perStream)
            {
                seen += subscription.poll((e) -> assertEquals(next[(int)e.streamId()]++, e.version()), 100);
            }
            for (final Thread thread : appenders)
            {
                thread.join();
            }
            assertEquals(perStream + 1, next[1]);
            assertEquals(perStream + 1, next[2]);
        }
    }

    @Test
    void catchUpThenLiveUnderConcurrentAppendsDeliversEveryEventOnceInLogOrder() throws Exception
    {
        final int perThread = 6000;
        try (VarveDB db = VarveDB.open(TestStores.small(dir)))
        {
            final Thread[] writers = new Thread[2];
            for (int t = 0; t < writers.length; t++)
            {
                final int threadId = t;
                writers[t] = new Thread(() ->
                {
                    final Appender appender = db.appender();
                    for (int i = 0; i < perThread; i++)
                    {
                        appender.append(1 + (i + threadId) % 4, ExpectedVersion.ANY, threadId, new byte[40 + i % 50]);
                    }
                });
                writers[t].start();
            }
            await(() -> db.tailPosition() > 3L * TestStores.SEGMENT, "some history");

            final List<Long> all = Collections.synchronizedList(new ArrayList<>());
            final List<Long> stream2 = Collections.synchronizedList(new ArrayList<>());
            try (RunningSubscription toAll = db.subscribeToAll(VarveDB.START_POSITION, (e) -> all.add(e.position()),
                SubscriptionOptions.defaults().idleStrategy(BusySpinIdleStrategy::new));
                RunningSubscription toStream = db.subscribeToStream(2, 1, (e) -> stream2.add(e.version())))
            {
                for (final Thread writer : writers)
                {
                    writer.join();
                }
                await(() -> all.size() >= 2 * perThread && stream2.size() >= db.streamVersion(2), "live delivery");
                Thread.sleep(20);
                assertTrue(toAll.isRunning());
                assertNull(toAll.failure());
            }

            final List<Long> log = StoreChecker.readAll(db).stream().map(StoreChecker.Event::position).toList();
            assertEquals(2 * perThread, log.size());
            assertEquals(log, all, "exactly the log, in log order: no gap, no duplicate at the switch");
            for (int v = 0; v < stream2.size(); v++)
            {
                assertEquals(v + 1, (long)stream2.get(v));
            }
            assertEquals(db.streamVersion(2), stream2.size());
        }
    }

    @Test
    void pollFromNowSeesOnlyNewEventsAndResumesFromItsPosition()
    {
        try (VarveDB db = VarveDB.open(TestStores.small(dir)))
        {
            final Appender appender = db.appender();
            for (int i = 0; i < 10; i++)
            {
                appender.append(1, ExpectedVersion.ANY, 1, new byte[8]);
            }
            final Subscription fromNow = db.subscription(VarveDB.FROM_NOW);
            final Subscription streamFromNow = db.streamSubscription(1, VarveDB.FROM_NOW);
            final List<Long> seen = new ArrayList<>();
            assertEquals(0, fromNow.poll((e) -> seen.add(e.version()), 100));
            for (int i = 0; i < 5; i++)
            {
                appender.append(1, ExpectedVersion.ANY, 1, new byte[8]);
            }
            assertEquals(3, fromNow.poll((e) -> seen.add(e.version()), 3));
            assertEquals(2, fromNow.poll((e) -> seen.add(e.version()), 100));
            assertEquals(List.of(11L, 12L, 13L, 14L, 15L), seen);
            assertEquals(5, streamFromNow.poll((e) -> assertTrue(e.version() > 10), 100));

            final Subscription resumed = db.subscription(fromNow.position());
            appender.append(2, ExpectedVersion.ANY, 1, new byte[8]);
            final long[] got = new long[1];
            assertEquals(1, resumed.poll((e) -> got[0] = e.streamId(), 100));
            assertEquals(2, got[0]);
        }
    }

    @Test
    void aThrowingHandlerStopsAtTheFailingEventWhichIsNotSkipped() throws Exception
    {
        try (VarveDB db = VarveDB.open(TestStores.small(dir)))
        {
            final Appender appender = db.appender();
            for (int i = 1; i <= 10; i++)
            {
                appender.append(1, ExpectedVersion.ANY, i, new byte[8]);
            }
            final Subscription subscription = db.subscription(VarveDB.START_POSITION);
            final List<Long> handled = new ArrayList<>();
            final SubscriptionException failure = assertThrows(SubscriptionException.class, () ->
                subscription.poll((e) ->
                {
                    if (e.version() == 4 && handled.size() == 3)
                    {
                        throw new IllegalStateException("boom");
                    }
                    handled.add(e.version());
                }, 100));
            assertEquals(4, failure.version());
            assertEquals("boom", failure.getCause().getMessage());
            assertEquals(10, subscription.poll((e) -> handled.add(e.version()), 100) + 3,
                "the failing event is delivered again");
            assertEquals(List.of(1L, 2L, 3L, 4L, 5L, 6L, 7L, 8L, 9L, 10L), handled);

            final AtomicReference<SubscriptionException> reported = new AtomicReference<>();
            final List<Long> running = Collections.synchronizedList(new ArrayList<>());
            try (RunningSubscription sub = db.subscribeToAll(VarveDB.START_POSITION, (e) ->
            {
                if (e.version() == 7)
                {
                    throw new IllegalArgumentException("bad event");
                }
                running.add(e.version());
            }, SubscriptionOptions.defaults().errorHandler(reported::set)))
            {
                await(() -> !sub.isRunning(), "the subscription to stop");
                assertEquals(7, sub.failure().version());
                assertSame(sub.failure(), reported.get());
                assertEquals(List.of(1L, 2L, 3L, 4L, 5L, 6L), running);
                final long[] positionOf7 = new long[1];
                db.readStream(1, 7, 1, (e) -> positionOf7[0] = e.position());
                assertEquals(positionOf7[0], sub.failure().position());
            }
        }
    }

    @Test
    void processorsResumeFromTheirCheckpointAfterReopen() throws Exception
    {
        final List<Long> first = Collections.synchronizedList(new ArrayList<>());
        try (VarveDB db = VarveDB.open(TestStores.small(dir)))
        {
            final Appender appender = db.appender();
            for (int i = 0; i < 500; i++)
            {
                appender.append(1 + i % 3, ExpectedVersion.ANY, 1, new byte[16]);
            }
            final Processor processor = db.processor("projection", (e) -> first.add(e.position()),
                ProcessorOptions.defaults().checkpointEveryEvents(100)).start();
            await(() -> first.size() == 500, "the processor to catch up");
            assertThrows(StoreLockedException.class, () -> db.processor("projection", (e) -> { }));
            processor.close();
            assertEquals(Long.valueOf(processor.position()), db.checkpoints().get("projection"));

            final Processor other = db.processor("audit", (e) -> { });
            other.poll(50);
            other.close();
            assertEquals(2, db.checkpoints().size());
            for (int i = 0; i < 100; i++)
            {
                appender.append(9, ExpectedVersion.ANY, 1, new byte[16]);
            }
        }

        final List<Long> second = new ArrayList<>();
        try (VarveDB db = VarveDB.open(TestStores.small(dir)))
        {
            try (Processor processor = db.processor("projection", (e) -> second.add(e.position())))
            {
                while (processor.poll(64) > 0)
                {
                    assertTrue(processor.isRunning() || true);
                }
            }
            assertEquals(100, second.size(), "exactly the events appended after the checkpoint");
            assertTrue(second.get(0) > first.get(first.size() - 1));

            db.resetCheckpoint("projection", VarveDB.START_POSITION);
            final List<Long> replay = new ArrayList<>();
            try (Processor processor = db.processor("projection", (e) -> replay.add(e.position())))
            {
                while (processor.poll(1000) > 0)
                {
                    assertNull(processor.failure());
                }
            }
            assertEquals(600, replay.size(), "a reset replays from the start");
            assertTrue(db.deleteCheckpoint("audit"));
            assertFalse(db.checkpoints().containsKey("audit"));
            assertThrows(IllegalArgumentException.class, () -> db.processor("../escape", (e) -> { }));
        }
    }

    @Test
    void aKilledProcessorLosesNothingOnRestart() throws Exception
    {
        final int events = 20_000;
        try (VarveDB db = VarveDB.open(TestStores.small(dir)))
        {
            final Appender appender = db.appender();
            for (int i = 0; i < events; i++)
            {
                appender.append(1 + i % 7, ExpectedVersion.ANY, 1, new byte[24]);
            }
        }

        final Process child = MultiProcessTest.start(List.of(), "process", dir.toString());
        final BufferedReader out = MultiProcessTest.stdout(child);
        final List<Long> beforeKill = new ArrayList<>();
        for (int i = 0; i < 7_000; i++)
        {
            beforeKill.add(Long.parseLong(out.readLine()));
        }
        child.toHandle().destroyForcibly();
        assertTrue(child.waitFor(30, TimeUnit.SECONDS));

        try (VarveDB db = VarveDB.openReadOnly(dir))
        {
            final long checkpoint = db.checkpoints().get("killed");
            final List<Long> afterRestart = new ArrayList<>();
            try (Processor processor = db.processor("killed", (e) -> afterRestart.add(e.position())))
            {
                while (processor.poll(1000) > 0)
                {
                    assertNull(processor.failure());
                }
            }
            assertEquals(checkpoint, afterRestart.get(0), "resumes exactly at the checkpoint");
            final List<Long> log = StoreChecker.readAll(db).stream().map(StoreChecker.Event::position).toList();
            assertEquals(log.subList(log.indexOf(checkpoint), log.size()), afterRestart);
            assertTrue(log.indexOf(checkpoint) <= beforeKill.size(), "never past what the killed one handled");
            assertTrue(log.indexOf(checkpoint) > 0, "a checkpoint was taken before the kill");
        }
    }

    @Test
    void aReadOnlyProcessSubscribesLiveAcrossSegmentRolls() throws Exception
    {
        final int events = 4000;
        try (VarveDB db = VarveDB.open(TestStores.small(dir)))
        {
            final Process child = MultiProcessTest.start(List.of(), "subscribe", dir.toString(),
                Integer.toString(events));
            final BufferedReader out = MultiProcessTest.stdout(child);
            assertEquals("subscribed", out.readLine());
            final Appender appender = db.appender();
            final byte[] payload = new byte[100];
            for (int i = 0; i < events; i++)
            {
                new org.agrona.concurrent.UnsafeBuffer(payload).putLong(0, i);
                appender.append(1 + i % 3, ExpectedVersion.ANY, 1, payload);
            }
            assertTrue(db.tailPosition() > 5L * TestStores.SEGMENT);
            for (int i = 0; i < events; i++)
            {
                assertEquals("event " + i, out.readLine());
            }
            assertEquals("done", out.readLine());
            assertTrue(child.waitFor(30, TimeUnit.SECONDS));
        }
    }
}
