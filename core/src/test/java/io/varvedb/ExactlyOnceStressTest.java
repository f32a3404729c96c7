package io.varvedb;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The same event ids appended by four threads at once: each id is written exactly once, every thread gets the
 * same version for it, and exactly one is told it wrote it. Afterwards the log holds every id once, every stream's
 * versions are dense, and each stream's events lie in the log in version order.
 */
class ExactlyOnceStressTest
{
    private static final int THREADS = 4;
    private static final int IDS = Integer.getInteger("varve.stress.ids", 20_000);
    /** Ids between two meetings of the threads: they stay this close, so most ids are raced, not found. */
    private static final int LOCKSTEP = 16;
    private static final int STREAMS = 8;

    @TempDir
    Path dir;

    @Test
    void theSameIdsRacedFromFourThreadsAreWrittenOnce() throws Exception
    {
        final long[][] versions = new long[THREADS][IDS];
        final boolean[][] wrote = new boolean[THREADS][IDS];
        final VarveConfig config = VarveConfig.builder(dir).segmentSize(1 << 20).indexCapacity(1024)
            .eventIdCapacity(4 * IDS).build();
        final java.util.concurrent.Phaser lockstep = new java.util.concurrent.Phaser(THREADS);
        try (VarveDB db = VarveDB.open(config))
        {
            run(THREADS, (t) ->
            {
                try (Appender appender = db.appender())
                {
                    final byte[] payload = new byte[24];
                    final EventBatch batch = new EventBatch();
                    for (int i = 0; i < IDS; i++)
                    {
                        if (i % LOCKSTEP == 0)
                        {
                            lockstep.arriveAndAwaitAdvance();
                        }
                        final long stream = i % STREAMS + 1;
                        if (i % 10 == 9)
                        {
                            // every tenth id opens a batch of three, raced whole
                            batch.clear();
                            for (int k = 0; k < 3; k++)
                            {
                                batch.add(t, payload).eventId(1, 10L * IDS + 3L * i + k);
                            }
                            versions[t][i] = appender.appendBatch(stream, ExpectedVersion.ANY, batch);
                        }
                        else
                        {
                            versions[t][i] = appender.append(stream, ExpectedVersion.ANY, t, 1, i + 1, payload);
                        }
                        wrote[t][i] = !appender.lastWasDuplicate();
                    }
                }
                finally
                {
                    // a racer that fails must not leave the others waiting for it at their next meeting
                    lockstep.arriveAndDeregister();
                }
            });
            for (int i = 0; i < IDS; i++)
            {
                int writers = 0;
                for (int t = 0; t < THREADS; t++)
                {
                    assertEquals(versions[0][i], versions[t][i], "id " + i + ": every thread gets the same version");
                    writers += wrote[t][i] ? 1 : 0;
                }
                assertEquals(1, writers, "id " + i + " written by exactly one thread");
            }
            checkLog(db, IDS - IDS / 10 + 3 * (IDS / 10));
        }
    }

    @Test
    void theSameIdRacedIntoFourStreamsLandsInOne() throws Exception
    {
        final int ids = IDS / 3;
        final long[][] versions = new long[THREADS][ids];
        final java.util.concurrent.Phaser lockstep = new java.util.concurrent.Phaser(THREADS);
        try (VarveDB db = VarveDB.open(VarveConfig.builder(dir).segmentSize(1 << 20).indexCapacity(1024)
            .eventIdCapacity(2 * ids).build()))
        {
            run(THREADS, (t) ->
            {
                try (Appender appender = db.appender())
                {
                    final byte[] payload = new byte[16];
                    for (int i = 0; i < ids; i++)
                    {
                        if (i % LOCKSTEP == 0)
                        {
                            lockstep.arriveAndAwaitAdvance();
                        }
                        try
                        {
                            versions[t][i] = appender.append(100 + t, ExpectedVersion.ANY, t, 2, i + 1, payload);
                            assertFalse(appender.lastWasDuplicate());
                        }
                        catch (final EventIdConflictException ex)
                        {
                            assertEquals(100 + t, ex.streamId());
                            assertNotEquals(100 + t, ex.existingStreamId());
                            versions[t][i] = -ex.existingStreamId();
                        }
                    }
                }
                finally
                {
                    lockstep.arriveAndDeregister();
                }
            });
            for (int i = 0; i < ids; i++)
            {
                int winners = 0;
                long winner = 0;
                for (int t = 0; t < THREADS; t++)
                {
                    if (versions[t][i] > 0)
                    {
                        winners++;
                        winner = 100 + t;
                    }
                }
                assertEquals(1, winners, "id " + i + " appended to exactly one stream");
                for (int t = 0; t < THREADS; t++)
                {
                    if (versions[t][i] < 0)
                    {
                        assertEquals(-winner, versions[t][i], "the refusal names the stream that has the id");
                    }
                }
            }
            checkLog(db, ids);
        }
    }

    /**
     * Every id once; versions dense from 1 per stream; per-stream order equal to log order.
     */
    private static void checkLog(final VarveDB db, final int expectedEvents)
    {
        final Set<List<Long>> ids = new HashSet<>();
        final Map<Long, Long> lastVersion = new HashMap<>();
        final long[] events = new long[1];
        db.readAll(VarveDB.START_POSITION, Integer.MAX_VALUE, (event) ->
        {
            assertTrue(event.hasEventId());
            assertTrue(ids.add(List.of(event.eventIdHigh(), event.eventIdLow())),
                "id " + event.eventId() + " appears twice in the log");
            final long previous = lastVersion.getOrDefault(event.streamId(), 0L);
            assertEquals(previous + 1, event.version(), "stream " + event.streamId() + " dense, in log order");
            lastVersion.put(event.streamId(), event.version());
            events[0]++;
        });
        assertEquals(expectedEvents, events[0]);
        for (final Map.Entry<Long, Long> stream : lastVersion.entrySet())
        {
            assertEquals(stream.getValue(), db.streamVersion(stream.getKey()));
        }
    }

    interface Body
    {
        void run(int thread) throws Exception;
    }

    static void run(final int threads, final Body body) throws Exception
    {
        final AtomicReference<Throwable> failure = new AtomicReference<>();
        final List<Thread> started = new ArrayList<>();
        for (int t = 0; t < threads; t++)
        {
            final int thread = t;
            final Thread worker = new Thread(() ->
            {
                try
                {
                    body.run(thread);
                }
                catch (final Throwable ex)
                {
                    failure.compareAndSet(null, ex);
                }
            }, "id-racer-" + t);
            started.add(worker);
            worker.start();
        }
        for (final Thread worker : started)
        {
            worker.join();
        }
        if (failure.get() != null)
        {
            throw new AssertionError("a racer failed", failure.get());
        }
    }
}
