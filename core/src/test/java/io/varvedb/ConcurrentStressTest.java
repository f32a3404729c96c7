package io.varvedb;

import io.varvedb.internal.store.MetaDescriptor;
import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.CyclicBarrier;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Several threads append to hot and cold streams with every kind of expected version, singles and batches,
 * across many segment rolls; afterwards every invariant is checked from the log, again after a clean reopen,
 * and again after an index rebuild from the log.
 */
class ConcurrentStressTest
{
    private static final int THREADS = 4;
    private static final int OPERATIONS = 6_000;
    private static final int HOT_STREAMS = 3;
    private static final int COLD_STREAMS = 400;
    private static final int ID_LENGTH = 16;

    @TempDir
    Path dir;

    /** What one thread saw: each successful event's (stream, version, batch), each refused id. */
    private static final class Outcome
    {
        final Map<Long, long[]> appended = new HashMap<>();
        final Set<Long> refused = new HashSet<>();
        final Map<Long, Long> batchOf = new HashMap<>();
    }

    @Test
    void invariantsHoldAfterAConcurrentRunAReopenAndARebuild() throws Exception
    {
        final VarveConfig config = VarveConfig.builder(dir).segmentSize(64 * 1024).indexCapacity(1024)
            .indexBlocksPerChunk(16).build();
        final List<Outcome> outcomes = new ArrayList<>();
        try (VarveDB db = VarveDB.open(config))
        {
            final CyclicBarrier start = new CyclicBarrier(THREADS);
            final List<Thread> threads = new ArrayList<>();
            final List<Throwable> errors = java.util.Collections.synchronizedList(new ArrayList<>());
            for (int t = 0; t < THREADS; t++)
            {
                final Outcome outcome = new Outcome();
                outcomes.add(outcome);
                final int threadId = t;
                final Thread thread = new Thread(() ->
                {
                    try
                    {
                        start.await();
                        run(db, threadId, outcome);
                    }
                    catch (final Throwable ex)
                    {
                        errors.add(ex);
                    }
                });
                threads.add(thread);
                thread.start();
            }
            for (final Thread thread : threads)
            {
                thread.join();
            }
            assertEquals(List.of(), errors);
            verify(db, outcomes);
            assertTrue(db.tailPosition() > 10L * config.segmentSize(), "the run must roll many segments");
        }

        try (VarveDB db = VarveDB.open(config))
        {
            assertTrue(db.openedCleanly());
            verify(db, outcomes);
        }

        markDirty(dir);
        try (VarveDB db = VarveDB.open(config))
        {
            assertFalse(db.openedCleanly());
            verify(db, outcomes);
        }
    }

    private static void run(final VarveDB db, final int threadId, final Outcome outcome)
    {
        final SplittableRandom random = new SplittableRandom(threadId * 7919L + 17);
        final Appender appender = db.appender();
        final UnsafeBuffer payload = new UnsafeBuffer(ByteBuffer.allocateDirect(512));
        final EventBatch batch = new EventBatch();
        long nextId = (long)threadId << 40;

        for (int op = 0; op < OPERATIONS; op++)
        {
            final long streamId = random.nextInt(4) == 0 ?
                1 + random.nextInt(HOT_STREAMS) : 100 + random.nextInt(COLD_STREAMS);
            final long seen = db.streamVersion(streamId);
            final int kind = random.nextInt(100);
            final long expected;
            if (kind < 45)
            {
                expected = seen;
            }
            else if (kind < 65)
            {
                expected = ExpectedVersion.ANY_VALUE;
            }
            else if (kind < 72)
            {
                expected = ExpectedVersion.NO_STREAM_VALUE;
            }
            else if (kind < 80)
            {
                expected = ExpectedVersion.STREAM_EXISTS_VALUE;
            }
            else
            {
                expected = Math.max(0, seen + random.nextInt(5) - 2);
            }

            if (random.nextInt(6) == 0)
            {
                batch.clear();
                final int size = 1 + random.nextInt(5);
                final long firstId = nextId;
                for (int i = 0; i < size; i++)
                {
                    final int length = fill(payload, nextId++, random);
                    batch.add(7, payload, 0, length);
                }
                final long last = appender.tryAppendBatch(streamId, expected, batch);
                for (int i = 0; i < size; i++)
                {
                    final long id = firstId + i;
                    if (last == Appender.CONFLICT)
                    {
                        outcome.refused.add(id);
                    }
                    else
                    {
                        outcome.appended.put(id, new long[]{ streamId, last - size + 1 + i });
                        outcome.batchOf.put(id, firstId);
                    }
                }
                assertConflictIsReal(last, expected, appender);
            }
            else
            {
                final long id = nextId++;
                final int length = fill(payload, id, random);
                final long version = appender.tryAppend(streamId, expected, 5, payload, 0, length);
                if (version == Appender.CONFLICT)
                {
                    outcome.refused.add(id);
                }
                else
                {
                    outcome.appended.put(id, new long[]{ streamId, version });
                }
                assertConflictIsReal(version, expected, appender);
            }
        }
    }

    private static void assertConflictIsReal(final long result, final long expected, final Appender appender)
    {
        if (result == Appender.CONFLICT)
        {
            assertFalse(ExpectedVersion.isSatisfiedBy(expected, appender.lastActualVersion()),
                "a conflict must report a version that does not satisfy the expectation");
        }
        else if (expected >= 0)
        {
            assertTrue(result > 0);
        }
    }

    private static int fill(final UnsafeBuffer payload, final long id, final SplittableRandom random)
    {
        final int length = ID_LENGTH + random.nextInt(300);
        payload.putLong(0, id);
        payload.putLong(8, ~id);
        for (int i = ID_LENGTH; i < length; i++)
        {
            payload.putByte(i, (byte)(id + i));
        }
        return length;
    }

    private static void verify(final VarveDB db, final List<Outcome> outcomes)
    {
        final Map<Long, List<StoreChecker.Event>> streams = StoreChecker.check(db);
        final Map<Long, StoreChecker.Event> byId = new HashMap<>();
        final List<StoreChecker.Event> logOrder = StoreChecker.readAll(db);
        final Map<Long, Integer> logIndex = new HashMap<>();
        for (int i = 0; i < logOrder.size(); i++)
        {
            final StoreChecker.Event event = logOrder.get(i);
            final ByteBuffer payload = ByteBuffer.wrap(event.payload()).order(ByteOrder.LITTLE_ENDIAN);
            final long id = payload.getLong(0);
            assertEquals(~id, payload.getLong(8), "payload intact");
            for (int b = ID_LENGTH; b < event.payload().length; b++)
            {
                assertEquals((byte)(id + b), event.payload()[b], "payload byte " + b + " of event " + id);
            }
            assertNull(byId.put(id, event), "event " + id + " is in the log twice");
            logIndex.put(id, i);
        }

        long appended = 0;
        for (final Outcome outcome : outcomes)
        {
            for (final Map.Entry<Long, long[]> entry : outcome.appended.entrySet())
            {
                final StoreChecker.Event event = byId.get(entry.getKey());
                assertNotNull(event, "acknowledged event " + entry.getKey() + " is missing");
                assertEquals(entry.getValue()[0], event.streamId());
                assertEquals(entry.getValue()[1], event.version(), "event " + entry.getKey() + " version");
                appended++;
            }
            for (final long refused : outcome.refused)
            {
                assertFalse(byId.containsKey(refused), "refused event " + refused + " is in the log");
            }
            for (final Map.Entry<Long, Long> entry : outcome.batchOf.entrySet())
            {
                final long id = entry.getKey();
                final long first = entry.getValue();
                assertEquals(logIndex.get(first) + (id - first), (long)logIndex.get(id),
                    "batch events are contiguous in the log");
            }
        }
        assertEquals(appended, logOrder.size(), "nothing in the log that was not acknowledged");
        assertEquals(appended, streams.values().stream().mapToLong(List::size).sum());
    }

    /**
     * Make a closed store look as a crashed writer leaves it before any checkpoint: not closed cleanly, nothing
     * known durable, no index checkpoint.
     */
    static void markDirty(final Path dir) throws IOException
    {
        markCrashed(dir, 0, 0);
    }

    static void markCrashed(final Path dir, final long indexCheckpoint, final long durable) throws IOException
    {
        try (FileChannel channel = FileChannel.open(dir.resolve(MetaDescriptor.FILE_NAME), StandardOpenOption.WRITE))
        {
            final ByteBuffer dirty = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(0, MetaDescriptor.DIRTY);
            channel.write(dirty, MetaDescriptor.CLEAN_SHUTDOWN_OFFSET);
            final ByteBuffer position = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            channel.write(position.putLong(0, durable), MetaDescriptor.DURABLE_POSITION_OFFSET);
            channel.write(position.clear().putLong(0, indexCheckpoint), MetaDescriptor.INDEX_CHECKPOINT_OFFSET);
        }
    }
}
