package io.varvedb;

import io.varvedb.internal.log.RecordDescriptor;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A durable acknowledgement never runs ahead of the disk, with many appenders: after every {@code SYNC} append
 * and every {@code awaitDurable}, {@link VarveDB#durablePosition()} covers the whole record (the whole batch), even
 * when an earlier record is still being written by another appender. And {@code durablePosition()} never goes
 * backwards, neither in the writer nor in a read-only follower.
 */
class DurableAcknowledgementTest
{
    private static final int THREADS = 4;
    private static final int APPENDS_PER_THREAD = 300;

    @TempDir
    Path dir;

    private VarveConfig config(final Durability durability)
    {
        return VarveConfig.builder(dir).segmentSize(TestStores.SEGMENT).indexCapacity(256).indexBlocksPerChunk(64)
            .durability(durability).flushIntervalMicros(200).checkpointIntervalMillis(20).build();
    }

    private static long recordEnd(final long position, final int payloadLength)
    {
        return position + RecordDescriptor.alignedLength(RecordDescriptor.frameLength(payloadLength));
    }

    @ParameterizedTest
    @EnumSource(Durability.class)
    void everyDurableAcknowledgementIsCoveredByTheDurablePosition(final Durability durability) throws Exception
    {
        try (VarveDB db = VarveDB.open(config(durability));
            VarveDB follower = VarveDB.openReadOnly(dir))
        {
            final List<String> violations = Collections.synchronizedList(new ArrayList<>());
            final AtomicReference<Throwable> failure = new AtomicReference<>();
            final AtomicBoolean running = new AtomicBoolean(true);
            final CyclicBarrier start = new CyclicBarrier(THREADS + 1);

            // the durable position as the writer and a read-only follower see it never goes backwards
            final Thread watcher = new Thread(() ->
            {
                long lastWriter = 0;
                long lastFollower = 0;
                while (running.get())
                {
                    final long writer = db.durablePosition();
                    final long seen = follower.durablePosition();
                    if (writer < lastWriter || seen < lastFollower)
                    {
                        violations.add("durablePosition went backwards: writer " + lastWriter + " -> " + writer +
                            ", follower " + lastFollower + " -> " + seen);
                    }
                    lastWriter = writer;
                    lastFollower = seen;
                }
            });
            watcher.start();

            final List<Thread> threads = new ArrayList<>();
            for (int t = 0; t < THREADS; t++)
            {
                final long streamId = t + 1;
                final Thread thread = new Thread(() ->
                {
                    try (Appender appender = db.appender())
                    {
                        start.await();
                        final EventBatch batch = new EventBatch();
                        for (int i = 0; i < APPENDS_PER_THREAD; i++)
                        {
                            final int length = 8 + (i * 7 + (int)streamId * 13) % 90;
                            final long end;
                            if (i % 10 == 9)
                            {
                                batch.clear().add(2, new byte[length]).add(3, new byte[5]).add(4, new byte[length]);
                                appender.appendBatch(streamId, ExpectedVersion.ANY, batch);
                                end = recordEnd(appender.lastPosition(), length);
                            }
                            else
                            {
                                appender.append(streamId, ExpectedVersion.ANY, 1, new byte[length]);
                                end = recordEnd(appender.lastPosition(), length);
                            }
                            if (durability != Durability.SYNC)
                            {
                                appender.awaitDurable(appender.lastPosition());
                            }
                            final long durable = db.durablePosition();
                            if (durable < end)
                            {
                                violations.add(durability + ": stream " + streamId + " acknowledged the record " +
                                    "ending at " + end + " with durablePosition " + durable);
                            }
                        }
                    }
                    catch (final Throwable ex)
                    {
                        failure.compareAndSet(null, ex);
                    }
                });
                threads.add(thread);
                thread.start();
            }
            start.await();
            for (final Thread thread : threads)
            {
                thread.join();
            }
            running.set(false);
            watcher.join();

            if (failure.get() != null)
            {
                throw new AssertionError(failure.get());
            }
            assertEquals(List.of(), violations.subList(0, Math.min(5, violations.size())),
                violations.size() + " durable acknowledgements ran ahead of the disk or the position went back");
            StoreChecker.check(db);
        }
    }

    @Test
    void awaitDurableRefusesAPositionNoAppendHasReached()
    {
        try (VarveDB db = VarveDB.open(config(Durability.GROUP_COMMIT)))
        {
            final Appender appender = db.appender();
            appender.append(1, ExpectedVersion.ANY, 1, new byte[10]);
            final long tail = db.tailPosition();
            final IllegalArgumentException e =
                assertThrows(IllegalArgumentException.class, () -> appender.awaitDurable(tail));
            assertTrue(e.getMessage().contains(Long.toString(tail)), e.getMessage());
            appender.awaitDurable(appender.lastPosition());
            assertTrue(db.durablePosition() >= tail);
        }
    }

    @Test
    void awaitDurableOnAClosedAppenderSaysSo()
    {
        try (VarveDB db = VarveDB.open(config(Durability.GROUP_COMMIT)))
        {
            final Appender appender = db.appender();
            appender.append(1, ExpectedVersion.ANY, 1, new byte[10]);
            final long position = appender.lastPosition();
            appender.close();
            assertThrows(StoreClosedException.class, () -> appender.awaitDurable(position));
        }
    }
}
