package io.varvedb;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A processor whose checkpoint follows the application's saved state ({@link ProcessorOptions#manualCheckpoints()},
 * {@link Processor#checkpoint(long)}, {@link ProcessorOptions#resumeFrom(long)}): it never runs ahead of that state,
 * and a projection killed at random moments always restarts equal to a full replay of the log.
 */
class ProjectionTest
{
    /** Restarts in the kill test; more with -Dvarve.projection.kills=N. */
    private static final int KILLS = Integer.getInteger("varve.projection.kills", 8);

    @TempDir
    Path dir;

    private static void append(final VarveDB db, final int count)
    {
        final Appender appender = db.appender();
        final byte[] payload = new byte[4];
        for (int i = 0; i < count; i++)
        {
            payload[0] = (byte)(1 + i % 5);
            appender.append(1 + i % 7, ExpectedVersion.ANY, 1, payload);
        }
    }

    private static long positionAfter(final VarveDB db, final int events)
    {
        final AtomicLong next = new AtomicLong();
        db.readAll(VarveDB.START_POSITION, events, (e) -> next.set(e.nextPosition()));
        return next.get();
    }

    @Test
    void aManualProcessorNeverCheckpointsOnItsOwn()
    {
        try (VarveDB db = VarveDB.open(TestStores.small(dir)))
        {
            append(db, 500);
            final Processor processor = db.processor("manual", (e) -> { }, ProcessorOptions.defaults()
                .manualCheckpoints().checkpointEveryEvents(1).checkpointIntervalMillis(0));
            while (processor.poll(7) > 0)
            {
                assertEquals(VarveDB.START_POSITION, processor.checkpointedPosition());
            }
            assertEquals(positionAfter(db, 500), processor.position());
            processor.close();
            assertEquals(VarveDB.START_POSITION, db.checkpoints().get("manual"),
                "close() does not move a manual checkpoint either");
        }
    }

    @Test
    void theHandlerCheckpointsTheEventItHandlesAndTheCheckpointIsPersistedAtOnce()
    {
        try (VarveDB db = VarveDB.open(TestStores.small(dir)))
        {
            append(db, 100);
            final AtomicReference<Processor> self = new AtomicReference<>();
            final List<Long> asked = new ArrayList<>();
            final List<Long> stored = new ArrayList<>();
            final Processor processor = db.processor("projection", (e) ->
            {
                if (e.version() % 4 == 0)
                {
                    self.get().checkpoint(e.nextPosition());
                    asked.add(e.nextPosition());
                    stored.add(db.checkpoints().get("projection"));
                }
            }, ProcessorOptions.defaults().manualCheckpoints());
            self.set(processor);
            while (processor.poll(10) > 0)
            {
                assertEquals(asked.isEmpty() ? VarveDB.START_POSITION : asked.get(asked.size() - 1),
                    processor.checkpointedPosition());
            }
            assertFalse(asked.isEmpty());
            assertEquals(asked, stored, "each checkpoint is in the file before checkpoint() returns");
            processor.close();
            assertEquals(asked.get(asked.size() - 1), db.checkpoints().get("projection"));
        }
    }

    @Test
    void aCheckpointBeyondWhatTheHandlerWasGivenOrInsideARecordIsRefused()
    {
        try (VarveDB db = VarveDB.open(TestStores.small(dir)))
        {
            append(db, 20);
            final long afterTen = positionAfter(db, 10);
            final long afterEleven = positionAfter(db, 11);
            final AtomicReference<Processor> self = new AtomicReference<>();
            final List<Throwable> refusals = new ArrayList<>();
            final Processor processor = db.processor("strict", (e) ->
            {
                if (e.nextPosition() == afterTen)
                {
                    // the event being handled may be covered; the next one may not
                    refusals.add(assertThrows(IllegalArgumentException.class,
                        () -> self.get().checkpoint(afterEleven)));
                    self.get().checkpoint(afterTen);
                }
            }, ProcessorOptions.defaults().manualCheckpoints());
            self.set(processor);
            processor.poll(10);
            assertEquals(1, refusals.size());
            assertTrue(refusals.get(0).getMessage().contains("skip"), refusals.get(0).getMessage());
            assertEquals(afterTen, processor.checkpointedPosition());

            final IllegalArgumentException inside = assertThrows(IllegalArgumentException.class,
                () -> processor.checkpoint(afterTen - 8));
            assertFalse(inside.getMessage().isEmpty());
            assertThrows(IllegalArgumentException.class, () -> processor.checkpoint(-1));
            assertEquals(afterTen, db.checkpoints().get("strict"), "nothing written by a refused checkpoint");

            // an earlier position moves it back: those events come again
            final long afterFive = positionAfter(db, 5);
            processor.checkpoint(afterFive);
            assertEquals(afterFive, db.checkpoints().get("strict"));
            processor.close();
            assertThrows(StoreClosedException.class, () -> processor.checkpoint(afterFive));

            try (Processor automatic = db.processor("automatic", (e) -> { }))
            {
                automatic.poll(5);
                final IllegalStateException ex = assertThrows(IllegalStateException.class,
                    () -> automatic.checkpoint(afterFive));
                assertTrue(ex.getMessage().contains("manualCheckpoints"), ex.getMessage());
            }
        }
    }

    @Test
    void resumeFromOverridesTheCheckpointAndBecomesIt()
    {
        try (VarveDB db = VarveDB.open(TestStores.small(dir)))
        {
            append(db, 50);
            try (Processor first = db.processor("p", (e) -> { }))
            {
                while (first.poll(100) > 0)
                {
                    // to the end: the automatic checkpoint at close is the end of the log
                }
            }
            assertEquals(positionAfter(db, 50), db.checkpoints().get("p"));

            final long afterTwenty = positionAfter(db, 20);
            final List<Long> versions = new ArrayList<>();
            try (Processor resumed = db.processor("p", (e) -> versions.add(e.streamId() * 1000 + e.version()),
                ProcessorOptions.defaults().manualCheckpoints().resumeFrom(afterTwenty)))
            {
                assertEquals(afterTwenty, db.checkpoints().get("p"), "stored at creation");
                assertEquals(afterTwenty, resumed.checkpointedPosition());
                resumed.poll(1);
            }
            final List<Long> expected = new ArrayList<>();
            db.readAll(afterTwenty, 1, (e) -> expected.add(e.streamId() * 1000 + e.version()));
            assertEquals(expected, versions, "delivery starts at the given position");

            final IllegalArgumentException bad = assertThrows(IllegalArgumentException.class,
                () -> db.processor("p", (e) -> { }, ProcessorOptions.defaults().resumeFrom(afterTwenty + 8)));
            assertFalse(bad.getMessage().isEmpty());
            assertEquals(afterTwenty, db.checkpoints().get("p"), "a refused resume position changes nothing");
            // and the name is free again
            db.processor("p", (e) -> { }).close();
        }
    }

    @Test
    void anotherThreadMayCheckpointWhileTheProcessorRuns() throws Exception
    {
        try (VarveDB db = VarveDB.open(TestStores.small(dir)))
        {
            append(db, 1000);
            final Projection projection = new Projection(dir.resolve("totals"), Long.MAX_VALUE / 2_000_000L);
            final Processor processor = projection.start(db, "threads").start();
            SubscriptionTest.await(() -> processor.position() == positionAfter(db, 1000), "caught up");
            final long end = positionAfter(db, 1000);
            processor.checkpoint(end);
            assertEquals(end, db.checkpoints().get("threads"));
            processor.close();
            assertEquals(end, db.checkpoints().get("threads"));
        }
    }

    @Test
    void aHandlerThatClosesItsProcessorHoldsTheNameUntilItReturns() throws Exception
    {
        try (VarveDB db = VarveDB.open(TestStores.small(dir)))
        {
            append(db, 20);
            final java.util.concurrent.CountDownLatch closed = new java.util.concurrent.CountDownLatch(1);
            final java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);
            final AtomicReference<Processor> self = new AtomicReference<>();
            final Processor processor = db.processor("n", (e) ->
            {
                if (e.version() == 3)
                {
                    self.get().close();
                    closed.countDown();
                    try
                    {
                        release.await();
                    }
                    catch (final InterruptedException ex)
                    {
                        Thread.currentThread().interrupt();
                    }
                }
            });
            self.set(processor);
            final Thread poller = new Thread(() -> processor.poll(100));
            poller.start();
            final long lastCheckpoint;
            try
            {
                assertTrue(closed.await(30, TimeUnit.SECONDS));
                lastCheckpoint = db.checkpoints().get("n");
                assertThrows(StoreLockedException.class, () -> db.processor("n", (e) -> { }),
                    "one processor of a name at a time: the first one's handler still runs");
            }
            finally
            {
                release.countDown();
            }
            poller.join(30_000);
            assertFalse(poller.isAlive());
            try (Processor next = db.processor("n", (e) -> { }))
            {
                assertEquals(lastCheckpoint, next.position(), "free once the handler returned, and nothing " +
                    "written after close() returned");
            }
        }
    }

    @Test
    void aPollFromInsideTheHandlerIsRefused()
    {
        try (VarveDB db = VarveDB.open(TestStores.small(dir)))
        {
            append(db, 5);
            final AtomicReference<Processor> self = new AtomicReference<>();
            final List<Long> seen = new ArrayList<>();
            final Processor processor = db.processor("reentrant", (e) ->
            {
                seen.add(e.position());
                self.get().poll(1);
            });
            self.set(processor);
            final SubscriptionException ex = assertThrows(SubscriptionException.class, () -> processor.poll(1));
            assertInstanceOf(IllegalStateException.class, ex.getCause());
            assertEquals(VarveDB.START_POSITION, ex.position(), "the failing event is the one being handled");
            assertEquals(List.of(VarveDB.START_POSITION), seen, "delivered once, not again by the nested poll");
            processor.close();
        }
    }

    @Test
    void storedStartingPointsNeverPassTheDurablePosition()
    {
        try (VarveDB db = VarveDB.open(VarveConfig.builder(dir).segmentSize(TestStores.SEGMENT).indexCapacity(4096)
            .durability(Durability.GROUP_COMMIT).flushIntervalMicros(60_000_000).build()))
        {
            append(db, 200);
            final long afterHundred = positionAfter(db, 100);
            try (Processor resumed = db.processor("resumed", (e) -> { },
                ProcessorOptions.defaults().manualCheckpoints().resumeFrom(afterHundred)))
            {
                assertEquals(afterHundred, resumed.checkpointedPosition());
                assertTrue(db.durablePosition() >= afterHundred,
                    "the writer made the log durable up to the stored position: " + db.durablePosition());
            }
            append(db, 100);
            try (Processor fromNow = db.processor("from-now", (e) -> { },
                ProcessorOptions.defaults().startPosition(VarveDB.FROM_NOW)))
            {
                final long stored = db.checkpoints().get("from-now");
                assertEquals(positionAfter(db, 300), stored);
                assertTrue(db.durablePosition() >= stored, "durable " + db.durablePosition() + ", stored " + stored);
            }
        }
    }

    /**
     * The user's report: a projection saving its totals every so often, its process killed at random moments while
     * it appends and projects. After every kill, the saved state equals a full replay of the log up to the state's
     * position; and once the last life catches up, the totals equal a replay of the whole log: nothing skipped, nothing
     * applied twice.
     */
    @Test
    void aProjectionKilledAtRandomMomentsAlwaysEqualsAFullReplay() throws Exception
    {
        final Path store = dir.resolve("store");
        final Path state = dir.resolve("totals.bin");
        final SplittableRandom random = new SplittableRandom(Long.getLong("varve.projection.seed", System.nanoTime()));
        long lastPosition = -1;
        int advanced = 0;
        for (int kill = 0; kill < KILLS; kill++)
        {
            final Path errors = dir.resolve("child-" + kill + ".err");
            final Process child = MultiProcessTest.start(List.of(), errors, "projection", store.toString(),
                state.toString(), "run");
            final BufferedReader out = MultiProcessTest.stdout(child);
            final String first = out.readLine();
            if (!"running".equals(first))
            {
                assertTrue(child.waitFor(30, TimeUnit.SECONDS));
                fail("life " + kill + ": the child said " + first + ", stderr:\n" + Files.readString(errors));
            }
            Thread.sleep(random.nextInt(100, 900));
            child.destroyForcibly();
            assertTrue(child.waitFor(30, TimeUnit.SECONDS));

            final Projection saved = new Projection(state, 0);
            saved.load();
            try (VarveDB db = VarveDB.open(config(store)))
            {
                assertEquals(Projection.replay(db, saved.position), saved.totals,
                    "life " + kill + ": the saved state is a full replay up to its position " + saved.position);
                final long checkpoint = db.checkpoints().getOrDefault("totals", VarveDB.START_POSITION);
                assertTrue(checkpoint <= saved.position, "life " + kill + ": the checkpoint " + checkpoint +
                    " never runs ahead of the saved state at " + saved.position);
            }
            if (saved.position > lastPosition)
            {
                advanced++;
            }
            lastPosition = saved.position;
        }
        assertTrue(advanced >= KILLS / 2, "the projection made progress in most lives: " + advanced);

        final Process last = MultiProcessTest.start(List.of(), dir.resolve("last.err"), "projection",
            store.toString(), state.toString(), "finish");
        assertEquals("finished", MultiProcessTest.stdout(last).readLine(),
            () -> "the last life reports; stderr: " + read(dir.resolve("last.err")));
        assertTrue(last.waitFor(60, TimeUnit.SECONDS));
        final Projection saved = new Projection(state, 0);
        saved.load();
        try (VarveDB db = VarveDB.open(config(store)))
        {
            final long end = positionAfter(db, Integer.MAX_VALUE);
            assertEquals(end, saved.position, "the last life caught up with the whole log");
            assertEquals(Projection.replay(db, end), saved.totals, "every event applied exactly once");
            assertEquals(end, db.checkpoints().get("totals"));
        }
    }

    private static String read(final Path file)
    {
        try
        {
            return Files.readString(file);
        }
        catch (final java.io.IOException ex)
        {
            return ex.toString();
        }
    }

    /**
     * The child of the kill test. {@code run}: append to 8 products from one thread and project them with the
     * README's pattern, saving every 20-80 ms, until killed. {@code finish}: project what the log holds, save, and
     * exit.
     */
    static void child(final Path store, final Path state, final String mode) throws Exception
    {
        try (VarveDB db = VarveDB.open(config(store)))
        {
            final Projection projection = new Projection(state, 20 + new SplittableRandom().nextInt(60));
            final Processor processor = projection.start(db, "totals");
            if (mode.equals("finish"))
            {
                while (processor.poll(1000) > 0)
                {
                    // catch up with everything the earlier lives appended
                }
                projection.save();
                processor.checkpoint(projection.position);
                processor.close();
                System.out.println("finished");
                System.out.flush();
                return;
            }
            processor.start();
            System.out.println("running");
            System.out.flush();
            final Appender appender = db.appender();
            final SplittableRandom random = new SplittableRandom();
            final byte[] payload = new byte[4];
            while (true)
            {
                payload[0] = (byte)random.nextInt(1, 100);
                appender.append(random.nextInt(1, 9), ExpectedVersion.ANY, 1, payload);
                if (random.nextInt(100) == 0)
                {
                    Thread.sleep(1);
                }
            }
        }
    }

    private static VarveConfig config(final Path store)
    {
        return VarveConfig.builder(store).segmentSize(1 << 20).indexCapacity(4096).build();
    }
}
