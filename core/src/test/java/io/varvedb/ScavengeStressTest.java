package io.varvedb;

import io.varvedb.internal.log.RecordDescriptor;
import io.varvedb.internal.log.SegmentDescriptor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Scavenges running again and again while two threads append, a subscription to all follows the log, and streams
 * are deleted softly, tombstoned and limited (max count, truncate before) between the scavenges, on 64 KiB
 * segments. Afterwards (appends stopped, one last scavenge), and again after a reopen and after a rebuild of the
 * index from the scavenged log: every event its stream still shows reads by stream and by position with the
 * position, version and payload it was appended with (and the subscription saw it there); the streams' versions
 * are dense and in log order; nothing is duplicated; nothing hidden is readable by stream, and the global log holds
 * no hidden event a scavenge should have dropped; the sealed segments' disk use fell by most of the bytes dropped.
 * Runs {@code -Dvarve.stress.scavengeSeconds=N} seconds of appends (default 6).
 */
class ScavengeStressTest
{
    private static final int SECONDS = Integer.getInteger("varve.stress.scavengeSeconds", 6);
    private static final int SEGMENT = 64 * 1024;
    private static final int THREADS = 2;
    /** Streams per appender thread: thread t appends to {@code t * PER_THREAD + 1 ..}. */
    private static final int PER_THREAD = 40;
    private static final int STREAMS = THREADS * PER_THREAD;
    private static final int EVENT_TYPE = 5;

    @TempDir
    Path dir;

    /** One acknowledged append. */
    record Appended(long stream, long version, long position, int payloadLength)
    {
    }

    /** An event a subscription or a read delivered. */
    record Seen(long stream, long version, long position, int length, boolean payloadOk)
    {
        static Seen of(final RecordedEvent e)
        {
            return new Seen(e.streamId(), e.version(), e.position(), e.payloadLength(),
                ScavengeStressTest.payloadOk(e, e.payloadLength()));
        }

        static Seen of(final Appended a)
        {
            return new Seen(a.stream(), a.version(), a.position(), a.payloadLength(), true);
        }
    }

    /** What the lifecycle thread did to a stream: the test's own model of what it shows. */
    static final class Model
    {
        long deletedUpTo = -1;
        long maxCount;
        long truncateBefore;
        boolean tombstoned;

        long firstVisible(final long committed)
        {
            long first = 1;
            if (deletedUpTo >= 0)
            {
                first = Math.max(first, deletedUpTo + 1);
            }
            if (maxCount > 0)
            {
                first = Math.max(first, committed - maxCount + 1);
            }
            return Math.max(first, truncateBefore);
        }
    }

    /** Stream kinds, by stream id: what the lifecycle thread may do to each. Limits only ever tighten. */
    private static int kind(final long stream)
    {
        return (int)(stream % 5); // 0 untouched, 1 deleted softly, 2 tombstoned, 3 max count, 4 truncate before
    }

    private VarveConfig config()
    {
        return VarveConfig.builder(dir).segmentSize(SEGMENT).indexCapacity(4096).indexBlocksPerChunk(64)
            .nameCapacity(1024).build();
    }

    static byte[] payload(final long stream, final long version, final int length)
    {
        final byte[] bytes = new byte[length];
        for (int i = 0; i < length; i++)
        {
            bytes[i] = (byte)(stream * 31 + version * 7 + i * 13);
        }
        return bytes;
    }

    static boolean payloadOk(final RecordedEvent e, final int length)
    {
        if (e.payloadLength() != length)
        {
            return false;
        }
        final long stream = e.streamId();
        final long version = e.version();
        for (int i = 0; i < length; i++)
        {
            if (e.payload().getByte(i) != (byte)(stream * 31 + version * 7 + i * 13))
            {
                return false;
            }
        }
        return true;
    }

    @Test
    void scavengesWhileAppendingReadingAndDeletingKeepEveryVisibleEventAtItsPosition() throws Exception
    {
        final long startNanos = System.nanoTime();
        final Map<Long, Appended> byPosition = new ConcurrentHashMap<>();
        final List<Map<Long, Appended>> byStream = new ArrayList<>();
        for (int s = 0; s <= STREAMS; s++)
        {
            byStream.add(new ConcurrentHashMap<>());
        }
        final Model[] models = new Model[STREAMS + 1];
        for (int s = 0; s <= STREAMS; s++)
        {
            models[s] = new Model();
        }
        final AtomicReference<Throwable> failure = new AtomicReference<>();
        final List<Seen> subscribed = new ArrayList<>();
        final long[] rounds = { 0, 0, 0 };
        final long sealedEnd;
        final long tail;
        try (VarveDB db = VarveDB.open(config()))
        {
            final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(SECONDS);
            final List<Thread> appenders = new ArrayList<>();
            for (int t = 0; t < THREADS; t++)
            {
                final int thread = t;
                appenders.add(new Thread(() -> append(db, thread, deadline, byPosition, byStream, failure),
                    "appender-" + t));
            }
            final Thread lifecycle = new Thread(() -> lifecycle(db, deadline, models, rounds, failure), "scavenger");
            final boolean[] stop = { false };
            final Thread subscriber = new Thread(() -> subscribe(db, stop, subscribed, failure), "subscriber");
            appenders.forEach(Thread::start);
            lifecycle.start();
            subscriber.start();

            // reads by stream go on meanwhile: dense versions in log order, payloads as appended
            final SplittableRandom random = new SplittableRandom(7);
            long concurrentReads = 0;
            while (System.nanoTime() < deadline && failure.get() == null)
            {
                final long stream = 1 + random.nextInt(STREAMS);
                final List<Seen> read = new ArrayList<>();
                try
                {
                    db.readStream(stream, 1, Integer.MAX_VALUE, (e) -> read.add(Seen.of(e)));
                }
                catch (final StreamDeletedException ex)
                {
                    continue;
                }
                for (int i = 0; i < read.size(); i++)
                {
                    final Seen seen = read.get(i);
                    assertTrue(seen.payloadOk(), "concurrent read: payload of " + seen);
                    if (i > 0)
                    {
                        assertEquals(read.get(i - 1).version() + 1, seen.version(), "concurrent read: dense");
                        assertTrue(read.get(i - 1).position() < seen.position(), "concurrent read: log order");
                    }
                }
                concurrentReads++;
                Thread.sleep(2);
            }
            for (final Thread appender : appenders)
            {
                appender.join();
            }
            lifecycle.join();
            assertNull(failure.get(), () -> "a worker failed: " + failure.get());

            // a last round of changes over the quiet store, so most of what was appended is hidden whatever the
            // machine's speed; then one last scavenge: every sealed segment is rewritable now
            rounds[2] += changes(db, models, new SplittableRandom(5), true);
            final ScavengeResult last = db.scavenge();
            tail = db.tailPosition();
            sealedEnd = tail / SEGMENT * SEGMENT;
            synchronized (stop)
            {
                stop[0] = true;
            }
            subscriber.join();
            assertNull(failure.get(), () -> "a worker failed: " + failure.get());
            assertTrue(rounds[0] >= 2, "scavenges ran during the appends: " + rounds[0]);
            assertTrue(rounds[1] > 0, "some scavenge rewrote segments");

            check(db, "live", byPosition, byStream, models, sealedEnd, subscribed, true);

            // disk: the sealed segments as they would be, whole, against what they take now
            final long sealedSegments = sealedEnd / SEGMENT;
            final long plainBytes = (SegmentDescriptor.HEADER_LENGTH + SEGMENT + 4095) / 4096 * 4096;
            final long diskNow = sealedDiskBytes(dir, sealedSegments);
            long droppedBytes = 0;
            long appendedBytes = 0;
            for (final Appended a : byPosition.values())
            {
                final long bytes = RecordDescriptor.alignedLength(RecordDescriptor.frameLength(a.payloadLength()));
                appendedBytes += bytes;
                if (a.position() < sealedEnd && !visible(a, models, byStream) && !isLast(a, byStream))
                {
                    droppedBytes += bytes;
                }
            }
            final long reclaimed = sealedSegments * plainBytes - diskNow;
            System.out.printf("scavenge stress: %d s, %d appends (%d MiB), %d scavenges (%d rewrote segments, " +
                "%d segments in all), %d lifecycle changes, %d concurrent stream reads, %d events subscribed; " +
                "the last: %s; sealed %d segments, %d KiB dropped, %d KiB reclaimed%n", SECONDS, byPosition.size(),
                appendedBytes >> 20, rounds[0], rounds[1], rounds[2], rounds[2], concurrentReads,
                subscribed.size(), last, sealedSegments, droppedBytes >> 10, reclaimed >> 10);
            assertTrue(droppedBytes > appendedBytes / 3, "the workload hides most events: " + droppedBytes + " of " +
                appendedBytes);
            assertTrue(reclaimed >= droppedBytes * 3 / 4, "the sealed segments' disk use fell by " + reclaimed +
                " bytes, not by most of the " + droppedBytes + " bytes of events dropped");
        }

        try (VarveDB db = VarveDB.open(config()))
        {
            assertEquals(tail, db.tailPosition(), "reopened");
            check(db, "reopened", byPosition, byStream, models, sealedEnd, subscribed, false);
        }
        try (Stream<Path> files = Files.list(dir.resolve("index")))
        {
            for (final Path file : (Iterable<Path>)files::iterator)
            {
                Files.delete(file);
            }
        }
        try (VarveDB db = VarveDB.open(config()))
        {
            assertEquals(tail, db.tailPosition(), "rebuilt");
            check(db, "index rebuilt", byPosition, byStream, models, sealedEnd, subscribed, false);
        }
        System.out.printf("scavenge stress: done in %d ms%n", (System.nanoTime() - startNanos) / 1_000_000);
    }

    private static void append(
        final VarveDB db, final int thread, final long deadline, final Map<Long, Appended> byPosition,
        final List<Map<Long, Appended>> byStream, final AtomicReference<Throwable> failure)
    {
        try (Appender appender = db.appender())
        {
            final SplittableRandom random = new SplittableRandom(thread);
            final boolean[] dead = new boolean[PER_THREAD];
            long count = 0;
            while (System.nanoTime() < deadline && failure.get() == null)
            {
                final int i = random.nextInt(PER_THREAD);
                if (dead[i])
                {
                    continue;
                }
                final long stream = (long)thread * PER_THREAD + 1 + i;
                final int length = 8 + random.nextInt(200);
                final long version;
                try
                {
                    version = appender.append(stream, ExpectedVersion.ANY, EVENT_TYPE,
                        payload(stream, byStream.get((int)stream).size() + 1, length));
                }
                catch (final StreamDeletedException ex)
                {
                    // tombstoned meanwhile: nothing was written
                    dead[i] = true;
                    continue;
                }
                // this thread alone appends to the stream: the version is the one the payload was made for
                final Appended appended = new Appended(stream, version, appender.lastPosition(), length);
                if (version != byStream.get((int)stream).size() + 1)
                {
                    throw new AssertionError("stream " + stream + " appended at version " + version + ", not " +
                        (byStream.get((int)stream).size() + 1));
                }
                if (byStream.get((int)stream).put(version, appended) != null ||
                    byPosition.put(appended.position(), appended) != null)
                {
                    throw new AssertionError("acknowledged twice: " + appended);
                }
                if (++count % 64 == 0)
                {
                    // about 10,000 appends a second a thread: a few hundred segments in the default run
                    Thread.sleep(6);
                }
            }
        }
        catch (final Throwable ex)
        {
            failure.compareAndSet(null, ex);
        }
    }

    /** Between scavenges: delete, tombstone and limit some streams; then scavenge. */
    private static void lifecycle(
        final VarveDB db, final long deadline, final Model[] models, final long[] rounds,
        final AtomicReference<Throwable> failure)
    {
        try
        {
            final SplittableRandom random = new SplittableRandom(99);
            while (System.nanoTime() < deadline && failure.get() == null)
            {
                rounds[2] += changes(db, models, random, false);
                final ScavengeResult result = db.scavenge();
                rounds[0]++;
                if (result.segmentsRewritten() > 0)
                {
                    rounds[1]++;
                }
                Thread.sleep(10);
            }
        }
        catch (final Throwable ex)
        {
            failure.compareAndSet(null, ex);
        }
    }

    /**
     * Delete, tombstone and limit streams: each with a chance of one half, or (with {@code all}) every stream of
     * kinds 1, 3 and 4 at once.
     *
     * @return changes made.
     */
    private static int changes(final VarveDB db, final Model[] models, final SplittableRandom random,
        final boolean all)
    {
        int changes = 0;
        for (long stream = 1; stream <= STREAMS; stream++)
        {
            final Model model = models[(int)stream];
            if (kind(stream) == 0 || !all && random.nextInt(2) == 0)
            {
                continue;
            }
            switch (kind(stream))
            {
                case 1 -> model.deletedUpTo = db.deleteStream(stream, ExpectedVersion.ANY);
                case 2 ->
                {
                    // a few tombstones a run
                    if (!model.tombstoned && !all && random.nextInt(5) == 0)
                    {
                        final long version = db.tombstoneStream(stream, ExpectedVersion.ANY);
                        model.tombstoned = true;
                        assertTrue(version >= 1);
                    }
                }
                case 3 ->
                {
                    final long maxCount = model.maxCount == 0 ? 30 : Math.max(5, model.maxCount - 3);
                    db.setStreamMetadata(stream, StreamMetadata.NONE.withMaxCount(maxCount));
                    model.maxCount = maxCount;
                }
                case 4 ->
                {
                    final long version = db.streamVersion(stream);
                    final long before = Math.max(model.truncateBefore,
                        version - random.nextInt(20));
                    if (before > 0)
                    {
                        db.setStreamMetadata(stream, StreamMetadata.NONE.withTruncateBefore(before));
                        model.truncateBefore = before;
                    }
                }
                default ->
                {
                }
            }
            changes++;
        }
        return changes;
    }

    private static void subscribe(
        final VarveDB db, final boolean[] stop, final List<Seen> seen, final AtomicReference<Throwable> failure)
    {
        try (Subscription subscription = db.subscription(VarveDB.START_POSITION))
        {
            final EventHandler handler = (e) ->
            {
                if (!e.isStreamMetadata() && !e.isTombstone() && e.streamId() >= 1 && e.streamId() <= STREAMS)
                {
                    seen.add(Seen.of(e));
                }
            };
            while (true)
            {
                if (subscription.poll(handler, 256) == 0)
                {
                    synchronized (stop)
                    {
                        if (stop[0] && subscription.position() >= db.tailPosition())
                        {
                            return;
                        }
                    }
                    Thread.sleep(1);
                }
            }
        }
        catch (final Throwable ex)
        {
            failure.compareAndSet(null, ex);
        }
    }

    private static boolean visible(final Appended a, final Model[] models, final List<Map<Long, Appended>> byStream)
    {
        final Model model = models[(int)a.stream()];
        return !model.tombstoned && a.version() >= model.firstVisible(byStream.get((int)a.stream()).size());
    }

    private static boolean isLast(final Appended a, final List<Map<Long, Appended>> byStream)
    {
        return a.version() == byStream.get((int)a.stream()).size();
    }

    private static void check(
        final VarveDB db, final String label, final Map<Long, Appended> byPosition,
        final List<Map<Long, Appended>> byStream, final Model[] models, final long sealedEnd,
        final List<Seen> subscribed, final boolean checkAppendRefused)
    {
        // by stream
        long visibleEvents = 0;
        for (int s = 1; s <= STREAMS; s++)
        {
            final long stream = s;
            final Model model = models[s];
            final Map<Long, Appended> appended = byStream.get(s);
            final long committed = appended.size();
            if (model.tombstoned)
            {
                assertTrue(db.isTombstoned(stream), label + ": stream " + s + " tombstoned");
                assertThrows(StreamDeletedException.class, () -> db.readStream(stream, 1, 10, (e) -> { }),
                    label + ": a tombstoned stream reads nothing");
                if (checkAppendRefused)
                {
                    try (Appender appender = db.appender())
                    {
                        assertThrows(StreamDeletedException.class, () -> appender.append(stream, ExpectedVersion.ANY,
                            EVENT_TYPE, new byte[8]), label + ": a tombstoned stream refuses appends");
                    }
                }
                continue;
            }
            assertFalse(db.isTombstoned(stream), label + ": stream " + s);
            assertEquals(committed, db.streamVersion(stream), label + ": version of stream " + s);
            final long first = model.firstVisible(committed);
            assertEquals(first, db.firstVisibleVersion(stream), label + ": first visible version of stream " + s);
            if (model.deletedUpTo >= 0 && model.deletedUpTo == committed)
            {
                assertTrue(db.isDeleted(stream), label + ": stream " + s + " deleted, nothing appended since");
            }
            final List<Seen> read = new ArrayList<>();
            db.readStream(stream, 1, Integer.MAX_VALUE, (e) -> read.add(Seen.of(e)));
            final List<Seen> expected = new ArrayList<>();
            for (long v = first; v <= committed; v++)
            {
                final Appended a = appended.get(v);
                expected.add(Seen.of(a));
            }
            assertEquals(expected, read, label + ": stream " + s + " reads its visible events (from version " +
                first + " of " + committed + "), dense, at their positions, with their payloads");
            visibleEvents += expected.size();
            final List<Seen> backward = new ArrayList<>();
            db.readStreamBackward(stream, VarveDB.LATEST_VERSION, Integer.MAX_VALUE, (e) -> backward.add(Seen.of(e)));
            java.util.Collections.reverse(backward);
            assertEquals(expected, backward, label + ": stream " + s + " backward");
        }
        assertTrue(visibleEvents > 1000, label + ": visible events " + visibleEvents);

        // the global log: each event once, in order, as appended; nothing hidden left in the sealed segments
        final Map<Long, Long> logPositions = new HashMap<>();
        final long[] last = { -1 };
        final long[] next = { VarveDB.START_POSITION };
        final List<String> problems = new ArrayList<>();
        int read;
        do
        {
            read = db.readAll(next[0], 10_000, (e) ->
            {
                next[0] = e.nextPosition();
                if (e.position() <= last[0])
                {
                    problems.add("position " + e.position() + " after " + last[0]);
                }
                last[0] = e.position();
                if (e.isStreamMetadata() || e.streamId() < 1 || e.streamId() > STREAMS)
                {
                    return;
                }
                if (e.isTombstone())
                {
                    if (!models[(int)e.streamId()].tombstoned)
                    {
                        problems.add("a tombstone of stream " + e.streamId() + " that was never tombstoned");
                    }
                    return;
                }
                final Appended a = byPosition.get(e.position());
                if (a == null || a.stream() != e.streamId() || a.version() != e.version() ||
                    !payloadOk(e, a.payloadLength()))
                {
                    problems.add("at " + e.position() + " stream " + e.streamId() + " version " + e.version() +
                        ", appended there: " + a);
                    return;
                }
                logPositions.put(e.position(), e.version());
                if (e.position() < sealedEnd && !visible(a, models, byStream) && !isLast(a, byStream))
                {
                    problems.add("hidden event left by the last scavenge: " + a);
                }
            });
        }
        while (read > 0 && problems.size() < 20);
        assertEquals(List.of(), problems, label);
        for (final Appended a : byPosition.values())
        {
            if (visible(a, models, byStream))
            {
                assertTrue(logPositions.containsKey(a.position()), label + ": visible event in the log: " + a);
                final List<Seen> first = new ArrayList<>();
                db.readAll(a.position(), 1, (e) -> first.add(Seen.of(e)));
                assertEquals(List.of(Seen.of(a)), first,
                    label + ": readAll from its position delivers it first");
            }
        }

        // the subscription, which followed the log while it was scavenged: in order, each as appended, and every
        // visible event where it was
        final Map<Long, Seen> subscribedAt = new HashMap<>();
        long previous = -1;
        for (final Seen seen : subscribed)
        {
            assertTrue(seen.position() > previous, label + ": the subscription delivered in log order: " + seen);
            previous = seen.position();
            final Appended a = byPosition.get(seen.position());
            assertNotNull(a, label + ": the subscription saw an event never acknowledged: " + seen);
            assertEquals(Seen.of(a), seen, label + ": subscribed");
            subscribedAt.put(seen.position(), seen);
        }
        for (final Appended a : byPosition.values())
        {
            if (visible(a, models, byStream))
            {
                assertTrue(subscribedAt.containsKey(a.position()), label + ": the subscription saw " + a);
            }
        }
    }

    /** The disk blocks of the first {@code segments} segment files, in one {@code stat} call. */
    static long sealedDiskBytes(final Path dir, final long segments) throws Exception
    {
        final List<String> command = new ArrayList<>(List.of("stat", "-c", "%b %B"));
        for (long segment = 0; segment < segments; segment++)
        {
            command.add(dir.resolve("log").resolve(SegmentDescriptor.fileName(segment * SEGMENT)).toString());
        }
        final Process stat = new ProcessBuilder(command).start();
        final String out = new String(stat.getInputStream().readAllBytes());
        assertEquals(0, stat.waitFor(), "stat");
        long total = 0;
        int files = 0;
        for (final String line : out.split("\n"))
        {
            if (!line.isBlank())
            {
                final String[] parts = line.trim().split(" ");
                total += Long.parseLong(parts[0]) * Long.parseLong(parts[1]);
                files++;
            }
        }
        assertEquals(segments, files, "stat answered for every segment");
        return total;
    }
}
