package io.varvedb;

import org.agrona.DirectBuffer;
import org.agrona.MutableDirectBuffer;
import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.ref.WeakReference;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Appends that fail part-way, appenders misused or forgotten, and the event-size limit of an existing store:
 * whatever goes wrong in one append, nothing of it is left behind, neither in the log nor in the index.
 */
class AppendFailureTest
{
    private static final Duration HANG = Duration.ofSeconds(20);

    @TempDir
    Path dir;

    /** A codec that fails for every event, after writing into the claimed space. */
    private static final Codec<String> FAILING = new Codec<>()
    {
        @Override
        public int maxEncodedLength(final String value)
        {
            return 64;
        }

        @Override
        public int encode(final String value, final MutableDirectBuffer buffer, final int maxLength)
        {
            buffer.putStringWithoutLengthAscii(0, "half-written");
            throw new IllegalStateException("no encoding for " + value);
        }

        @Override
        public String decode(final DirectBuffer buffer, final int offset, final int length)
        {
            return buffer.getStringWithoutLengthAscii(offset, length);
        }
    };

    /** A codec that blocks in encode until released: holds its stream mid-append. */
    private static final class BlockingCodec implements Codec<String>
    {
        final CountDownLatch inEncode = new CountDownLatch(1);
        final CountDownLatch release = new CountDownLatch(1);

        @Override
        public int maxEncodedLength(final String value)
        {
            return value.length();
        }

        @Override
        public int encode(final String value, final MutableDirectBuffer buffer, final int maxLength)
        {
            inEncode.countDown();
            try
            {
                assertTrue(release.await(30, TimeUnit.SECONDS));
            }
            catch (final InterruptedException ex)
            {
                throw new IllegalStateException(ex);
            }
            return buffer.putStringWithoutLengthAscii(0, value);
        }

        @Override
        public String decode(final DirectBuffer buffer, final int offset, final int length)
        {
            return buffer.getStringWithoutLengthAscii(offset, length);
        }
    }

    /** A payload whose copy into the log fails once armed, as a buffer changed by another thread might. */
    private static final class FailingPayload extends UnsafeBuffer
    {
        volatile boolean armed;

        FailingPayload(final byte[] bytes)
        {
            super(bytes);
        }

        @Override
        public void boundsCheck(final int index, final int length)
        {
            if (armed)
            {
                throw new IndexOutOfBoundsException("the payload changed under the copy");
            }
            super.boundsCheck(index, length);
        }
    }

    private static byte[] bytes(final int length, final int fill)
    {
        final byte[] bytes = new byte[length];
        Arrays.fill(bytes, (byte)fill);
        return bytes;
    }

    /**
     * Issue 19, item 1: the second thread's bytes must never end up in the first thread's event. The first
     * thread is held inside its append (waiting for a stream another appender holds) while the second calls the
     * same appender with other bytes, of equal and of shorter length.
     */
    @Test
    void aSecondThreadOnTheSameAppenderNeverTouchesTheFirstThreadsAppend() throws Exception
    {
        for (final int otherLength : new int[] { 100, 10 })
        {
            final Path store = dir.resolve("store-" + otherLength);
            final ExecutorService threads = Executors.newFixedThreadPool(2);
            try (VarveDB db = VarveDB.open(TestStores.small(store)))
            {
                db.appender().append(7, ExpectedVersion.NO_STREAM, 1, bytes(8, 0));
                final BlockingCodec holder = new BlockingCodec();
                final Future<Long> held = threads.submit(
                    () -> db.appender().append(7, ExpectedVersion.ANY, 1, "held", holder));
                assertTrue(holder.inEncode.await(10, TimeUnit.SECONDS));

                final Appender shared = db.appender();
                final byte[] mine = bytes(100, 'A');
                final Future<Long> first = threads.submit(() -> shared.append(7, ExpectedVersion.ANY, 2, mine));
                // the first thread is inside its append once the appender is busy: it waits for stream 7
                final java.lang.reflect.Field guard = Appender.class.getDeclaredField("guard");
                guard.setAccessible(true);
                while (guard.getInt(shared) == 0 && !first.isDone())
                {
                    Thread.onSpinWait();
                }
                assertFalse(first.isDone(), "the first thread waits for stream 7");

                final byte[] other = bytes(otherLength, 'B');
                assertThrows(IllegalStateException.class, () -> shared.append(1000, ExpectedVersion.ANY, 3, other),
                    "the second thread is refused");
                holder.release.countDown();
                assertEquals(2, held.get(10, TimeUnit.SECONDS));
                assertEquals(3, first.get(10, TimeUnit.SECONDS), "the first thread's append completes");

                final byte[][] stored = new byte[1][];
                db.readStream(7, 3, 1, (e) ->
                {
                    stored[0] = new byte[e.payloadLength()];
                    e.payload().getBytes(0, stored[0]);
                });
                assertArrayEquals(mine, stored[0], "event 3 of stream 7 holds the first thread's bytes");
                StoreChecker.check(db);
            }
            finally
            {
                threads.shutdownNow();
            }
            try (VarveDB db = VarveDB.open(TestStores.small(store)))
            {
                assertEquals(3, db.streamVersion(7));
                assertEquals(0, db.streamVersion(1000), "the refused append wrote nothing");
                StoreChecker.check(db);
            }
        }
    }

    /**
     * Issue 19, item 1: any exception between the claim and the publish gives the stream back and turns the
     * claim into padding, for a new stream and for one with events: the stream takes further appends at once,
     * readers read past the failed append, and the store reopens cleanly with every acknowledged event.
     */
    @Test
    void anExceptionWhileCopyingThePayloadLeavesNoPendingSlotAndNoHole()
    {
        final Path store = dir.resolve("store");
        try (VarveDB db = VarveDB.open(TestStores.small(store)))
        {
            final Appender appender = db.appender();
            appender.append(1, ExpectedVersion.NO_STREAM, 1, bytes(40, 1));
            final FailingPayload payload = new FailingPayload(bytes(40, 9));
            payload.armed = true;
            for (final long stream : new long[] { 1, 2 })
            {
                final long before = db.streamVersion(stream);
                assertThrows(IndexOutOfBoundsException.class,
                    () -> appender.append(stream, ExpectedVersion.ANY, 2, payload, 0, 40));
                assertEquals(before, db.streamVersion(stream), "the stream is given back unchanged");
                final long after = assertTimeoutPreemptively(HANG,
                    () -> db.appender().append(stream, ExpectedVersion.exact(before), 3, bytes(40, 3)),
                    "another append to the stream goes through");
                assertEquals(before + 1, after);
            }
            appender.append(3, ExpectedVersion.NO_STREAM, 4, bytes(40, 4));
            final List<StoreChecker.Event> events = assertTimeoutPreemptively(HANG, () -> StoreChecker.readAll(db),
                "readAll does not stop at the failed append");
            assertEquals(4, events.size(), "every acknowledged event, and nothing of the failed ones: " + events);
            assertEquals(3, db.streamCount(), "streams 1, 2 and 3");
            StoreChecker.check(db);
        }
        try (VarveDB db = VarveDB.open(TestStores.small(store)))
        {
            assertTrue(db.openedCleanly());
            final Map<Long, List<StoreChecker.Event>> streams = StoreChecker.check(db);
            assertEquals(2, streams.get(1L).size());
            assertEquals(1, streams.get(2L).size());
            assertEquals(1, streams.get(3L).size());
        }
    }

    /**
     * Issue 19, item 2: a failing codec on a new stream writes nothing, in the index too: no slot, no
     * capacity used, however often it happens, and a clean reopen agrees.
     */
    @Test
    void aFailingCodecOnANewStreamUsesNoStreamSlot()
    {
        final Path store = dir.resolve("store");
        final VarveConfig config =
            VarveConfig.builder(store).segmentSize(TestStores.SEGMENT).indexCapacity(4).indexBlocksPerChunk(4).build();
        try (VarveDB db = VarveDB.open(config))
        {
            final Appender appender = db.appender();
            for (long stream = 1; stream <= 200; stream++)
            {
                final long id = stream;
                assertThrows(IllegalStateException.class,
                    () -> appender.append(id, ExpectedVersion.ANY, 1, "event " + id, FAILING));
                assertThrows(IllegalStateException.class,
                    () -> appender.append(id + 1000, ExpectedVersion.NO_STREAM, 1, "event " + id, FAILING));
            }
            assertEquals(0, db.streamCount(), "no stream was created");
            for (long stream = 1; stream <= 4; stream++)
            {
                assertEquals(1, appender.append(stream * 10, ExpectedVersion.NO_STREAM, 1, bytes(8, 1)));
            }
            assertThrows(StreamIndexFullException.class,
                () -> appender.append(99, ExpectedVersion.NO_STREAM, 1, bytes(8, 1)));
            assertEquals(4, db.streamCount());
            StoreChecker.check(db);
        }
        try (VarveDB db = VarveDB.open(config))
        {
            assertEquals(4, db.streamCount());
            assertEquals(4, StoreChecker.readAll(db).size());
            StoreChecker.check(db);
        }
    }

    /**
     * Issue 19, item 3: an existing store keeps the event-size limit of its own segments, whatever segment size
     * the config names, and a config asking for a limit is checked against the store it opens, not at build().
     */
    @Test
    void theEventSizeLimitIsTheStoresNotTheConfigs()
    {
        final Path store = dir.resolve("store");
        final byte[] big = bytes(100_000, 5);
        try (VarveDB db = VarveDB.open(VarveConfig.builder(store).segmentSize(1 << 20).build()))
        {
            db.appender().append(1, ExpectedVersion.NO_STREAM, 1, big);
        }
        try (VarveDB db = VarveDB.open(VarveConfig.builder(store).segmentSize(64 * 1024).build()))
        {
            assertEquals(1 << 20, db.config().segmentSize());
            assertEquals(VarveConfig.maxPayloadFor(1 << 20), db.config().maxEventSize(),
                "the default limit follows the store's segments");
            assertEquals(2, db.appender().append(1, ExpectedVersion.exact(1), 1, big));
        }
        final VarveConfig asking = assertDoesNotThrow(
            () -> VarveConfig.builder(store).segmentSize(64 * 1024).maxEventSize(100_000).build());
        try (VarveDB db = VarveDB.open(asking))
        {
            assertEquals(100_000, db.config().maxEventSize());
            assertEquals(3, db.appender().append(1, ExpectedVersion.exact(2), 1, big));
            assertThrows(EventTooLargeException.class,
                () -> db.appender().append(1, ExpectedVersion.ANY, 1, new byte[100_001]));
        }
        // a new store with those segments cannot hold such events: refused at open, naming both numbers
        final IllegalArgumentException refused = assertThrows(IllegalArgumentException.class,
            () -> VarveDB.open(VarveConfig.builder(dir.resolve("new")).segmentSize(64 * 1024)
                .maxEventSize(100_000).build()));
        assertTrue(refused.getMessage().contains("100000") && refused.getMessage().contains("65536"),
            refused.getMessage());
    }

    /**
     * Issue 19, item 4: an appender dropped without close() is collected, with all it holds, also the
     * thread-local-per-pool-thread pattern with threads that come and go.
     */
    @Test
    void appendersDroppedWithoutCloseAreCollected() throws Exception
    {
        try (VarveDB db = VarveDB.open(TestStores.small(dir.resolve("store"))))
        {
            final WeakReference<Appender> forgotten = new WeakReference<>(db.appender());
            for (int i = 0; i < 20_000; i++)
            {
                db.appender().append(1, ExpectedVersion.ANY, 1, new byte[8]);
            }
            final ThreadLocal<Appender> perThread = ThreadLocal.withInitial(db::appender);
            for (int i = 0; i < 200; i++)
            {
                final Thread thread = new Thread(() -> perThread.get().append(2, ExpectedVersion.ANY, 1, new byte[8]));
                thread.start();
                thread.join();
            }
            for (int attempt = 0; attempt < 50 && (forgotten.get() != null || db.trackedAppenders() > 100); attempt++)
            {
                System.gc();
                Thread.sleep(20);
                db.appender().close(); // creating one purges the collected ones
            }
            assertNull(forgotten.get(), "an appender nobody references is collected");
            assertTrue(db.trackedAppenders() <= 100, "the store tracks " + db.trackedAppenders() + " appenders");
            assertEquals(20_000, db.streamVersion(1));
            assertEquals(200, db.streamVersion(2));
        }
    }
    /**
     * Failed and lost first appends never leave the index in a shape that breaks another stream later: a stream
     * growing over many blocks after each failure keeps taking appends, before and after reopening.
     */
    @Test
    void failedFirstAppendsNeverBreakStreamsThatGrowLater() throws Exception
    {
        final Path store = dir.resolve("store");
        final VarveConfig config = TestStores.small(store);
        try (VarveDB db = VarveDB.open(config))
        {
            final Appender grower = db.appender();
            for (int round = 0; round < 30; round++)
            {
                final long id = 1000 + round;
                try (Appender failing = db.appender())
                {
                    assertThrows(IllegalStateException.class,
                        () -> failing.append(id, ExpectedVersion.ANY, 1, "x", FAILING));
                }
                for (int i = 0; i < 30; i++)
                {
                    grower.append(1, ExpectedVersion.ANY, 1, bytes(16, round));
                }
            }
            // threads racing the first events of new streams, batches spanning several index blocks included
            final ExecutorService threads = Executors.newFixedThreadPool(4);
            try
            {
                final List<Future<?>> done = new java.util.ArrayList<>();
                for (int t = 0; t < 4; t++)
                {
                    final int thread = t;
                    done.add(threads.submit(() ->
                    {
                        final Appender appender = db.appender();
                        final EventBatch batch = new EventBatch();
                        for (int i = 0; i < 60; i++)
                        {
                            batch.add(thread, bytes(8, thread));
                        }
                        for (long stream = 2; stream < 400; stream++)
                        {
                            if (stream % 7 == 0)
                            {
                                appender.appendBatch(stream, ExpectedVersion.ANY, batch);
                            }
                            else
                            {
                                appender.append(stream, ExpectedVersion.ANY, thread, bytes(8, thread));
                            }
                        }
                        return null;
                    }));
                }
                for (final Future<?> future : done)
                {
                    future.get(60, TimeUnit.SECONDS);
                }
            }
            finally
            {
                threads.shutdownNow();
            }
            assertEquals(900, db.streamVersion(1));
            assertEquals(4 * 60, db.streamVersion(7));
            assertEquals(4, db.streamVersion(8));
            StoreChecker.check(db);
        }
        try (VarveDB db = VarveDB.open(config))
        {
            db.appender().append(1, ExpectedVersion.exact(900), 1, bytes(16, 0));
            StoreChecker.check(db);
        }
    }

    /** A slow first append holds no room in a nearly full index while its codec runs. */
    @Test
    void aSlowFirstAppendDoesNotMakeTheIndexLookFull() throws Exception
    {
        final VarveConfig config = VarveConfig.builder(dir.resolve("store")).segmentSize(TestStores.SEGMENT)
            .indexCapacity(2).indexBlocksPerChunk(4).build();
        try (VarveDB db = VarveDB.open(config))
        {
            db.appender().append(1, ExpectedVersion.NO_STREAM, 1, bytes(8, 1));
            final BlockingCodec slow = new BlockingCodec();
            final ExecutorService threads = Executors.newSingleThreadExecutor();
            try
            {
                final Future<Long> held = threads.submit(() -> db.appender().append(2, ExpectedVersion.ANY, 1, "slow", slow));
                assertTrue(slow.inEncode.await(10, TimeUnit.SECONDS));
                assertEquals(1, db.appender().append(3, ExpectedVersion.NO_STREAM, 1, bytes(8, 3)),
                    "room for stream 3 while stream 2's codec runs");
                slow.release.countDown();
                assertThrows(java.util.concurrent.ExecutionException.class, () -> held.get(10, TimeUnit.SECONDS),
                    "now the index is full for stream 2");
            }
            finally
            {
                threads.shutdownNow();
            }
            assertEquals(2, db.streamCount());
            StoreChecker.check(db);
        }
    }

    /** A conflict's actual version is the stream's, whatever a second thread misusing the appender does. */
    @Test
    void aConflictReportsItsOwnStreamsVersionDespiteASecondThread() throws Exception
    {
        try (VarveDB db = VarveDB.open(TestStores.small(dir.resolve("store"))))
        {
            final Appender shared = db.appender();
            for (int i = 0; i < 5; i++)
            {
                shared.append(1, ExpectedVersion.ANY, 1, bytes(8, 1));
            }
            for (int i = 0; i < 9; i++)
            {
                shared.append(2, ExpectedVersion.ANY, 1, bytes(8, 2));
            }
            final java.util.concurrent.atomic.AtomicBoolean stop = new java.util.concurrent.atomic.AtomicBoolean();
            final Thread other = new Thread(() ->
            {
                final UnsafeBuffer payload = new UnsafeBuffer(new byte[8]);
                while (!stop.get())
                {
                    try
                    {
                        shared.append(2, ExpectedVersion.exact(1), 1, payload, 0, 8);
                    }
                    catch (final IllegalStateException | ConcurrencyConflictException ignored)
                    {
                        // refused or conflicting: either way it only stirs the appender's state
                    }
                }
            });
            other.start();
            final UnsafeBuffer payload = new UnsafeBuffer(new byte[8]);
            int wrong = 0;
            int conflicts = 0;
            try
            {
                for (int i = 0; i < 300_000; i++)
                {
                    try
                    {
                        shared.append(1, ExpectedVersion.exact(1), 1, payload, 0, 8);
                    }
                    catch (final ConcurrencyConflictException ex)
                    {
                        conflicts++;
                        wrong += ex.actualVersion() == 5 ? 0 : 1;
                    }
                    catch (final IllegalStateException ex)
                    {
                        // the other thread was inside
                    }
                }
            }
            finally
            {
                stop.set(true);
                other.join();
            }
            assertTrue(conflicts > 0);
            assertEquals(0, wrong, "conflicts on stream 1 that named another version, of " + conflicts);
        }
    }
}
