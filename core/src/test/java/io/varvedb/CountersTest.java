package io.varvedb;

import io.varvedb.counters.AppendLatency;
import io.varvedb.counters.CounterType;
import io.varvedb.counters.CountersSnapshot;
import io.varvedb.counters.ProcessCounters;
import io.varvedb.counters.ProcessState;
import io.varvedb.counters.VarveCounters;
import io.varvedb.internal.counters.CountersFileDescriptor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The counters in varve.counters match what was done, read in this process and from another, and outlive the
 * process that wrote them as documented (its last values, its state saying it is gone).
 */
class CountersTest
{
    @TempDir
    Path dir;

    private static final int PAYLOAD = 100;

    @Test
    void countersMatchWhatWasDone()
    {
        final int appends = 1_000;
        final int conflicts = 7;
        final int batches = 3;
        final int batchSize = 4;
        final int duplicates = 5;
        final long rollsExpected;
        final long bytesExpected;
        try (VarveDB db = VarveDB.open(TestStores.small(dir)); Appender appender = db.appender())
        {
            final byte[] payload = new byte[PAYLOAD];
            long firstPosition = -1;
            for (int i = 0; i < appends; i++)
            {
                appender.append(1 + (i % 10), ExpectedVersion.ANY, 1, payload);
                if (firstPosition < 0)
                {
                    firstPosition = appender.lastPosition();
                }
            }
            for (int i = 0; i < conflicts; i++)
            {
                assertThrows(ConcurrencyConflictException.class,
                    () -> appender.append(1, ExpectedVersion.exact(1), 1, payload));
            }
            final EventBatch batch = new EventBatch();
            for (int b = 0; b < batches; b++)
            {
                batch.clear();
                for (int i = 0; i < batchSize; i++)
                {
                    batch.add(2, payload);
                }
                appender.appendBatch(100 + b, ExpectedVersion.ANY, batch);
            }
            final UUID id = UUID.randomUUID();
            appender.append(200, ExpectedVersion.ANY, 1, id, payload);
            for (int i = 0; i < duplicates; i++)
            {
                appender.append(200, ExpectedVersion.ANY, 1, id, payload);
                assertTrue(appender.lastWasDuplicate());
            }
            final long events = appends + (long)batches * batchSize + 1;
            // every record of the log, read back: their bytes, and the segments they span
            final long[] logBytes = new long[1];
            final long[] lastSegment = new long[1];
            db.readAll(VarveDB.START_POSITION, Integer.MAX_VALUE, (event) ->
            {
                logBytes[0] += event.nextPosition() - event.position();
                lastSegment[0] = event.position() / TestStores.SEGMENT;
            });
            bytesExpected = logBytes[0];
            rollsExpected = lastSegment[0];
            assertTrue(rollsExpected >= 2, "the test must cross segments: " + rollsExpected);

            final ProcessCounters own = db.counters();
            assertNotNull(own);
            assertEquals(ProcessState.RUNNING, own.state());
            assertEquals(ProcessHandle.current().pid(), own.pid());
            assertEquals("writer", own.role());
            assertEquals(events, own.total(CounterType.APPENDS));
            assertEquals(conflicts, own.total(CounterType.CONFLICTS));
            assertEquals(batches, own.total(CounterType.APPEND_BATCHES));
            assertEquals(duplicates, own.total(CounterType.DUPLICATES));
            assertEquals(rollsExpected, own.total(CounterType.SEGMENT_ROLLS));

            // and the same from the file, as another process reads it
            try (VarveCounters counters = VarveCounters.open(dir))
            {
                final CountersSnapshot snapshot = counters.snapshot();
                assertTrue(snapshot.anyRunning());
                assertEquals(events, snapshot.total(CounterType.APPENDS));
                assertEquals(conflicts, snapshot.total(CounterType.CONFLICTS));
            }
        }
        // closed: the last values stay, and say so; appenders' counts were kept when they closed
        try (VarveCounters counters = VarveCounters.open(dir))
        {
            final CountersSnapshot snapshot = counters.snapshot();
            assertFalse(snapshot.anyRunning());
            assertEquals(1, snapshot.processes().size());
            final ProcessCounters last = snapshot.processes().get(0);
            assertEquals(ProcessState.CLOSED, last.state());
            assertTrue(last.closedAtMillis() > 0);
            assertEquals(appends + (long)batches * batchSize + 1, last.total(CounterType.APPENDS));
            assertEquals(bytesExpected, last.total(CounterType.APPENDED_BYTES));
            assertEquals(conflicts, last.total(CounterType.CONFLICTS));
            assertEquals(rollsExpected, last.total(CounterType.SEGMENT_ROLLS));
            // the levels as the store was left: everything forced at close, 10 + 3 + 1 streams
            assertEquals(0, last.total(CounterType.DURABLE_LAG));
            assertEquals(14, last.total(CounterType.INDEX_STREAMS));
            assertTrue(last.total(CounterType.FORCES) >= 1);
        }
    }

    @Test
    void anAppenderDroppedWithoutCloseKeepsItsCountsAndManyAppendersDoNotRunOut() throws Exception
    {
        try (VarveDB db = VarveDB.open(TestStores.small(dir)))
        {
            final byte[] payload = new byte[8];
            // more appenders than one region has counters for: the rest share their process's
            for (int i = 0; i < 300; i++)
            {
                final Appender appender = db.appender();
                appender.append(1, ExpectedVersion.ANY, 1, payload);
                if (i % 2 == 0)
                {
                    appender.close();
                }
            }
            assertEquals(300, db.counters().total(CounterType.APPENDS));
            for (int i = 0; i < 20; i++)
            {
                System.gc();
                Thread.sleep(10);
            }
            assertEquals(300, db.counters().total(CounterType.APPENDS));
        }
    }

    @Test
    void subscriptionsAndProcessorsShowTheirPositionLagAndCheckpoints()
    {
        try (VarveDB db = VarveDB.open(TestStores.small(dir)); Appender appender = db.appender())
        {
            final byte[] payload = new byte[32];
            for (int i = 0; i < 50; i++)
            {
                appender.append(7, ExpectedVersion.ANY, 1, payload);
            }
            final Subscription all = db.subscription(VarveDB.START_POSITION);
            assertEquals(20, all.poll((event) -> { }, 20));
            final Subscription stream = db.streamSubscription(7, 1);
            assertEquals(30, stream.poll((event) -> { }, 30));
            final ProcessCounters now = db.counters();
            assertEquals(all.position(), single(now, CounterType.SUBSCRIPTION_POSITION, "(all)"));
            assertEquals(db.tailPosition() - all.position(), single(now, CounterType.SUBSCRIPTION_LAG, "(all)"));
            assertEquals(31, single(now, CounterType.SUBSCRIPTION_POSITION, "(stream 7)"));
            assertEquals(20, single(now, CounterType.SUBSCRIPTION_LAG, "(stream 7)"));

            final Processor processor = db.processor("billing", (event) -> { },
                ProcessorOptions.defaults().checkpointEveryEvents(10));
            int handled = 0;
            while (handled < 50)
            {
                handled += processor.poll(7);
            }
            final ProcessCounters after = db.counters();
            assertEquals(db.tailPosition(), single(after, CounterType.PROCESSOR_POSITION, "billing"));
            assertEquals(0, single(after, CounterType.PROCESSOR_LAG, "billing"));
            // polls of 7 events, a checkpoint once 10 or more were handled since the last: after 14, 28 and 42
            assertEquals(3, single(after, CounterType.PROCESSOR_CHECKPOINTS, "billing"));

            all.close();
            stream.close();
            processor.close();
            final ProcessCounters closed = db.counters();
            assertTrue(closed.counters(CounterType.SUBSCRIPTION_POSITION).isEmpty(), closed.toString());
            assertTrue(closed.counters(CounterType.PROCESSOR_POSITION).isEmpty(), closed.toString());
        }
    }

    private static long single(final ProcessCounters counters, final CounterType type, final String label)
    {
        final List<Long> found = new ArrayList<>();
        counters.counters(type).stream().filter((c) -> c.label().contains(label)).forEach((c) -> found.add(c.value()));
        assertEquals(1, found.size(), type + " " + label + " in " + counters);
        return found.get(0);
    }

    @Test
    void errorsAreCountedByKind()
    {
        try (VarveDB db = VarveDB.open(TestStores.small(dir)); Appender appender = db.appender())
        {
            final byte[] tooLarge = new byte[TestStores.SEGMENT];
            for (int i = 0; i < 3; i++)
            {
                assertThrows(EventTooLargeException.class, () -> appender.append(1, ExpectedVersion.ANY, 1, tooLarge));
            }
            db.tombstoneStream(5, ExpectedVersion.ANY);
            assertThrows(StreamDeletedException.class, () -> appender.append(5, ExpectedVersion.ANY, 1, new byte[1]));
            final Subscription subscription = db.subscription(VarveDB.START_POSITION);
            assertThrows(SubscriptionException.class, () -> subscription.poll((event) ->
            {
                throw new IllegalStateException("handler");
            }, 10));
            final ProcessCounters counters = db.counters();
            assertEquals(3, value(counters, "errors: EventTooLargeException"));
            assertEquals(1, value(counters, "errors: StreamDeletedException"));
            assertEquals(1, value(counters, "errors: SubscriptionException"));
            assertEquals(5, counters.total(CounterType.ERRORS));
        }
    }

    private static long value(final ProcessCounters counters, final String label)
    {
        return counters.counters(CounterType.ERRORS).stream().filter((c) -> c.label().equals(label))
            .mapToLong((c) -> c.value()).sum();
    }

    @Test
    void appendLatencyIsRecordedOnlyWhenAskedFor()
    {
        try (VarveDB db = VarveDB.open(VarveConfig.builder(dir).recordAppendLatency(true).build());
            Appender appender = db.appender())
        {
            for (int i = 0; i < 5_000; i++)
            {
                appender.append(1, ExpectedVersion.ANY, 1, new byte[16]);
            }
        }
        try (VarveCounters counters = VarveCounters.open(dir))
        {
            final AppendLatency latency = counters.snapshot().processes().get(0).appendLatency();
            assertNotNull(latency);
            assertEquals(5_000, latency.count());
            assertTrue(latency.valueAtPercentile(50) > 0);
            assertTrue(latency.valueAtPercentile(99.9) >= latency.valueAtPercentile(50));
        }
        final Path other = dir.resolve("other");
        try (VarveDB db = VarveDB.open(other); Appender appender = db.appender())
        {
            appender.append(1, ExpectedVersion.ANY, 1, new byte[16]);
            assertNull(db.counters().appendLatency());
        }
    }

    @Test
    void countersOffWritesNoFileAndTheStoreWorks()
    {
        try (VarveDB db = VarveDB.open(VarveConfig.builder(dir).counters(false).build());
            Appender appender = db.appender())
        {
            appender.append(1, ExpectedVersion.ANY, 1, new byte[16]);
            assertNull(db.counters());
        }
        assertFalse(Files.exists(dir.resolve(CountersFileDescriptor.FILE_NAME)));
        assertThrows(NoStoreException.class, () -> VarveCounters.open(dir));
    }

    @Test
    void reopeningManyTimesNeverRunsOutOfRegionsAndEachOpenStartsAtZero()
    {
        for (int i = 0; i < CountersFileDescriptor.REGIONS * 2 + 3; i++)
        {
            try (VarveDB db = VarveDB.open(TestStores.small(dir)); Appender appender = db.appender())
            {
                appender.append(1, ExpectedVersion.ANY, 1, new byte[16]);
                final ProcessCounters own = db.counters();
                assertNotNull(own, "open " + i);
                assertEquals(1, own.total(CounterType.APPENDS));
            }
        }
        try (VarveCounters counters = VarveCounters.open(dir))
        {
            assertEquals(CountersFileDescriptor.REGIONS, counters.snapshot().processes().size());
        }
    }

    @Test
    void aForeignCountersFileIsRefusedByTheReaderAndTheStoreStillOpens() throws Exception
    {
        Files.createDirectories(dir);
        try (VarveDB db = VarveDB.open(TestStores.small(dir)))
        {
            assertNotNull(db.counters());
        }
        Files.write(dir.resolve(CountersFileDescriptor.FILE_NAME), new byte[8192]);
        assertThrows(StoreFormatException.class, () -> VarveCounters.open(dir));
        try (VarveDB db = VarveDB.open(TestStores.small(dir)); Appender appender = db.appender())
        {
            appender.append(1, ExpectedVersion.ANY, 1, new byte[16]);
            assertNull(db.counters());
            assertEquals(1, db.streamVersion(1));
        }
    }

    @Test
    void anotherProcessReadsTheCountersLiveAndAfterTheWriterWasKilled() throws Exception
    {
        final Process child = MultiProcessTest.start(List.of(), "counters-child", dir.toString(), "500", "4");
        try
        {
            final BufferedReader out = MultiProcessTest.stdout(child);
            assertEquals("ready", out.readLine());
            try (VarveCounters counters = VarveCounters.open(dir))
            {
                final CountersSnapshot live = counters.snapshot();
                assertEquals(1, live.processes().size());
                final ProcessCounters writer = live.processes().get(0);
                assertEquals(child.pid(), writer.pid());
                assertEquals(ProcessState.RUNNING, writer.state());
                assertEquals(500, writer.total(CounterType.APPENDS));
                assertEquals(4, writer.total(CounterType.CONFLICTS));

                child.destroyForcibly();
                assertTrue(child.waitFor(30, TimeUnit.SECONDS));
                final ProcessCounters gone = counters.snapshot().processes().get(0);
                assertEquals(ProcessState.GONE, gone.state());
                assertEquals(500, gone.total(CounterType.APPENDS));
                assertEquals(4, gone.total(CounterType.CONFLICTS));
            }
            // the next open after the crash recovers, and starts counters of its own beside the gone one's
            try (VarveDB db = VarveDB.open(TestStores.small(dir)))
            {
                assertEquals(0, db.counters().total(CounterType.APPENDS));
                try (VarveCounters counters = VarveCounters.open(dir))
                {
                    final CountersSnapshot both = counters.snapshot();
                    assertEquals(2, both.processes().size());
                    assertEquals(500, both.total(CounterType.APPENDS));
                }
            }
        }
        finally
        {
            child.destroyForcibly();
        }
    }

    @Test
    void concurrentAppendersCountExactlyAndAReaderNeverSeesACountGoBack() throws Exception
    {
        final int threads = 3;
        final int operations = 20_000;
        final long[] acknowledged = new long[threads];
        final long[] refused = new long[threads];
        try (VarveDB db = VarveDB.open(TestStores.small(dir)))
        {
            final java.util.concurrent.atomic.AtomicBoolean done = new java.util.concurrent.atomic.AtomicBoolean();
            final java.util.concurrent.atomic.AtomicReference<String> readerFailure =
                new java.util.concurrent.atomic.AtomicReference<>();
            final Thread reader = new Thread(() ->
            {
                try (VarveCounters counters = VarveCounters.open(dir))
                {
                    long lastAppends = 0;
                    long lastConflicts = 0;
                    while (!done.get())
                    {
                        final CountersSnapshot now = counters.snapshot();
                        final long appends = now.total(CounterType.APPENDS);
                        final long conflicts = now.total(CounterType.CONFLICTS);
                        if (appends < lastAppends || conflicts < lastConflicts)
                        {
                            readerFailure.set("went back: " + lastAppends + " -> " + appends + ", " + lastConflicts +
                                " -> " + conflicts);
                        }
                        lastAppends = appends;
                        lastConflicts = conflicts;
                    }
                }
            });
            reader.start();
            final List<Thread> writers = new ArrayList<>();
            for (int t = 0; t < threads; t++)
            {
                final int thread = t;
                final Thread writer = new Thread(() ->
                {
                    final java.util.Random random = new java.util.Random(thread);
                    // an appender per 1,000 operations, half of them dropped without close(): counts must survive both
                    Appender appender = db.appender();
                    for (int op = 0; op < operations; op++)
                    {
                        if (op % 1_000 == 999)
                        {
                            if (random.nextBoolean())
                            {
                                appender.close();
                            }
                            appender = db.appender();
                        }
                        final long stream = 1 + random.nextInt(4);
                        try
                        {
                            appender.append(stream, ExpectedVersion.exact(db.streamVersion(stream)), 1, new byte[16]);
                            acknowledged[thread]++;
                        }
                        catch (final ConcurrencyConflictException ex)
                        {
                            refused[thread]++;
                        }
                    }
                    appender.close();
                });
                writers.add(writer);
                writer.start();
            }
            for (final Thread writer : writers)
            {
                writer.join();
            }
            done.set(true);
            reader.join();
            assertNull(readerFailure.get());
            final long acks = java.util.Arrays.stream(acknowledged).sum();
            final long conflicts = java.util.Arrays.stream(refused).sum();
            assertTrue(conflicts > 0, "the run must race");
            final ProcessCounters own = db.counters();
            assertEquals(acks, own.total(CounterType.APPENDS));
            assertEquals(conflicts, own.total(CounterType.CONFLICTS));
            // and the log agrees
            long events = 0;
            for (long stream = 1; stream <= 4; stream++)
            {
                events += db.streamVersion(stream);
            }
            assertEquals(acks, events);
        }
    }

    @Test
    void writerProcessesSharingAStoreEachCountTheirOwn() throws Exception
    {
        final List<Process> children = new ArrayList<>();
        final List<BufferedReader> outputs = new ArrayList<>();
        for (int p = 0; p < 2; p++)
        {
            final Process child = MultiProcessTest.start(List.of(), "multi-writer", dir.toString(), String.valueOf(p),
                "2", "300");
            children.add(child);
            outputs.add(MultiProcessTest.stdout(child));
        }
        final java.util.Map<Long, Long> acksByPid = new java.util.HashMap<>();
        try
        {
            for (int p = 0; p < 2; p++)
            {
                long pid = -1;
                long acks = 0;
                String line;
                while ((line = outputs.get(p).readLine()) != null)
                {
                    if (line.startsWith("opened "))
                    {
                        pid = Long.parseLong(line.substring("opened ".length()));
                    }
                    else if (line.startsWith("ack "))
                    {
                        acks++;
                    }
                    else if (line.equals("failed"))
                    {
                        fail("child " + p + " failed");
                    }
                }
                assertTrue(children.get(p).waitFor(60, TimeUnit.SECONDS));
                acksByPid.put(pid, acks);
            }
        }
        finally
        {
            children.forEach(Process::destroyForcibly);
        }
        try (VarveCounters counters = VarveCounters.open(dir))
        {
            final CountersSnapshot snapshot = counters.snapshot();
            assertEquals(2, snapshot.processes().size(), snapshot.processes().toString());
            for (final ProcessCounters process : snapshot.processes())
            {
                assertEquals("shared-writer", process.role());
                assertEquals(ProcessState.CLOSED, process.state());
                assertEquals(acksByPid.get(process.pid()), process.total(CounterType.APPENDS), "pid " + process.pid());
            }
        }
    }

    @Test
    void anOpenWithNoRoomForItsCountersGivesItsRegionBack() throws Exception
    {
        org.junit.jupiter.api.Assumptions.assumeTrue(Tmpfs.available(dir.resolve("probe")),
            "needs permission to mount a tmpfs");
        try (Tmpfs fs = Tmpfs.mount(dir.resolve("small"), "8m"))
        {
            final Path store = fs.path().resolve("store");
            try (VarveDB db = VarveDB.open(TestStores.small(store)); Appender appender = db.appender())
            {
                appender.append(1, ExpectedVersion.ANY, 1, new byte[16]);
                assertNotNull(db.counters());
            }
            // room for less than one region's body: an open that takes a region it cannot give blocks to runs
            // without counters (the first one, a region never used)
            ResourceFaultTest.fillDisk(fs.path(), 64 * 1024);
            for (int i = 0; i < CountersFileDescriptor.REGIONS + 1; i++)
            {
                try (VarveDB db = VarveDB.openReadOnly(store))
                {
                    if (i == 0)
                    {
                        assertNull(db.counters());
                    }
                    assertEquals(1, db.streamVersion(1));
                }
            }
            Files.delete(fs.path().resolve("filler"));
            // none of the regions those opens took was kept: with room again, 16 instances open at once each have one
            final List<VarveDB> open = new ArrayList<>();
            try
            {
                for (int i = 0; i < CountersFileDescriptor.REGIONS; i++)
                {
                    open.add(VarveDB.openReadOnly(store));
                    assertNotNull(open.get(i).counters(), "instance " + i);
                }
            }
            finally
            {
                open.forEach(VarveDB::close);
            }
        }
    }

    /** Child: append, conflict, say ready, then wait to be killed. */
    static void child(final Path dir, final int appends, final int conflicts) throws Exception
    {
        final VarveDB db = VarveDB.open(TestStores.small(dir));
        final Appender appender = db.appender();
        for (int i = 0; i < appends; i++)
        {
            appender.append(1, ExpectedVersion.ANY, 1, new byte[24]);
        }
        for (int i = 0; i < conflicts; i++)
        {
            try
            {
                appender.append(1, ExpectedVersion.NO_STREAM, 1, new byte[24]);
            }
            catch (final ConcurrencyConflictException expected)
            {
                // counted
            }
        }
        System.out.println("ready");
        System.out.flush();
        Thread.sleep(TimeUnit.MINUTES.toMillis(5));
    }
}
