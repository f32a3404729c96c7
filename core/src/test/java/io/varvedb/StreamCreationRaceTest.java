package io.varvedb;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Threads creating streams at the edge of the index's capacity: the index is full only when it holds
 * {@code indexCapacity} streams, never because several threads raced to create the same one.
 */
class StreamCreationRaceTest
{
    private static final int RUNS = 150;
    private static final int THREADS = 3;

    @TempDir
    Path dir;

    @FunctionalInterface
    private interface Race
    {
        void append(Appender appender, int thread) throws Exception;
    }

    private static List<Throwable> race(final VarveDB db, final Race race) throws Exception
    {
        // threads spin, not park, at the start line: they leave it within nanoseconds of each other
        final AtomicInteger ready = new AtomicInteger();
        final List<Throwable> failures = java.util.Collections.synchronizedList(new ArrayList<>());
        final List<Thread> threads = new ArrayList<>();
        for (int t = 0; t < THREADS; t++)
        {
            final int thread = t;
            threads.add(new Thread(() ->
            {
                try (Appender appender = db.appender())
                {
                    ready.incrementAndGet();
                    while (ready.get() < THREADS)
                    {
                        Thread.onSpinWait();
                    }
                    race.append(appender, thread);
                }
                catch (final Throwable ex)
                {
                    failures.add(ex);
                }
            }));
        }
        threads.forEach(Thread::start);
        for (final Thread thread : threads)
        {
            thread.join();
        }
        return failures;
    }

    private VarveDB store(final int run, final int capacity)
    {
        return VarveDB.open(VarveConfig.builder(dir.resolve("run-" + run)).segmentSize(64 * 1024)
            .indexCapacity(capacity).indexBlocksPerChunk(16).preallocate(false).build());
    }

    @Test
    void threadsCreatingTheSameStreamInTheLastFreePlaceAllSucceed() throws Exception
    {
        int falseFull = 0;
        for (int run = 0; run < RUNS; run++)
        {
            try (VarveDB db = store(run, 2))
            {
                try (Appender appender = db.appender())
                {
                    appender.append(1, ExpectedVersion.NO_STREAM, 1, new byte[8]);
                }
                final List<Throwable> failures =
                    race(db, (appender, thread) -> appender.append(7, ExpectedVersion.ANY, 1, new byte[8]));
                for (final Throwable failure : failures)
                {
                    if (failure instanceof StreamIndexFullException)
                    {
                        falseFull++;
                    }
                    else
                    {
                        fail("run " + run, failure);
                    }
                }
                assertEquals(2, db.streamCount(), "run " + run);
                assertEquals(THREADS - failures.size(), db.streamVersion(7), "run " + run);
                StoreChecker.check(db);
            }
        }
        assertEquals(0, falseFull, "appends refused as 'index full' while the stream they created exists");
    }

    @Test
    void threadsCreatingDifferentStreamsInTheLastFreePlaceGetExactlyOneOfThem() throws Exception
    {
        for (int run = 0; run < RUNS / 3; run++)
        {
            try (VarveDB db = store(run, 2))
            {
                try (Appender appender = db.appender())
                {
                    appender.append(1, ExpectedVersion.NO_STREAM, 1, new byte[8]);
                }
                final AtomicInteger created = new AtomicInteger();
                final List<Throwable> failures = race(db, (appender, thread) ->
                {
                    appender.append(10 + thread, ExpectedVersion.NO_STREAM, 1, new byte[8]);
                    created.incrementAndGet();
                });
                assertEquals(1, created.get(), "run " + run);
                assertEquals(THREADS - 1, failures.size(), "run " + run);
                for (final Throwable failure : failures)
                {
                    assertInstanceOf(StreamIndexFullException.class, failure, "run " + run);
                }
                assertEquals(2, db.streamCount(), "run " + run);
                StoreChecker.check(db);
            }
            // the count survives a reopen: the full index stays full, its streams stay writable
            try (VarveDB db = store(run, 2); Appender appender = db.appender())
            {
                assertEquals(2, db.streamCount());
                assertThrows(StreamIndexFullException.class,
                    () -> appender.append(99, ExpectedVersion.NO_STREAM, 1, new byte[8]));
                assertEquals(2, appender.append(1, ExpectedVersion.exact(1), 1, new byte[8]));
            }
        }
    }
}
