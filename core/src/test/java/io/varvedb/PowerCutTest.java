package io.varvedb;

import io.varvedb.internal.log.RecordDescriptor;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Power cuts, simulated with a disk that holds exactly what the store forced ({@link PowerCut}): several appender
 * threads run in each durability mode, the power is cut at a random moment, and the store is reopened from the
 * simulated disk alone, after a simulated reboot. Every event that was acknowledged durable before the cut (a
 * {@code SYNC} append, an {@code awaitDurable}, or any append whose record {@code durablePosition()} covered) must
 * be there byte for byte, at its version and position; versions are dense; nothing is served that was never
 * appended, nothing twice, no batch in part; and appends go on with the right versions. Each run cuts twice: the
 * second time the store recovers from the first cut under observation, appends again, and loses power again, so
 * whatever the first recovery repaired must hold across the second cut, and every event it recovered must still
 * be there.
 * <p>
 * {@code -Dvarve.powercut.cuts=N} sets the cuts per mode (default 8 in CI; hundreds for a longer run by hand),
 * {@code -Dvarve.powercut.seed=S} replays a run.
 */
class PowerCutTest
{
    private static final int CUTS = Integer.getInteger("varve.powercut.cuts", 8);
    private static final long SEED = Long.getLong("varve.powercut.seed", System.nanoTime());
    private static final int THREADS = 3;
    private static final int MAX_OPERATIONS = 1_500;
    private static final long SHARED_STREAM = 7;
    private static final int STREAMS_PER_THREAD = 3;
    private static final int PAYLOAD_HEADER = 16;

    @TempDir
    Path dir;

    /** One append as its thread attempted and saw it. */
    private static final class Attempt
    {
        final int round;
        final int thread;
        final int sequence;
        final long streamId;
        final byte[][] payloads;
        final int[] types;
        boolean returned;
        boolean durable;
        long lastVersion;
        long lastPosition;

        Attempt(final int round, final int thread, final int sequence, final long streamId, final byte[][] payloads,
            final int[] types)
        {
            this.round = round;
            this.thread = thread;
            this.sequence = sequence;
            this.streamId = streamId;
            this.payloads = payloads;
            this.types = types;
        }

        long end()
        {
            return lastPosition + RecordDescriptor.alignedLength(
                RecordDescriptor.frameLength(payloads[payloads.length - 1].length));
        }
    }

    private static VarveConfig config(final Path dir, final Durability durability, final PowerCut cut)
    {
        final VarveConfig.Builder builder = VarveConfig.builder(dir).segmentSize(TestStores.SEGMENT).indexCapacity(64)
            .indexBlocksPerChunk(4).durability(durability).flushIntervalMicros(200).checkpointIntervalMillis(5);
        if (cut != null)
        {
            builder.forceObserver(cut);
        }
        return builder.build();
    }

    @ParameterizedTest
    @EnumSource(Durability.class)
    void everyDurableEventSurvivesAPowerCut(final Durability durability) throws Exception
    {
        final SplittableRandom seeds = new SplittableRandom(SEED ^ durability.ordinal());
        int acknowledged = 0;
        int recovered = 0;
        for (int run = 0; run < CUTS; run++)
        {
            final long seed = seeds.nextLong();
            final SplittableRandom random = new SplittableRandom(seed);
            final Path base = dir.resolve("run-" + run);
            final Map<Long, Attempt> attempts = new HashMap<>();
            List<StoreChecker.Event> survivors = List.of();
            for (int round = 0; round < 2; round++)
            {
                final String context = durability + " run " + run + " round " + round + " (-Dvarve.powercut.seed=" +
                    SEED + ", run seed " + seed + ")";
                final Path live = base.resolve("disk-" + round);
                final Path rebooted = base.resolve("disk-" + (round + 1));
                survivors = cut(live, rebooted, durability, round, random, attempts, survivors, context);
                for (final Attempt attempt : attempts.values())
                {
                    acknowledged += attempt.round == round && attempt.durable ? 1 : 0;
                }
                recovered += survivors.size();
            }
        }
        System.out.println("PowerCutTest " + durability + ": " + CUTS * 2 + " cuts, " + acknowledged +
            " durable acknowledgements, " + recovered + " events recovered, all checked (seed " + SEED + ")");
    }

    /**
     * Open the store in {@code live} (recovering it, observed, if it was cut before), check that every event of
     * {@code before} is there, append from several threads, cut the power, and check the store recovered from the
     * simulated disk in {@code rebooted}.
     *
     * @return the events of the recovered store.
     */
    private static List<StoreChecker.Event> cut(
        final Path live, final Path rebooted, final Durability durability, final int round,
        final SplittableRandom random, final Map<Long, Attempt> attempts, final List<StoreChecker.Event> before,
        final String context) throws Exception
    {
        final PowerCut cut = new PowerCut(live);
        try (VarveDB db = VarveDB.open(config(live, durability, cut)))
        {
            assertSurvived(before, StoreChecker.readAll(db), context + ", recovered under observation");
            final AtomicReference<Throwable> failure = new AtomicReference<>();
            final CyclicBarrier start = new CyclicBarrier(THREADS + 1);
            final List<Thread> threads = new ArrayList<>();
            final List<Map<Long, Attempt>> perThread = new ArrayList<>();
            for (int t = 0; t < THREADS; t++)
            {
                final Map<Long, Attempt> mine = new HashMap<>();
                perThread.add(mine);
                final int thread = t;
                final long threadSeed = random.nextLong();
                final Thread appender = new Thread(() ->
                {
                    try
                    {
                        start.await();
                        append(db, cut, durability, round, thread, new SplittableRandom(threadSeed), mine);
                    }
                    catch (final Throwable ex)
                    {
                        failure.compareAndSet(null, ex);
                    }
                }, "appender-" + t);
                threads.add(appender);
                appender.start();
            }
            start.await();
            Thread.sleep(random.nextInt(1, 60));
            final double[] shares = { 0, 0.05, 0.3, 0.7, 1.0 };
            cut.cut(random, shares[random.nextInt(shares.length)]);
            for (final Thread thread : threads)
            {
                thread.join();
            }
            perThread.forEach(attempts::putAll);
            if (failure.get() != null)
            {
                throw new AssertionError(context + ": an appender failed before the cut", failure.get());
            }
        }

        cut.materialize(rebooted);
        final String files;
        try (java.util.stream.Stream<Path> list = java.nio.file.Files.walk(rebooted))
        {
            files = list.filter(java.nio.file.Files::isRegularFile).map((p) -> rebooted.relativize(p).toString())
                .sorted().toList().toString();
        }
        final Path copy = rebooted.resolveSibling(rebooted.getFileName() + "-check");
        RecoveryTest.copy(rebooted, copy);
        try (VarveDB db = VarveDB.open(config(copy, durability, null)))
        {
            final String recovery = context + " [recovered from " + db.recoveryScannedFrom() + ": " +
                db.recoveredEvents() + " events, " + db.recoveryDiscarded() + " discarded, tail " +
                db.tailPosition() + ", durable " + db.durablePosition() + ", files " + files + "]";
            final List<StoreChecker.Event> events = check(db, attempts, recovery);
            assertSurvived(before, events, recovery);
            // appends go on where the recovered store left each stream
            final Appender appender = db.appender();
            for (final long streamId : streamsOf())
            {
                final long version = db.streamVersion(streamId);
                assertEquals(version + 1, appender.append(streamId, ExpectedVersion.exact(version), 1, new byte[8]),
                    recovery + ": append after recovery to stream " + streamId);
            }
            StoreChecker.check(db);
            return events;
        }
        catch (final RuntimeException ex)
        {
            throw new AssertionError(context + ": the store did not recover from the power cut; files " + files, ex);
        }
    }

    /**
     * The power fails while close() forces the index or, after it, the meta file: the disk may hold a meta page
     * written back early and only part of the index pages. The store recovered from that disk must hold
     * every event at its version, and take appends where each stream really is.
     */
    @org.junit.jupiter.api.Test
    void aPowerCutWhileCloseForcesTheIndexLosesNothing() throws Exception
    {
        final SplittableRandom seeds = new SplittableRandom(SEED);
        for (int run = 0; run < 6; run++)
        {
            final long seed = seeds.nextLong();
            final String context = "run " + run + " (-Dvarve.powercut.seed=" + SEED + ", run seed " + seed + ")";
            final SplittableRandom random = new SplittableRandom(seed);
            final Path live = dir.resolve("close-" + run);
            final Path rebooted = dir.resolve("close-" + run + "-rebooted");
            final double indexShare = new double[] { 0, 0.3, 1 }[run % 3];
            final PowerCut cut = new PowerCut(live);
            final List<StoreChecker.Event> written;
            try (VarveDB db = VarveDB.open(config(live, Durability.OS, cut)))
            {
                final Appender appender = db.appender();
                for (int i = 0; i < 400 + random.nextInt(400); i++)
                {
                    appender.append(1 + random.nextInt(20), ExpectedVersion.ANY, 1, new byte[random.nextInt(200)]);
                }
                written = StoreChecker.readAll(db);
                // the meta page (and the log, forced just before) reach the disk; the index only in part. The
                // power fails as close() forces the index, or as it forces the meta file after the index
                final String victim = run % 2 == 0 ? "index" : "varve.meta";
                cut.cutBeforeForceOf((file) -> file.startsWith(victim), random,
                    (file) -> file.startsWith("index") ? indexShare : 1.0);
            }
            assertTrue(cut.isOff(), context + ": close() forced the index");
            cut.materialize(rebooted);
            try (VarveDB db = VarveDB.open(config(rebooted, Durability.OS, null)))
            {
                RecoveryTest.assertEventsEqual(written, StoreChecker.readAll(db));
                StoreChecker.check(db);
                final Appender appender = db.appender();
                for (long stream = 1; stream <= 20; stream++)
                {
                    final long id = stream;
                    final long version = db.streamVersion(stream);
                    assertEquals(written.stream().filter((e) -> e.streamId() == id).count(), version,
                        context + ": the version of stream " + stream);
                    assertEquals(version + 1, appender.append(stream, ExpectedVersion.exact(version), 1, new byte[1]),
                        context + ": stream " + stream);
                }
            }
        }
    }

    /**
     * A processor checkpoints what it has handled, then the power fails. In the durable modes its checkpoint never
     * passed the durable position, so it lies within the recovered log; in OS mode opening the store moves it back
     * to the recovered end. Either way the events appended after the cut all reach the processor.
     */
    @ParameterizedTest
    @EnumSource(Durability.class)
    void aProcessorNeverSkipsWhatIsAppendedAfterAPowerCut(final Durability durability) throws Exception
    {
        final SplittableRandom random = new SplittableRandom(SEED ^ durability.ordinal());
        final Path live = dir.resolve("processor-" + durability);
        final Path rebooted = dir.resolve("processor-" + durability + "-rebooted");
        final PowerCut cut = new PowerCut(live);
        final VarveConfig.Builder builder = VarveConfig.builder(live).segmentSize(TestStores.SEGMENT)
            .indexCapacity(64).indexBlocksPerChunk(4).durability(durability).forceObserver(cut)
            // the flusher stays behind: the processor sees more than is durable
            .flushIntervalMicros(java.util.concurrent.TimeUnit.HOURS.toMicros(1));
        byte[] checkpoint;
        try (VarveDB db = VarveDB.open(builder.build()))
        {
            final Appender appender = db.appender();
            for (int i = 0; i < 300; i++)
            {
                appender.append(1 + i % 5, ExpectedVersion.ANY, 1, new byte[40]);
            }
            final Processor processor = db.processor("projection", (e) -> { },
                ProcessorOptions.defaults().checkpointEveryEvents(1));
            while (processor.poll(50) > 0)
            {
                processor.checkpoint();
            }
            if (durability != Durability.OS)
            {
                assertTrue(processor.checkpointedPosition() <= db.durablePosition(), durability +
                    ": checkpoint " + processor.checkpointedPosition() + ", durable " + db.durablePosition());
            }
            cut.cut(random, 0.0);
            // a checkpoint is forced before write() returns: the disk holds the last one written before the cut
            checkpoint = java.nio.file.Files.readAllBytes(live.resolve("checkpoints").resolve("projection.ckpt"));
            processor.close();
        }
        cut.materialize(rebooted);
        java.nio.file.Files.createDirectories(rebooted.resolve("checkpoints"));
        java.nio.file.Files.write(rebooted.resolve("checkpoints").resolve("projection.ckpt"), checkpoint);

        try (VarveDB db = VarveDB.open(config(rebooted, durability, null)))
        {
            final long end = db.tailPosition();
            assertTrue(db.checkpoints().get("projection") <= end, durability + ": checkpoint " +
                db.checkpoints().get("projection") + " points past the recovered log, which ends at " + end);
            final Appender appender = db.appender();
            for (int i = 0; i < 30; i++)
            {
                appender.append(99, ExpectedVersion.ANY, 2, new byte[8]);
            }
            final List<Long> versions = new ArrayList<>();
            try (Processor processor = db.processor("projection", (e) ->
            {
                if (e.streamId() == 99)
                {
                    versions.add(e.version());
                }
            }))
            {
                while (processor.poll(50) > 0)
                {
                    // drain
                }
            }
            assertEquals(30, versions.size(), durability + ": every event appended after the cut was processed");
        }
    }

    private static void assertSurvived(
        final List<StoreChecker.Event> before, final List<StoreChecker.Event> after, final String context)
    {
        assertTrue(after.size() >= before.size(), context + ": " + before.size() + " events recovered before, " +
            after.size() + " now");
        for (int i = 0; i < before.size(); i++)
        {
            final StoreChecker.Event expected = before.get(i);
            final StoreChecker.Event actual = after.get(i);
            assertEquals(expected.position(), actual.position(), context + ": event " + i + " recovered before");
            assertEquals(expected.streamId(), actual.streamId(), context + ": event " + i + " recovered before");
            assertEquals(expected.version(), actual.version(), context + ": event " + i + " recovered before");
            assertArrayEquals(expected.payload(), actual.payload(), context + ": event " + i + " recovered before");
        }
    }

    private static void append(
        final VarveDB db, final PowerCut cut, final Durability durability, final int round, final int thread,
        final SplittableRandom random, final Map<Long, Attempt> attempts)
    {
        final List<Attempt> mine = new ArrayList<>();
        final long[] versions = new long[STREAMS_PER_THREAD];
        for (int s = 0; s < STREAMS_PER_THREAD; s++)
        {
            versions[s] = db.streamVersion(streamIdOf(thread, s));
        }
        final EventBatch batch = new EventBatch();
        try (Appender appender = db.appender())
        {
            for (int sequence = 0; sequence < MAX_OPERATIONS && !cut.isOff(); sequence++)
            {
                final int choice = random.nextInt(10);
                final int stream = random.nextInt(STREAMS_PER_THREAD);
                final long streamId = choice == 0 ? SHARED_STREAM : streamIdOf(thread, stream);
                final int members = choice == 1 ? 1 + random.nextInt(4) : 1;
                final byte[][] payloads = new byte[members][];
                final int[] types = new int[members];
                for (int m = 0; m < members; m++)
                {
                    final int length = PAYLOAD_HEADER + (random.nextInt(8) == 0 ? random.nextInt(3000) : random.nextInt(100));
                    payloads[m] = payload(round, thread, sequence, m, length);
                    types[m] = 1 + random.nextInt(100);
                }
                final Attempt attempt = new Attempt(round, thread, sequence, streamId, payloads, types);
                mine.add(attempt);
                attempts.put(key(round, thread, sequence), attempt);

                if (members > 1)
                {
                    batch.clear();
                    for (int m = 0; m < members; m++)
                    {
                        batch.add(types[m], payloads[m]);
                    }
                    attempt.lastVersion = appender.appendBatch(streamId, ExpectedVersion.exact(versions[stream]), batch);
                }
                else if (streamId == SHARED_STREAM)
                {
                    attempt.lastVersion = appender.append(streamId, ExpectedVersion.ANY, types[0], payloads[0]);
                }
                else
                {
                    attempt.lastVersion = appender.append(
                        streamId, ExpectedVersion.exact(versions[stream]), types[0], payloads[0]);
                }
                attempt.lastPosition = appender.lastPosition();
                attempt.returned = true;
                if (streamId != SHARED_STREAM)
                {
                    assertEquals(versions[stream] + members, attempt.lastVersion);
                    versions[stream] = attempt.lastVersion;
                }

                boolean durable = durability == Durability.SYNC;
                if (!durable && random.nextInt(4) == 0)
                {
                    appender.awaitDurable(attempt.lastPosition);
                    durable = true;
                }
                // whatever the mode, a record the durable position covers must survive a power cut
                durable |= db.durablePosition() >= attempt.end();
                if (durable && !cut.isOff())
                {
                    // this one reached the disk before the power went off, and so did this thread's earlier ones,
                    // which lie before it in the log
                    for (int i = mine.size() - 1; i >= 0 && !mine.get(i).durable; i--)
                    {
                        mine.get(i).durable = true;
                    }
                }
            }
        }
    }

    private static long streamIdOf(final int thread, final int stream)
    {
        return 1000L * (thread + 1) + stream;
    }

    private static long key(final int round, final int thread, final int sequence)
    {
        return ((long)round << 48) | ((long)thread << 32) | sequence;
    }

    private static byte[] payload(
        final int round, final int thread, final int sequence, final int member, final int length)
    {
        final byte[] bytes = new byte[length];
        final ByteBuffer buffer = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        buffer.putInt(0, (round << 16) | thread).putInt(4, sequence).putInt(8, member).putInt(12, length);
        for (int i = PAYLOAD_HEADER; i < length; i++)
        {
            bytes[i] = (byte)(round * 17 + thread * 31 + sequence * 7 + member * 13 + i);
        }
        return bytes;
    }

    private static List<Long> streamsOf()
    {
        final List<Long> streams = new ArrayList<>();
        streams.add(SHARED_STREAM);
        for (int t = 0; t < THREADS; t++)
        {
            for (int s = 0; s < STREAMS_PER_THREAD; s++)
            {
                streams.add(streamIdOf(t, s));
            }
        }
        return streams;
    }

    /**
     * @return the events of the recovered store.
     */
    private static List<StoreChecker.Event> check(
        final VarveDB db, final Map<Long, Attempt> attempts, final String context)
    {
        StoreChecker.check(db);
        final List<StoreChecker.Event> events = StoreChecker.readAll(db);
        final Map<String, StoreChecker.Event> found = new HashMap<>();
        for (final StoreChecker.Event event : events)
        {
            final byte[] payload = event.payload();
            if (payload.length == 8)
            {
                // written by a previous round's check, after its recovery
                continue;
            }
            assertTrue(payload.length >= PAYLOAD_HEADER, context + ": an event nobody appended: " + event);
            final ByteBuffer header = ByteBuffer.wrap(payload).order(ByteOrder.LITTLE_ENDIAN);
            final int round = header.getInt(0) >>> 16;
            final int thread = header.getInt(0) & 0xFFFF;
            final int sequence = header.getInt(4);
            final int member = header.getInt(8);
            final Attempt attempt = attempts.get(key(round, thread, sequence));
            assertNotNull(attempt, context + ": an event nobody appended: " + event);
            assertTrue(member >= 0 && member < attempt.payloads.length, context + ": no such batch member: " + event);
            assertArrayEquals(attempt.payloads[member], payload, context + ": payload of " + event);
            assertEquals(attempt.types[member], event.eventType(), context + ": type of " + event);
            assertEquals(attempt.streamId, event.streamId(), context + ": stream of " + event);
            assertNull(found.put(round + "/" + thread + "/" + sequence + "/" + member, event),
                context + ": served twice: " + event);
            if (attempt.returned)
            {
                assertEquals(attempt.lastVersion - (attempt.payloads.length - 1 - member), event.version(),
                    context + ": version of " + event);
                if (member == attempt.payloads.length - 1)
                {
                    assertEquals(attempt.lastPosition, event.position(), context + ": position of " + event);
                }
            }
        }
        for (final Attempt attempt : attempts.values())
        {
            int present = 0;
            for (int m = 0; m < attempt.payloads.length; m++)
            {
                present += found.containsKey(attempt.round + "/" + attempt.thread + "/" + attempt.sequence + "/" + m) ?
                    1 : 0;
            }
            assertTrue(present == 0 || present == attempt.payloads.length, context + ": a batch recovered in part: " +
                "round " + attempt.round + " thread " + attempt.thread + " append " + attempt.sequence);
            if (attempt.durable)
            {
                assertEquals(attempt.payloads.length, present, context + ": round " + attempt.round + " thread " +
                    attempt.thread + " append " + attempt.sequence + " (stream " + attempt.streamId + " version " +
                    attempt.lastVersion + " at " + attempt.lastPosition + ") was acknowledged durable but is lost");
            }
        }
        return events;
    }
}
