package io.varvedb.attack;

import io.varvedb.*;
import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.*;
import java.util.concurrent.*;
import java.util.concurrent.atomic.*;

import static org.junit.jupiter.api.Assertions.*;

class RaceAttackTest
{
    @TempDir
    Path dir;

    static void runAll(final int threads, final IntConsumerX body) throws Exception
    {
        final CyclicBarrier barrier = new CyclicBarrier(threads);
        final List<Thread> ts = new ArrayList<>();
        final ConcurrentLinkedQueue<Throwable> errors = new ConcurrentLinkedQueue<>();
        for (int t = 0; t < threads; t++)
        {
            final int id = t;
            final Thread th = new Thread(() ->
            {
                try
                {
                    barrier.await();
                    body.accept(id);
                }
                catch (Throwable e)
                {
                    errors.add(e);
                }
            });
            th.start();
            ts.add(th);
        }
        for (Thread th : ts)
        {
            th.join(20_000);
            if (th.isAlive())
            {
                final StringBuilder sb = new StringBuilder("HANG\n");
                for (Thread x : ts) for (StackTraceElement s : x.getStackTrace()) sb.append("  ").append(s).append('\n');
                fail(sb.toString());
            }
        }
        if (!errors.isEmpty())
        {
            final Throwable e = errors.peek();
            throw new AssertionError("thread failed: " + e, e);
        }
    }

    interface IntConsumerX
    {
        void accept(int t) throws Exception;
    }

    @Test
    void sameIdManyFreshStreams() throws Exception
    {
        final int threads = 4;
        try (VarveDB db = VarveDB.open(IdSemanticsAttackTest.cfg(dir).indexCapacity(100_000).build()))
        {
            final Appender[] as = new Appender[threads];
            for (int t = 0; t < threads; t++) as[t] = db.appender();
            for (int round = 0; round < 2000; round++)
            {
                final long r = round;
                final long[] result = new long[threads];
                final long[] other = new long[threads];
                final boolean[] dup = new boolean[threads];
                runAll(threads, t ->
                {
                    final long stream = 1 + r * threads + t;
                    try
                    {
                        result[t] = (t % 2 == 0) ? as[t].append(stream, ExpectedVersion.NO_STREAM, 1, 77, r + 1, new byte[8])
                            : as[t].tryAppend(stream, ExpectedVersion.NO_STREAM_VALUE, 1, 77, r + 1, new UnsafeBuffer(new byte[8]), 0, 8);
                        dup[t] = as[t].lastWasDuplicate();
                    }
                    catch (EventIdConflictException e)
                    {
                        result[t] = -2;
                        other[t] = e.existingStreamId();
                    }
                });
                int ok = 0;
                long winner = -1;
                for (int t = 0; t < threads; t++)
                {
                    if (result[t] == 1) { ok++; winner = 1 + r * threads + t; assertFalse(dup[t]); }
                }
                assertEquals(1, ok, "round " + round + " " + Arrays.toString(result));
                for (int t = 0; t < threads; t++)
                {
                    final long stream = 1 + r * threads + t;
                    if (result[t] == -2) { assertEquals(winner, other[t]); assertEquals(0, db.streamVersion(stream), "loser stream created"); }
                }
            }
            assertEquals(2000, db.streamCount());
        }
    }

    @Test
    void sameIdSameFreshStream() throws Exception
    {
        final int threads = 4;
        try (VarveDB db = VarveDB.open(IdSemanticsAttackTest.cfg(dir).indexCapacity(100_000).build()))
        {
            final Appender[] as = new Appender[threads];
            for (int t = 0; t < threads; t++) as[t] = db.appender();
            for (int round = 0; round < 2000; round++)
            {
                final long r = round;
                final long[] result = new long[threads];
                final long[] pos = new long[threads];
                final boolean[] dup = new boolean[threads];
                runAll(threads, t ->
                {
                    final long stream = 1 + r;
                    // half with id A then B, others plain/batch, various expectations
                    switch (t)
                    {
                        case 0 -> result[t] = as[t].append(stream, ExpectedVersion.NO_STREAM, 1, 5, r + 1, new byte[8]);
                        case 1 -> result[t] = as[t].tryAppend(stream, ExpectedVersion.ANY_VALUE, 1, 5, r + 1, new UnsafeBuffer(new byte[8]), 0, 8);
                        case 2 -> result[t] = as[t].appendBatch(stream, ExpectedVersion.NO_STREAM, new EventBatch().add(1, new byte[8]).eventId(5, r + 1));
                        default -> result[t] = as[t].append(stream, ExpectedVersion.exact(0), 1, new UUID(5, r + 1), new byte[8]);
                    }
                    pos[t] = as[t].lastPosition();
                    dup[t] = as[t].lastWasDuplicate();
                });
                int fresh = 0;
                for (int t = 0; t < threads; t++)
                {
                    assertEquals(1, result[t], "round " + round + " t" + t + " " + Arrays.toString(result));
                    assertEquals(pos[0], pos[t]);
                    if (!dup[t]) fresh++;
                }
                assertEquals(1, fresh, "round " + round + " dup " + Arrays.toString(dup));
                assertEquals(1, db.streamVersion(1 + r));
            }
        }
    }

    @Test
    void overlappingBatchesDifferentOrders() throws Exception
    {
        final int threads = 4;
        try (VarveDB db = VarveDB.open(IdSemanticsAttackTest.cfg(dir).indexCapacity(100_000).build()))
        {
            final Appender[] as = new Appender[threads];
            for (int t = 0; t < threads; t++) as[t] = db.appender();
            final AtomicLong written = new AtomicLong();
            for (int round = 0; round < 1500; round++)
            {
                final long r = round;
                final long stream = 1 + (round % 3);
                final String[] outcome = new String[threads];
                runAll(threads, t ->
                {
                    final EventBatch b = new EventBatch();
                    final long base = r * 10;
                    final long[][] orders = {{1, 2, 3}, {3, 2, 1}, {2, 3, 4}, {1, 2, 3}};
                    for (long k : orders[t]) b.add(1, new byte[4]).eventId(9, base + k);
                    try
                    {
                        final long v = as[t].appendBatch(t == 3 ? stream : stream, ExpectedVersion.ANY, b);
                        outcome[t] = "v" + v + (as[t].lastWasDuplicate() ? "d" : "w");
                    }
                    catch (EventIdConflictException e)
                    {
                        outcome[t] = "c";
                    }
                });
                // log check: each id at most once; every written batch contiguous
                int writers = 0;
                for (String o : outcome) if (o.endsWith("w")) writers++;
                assertTrue(writers >= 1 && writers <= 2, Arrays.toString(outcome));
                // t0 and t3 are the same batch: both succeed with same version, or both refused
                if (outcome[0].startsWith("v") || outcome[3].startsWith("v"))
                {
                    assertEquals(outcome[0].replaceAll("[dw]$", ""), outcome[3].replaceAll("[dw]$", ""), Arrays.toString(outcome));
                }
            }
            final Map<String, Integer> seen = new HashMap<>();
            for (long[] rr : IdSemanticsAttackTest.all(db))
            {
                if (rr[3] != 0) assertNull(seen.put(rr[3] + ":" + rr[4], 1), "id twice " + rr[4]);
            }
        }
    }

    @Test
    void crossingSingles() throws Exception
    {
        // threads append ids in opposite orders into two streams (single appends); each id lands in exactly one
        final int threads = 4;
        final int ids = 3000;
        try (VarveDB db = VarveDB.open(IdSemanticsAttackTest.cfg(dir).build()))
        {
            final Appender[] as = new Appender[threads];
            for (int t = 0; t < threads; t++) as[t] = db.appender();
            final ConcurrentHashMap<Long, String> owner = new ConcurrentHashMap<>();
            final ConcurrentLinkedQueue<String> bad = new ConcurrentLinkedQueue<>();
            runAll(threads, t ->
            {
                final long stream = 1 + (t % 2);
                for (int i = 0; i < ids; i++)
                {
                    final long id = t < 2 ? i : ids - 1 - i;
                    try
                    {
                        final long v = as[t].append(stream, ExpectedVersion.ANY, 1, 3, id + 1, new byte[4]);
                        final String me = stream + "@" + v;
                        final String prev = owner.putIfAbsent(id, me);
                        if (prev != null && !prev.equals(me)) bad.add("id " + id + " " + prev + " vs " + me);
                    }
                    catch (EventIdConflictException e)
                    {
                        if (e.existingStreamId() == stream) bad.add("conflict names own stream " + e.getMessage());
                    }
                }
            });
            assertTrue(bad.isEmpty(), bad.toString());
            assertEquals(ids, owner.size());
            final Map<Long, String> log = new HashMap<>();
            for (long[] rr : IdSemanticsAttackTest.all(db)) assertNull(log.put(rr[4] - 1, rr[0] + "@" + rr[1]));
            assertEquals(owner, log);
        }
    }
}
