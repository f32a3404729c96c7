package io.varvedb;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.*;

/**
 * {@code close()} unmaps the store's files. Every thread still using the store at that moment must either finish
 * what it does with the right data or get {@link StoreClosedException}: a thread that touched an unmapped page
 * would crash this JVM (SIGSEGV), failing the whole run.
 */
class CloseRaceTest
{
    private static final int ROUNDS = 60;
    private static final int STREAMS = 8;
    private static final int EVENTS_PER_STREAM = 200;

    @TempDir
    Path dir;

    @Test
    void readersAppendersAndSubscriptionsRacingACloseFinishRightOrAreToldItIsClosed() throws Exception
    {
        for (int round = 0; round < ROUNDS; round++)
        {
            final Path store = dir.resolve("s" + round);
            try (VarveDB db = VarveDB.open(TestStores.small(store)))
            {
                final Appender appender = db.appender();
                for (int i = 0; i < STREAMS * EVENTS_PER_STREAM; i++)
                {
                    final long stream = 1 + i % STREAMS;
                    appender.append(stream, ExpectedVersion.ANY, (int)stream, payload(stream, 1 + i / STREAMS));
                }
            }
            race(VarveDB.open(TestStores.small(store)), round);
            race(VarveDB.openReadOnly(store), round);
            assertEquals(List.of(), mappingsOf(store), "close() released every mapping of the store");
        }
    }

    private static void race(final VarveDB db, final int round) throws Exception
    {
        final List<Runnable> jobs = new ArrayList<>();
        jobs.add(() -> db.readAll(0, Integer.MAX_VALUE, CloseRaceTest::check));
        jobs.add(() ->
        {
            for (long stream = 1; stream <= STREAMS; stream++)
            {
                final long expected = stream;
                final long[] next = { 1 };
                db.readStream(stream, 1, Integer.MAX_VALUE, (e) ->
                {
                    check(e);
                    assertEquals(expected, e.streamId());
                    assertEquals(next[0]++, e.version());
                });
            }
        });
        jobs.add(() -> db.readStreamBackward(1 + round % STREAMS, VarveDB.LATEST_VERSION, 50, CloseRaceTest::check));
        jobs.add(() ->
        {
            for (long stream = 1; stream <= STREAMS; stream++)
            {
                assertEquals(EVENTS_PER_STREAM, db.streamVersion(stream));
            }
            assertTrue(db.tailPosition() > 0 && db.durablePosition() >= 0 && db.streamCount() >= STREAMS);
        });
        jobs.add(() ->
        {
            final Subscription subscription = db.subscription(VarveDB.START_POSITION);
            while (subscription.poll(CloseRaceTest::check, 64) > 0)
            {
                Thread.onSpinWait();
            }
        });
        if (!db.isReadOnly())
        {
            final Appender appender = db.appender();
            jobs.add(() ->
            {
                for (int i = 0; i < 100; i++)
                {
                    // the only writer of its stream: the next version is known before the append
                    final long version = db.streamVersion(STREAMS + 1);
                    assertEquals(version + 1, appender.append(STREAMS + 1, ExpectedVersion.exact(version), 1,
                        payload(STREAMS + 1, version + 1)));
                }
            });
        }

        final CyclicBarrier start = new CyclicBarrier(jobs.size() + 1);
        final AtomicReference<Throwable> failure = new AtomicReference<>();
        final List<Thread> threads = new ArrayList<>();
        for (final Runnable job : jobs)
        {
            final Thread thread = new Thread(() ->
            {
                try
                {
                    start.await();
                    // again and again until the store closes under it
                    while (true)
                    {
                        job.run();
                    }
                }
                catch (final StoreClosedException expected)
                {
                    // the only acceptable way to stop
                }
                catch (final Throwable ex)
                {
                    failure.compareAndSet(null, ex);
                }
            });
            thread.start();
            threads.add(thread);
        }
        start.await();
        // let them get going for a varying while, then close under them
        Thread.sleep(round % 5);
        db.close();
        for (final Thread thread : threads)
        {
            thread.join(30_000);
            assertFalse(thread.isAlive(), "a thread went on after close()");
        }
        if (failure.get() != null)
        {
            throw new AssertionError("a thread racing close() failed otherwise than with StoreClosedException",
                failure.get());
        }
    }

    /**
     * A handler that closes the store from inside a read: the read cannot be waited for, so its own thread releases
     * the mappings once the read returns, and the read says the store closed under it rather than go on.
     */
    @Test
    void aHandlerThatClosesTheStoreReleasesTheMappingsWhenItsReadReturns() throws Exception
    {
        Assumptions.assumeTrue(Files.exists(Path.of("/proc/self/maps")), "needs /proc/self/maps");
        final Path store = dir.resolve("inside");
        final VarveDB db = VarveDB.open(TestStores.small(store));
        final Appender appender = db.appender();
        for (int i = 1; i <= 10; i++)
        {
            appender.append(1, ExpectedVersion.ANY, 1, payload(1, i));
        }
        final List<Long> seen = new ArrayList<>();
        final List<String> mappedDuringTheRead = new ArrayList<>();
        assertThrows(StoreClosedException.class, () -> db.readAll(0, Integer.MAX_VALUE, (e) ->
        {
            seen.add(e.version());
            if (e.version() == 3)
            {
                db.close();
                // the event being handled is still whole, and its mapping with it
                check(e);
                mappedDuringTheRead.addAll(mappingsOf(store));
            }
        }));
        assertEquals(List.of(1L, 2L, 3L), seen, "nothing is delivered after the close");
        assertFalse(mappedDuringTheRead.isEmpty(), "the mappings stayed while the read was in progress");
        assertEquals(List.of(), mappingsOf(store), "released when the read returned");
        assertThrows(StoreClosedException.class, () -> db.streamVersion(1));
    }

    /**
     * A read in progress on another thread holds close() until it ends; it ends at its next event.
     */
    @Test
    void closeWaitsForAReadOnAnotherThreadWhichEndsAtItsNextEvent() throws Exception
    {
        final Path store = dir.resolve("waits");
        final VarveDB db = VarveDB.open(TestStores.small(store));
        final Appender appender = db.appender();
        for (int i = 1; i <= 10; i++)
        {
            appender.append(1, ExpectedVersion.ANY, 1, payload(1, i));
        }
        final CountDownLatch inHandler = new CountDownLatch(1);
        final CountDownLatch release = new CountDownLatch(1);
        final List<Long> seen = new ArrayList<>();
        final AtomicReference<Throwable> outcome = new AtomicReference<>();
        final Thread reader = new Thread(() ->
        {
            try
            {
                db.readStream(1, 1, 10, (e) ->
                {
                    seen.add(e.version());
                    inHandler.countDown();
                    await(release);
                    check(e);
                });
            }
            catch (final Throwable ex)
            {
                outcome.set(ex);
            }
        });
        reader.start();
        inHandler.await();
        final Thread closer = new Thread(db::close);
        closer.start();
        closer.join(300);
        assertTrue(closer.isAlive(), "close() returned while a handler still read a mapped event");
        assertFalse(mappingsOf(store).isEmpty() && Files.exists(Path.of("/proc/self/maps")));
        release.countDown();
        closer.join(30_000);
        reader.join(30_000);
        assertFalse(closer.isAlive());
        assertTrue(outcome.get() instanceof StoreClosedException, String.valueOf(outcome.get()));
        assertEquals(List.of(1L), seen);
        if (Files.exists(Path.of("/proc/self/maps")))
        {
            assertEquals(List.of(), mappingsOf(store));
        }
    }

    /**
     * Two threads close at once: whichever returns first finds the store released, its mappings gone and the
     * store free to reopen (a second close() once returned while the first was still at work).
     */
    @Test
    void aSecondCloseReturnsOnlyOnceTheStoreIsReleased() throws Exception
    {
        for (int round = 0; round < 20; round++)
        {
            final Path store = dir.resolve("two" + round);
            final VarveDB db = VarveDB.open(TestStores.small(store));
            final Appender appender = db.appender();
            for (int i = 1; i <= 200; i++)
            {
                appender.append(1, ExpectedVersion.ANY, 1, payload(1, i));
            }
            final CyclicBarrier start = new CyclicBarrier(2);
            final AtomicReference<Throwable> failure = new AtomicReference<>();
            final List<Thread> closers = new ArrayList<>();
            for (int i = 0; i < 2; i++)
            {
                final Thread closer = new Thread(() ->
                {
                    try
                    {
                        start.await();
                        db.close();
                        // the writer's mappings are read-write; the other closer may have opened it read-only (and
                        // a reader maps its own counters in varve.counters read-write too)
                        assertEquals(List.of(), mappingsOf(store).stream().filter((m) -> m.contains(" rw") &&
                            !m.endsWith(io.varvedb.internal.counters.CountersFileDescriptor.FILE_NAME)).toList(),
                            "close() returned with the store still mapped");
                        // the lock is free too: this thread may open the store at once (one of the two wins)
                        try (VarveDB again = VarveDB.openReadOnly(store))
                        {
                            assertEquals(200, again.streamVersion(1));
                        }
                    }
                    catch (final Throwable ex)
                    {
                        failure.compareAndSet(null, ex);
                    }
                });
                closer.start();
                closers.add(closer);
            }
            for (final Thread closer : closers)
            {
                closer.join(30_000);
            }
            if (failure.get() != null)
            {
                throw new AssertionError(failure.get());
            }
            try (VarveDB again = VarveDB.open(TestStores.small(store)))
            {
                assertTrue(again.openedCleanly());
            }
        }
    }

    /**
     * The background error handler closes the store (a full disk: the pre-allocator cannot make a segment). The
     * pre-allocator's thread cannot wait for itself: the close goes through, nothing hangs, every mapping goes.
     */
    @Test
    void aBackgroundErrorHandlerMayCloseTheStore() throws Exception
    {
        Assumptions.assumeTrue(Tmpfs.available(dir.resolve("probe")), "needs permission to mount a tmpfs");
        try (Tmpfs fs = Tmpfs.mount(dir.resolve("bg"), "1m"))
        {
            final Path store = fs.path().resolve("store");
            final AtomicReference<VarveDB> opened = new AtomicReference<>();
            final CountDownLatch isOpen = new CountDownLatch(1);
            final CountDownLatch closedByHandler = new CountDownLatch(1);
            final VarveConfig config = VarveConfig.builder(store).segmentSize(4 << 20).indexCapacity(64)
                .indexBlocksPerChunk(16).backgroundErrorHandler((error) ->
                {
                    // the first failure may come before open() returned
                    await(isOpen);
                    opened.get().close();
                    closedByHandler.countDown();
                }).build();
            final VarveDB db = VarveDB.open(config);
            opened.set(db);
            isOpen.countDown();
            assertTrue(closedByHandler.await(30, java.util.concurrent.TimeUnit.SECONDS),
                "the handler's close() returned");
            db.close();
            assertTrue(db.isClosed());
            assertEquals(List.of(), mappingsOf(store));
            try (VarveDB again = VarveDB.open(config))
            {
                assertEquals(0, again.streamVersion(1));
            }
        }
    }

    private static void await(final CountDownLatch latch)
    {
        try
        {
            latch.await();
        }
        catch (final InterruptedException ex)
        {
            throw new AssertionError(ex);
        }
    }

    private static byte[] payload(final long stream, final long version)
    {
        final byte[] bytes = new byte[48];
        final org.agrona.concurrent.UnsafeBuffer buffer = new org.agrona.concurrent.UnsafeBuffer(bytes);
        buffer.putLong(0, stream);
        buffer.putLong(8, version);
        for (int i = 16; i < bytes.length; i++)
        {
            bytes[i] = (byte)(stream * 31 + version * 7 + i);
        }
        return bytes;
    }

    /** Every event carries its stream and version in its payload, and a pattern derived from them. */
    private static void check(final RecordedEvent e)
    {
        final byte[] expected = payload(e.streamId(), e.version());
        final byte[] actual = new byte[e.payload().capacity()];
        e.payload().getBytes(0, actual);
        assertArrayEquals(expected, actual, "event " + e.streamId() + "/" + e.version());
    }

    /** Lines of /proc/self/maps that map a file of the store. */
    static List<String> mappingsOf(final Path store)
    {
        final Path maps = Path.of("/proc/self/maps");
        if (!Files.exists(maps))
        {
            return List.of();
        }
        final String prefix = store.toAbsolutePath().toString();
        try
        {
            return Files.readAllLines(maps).stream().filter((line) -> line.contains(prefix)).toList();
        }
        catch (final IOException ex)
        {
            throw new java.io.UncheckedIOException(ex);
        }
    }
}
