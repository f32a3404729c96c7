package io.varvedb;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.ThreadLocalRandom;
import java.util.stream.Stream;
import java.util.zip.CRC32;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A writer that appends to many streams, deletes, tombstones and limits some, truncates the log and scavenges in a
 * loop (64 KiB segments: a scavenge runs most of the time) is killed with SIGKILL at a random moment, again and
 * again on the same store. It says each acknowledged append and lifecycle change on its stdout before it goes on
 * (and what it is about to do, so the parent knows what one unanswered call may have left). After each kill the
 * parent reopens the store (every other time after deleting its index, so the index is rebuilt from the scavenged
 * log) and checks: no temporary copy left; every acknowledged event its stream still shows reads at its position
 * with its payload, dense and in log order, forward and backward; tombstoned streams refuse appends and reads;
 * soft-deleted streams read empty unless appended to since and keep their version; metadata is the last set; the
 * global log is in position order, from the log start, each event as acknowledged and once. Then the next life
 * goes on on the same store. {@code -Dvarve.crash.scavengeKills=N} kills (default 24).
 */
class ScavengeCrashTest
{
    private static final int KILLS = Integer.getInteger("varve.crash.scavengeKills", 24);
    private static final int SEGMENT = 64 * 1024;
    private static final int STREAMS = 60;
    private static final int EVENT_TYPE = 6;
    /** Segments of the log the child keeps behind the tail when it truncates the log. */
    private static final int WINDOW_SEGMENTS = 64;
    /** Events the parent appends before the first life. */
    private static final int PREFILL = 15_000;

    @TempDir
    Path dir;

    static VarveConfig config(final Path dir)
    {
        return VarveConfig.builder(dir).segmentSize(SEGMENT).indexCapacity(4096).indexBlocksPerChunk(64)
            .nameCapacity(1024).build();
    }

    /** What the lifecycle may do to a stream, by its id; limits only ever tighten, so the parent's model holds. */
    private static int kind(final long stream)
    {
        return (int)(stream % 5); // 0 untouched, 1 deleted softly, 2 tombstoned, 3 max count, 4 truncate before
    }

    private static long crc(final byte[] bytes)
    {
        final CRC32 crc = new CRC32();
        crc.update(bytes);
        return crc.getValue();
    }

    /**
     * The child: appends, lifecycle changes, log truncation and scavenges until killed. Lines: {@code p S V CRC}
     * before an append, {@code a S V POSITION CRC} after; {@code i OP S ARG} before a lifecycle call and
     * {@code k OP S RESULT} after (OP: d delete, t tombstone, m max count, b truncate before, L truncate log,
     * s scavenge).
     */
    static void crashLoop(final Path dir, final long seed)
    {
        final PrintStream out = new PrintStream(new FileOutputStream(FileDescriptor.out), false);
        try (VarveDB db = VarveDB.open(config(dir)); Appender appender = db.appender())
        {
            final SplittableRandom random = new SplittableRandom(seed);
            out.println("opened");
            out.flush();
            final java.util.function.Consumer<String> say = (line) ->
            {
                // one write, ended by a mark: a line the kill cut shows as cut
                out.print(line + " .\n");
                out.flush();
            };
            while (true)
            {
                for (int i = 0; i < 150; i++)
                {
                    final long stream = 1 + random.nextInt(STREAMS);
                    if (db.isTombstoned(stream))
                    {
                        continue;
                    }
                    final long version = db.streamVersion(stream) + 1;
                    final byte[] payload = ScavengeStressTest.payload(stream, version, 8 + random.nextInt(200));
                    final long crc = crc(payload);
                    say.accept("p " + stream + " " + version + " " + crc);
                    final long appended = appender.append(stream, ExpectedVersion.exact(version - 1), EVENT_TYPE,
                        payload);
                    say.accept("a " + stream + " " + appended + " " + appender.lastPosition() + " " + crc);
                }
                for (int change = 0; change < 3; change++)
                {
                    final long stream = 1 + random.nextInt(STREAMS);
                    if (db.isTombstoned(stream))
                    {
                        continue;
                    }
                    final StreamMetadata current = db.streamMetadata(stream);
                    switch (kind(stream))
                    {
                        case 1 ->
                        {
                            say.accept("i d " + stream + " 0");
                            say.accept("k d " + stream + " " + db.deleteStream(stream, ExpectedVersion.ANY));
                        }
                        case 2 ->
                        {
                            if (random.nextInt(8) == 0)
                            {
                                say.accept("i t " + stream + " 0");
                                say.accept("k t " + stream + " " + db.tombstoneStream(stream, ExpectedVersion.ANY));
                            }
                        }
                        case 3 ->
                        {
                            final long maxCount = current.maxCount() == 0 ? 80 : Math.max(5, current.maxCount() - 3);
                            say.accept("i m " + stream + " " + maxCount);
                            db.setStreamMetadata(stream, StreamMetadata.NONE.withMaxCount(maxCount));
                            say.accept("k m " + stream + " " + maxCount);
                        }
                        case 4 ->
                        {
                            final long before = Math.max(current.truncateBefore(),
                                db.streamVersion(stream) - random.nextInt(60));
                            if (before > 0)
                            {
                                say.accept("i b " + stream + " " + before);
                                db.setStreamMetadata(stream, StreamMetadata.NONE.withTruncateBefore(before));
                                say.accept("k b " + stream + " " + before);
                            }
                        }
                        default ->
                        {
                        }
                    }
                }
                if (random.nextInt(4) == 0)
                {
                    final long to = Math.max(0, db.tailPosition() - (long)WINDOW_SEGMENTS * SEGMENT);
                    say.accept("i L 0 " + to);
                    say.accept("k L 0 " + db.truncateLogBefore(to));
                }
                say.accept("i s 0 0");
                say.accept("k s 0 " + db.scavenge().segmentsRewritten());
            }
        }
    }

    /** The parent's model of one stream. */
    static final class Model
    {
        final Map<Long, long[]> events = new HashMap<>(); // version -> { position (-1 unknown), crc }
        long committed;
        boolean tombstoned;
        StreamMetadata metadata = StreamMetadata.NONE;
    }

    /** An append or lifecycle call the child started but was not seen to finish. */
    record Pending(String op, long stream, long arg)
    {
    }

    @Test
    void aScavengingWriterKilledAtRandomMomentsLeavesEveryAcknowledgedVisibleEventInPlace() throws Exception
    {
        final long start = System.nanoTime();
        final Model[] models = new Model[STREAMS + 1];
        for (int s = 0; s <= STREAMS; s++)
        {
            models[s] = new Model();
        }
        // a store big enough that a scavenge takes most of a life: PREFILL events, as the child would append them
        try (VarveDB db = VarveDB.open(config(dir)); Appender appender = db.appender())
        {
            final SplittableRandom random = new SplittableRandom(1);
            for (int i = 0; i < PREFILL; i++)
            {
                final long stream = 1 + random.nextInt(STREAMS);
                final Model model = models[(int)stream];
                final byte[] payload = ScavengeStressTest.payload(stream, model.committed + 1, 8 + random.nextInt(200));
                model.committed = appender.append(stream, ExpectedVersion.exact(model.committed), EVENT_TYPE, payload);
                model.events.put(model.committed, new long[]{ appender.lastPosition(), crc(payload) });
            }
        }
        long logStart = 0;
        long acknowledged = 0;
        long scavenges = 0;
        int killedInScavenge = 0;
        int tempFilesSeen = 0;
        int rebuilt = 0;
        for (int kill = 0; kill < KILLS; kill++)
        {
            final String life = "life " + kill;
            final Process child = MultiProcessTest.start(List.of("-Xmx256m"), "scavenge-crash", dir.toString(),
                Long.toString(ThreadLocalRandom.current().nextLong()));
            Pending pending = null;
            try (BufferedReader out = MultiProcessTest.stdout(child))
            {
                assertEquals("opened", out.readLine(), life);
                // uniform over the first 700 ms after the open, most of which the child spends scavenging
                final long deadline = System.nanoTime() + ThreadLocalRandom.current().nextLong(1_000, 700_000_000L);
                while (System.nanoTime() < deadline)
                {
                    Thread.onSpinWait();
                }
                child.toHandle().destroyForcibly();
                child.waitFor();
                String line;
                while ((line = out.readLine()) != null)
                {
                    if (!line.endsWith(" ."))
                    {
                        // a line cut by the kill: what it started is still pending
                        continue;
                    }
                    final String[] parts = line.split(" ");
                    final boolean lifecycle = parts[0].equals("i") || parts[0].equals("k");
                    final String op = lifecycle ? parts[1] : parts[0];
                    final long stream = Long.parseLong(parts[lifecycle ? 2 : 1]);
                    switch (parts[0])
                    {
                        case "p" -> pending = new Pending("p", stream, Long.parseLong(parts[3]));
                        case "a" ->
                        {
                            final long version = Long.parseLong(parts[2]);
                            final Model model = models[(int)stream];
                            assertEquals(model.committed + 1, version, life + ": " + line);
                            model.events.put(version, new long[]{ Long.parseLong(parts[3]), Long.parseLong(parts[4]) });
                            model.committed = version;
                            pending = null;
                            acknowledged++;
                        }
                        case "i" -> pending = new Pending(op, stream, Long.parseLong(parts[3]));
                        case "k" ->
                        {
                            final long result = Long.parseLong(parts[3]);
                            final Model model = models[(int)stream];
                            switch (op)
                            {
                                case "d" ->
                                {
                                    assertEquals(model.committed, result, life + ": deleted up to " + line);
                                    model.metadata = StreamMetadata.of(model.metadata.maxCount(), 0, result + 1,
                                        true);
                                }
                                case "t" ->
                                {
                                    assertEquals(model.committed + 1, result, life + ": " + line);
                                    model.tombstoned = true;
                                    model.committed = result;
                                }
                                case "m" -> model.metadata = StreamMetadata.NONE.withMaxCount(result);
                                case "b" -> model.metadata = StreamMetadata.NONE.withTruncateBefore(result);
                                case "L" ->
                                {
                                    assertTrue(result >= logStart, life + ": the log start moves forward");
                                    logStart = result;
                                }
                                case "s" -> scavenges++;
                                default -> fail(line);
                            }
                            pending = null;
                        }
                        default -> fail(life + ": " + line);
                    }
                }
            }
            killedInScavenge += pending != null && pending.op().equals("s") ? 1 : 0;
            try (Stream<Path> files = Files.list(dir.resolve("log")))
            {
                tempFilesSeen += (int)files.filter((p) -> p.toString().endsWith(".compact.tmp")).count();
            }
            final boolean rebuild = kill % 3 == 1;
            if (rebuild)
            {
                SegmentReplaceTest.deleteTree(dir.resolve("index"));
                ScavengeProcessTest.markCrashed(dir);
                rebuilt++;
            }
            try (VarveDB db = VarveDB.open(config(dir)))
            {
                final String label = life + (rebuild ? " (index rebuilt)" : "") + ", pending " + pending;
                try (Stream<Path> files = Files.list(dir.resolve("log")))
                {
                    assertEquals(List.of(), files.filter((p) -> p.toString().endsWith(".compact.tmp")).toList(),
                        label + ": no temporary copy is left after the open");
                }
                logStart = resolve(db, models, pending, logStart, label);
                check(db, models, logStart, label);
            }
        }
        System.out.printf("scavenge crash: %d kills (%d mid-scavenge, %d temporary copies met, %d index rebuilds), " +
            "%d appends acknowledged, %d scavenges acknowledged, in %d ms%n", KILLS, killedInScavenge, tempFilesSeen,
            rebuilt, acknowledged, scavenges, (System.nanoTime() - start) / 1_000_000);
        assertTrue(scavenges > 0 && killedInScavenge >= KILLS / 4, "the children scavenged (" + scavenges +
            " scavenges finished) and kills landed in scavenges (" + killedInScavenge + ")");
    }

    /** What the unanswered call did, as the store tells, within what it could have done. */
    private static long resolve(
        final VarveDB db, final Model[] models, final Pending pending, final long logStart, final String label)
    {
        if (pending == null)
        {
            return logStart;
        }
        final Model model = models[(int)pending.stream()];
        switch (pending.op())
        {
            case "p" ->
            {
                final long version = db.streamVersion(pending.stream());
                assertTrue(version == model.committed || version == model.committed + 1,
                    label + ": stream " + pending.stream() + " at " + version + " after acknowledged " +
                    model.committed);
                if (version == model.committed + 1)
                {
                    // the append landed: its position is whatever reads say (unknown if it is hidden already)
                    final long[] position = { -1 };
                    db.readStream(pending.stream(), version, 1, (e) -> position[0] = e.position());
                    model.events.put(version, new long[]{ position[0], pending.arg() });
                    model.committed = version;
                }
            }
            case "t" ->
            {
                if (db.isTombstoned(pending.stream()))
                {
                    model.tombstoned = true;
                    model.committed++;
                }
            }
            case "d", "m", "b" ->
            {
                final StreamMetadata now = db.streamMetadata(pending.stream());
                final StreamMetadata intended = switch (pending.op())
                {
                    case "d" -> StreamMetadata.of(model.metadata.maxCount(), 0, model.committed + 1, true);
                    case "m" -> StreamMetadata.NONE.withMaxCount(pending.arg());
                    default -> StreamMetadata.NONE.withTruncateBefore(pending.arg());
                };
                assertTrue(now.equals(model.metadata) || now.equals(intended), label + ": metadata of stream " +
                    pending.stream() + " is " + now + ": neither " + model.metadata + " nor " + intended);
                model.metadata = now;
            }
            case "L" ->
            {
                final long now = db.logStart();
                assertTrue(now >= logStart && now <= pending.arg(), label + ": log start " + now + " after " +
                    logStart + ", truncating before " + pending.arg());
                return now;
            }
            default ->
            {
                // a scavenge changes nothing that shows
            }
        }
        return logStart;
    }

    private static void check(final VarveDB db, final Model[] models, final long logStart, final String label)
    {
        assertEquals(logStart, db.logStart(), label + ": log start");
        for (int s = 1; s <= STREAMS; s++)
        {
            final long stream = s;
            final Model model = models[s];
            if (model.tombstoned)
            {
                assertTrue(db.isTombstoned(stream), label + ": stream " + s + " tombstoned");
                assertThrows(StreamDeletedException.class, () -> db.readStream(stream, 1, 1, (e) -> { }), label);
                try (Appender appender = db.appender())
                {
                    assertThrows(StreamDeletedException.class, () -> appender.append(stream, ExpectedVersion.ANY,
                        EVENT_TYPE, new byte[8]), label + ": tombstoned stream " + s + " refuses appends");
                }
                continue;
            }
            assertFalse(db.isTombstoned(stream), label + ": stream " + s);
            assertEquals(model.committed, db.streamVersion(stream), label + ": version of stream " + s);
            assertEquals(model.metadata, db.streamMetadata(stream), label + ": metadata of stream " + s);
            // what shows: the metadata's suffix, less what lies below the log start
            long first = model.metadata.firstVisible(model.committed);
            while (first <= model.committed && model.events.get(first)[0] >= 0 &&
                model.events.get(first)[0] < logStart)
            {
                first++;
            }
            assertEquals(first, db.firstVisibleVersion(stream), label + ": first visible version of stream " + s);
            if (model.metadata.deleted() && model.metadata.truncateBefore() > model.committed)
            {
                assertTrue(db.isDeleted(stream), label + ": stream " + s + " deleted, nothing appended since");
            }
            final List<long[]> forward = new ArrayList<>();
            db.readStream(stream, 1, Integer.MAX_VALUE, (e) -> forward.add(read(e)));
            assertEquals(model.committed - first + 1, forward.size(), label + ": stream " + s + " shows versions " +
                first + ".." + model.committed);
            long previousPosition = -1;
            for (int i = 0; i < forward.size(); i++)
            {
                final long[] e = forward.get(i);
                final long version = first + i;
                final long[] expected = model.events.get(version);
                assertEquals(version, e[0], label + ": stream " + s + " dense");
                assertTrue(e[1] > previousPosition, label + ": stream " + s + " in log order");
                previousPosition = e[1];
                if (expected[0] >= 0)
                {
                    assertEquals(expected[0], e[1], label + ": stream " + s + " version " + version + " position");
                }
                assertEquals(expected[1], e[2], label + ": stream " + s + " version " + version + " payload");
            }
            final List<long[]> backward = new ArrayList<>();
            db.readStreamBackward(stream, VarveDB.LATEST_VERSION, Integer.MAX_VALUE, (e) -> backward.add(read(e)));
            assertEquals(forward.size(), backward.size(), label + ": stream " + s + " backward");
            for (int i = 0; i < forward.size(); i++)
            {
                assertArrayEquals(forward.get(i), backward.get(backward.size() - 1 - i), label + ": backward");
            }
            if (!forward.isEmpty())
            {
                final long middle = first + forward.size() / 2;
                final long[] got = { -1 };
                db.readStream(stream, middle, 1, (e) -> got[0] = e.version());
                assertEquals(middle, got[0], label + ": stream " + s + " read from the middle");
            }
        }

        // the global log from its start: in position order, each event of ours as acknowledged, once
        final long[] last = { -1 };
        final long[] next = { VarveDB.START_POSITION };
        final List<String> problems = new ArrayList<>();
        final Map<Long, Long> seen = new HashMap<>();
        int count;
        do
        {
            count = db.readAll(next[0], 10_000, (e) ->
            {
                next[0] = e.nextPosition();
                if (e.position() <= last[0] || e.position() < logStart)
                {
                    problems.add("position " + e.position() + " after " + last[0] + ", log start " + logStart);
                }
                last[0] = e.position();
                if (e.isStreamMetadata() || e.isTombstone() || e.streamId() < 1 || e.streamId() > STREAMS)
                {
                    return;
                }
                final long[] event = models[(int)e.streamId()].events.get(e.version());
                final long[] read = read(e);
                if (event == null || (event[0] >= 0 && event[0] != e.position()) || event[1] != read[2])
                {
                    problems.add("stream " + e.streamId() + " version " + e.version() + " at " + e.position() +
                        " is not as acknowledged");
                }
                if (seen.put(e.streamId() * 1_000_000_000L + e.version(), e.position()) != null)
                {
                    problems.add("stream " + e.streamId() + " version " + e.version() + " twice");
                }
            });
        }
        while (count > 0 && problems.size() < 20);
        assertEquals(List.of(), problems, label);
        // every event a stream shows is in the global log where it was acknowledged
        for (int s = 1; s <= STREAMS; s++)
        {
            final Model model = models[s];
            if (model.tombstoned)
            {
                continue;
            }
            for (long v = db.firstVisibleVersion(s); v <= model.committed; v++)
            {
                final long[] event = model.events.get(v);
                if (event[0] >= 0)
                {
                    assertEquals(event[0], seen.get(s * 1_000_000_000L + v), label + ": stream " + s + " version " +
                        v + " in the global log");
                }
            }
        }
        if (logStart > 0)
        {
            assertThrows(LogTruncatedException.class, () -> db.readAll(logStart - 1, 1, (e) -> { }),
                label + ": a read from below the log start");
        }
    }

    /** @return { version, position, crc of the payload }. */
    private static long[] read(final RecordedEvent e)
    {
        final byte[] payload = new byte[e.payloadLength()];
        e.payload().getBytes(0, payload);
        return new long[]{ e.version(), e.position(), crc(payload) };
    }
}
