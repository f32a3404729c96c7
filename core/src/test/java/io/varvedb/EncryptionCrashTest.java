package io.varvedb;

import org.agrona.collections.LongHashSet;
import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.BufferedReader;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static io.varvedb.internal.crypto.KeyFileDescriptor.*;
import static org.junit.jupiter.api.Assertions.*;

/**
 * Encryption at rest under SIGKILL, in real processes:
 * <ul>
 * <li>a writer shredding streams one at a time is killed at a random moment: every stream it reported shredded
 * stays shredded through reopens (its key file entry SHREDDED and zeroed, its wrapped key in no file), the stream
 * being shredded is wholly readable or wholly shredded, every other stream reads back byte for byte, and readAll
 * delivers exactly the streams not shredded; what such a kill can leave in the key file (SHREDDING, a dead
 * process's claim) is also written there by hand, as the random kills seldom land on it;</li>
 * <li>a master key rotation is killed at each step of its file dance (the test hook), and at random moments over a
 * larger key set: a read-only open reads with the key of the file named {@code varve.keys} or refuses; a writable
 * open settles it into one whole key set with each key that may (both while the new file is whole and the old
 * one not yet replaced), leaves no other key file, refuses the other key from then on, and every event reads
 * back;</li>
 * <li>two writer processes of a shared store make the first keys of the same new streams at the same moment (they
 * meet at a barrier before each): each stream ends with one key, used by both; a kill of one of them loses
 * nothing acknowledged, for the survivor and for a reopen;</li>
 * <li>and, on a simulated disk that keeps only what was forced ({@link PowerCut}), a power cut: a key is durable
 * before any event encrypted with it, whichever writer made it, and a shred is durable when it returns.</li>
 * </ul>
 * CI runs a few kills of each; {@code -Dvarve.encryption.kills=N} (shredding, 8), {@code
 * -Dvarve.encryption.rotationKills=N} (random rotation kills, 4), {@code -Dvarve.encryption.raceKills=N} (key
 * creation race kills, 3) and {@code -Dvarve.encryption.rotationStreams=N} (streams of the key set the random
 * rotation kills cut, 10,000) run longer.
 */
class EncryptionCrashTest
{
    static final byte[] A = EncryptionTest.KEY;
    static final byte[] B = EncryptionTest.OTHER_KEY;
    private static final int SHRED_KILLS = Integer.getInteger("varve.encryption.kills", 6);
    private static final int ROTATION_KILLS = Integer.getInteger("varve.encryption.rotationKills", 4);
    private static final int RACE_KILLS = Integer.getInteger("varve.encryption.raceKills", 2);
    private static final int ROTATION_STREAMS = Integer.getInteger("varve.encryption.rotationStreams", 5_000);
    private static final int EVENT_TYPE = 9;
    /** Short-lived children: start fast. */
    static final List<String> CHILD_JVM = List.of("-Xmx256m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC");

    /** Streams of the shredding child, each with {@link #SHRED_EVENTS} events. */
    static final int SHRED_STREAMS = 200;
    static final int SHRED_EVENTS = 3;
    /** Streams the shredding child shreds without ever appending to them (no key yet: an entry SHREDDED at once). */
    static final long KEYLESS_FROM = 100_001;
    static final int KEYLESS = 10;

    /** Streams of the small rotated store; every {@link #ROTATION_SHRED_EVERY}th is shredded before the rotation. */
    static final int SMALL_ROTATION_STREAMS = 300;
    static final int ROTATION_SHRED_EVERY = 97;

    /** The key creation race: new streams, events per stream per process. */
    static final int RACE_STREAMS = 500;
    static final int RACE_EVENTS = 3;

    @TempDir
    Path dir;

    static List<String> withChildJvm(final String... more)
    {
        final List<String> args = new ArrayList<>(CHILD_JVM);
        args.addAll(List.of(more));
        return args;
    }

    // ------------------------------------------------------------------------------------------------ shared

    static VarveConfig config(final Path dir, final byte[] key, final int streams, final boolean multiProcess)
    {
        return VarveConfig.builder(dir).segmentSize(1 << 20).indexCapacity(streams).indexBlocksPerChunk(64)
            .eventIdCapacity(4096).multiProcess(multiProcess).encryption(key).build();
    }

    /** A payload that names its stream and version (or anything else) in its first 8 bytes, then bytes of it. */
    static byte[] payload(final long tag)
    {
        final int length = 8 + (int)Math.floorMod(tag * 0x9E3779B97F4A7C15L >>> 7, 300L);
        final byte[] bytes = new byte[length];
        ByteBuffer.wrap(bytes).putLong(tag);
        for (int i = 8; i < length; i++)
        {
            bytes[i] = (byte)(tag * 31 + i * 7 + (tag >>> 16));
        }
        return bytes;
    }

    static long tag(final long stream, final long version)
    {
        return stream << 20 | version;
    }

    static UUID eventId(final long stream)
    {
        return new UUID(0xE7C0L, stream);
    }

    static byte[] bytes(final RecordedEvent event)
    {
        final byte[] bytes = new byte[event.payloadLength()];
        event.payload().getBytes(0, bytes);
        return bytes;
    }

    static List<byte[]> readStream(final VarveDB db, final long stream)
    {
        final List<byte[]> events = new ArrayList<>();
        db.readStream(stream, 1, Integer.MAX_VALUE, (event) -> events.add(bytes(event)));
        return events;
    }

    /** Every event of the log but metadata, by stream, in log order. */
    static Map<Long, List<byte[]>> readAll(final VarveDB db)
    {
        final Map<Long, List<byte[]>> all = new TreeMap<>();
        final long[] next = { VarveDB.START_POSITION };
        int count;
        do
        {
            count = db.readAll(next[0], 50_000, (event) ->
            {
                next[0] = event.nextPosition();
                if (!event.isStreamMetadata())
                {
                    assertTrue(event.isEncrypted());
                    all.computeIfAbsent(event.streamId(), (s) -> new ArrayList<>()).add(bytes(event));
                }
            });
        }
        while (count > 0);
        return all;
    }

    /** A stream shredded: every read path refuses it, {@code isShredded} says so. */
    static void assertShredded(final VarveDB db, final long stream, final boolean withId, final String label)
    {
        assertShreddedWithoutEvents(db, stream, label);
        assertThrows(StreamShreddedException.class, () -> db.readStreamBackward(stream, VarveDB.LATEST_VERSION,
            10, (e) -> { }), label + ": stream " + stream);
        if (withId)
        {
            assertThrows(StreamShreddedException.class, () -> db.readEvent(eventId(stream), (e) -> { }),
                label + ": stream " + stream);
        }
    }

    /**
     * A stream shredded before it had an event. (Only forward reads are asked: a backward read of such a stream
     * answers 0 instead of refusing it, see {@link #aShreddedStreamWithNoEventIsRefusedByABackwardReadToo}.)
     */
    static void assertShreddedWithoutEvents(final VarveDB db, final long stream, final String label)
    {
        assertTrue(db.isShredded(stream), label + ": stream " + stream + " is shredded");
        assertThrows(StreamShreddedException.class, () -> db.readStream(stream, 1, 10, (e) -> { }),
            label + ": stream " + stream);
    }

    /** One key file entry, as the file holds it. */
    record Entry(long number, long state, long stream, byte[] wrapped)
    {
        boolean zeroed()
        {
            for (final byte b : wrapped)
            {
                if (b != 0)
                {
                    return false;
                }
            }
            return true;
        }
    }

    static List<Entry> entries(final Path file) throws IOException
    {
        final UnsafeBuffer keys = new UnsafeBuffer(Files.readAllBytes(file));
        assertEquals(MAGIC, keys.getLong(MAGIC_OFFSET), file + " is a key file");
        final long count = keys.getLong(COUNT_OFFSET);
        final List<Entry> entries = new ArrayList<>();
        for (long entry = 0; entry < count; entry++)
        {
            final int offset = entryOffset(entry);
            final byte[] wrapped = new byte[WRAPPED_KEY_LENGTH];
            keys.getBytes(offset + WRAPPED_KEY_OFFSET, wrapped);
            entries.add(new Entry(entry, keys.getLong(offset + STATE_OFFSET), keys.getLong(offset + STREAM_ID_OFFSET),
                wrapped));
        }
        return entries;
    }

    /** Each stream's key: its first entry that is not DISCARDED. */
    static Map<Long, Entry> keysByStream(final List<Entry> entries)
    {
        final Map<Long, Entry> keys = new HashMap<>();
        for (final Entry entry : entries)
        {
            if (entry.state() != DISCARDED)
            {
                keys.putIfAbsent(entry.stream(), entry);
            }
        }
        return keys;
    }

    /** @return how many of the wrapped keys are found anywhere in the files under {@code directory}. */
    static int filesHoldingAny(final Path directory, final List<byte[]> wrappedKeys) throws IOException
    {
        final LongHashSet prefixes = new LongHashSet();
        for (final byte[] wrapped : wrappedKeys)
        {
            prefixes.add(new UnsafeBuffer(wrapped).getLong(0));
        }
        int found = 0;
        try (Stream<Path> files = Files.walk(directory))
        {
            for (final Path file : files.filter(Files::isRegularFile).toList())
            {
                final byte[] bytes = Files.readAllBytes(file);
                final UnsafeBuffer buffer = new UnsafeBuffer(bytes);
                for (int i = 0; i + WRAPPED_KEY_LENGTH <= bytes.length; i++)
                {
                    final long prefix = buffer.getLong(i);
                    if (prefix != 0 && prefixes.contains(prefix))
                    {
                        for (final byte[] wrapped : wrappedKeys)
                        {
                            if (Arrays.equals(bytes, i, i + WRAPPED_KEY_LENGTH, wrapped, 0, WRAPPED_KEY_LENGTH))
                            {
                                found++;
                            }
                        }
                    }
                }
            }
        }
        return found;
    }

    /**
     * The files whose digests differ, or that are only in one of the two; but {@code varve.lock}, where every
     * writable open, refused or not, writes its pid when it takes the lock.
     */
    static Set<String> changed(final Map<String, String> before, final Map<String, String> after)
    {
        final Set<String> changed = new java.util.TreeSet<>();
        for (final String file : before.keySet())
        {
            if (!file.equals("varve.lock") && !before.get(file).equals(after.get(file)))
            {
                changed.add(file);
            }
        }
        for (final String file : after.keySet())
        {
            if (!before.containsKey(file))
            {
                changed.add(file + " (new)");
            }
        }
        return changed;
    }

    static void copyTree(final Path from, final Path to) throws IOException
    {
        try (Stream<Path> files = Files.walk(from))
        {
            for (final Path file : files.toList())
            {
                final Path target = to.resolve(from.relativize(file).toString());
                if (Files.isDirectory(file))
                {
                    Files.createDirectories(target);
                }
                else
                {
                    Files.copy(file, target);
                }
            }
        }
    }

    static PrintStream childOut()
    {
        return new PrintStream(new FileOutputStream(FileDescriptor.out), false);
    }

    /** One write per line, ended by a mark: a line a kill cut shows as cut. */
    static void say(final PrintStream out, final String line)
    {
        out.print(line + " .\n");
        out.flush();
    }

    static void kill(final Process child) throws InterruptedException
    {
        // through the handle: Process.destroyForcibly would also close our end of its stdout
        child.toHandle().destroyForcibly();
        assertTrue(child.waitFor(30, TimeUnit.SECONDS));
    }

    // ------------------------------------------------------------------------------------------------ shredding

    /** The streams the shredding child shreds, in its order: all of its streams and a few with no key. */
    static List<Long> shredOrder(final long seed)
    {
        final List<Long> order = new ArrayList<>();
        for (long s = 1; s <= SHRED_STREAMS; s++)
        {
            order.add(s);
        }
        for (long s = KEYLESS_FROM; s < KEYLESS_FROM + KEYLESS; s++)
        {
            order.add(s);
        }
        Collections.shuffle(order, new java.util.Random(seed));
        return order;
    }

    static byte[] shredPayload(final long stream, final long version)
    {
        return payload(tag(stream, version));
    }

    /**
     * The child: appends {@link #SHRED_EVENTS} events to each of {@link #SHRED_STREAMS} streams (the first with an
     * event id), says {@code appended} and waits for a line on stdin, then shreds in {@link #shredOrder} saying
     * {@code shredding S} before each call and {@code shredded S RESULT} after it returned, then {@code done}.
     */
    static void shredChild(final Path dir, final long seed) throws IOException
    {
        final PrintStream out = childOut();
        try (VarveDB db = VarveDB.open(config(dir, A, 1024, false)); Appender appender = db.appender())
        {
            for (long version = 1; version <= SHRED_EVENTS; version++)
            {
                for (long stream = 1; stream <= SHRED_STREAMS; stream++)
                {
                    final byte[] payload = shredPayload(stream, version);
                    if (version == 1)
                    {
                        appender.append(stream, ExpectedVersion.NO_STREAM, EVENT_TYPE, eventId(stream), payload);
                    }
                    else
                    {
                        appender.append(stream, ExpectedVersion.exact(version - 1), EVENT_TYPE, payload);
                    }
                }
            }
            say(out, "appended");
            new BufferedReader(new InputStreamReader(System.in)).readLine();
            for (final long stream : shredOrder(seed))
            {
                say(out, "shredding " + stream);
                say(out, "shredded " + stream + " " + db.shredStream(stream));
            }
            say(out, "done");
            while (System.in.read() >= 0)
            {
                // held until killed
            }
        }
    }

    @Test
    void aWriterKilledWhileShreddingLeavesEachStreamWhollyReadableOrWhollyShredded() throws Exception
    {
        final long start = System.nanoTime();
        int inShred = 0;
        int inShredShredded = 0;
        int shreddingInFile = 0;
        int afterAll = 0;
        int reportedShreds = 0;
        final List<String> outcomes = new ArrayList<>();
        for (int kill = 0; kill < SHRED_KILLS; kill++)
        {
            final Path store = dir.resolve("shred-" + kill);
            final long seed = ThreadLocalRandom.current().nextLong();
            final String life = "kill " + kill + " (seed " + seed + ")";
            final Process child = MultiProcessTest.start(CHILD_JVM, "enc-shred", store.toString(),
                Long.toString(seed));
            final List<Long> order = shredOrder(seed);
            final Set<Long> shredded = new HashSet<>();
            Long pending = null;
            final Map<Long, byte[]> wrappedBefore = new HashMap<>();
            final List<String> lines = new ArrayList<>();
            try (BufferedReader out = MultiProcessTest.stdout(child); OutputStream in = child.getOutputStream())
            {
                assertEquals("appended .", out.readLine(), life);
                // every stream's wrapped key, before any shred: none of the shredded ones may survive anywhere
                for (final Map.Entry<Long, Entry> key : keysByStream(entries(store.resolve(FILE_NAME))).entrySet())
                {
                    wrappedBefore.put(key.getKey(), key.getValue().wrapped());
                }
                assertEquals(SHRED_STREAMS, wrappedBefore.size(), life);
                in.write('\n');
                in.flush();
                // kill once the child has begun the k-th shred, give or take a moment
                final int k = 1 + ThreadLocalRandom.current().nextInt(order.size());
                int begun = 0;
                String line;
                while (begun < k && (line = out.readLine()) != null)
                {
                    lines.add(line);
                    if (line.startsWith("shredding "))
                    {
                        begun++;
                    }
                }
                final long until = System.nanoTime() + ThreadLocalRandom.current().nextLong(1_000_000);
                while (System.nanoTime() < until)
                {
                    Thread.onSpinWait();
                }
                kill(child);
                while ((line = out.readLine()) != null)
                {
                    lines.add(line);
                }
            }
            boolean done = false;
            for (final String line : lines)
            {
                if (!line.endsWith(" ."))
                {
                    continue;
                }
                final String[] parts = line.split(" ");
                switch (parts[0])
                {
                    case "shredding" -> pending = Long.parseLong(parts[1]);
                    case "shredded" ->
                    {
                        final long stream = Long.parseLong(parts[1]);
                        assertEquals(pending, stream, life);
                        assertEquals(stream <= SHRED_STREAMS, Boolean.parseBoolean(parts[2]),
                            life + ": a stream with a key had it destroyed, one without had none: " + line);
                        shredded.add(stream);
                        pending = null;
                    }
                    case "done" -> done = true;
                    default ->
                    {
                    }
                }
            }
            reportedShreds += shredded.size();
            // the raw key file as the kill left it: an entry half way through its shred shows SHREDDING
            final List<Entry> left = entries(store.resolve(FILE_NAME));
            final long shreddingLeft = left.stream().filter((e) -> e.state() == SHREDDING).count();
            shreddingInFile += (int)shreddingLeft;
            assertTrue(shreddingLeft <= 1, life + ": one shred at a time");
            if (pending != null)
            {
                final long p = pending;
                left.stream().filter((e) -> e.stream() == p && e.state() != DISCARDED).findFirst()
                    .ifPresent((e) -> outcomes.add(p + ":" + stateName(e.state())));
            }

            final String label = life + ", " + shredded.size() + " shredded, pending " + pending;
            final boolean pendingShredded;
            try (VarveDB db = VarveDB.open(config(store, A, 1024, false)))
            {
                pendingShredded = pending != null && db.isShredded(pending);
                checkShredded(db, shredded, pending, pendingShredded, true, label + ", first open");
            }
            if (pending != null)
            {
                inShred++;
                inShredShredded += pendingShredded ? 1 : 0;
            }
            afterAll += done ? 1 : 0;
            final Set<Long> nowShredded = new HashSet<>(shredded);
            if (pendingShredded)
            {
                nowShredded.add(pending);
            }
            checkShreddedKeyFile(store, nowShredded, label);
            // no copy of a destroyed key anywhere in the store
            final List<byte[]> destroyed = new ArrayList<>();
            nowShredded.stream().filter((s) -> s <= SHRED_STREAMS).forEach((s) -> destroyed.add(wrappedBefore.get(s)));
            assertEquals(0, filesHoldingAny(store, destroyed), label + ": a destroyed key is still in a file");
            try (VarveDB db = VarveDB.open(config(store, A, 1024, false)))
            {
                checkShredded(db, shredded, pending, pendingShredded, true, label + ", second open");
            }
            try (VarveDB db = VarveDB.openReadOnly(config(store, A, 1024, false)))
            {
                checkShredded(db, shredded, pending, pendingShredded, false, label + ", read-only open");
            }
            checkShreddedKeyFile(store, nowShredded, label + " (after the second open)");
        }
        System.out.printf("shred crash: %d kills, %d with a shred begun and not reported done (%d of those found " +
            "shredded after the reopen, the rest readable; the key file entry of the pending stream at the kill: " +
            "%s), %d SHREDDING entries left by a kill, %d after every shred, %d shreds reported, in %d ms%n",
            SHRED_KILLS, inShred, inShredShredded, outcomes, shreddingInFile, afterAll, reportedShreds,
            (System.nanoTime() - start) / 1_000_000);
        assertTrue(inShred >= Math.min(SHRED_KILLS, 2), "kills landed with a shred under way: " + inShred);
    }

    static String stateName(final long state)
    {
        if (isClaimed(state))
        {
            return "CLAIMED";
        }
        return switch ((int)state)
        {
            case (int)EMPTY -> "EMPTY";
            case (int)READY -> "READY";
            case (int)DISCARDED -> "DISCARDED";
            case (int)SHREDDING -> "SHREDDING";
            case (int)SHREDDED -> "SHREDDED";
            default -> "state " + state;
        };
    }

    private static void checkShredded(
        final VarveDB db, final Set<Long> shredded, final Long pending, final boolean pendingShredded,
        final boolean writable, final String label)
    {
        final Map<Long, List<byte[]>> expected = new TreeMap<>();
        for (long stream = 1; stream <= SHRED_STREAMS; stream++)
        {
            final boolean gone = shredded.contains(stream) || (pendingShredded && pending == stream);
            if (gone)
            {
                // readEvent needs the event id table, which a read-only store does not map
                assertShredded(db, stream, writable, label);
                if (writable)
                {
                    final long s = stream;
                    assertThrows(StreamShreddedException.class, () -> db.appender().append(s, ExpectedVersion.ANY,
                        EVENT_TYPE, new byte[3]), label + ": an append to shredded stream " + s);
                }
                assertEquals(SHRED_EVENTS, db.streamVersion(stream), label + ": a shredded stream keeps its version");
                continue;
            }
            assertFalse(db.isShredded(stream), label + ": stream " + stream);
            final List<byte[]> events = new ArrayList<>();
            for (long version = 1; version <= SHRED_EVENTS; version++)
            {
                events.add(shredPayload(stream, version));
            }
            expected.put(stream, events);
            final List<byte[]> read = readStream(db, stream);
            assertEquals(SHRED_EVENTS, read.size(), label + ": stream " + stream);
            for (int i = 0; i < SHRED_EVENTS; i++)
            {
                assertArrayEquals(events.get(i), read.get(i), label + ": stream " + stream + " version " + (i + 1));
            }
            final List<byte[]> backward = new ArrayList<>();
            db.readStreamBackward(stream, VarveDB.LATEST_VERSION, 10, (e) -> backward.add(bytes(e)));
            assertEquals(SHRED_EVENTS, backward.size(), label);
            assertArrayEquals(events.get(SHRED_EVENTS - 1), backward.get(0), label + ": stream " + stream);
            if (writable)
            {
                final byte[][] byId = new byte[1][];
                assertTrue(db.readEvent(eventId(stream), (e) -> byId[0] = bytes(e)), label + ": stream " + stream);
                assertArrayEquals(events.get(0), byId[0], label + ": stream " + stream + " by event id");
            }
        }
        for (long stream = KEYLESS_FROM; stream < KEYLESS_FROM + KEYLESS; stream++)
        {
            final boolean gone = shredded.contains(stream) || (pendingShredded && pending == stream);
            if (gone)
            {
                assertShreddedWithoutEvents(db, stream, label);
                if (writable)
                {
                    final long s = stream;
                    assertThrows(StreamShreddedException.class, () -> db.appender().append(s, ExpectedVersion.ANY,
                        EVENT_TYPE, new byte[3]), label + ": an append to shredded stream " + s);
                }
            }
            else
            {
                assertFalse(db.isShredded(stream), label + ": stream " + stream);
            }
            assertEquals(0, db.streamVersion(stream), label + ": stream " + stream + " never had an event");
        }
        // the global log: exactly the events of the streams not shredded, each as appended
        final Map<Long, List<byte[]>> all = readAll(db);
        assertEquals(expected.keySet(), all.keySet(), label + ": the streams readAll delivers");
        for (final Map.Entry<Long, List<byte[]>> stream : expected.entrySet())
        {
            final List<byte[]> read = all.get(stream.getKey());
            assertEquals(stream.getValue().size(), read.size(), label + ": readAll of stream " + stream.getKey());
            for (int i = 0; i < read.size(); i++)
            {
                assertArrayEquals(stream.getValue().get(i), read.get(i), label + ": readAll of stream " +
                    stream.getKey() + " version " + (i + 1));
            }
        }
    }

    /** Each shredded stream's key is SHREDDED and zeros; every other stream's READY; nothing half done. */
    private static void checkShreddedKeyFile(final Path store, final Set<Long> shredded, final String label)
        throws IOException
    {
        final List<Entry> entries = entries(store.resolve(FILE_NAME));
        final Map<Long, Entry> keys = keysByStream(entries);
        for (final Entry entry : entries)
        {
            assertTrue(entry.state() == READY || entry.state() == SHREDDED || entry.state() == DISCARDED,
                label + ": entry " + entry.number() + " is " + stateName(entry.state()));
            if (entry.state() == DISCARDED || entry.state() == SHREDDED)
            {
                assertTrue(entry.zeroed(), label + ": entry " + entry.number() + " " + stateName(entry.state()) +
                    " holds no key");
            }
        }
        assertEquals(entries.size(), keys.size(), label + ": one entry per stream (one writer made them)");
        for (long stream = 1; stream <= SHRED_STREAMS; stream++)
        {
            final Entry key = keys.get(stream);
            assertNotNull(key, label + ": stream " + stream + " has a key entry");
            if (shredded.contains(stream))
            {
                assertEquals(SHREDDED, key.state(), label + ": stream " + stream);
                assertTrue(key.zeroed(), label + ": stream " + stream + " key zeroed");
            }
            else
            {
                assertEquals(READY, key.state(), label + ": stream " + stream);
                assertFalse(key.zeroed(), label + ": stream " + stream);
            }
        }
        for (long stream = KEYLESS_FROM; stream < KEYLESS_FROM + KEYLESS; stream++)
        {
            final Entry key = keys.get(stream);
            if (shredded.contains(stream))
            {
                assertNotNull(key, label + ": keyless stream " + stream + " shredded has an entry");
                assertEquals(SHREDDED, key.state(), label);
            }
            else if (key != null)
            {
                assertEquals(SHREDDED, key.state(), label + ": a keyless stream's entry is only ever made shredded");
            }
        }
    }

    /**
     * What a kill inside {@code shred} or inside a first append leaves in the key file, written there by hand (the
     * random kills above seldom land in the few instructions between the states): an entry SHREDDING with its key
     * whole, one SHREDDING with its key half zeroed, an entry CLAIMED by a process that is gone. A read-only open
     * takes the SHREDDING ones for shredded and changes nothing; the next writable open finishes the shreds
     * (SHREDDED, zeros) and discards the claim; the other streams read on, and the claimed stream gets a key anew.
     */
    @Test
    void aShredOrAKeyCutShortInTheKeyFileIsFinishedByTheNextWritableOpen() throws Exception
    {
        try (VarveDB db = VarveDB.open(config(dir, A, 1024, false)); Appender appender = db.appender())
        {
            for (long stream = 1; stream <= 3; stream++)
            {
                for (long version = 1; version <= 2; version++)
                {
                    appender.append(stream, ExpectedVersion.ANY, EVENT_TYPE, shredPayload(stream, version));
                }
            }
        }
        final Map<Long, Entry> keys = keysByStream(entries(dir.resolve(FILE_NAME)));
        final Process gone = new ProcessBuilder("true").start();
        assertTrue(gone.waitFor(30, TimeUnit.SECONDS));
        final byte[] file = Files.readAllBytes(dir.resolve(FILE_NAME));
        final UnsafeBuffer buffer = new UnsafeBuffer(file);
        buffer.putLong(entryOffset(keys.get(1L).number()) + STATE_OFFSET, SHREDDING);
        final int second = entryOffset(keys.get(2L).number());
        buffer.putLong(second + STATE_OFFSET, SHREDDING);
        buffer.setMemory(second + WRAPPED_KEY_OFFSET, WRAPPED_KEY_LENGTH / 2, (byte)0);
        final long count = buffer.getLong(COUNT_OFFSET);
        final int claimed = entryOffset(count);
        buffer.putLong(claimed + STATE_OFFSET, claimedBy(gone.pid()));
        buffer.putLong(claimed + STREAM_ID_OFFSET, 4);
        buffer.setMemory(claimed + WRAPPED_KEY_OFFSET, WRAPPED_KEY_LENGTH, (byte)0x5C);
        buffer.putLong(COUNT_OFFSET, count + 1);
        Files.write(dir.resolve(FILE_NAME), file);
        EncryptionTest.dirty(dir);

        final Map<String, String> before = EncryptionTest.digests(dir);
        try (VarveDB db = VarveDB.openReadOnly(config(dir, A, 1024, false)))
        {
            assertShredded(db, 1, false, "read-only, SHREDDING with its key whole");
            assertShredded(db, 2, false, "read-only, SHREDDING with its key half zeroed");
            assertEquals(2, readStream(db, 3).size());
            assertFalse(db.isShredded(4));
            assertEquals(Set.of(3L), readAll(db).keySet());
        }
        final Map<String, String> after = EncryptionTest.digests(dir);
        after.remove("varve.counters");
        before.remove("varve.counters");
        assertEquals(Set.of(), changed(before, after), "a read-only open changes nothing");

        try (VarveDB db = VarveDB.open(config(dir, A, 1024, false)))
        {
            assertShredded(db, 1, false, "writable");
            assertShredded(db, 2, false, "writable");
            assertFalse(db.isShredded(4));
            db.appender().append(4, ExpectedVersion.NO_STREAM, EVENT_TYPE, shredPayload(4, 1));
            assertArrayEquals(shredPayload(4, 1), readStream(db, 4).get(0));
            final List<byte[]> three = readStream(db, 3);
            assertArrayEquals(shredPayload(3, 2), three.get(1));
        }
        final List<Entry> entries = entries(dir.resolve(FILE_NAME));
        assertEquals(SHREDDED, entries.get((int)keys.get(1L).number()).state());
        assertTrue(entries.get((int)keys.get(1L).number()).zeroed());
        assertEquals(SHREDDED, entries.get((int)keys.get(2L).number()).state());
        assertTrue(entries.get((int)keys.get(2L).number()).zeroed());
        assertEquals(DISCARDED, entries.get((int)count).state(), "the dead process's claim");
        assertTrue(entries.get((int)count).zeroed());
        assertEquals(READY, keysByStream(entries).get(4L).state());
        assertEquals(0, filesHoldingAny(dir, List.of(keys.get(1L).wrapped())), "the destroyed key is nowhere");
        try (VarveDB db = VarveDB.open(config(dir, A, 1024, false)))
        {
            assertShredded(db, 1, false, "reopened");
            assertShredded(db, 2, false, "reopened");
            assertEquals(2, readStream(db, 3).size());
            assertEquals(Set.of(3L, 4L), readAll(db).keySet());
        }
    }

    /**
     * Fails on the code this was written against: {@code VarveDB.readStreamBackward} returns 0 for a shredded stream
     * with no event (its early returns lack the {@code refuseShredded} call that {@code readStream}'s have), where
     * {@code readStream} throws {@link StreamShreddedException}. Not a crash matter, found by the crash test; kept
     * disabled until the read path is fixed.
     */
    @Test
    void aShreddedStreamWithNoEventIsRefusedByABackwardReadToo()
    {
        try (VarveDB db = VarveDB.open(config(dir, A, 1024, false)))
        {
            db.appender().append(1, ExpectedVersion.ANY, EVENT_TYPE, new byte[5]);
            assertFalse(db.shredStream(2), "no key to destroy");
            assertTrue(db.isShredded(2));
            assertThrows(StreamShreddedException.class, () -> db.readStream(2, 1, 10, (e) -> { }));
            assertThrows(StreamShreddedException.class, () -> db.readStreamBackward(2, VarveDB.LATEST_VERSION, 10,
                (e) -> { }));
        }
    }

    // ------------------------------------------------------------------------------------------------ rotation

    static int rotationCapacity(final int streams)
    {
        return streams + 1024;
    }

    /**
     * The child: opens with key {@link #A}, says {@code rotating}, rotates to {@link #B} (a test hook may stop it
     * at a step for good), says {@code rotated NANOS}, closes, says {@code closed}.
     */
    static void rotateChild(final Path dir, final int streams)
    {
        final PrintStream out = childOut();
        try (VarveDB db = VarveDB.open(config(dir, A, rotationCapacity(streams), false)))
        {
            say(out, "rotating");
            final long start = System.nanoTime();
            db.rotateMasterKey(B);
            say(out, "rotated " + (System.nanoTime() - start));
        }
        say(out, "closed");
    }

    static byte[] rotationPayload(final long stream, final long version)
    {
        return payload(tag(stream, version) ^ 0x5A5A_0000_0000L);
    }

    static boolean shreddedBeforeRotation(final long stream)
    {
        return stream % ROTATION_SHRED_EVERY == 0;
    }

    /** A store under key A: {@code events} events on each of {@code streams} streams, some shredded. */
    static void fillRotationStore(final Path store, final int streams, final int events)
    {
        try (VarveDB db = VarveDB.open(config(store, A, rotationCapacity(streams), false));
            Appender appender = db.appender())
        {
            for (long version = 1; version <= events; version++)
            {
                for (long stream = 1; stream <= streams; stream++)
                {
                    appender.append(stream, ExpectedVersion.exact(version - 1), EVENT_TYPE,
                        rotationPayload(stream, version));
                }
            }
            for (long stream = 1; stream <= streams; stream++)
            {
                if (shreddedBeforeRotation(stream))
                {
                    assertTrue(db.shredStream(stream));
                }
            }
        }
    }

    /** Every event of the rotated store reads back, the shredded streams stay shredded. */
    static void checkRotationStore(
        final VarveDB db, final int streams, final int events, final int sampleEvery, final String label)
    {
        final Map<Long, List<byte[]>> all = readAll(db);
        int expectedStreams = 0;
        for (long stream = 1; stream <= streams; stream++)
        {
            if (shreddedBeforeRotation(stream))
            {
                assertNull(all.get(stream), label + ": readAll skips shredded stream " + stream);
                assertShredded(db, stream, false, label);
                continue;
            }
            expectedStreams++;
            final List<byte[]> read = all.get(stream);
            assertNotNull(read, label + ": readAll delivers stream " + stream);
            assertEquals(events, read.size(), label + ": stream " + stream);
            for (int v = 1; v <= events; v++)
            {
                assertArrayEquals(rotationPayload(stream, v), read.get(v - 1), label + ": stream " + stream + " v" + v);
            }
            if (stream % sampleEvery == 1)
            {
                final List<byte[]> own = readStream(db, stream);
                assertEquals(events, own.size(), label + ": stream " + stream);
                for (int v = 1; v <= events; v++)
                {
                    assertArrayEquals(rotationPayload(stream, v), own.get(v - 1), label + ": stream " + stream);
                }
            }
        }
        assertEquals(expectedStreams, all.size(), label + ": no other stream in the log");
    }

    static List<byte[]> readyKeys(final Path keyFile) throws IOException
    {
        final List<byte[]> wrapped = new ArrayList<>();
        for (final Entry entry : entries(keyFile))
        {
            if (entry.state() == READY)
            {
                wrapped.add(entry.wrapped());
            }
        }
        return wrapped;
    }

    static String keyName(final byte[] key)
    {
        return key == A ? "A" : "B";
    }

    static byte[] other(final byte[] key)
    {
        return key == A ? B : A;
    }

    private static boolean exists(final Path store, final String name)
    {
        return Files.exists(store.resolve(name));
    }

    private static int intAt(final Path file, final int offset) throws IOException
    {
        final byte[] bytes = Files.readAllBytes(file);
        return bytes.length < offset + 4 ? -1 : new UnsafeBuffer(bytes).getInt(offset);
    }

    /** Which step of the rotation's file dance the files show. */
    static String stage(final Path store) throws IOException
    {
        final boolean current = exists(store, FILE_NAME);
        final boolean next = exists(store, NEXT_FILE_NAME);
        final boolean old = exists(store, OLD_FILE_NAME);
        final long currentSet = current ? new UnsafeBuffer(Files.readAllBytes(store.resolve(FILE_NAME)))
            .getLong(KEY_SET_OFFSET) : -1;
        final boolean nextWhole = next && intAt(store.resolve(NEXT_FILE_NAME), COMPLETE_OFFSET) == 1;
        if (current && currentSet == 0 && !old)
        {
            return nextWhole ? "complete" : "before-complete";
        }
        if (!current && nextWhole && old)
        {
            return "renamed-old";
        }
        if (current && currentSet == 1 && !next)
        {
            return old ? "renamed-next" : "done";
        }
        return fail("files of no step of a rotation: varve.keys " + current + " (key set " + currentSet +
            "), .next " + next + " (whole " + nextWhole + "), .old " + old);
    }

    /** The keys a writable open must accept after a rotation was killed at that stage. */
    static List<byte[]> keysThatSettle(final String stage)
    {
        return switch (stage)
        {
            case "before-complete" -> List.of(A);
            case "complete", "renamed-old" -> List.of(A, B);
            case "renamed-next", "done" -> List.of(B);
            default -> fail(stage);
        };
    }

    /**
     * A writable open of a copy of {@code killed} with {@code key}: refused and nothing changed, or it settles the
     * rotation into one key set: no leftover file, the other key refused from then on, every event reads back,
     * no copy of the other key set's wrapped keys in any file, and the store appends and reopens.
     *
     * @return true if the key opened the store.
     */
    private boolean settle(
        final Path killed, final byte[] key, final int streams, final int events, final int sampleEvery,
        final List<byte[]> otherSetKeys, final String label) throws Exception
    {
        final Path copy = killed.resolveSibling(killed.getFileName() + "-" + keyName(key));
        copyTree(killed, copy);
        final Map<String, String> before = EncryptionTest.digests(copy);
        final int capacity = rotationCapacity(streams);
        final String with = label + ", writable open with " + keyName(key);
        try (VarveDB db = VarveDB.open(config(copy, key, capacity, false)))
        {
            checkRotationStore(db, streams, events, sampleEvery, with);
            // the settled store takes appends, to an old stream and to a new one (a key made under this key)
            db.appender().append(1, ExpectedVersion.exact(events), EVENT_TYPE, rotationPayload(1, events + 1));
            db.appender().append(streams + 1, ExpectedVersion.NO_STREAM, EVENT_TYPE, rotationPayload(streams + 1, 1));
        }
        catch (final EncryptionKeyException refused)
        {
            assertEquals(Set.of(), changed(before, EncryptionTest.digests(copy)), with + " was refused (" +
                refused.getMessage() + ") and must change nothing");
            return false;
        }
        assertFalse(exists(copy, NEXT_FILE_NAME), with + ": no varve.keys.next left");
        assertFalse(exists(copy, OLD_FILE_NAME), with + ": no varve.keys.old left");
        assertEquals(key == A ? 0 : 1, new UnsafeBuffer(Files.readAllBytes(copy.resolve(FILE_NAME)))
            .getLong(KEY_SET_OFFSET), with + ": the key set of " + keyName(key));
        assertEquals(0, filesHoldingAny(copy, otherSetKeys), with + ": a key wrapped under the other master key " +
            "is left in a file");
        final Map<String, String> settled = EncryptionTest.digests(copy);
        final EncryptionKeyException otherRefused = assertThrows(EncryptionKeyException.class,
            () -> VarveDB.open(config(copy, other(key), capacity, false)), with + ": the other key afterwards");
        assertTrue(otherRefused.getMessage().contains("does not open"), otherRefused.getMessage());
        assertThrows(EncryptionKeyException.class,
            () -> VarveDB.openReadOnly(config(copy, other(key), capacity, false)), with + ": the other key, read-only");
        assertEquals(Set.of(), changed(settled, EncryptionTest.digests(copy)), with + ": the refusals changed nothing");
        try (VarveDB db = VarveDB.openReadOnly(config(copy, key, capacity, false)))
        {
            assertEquals(events + 1, readStream(db, 1).size(), with + ", then read-only");
            assertArrayEquals(rotationPayload(streams + 1, 1), readStream(db, streams + 1).get(0), with);
        }
        try (VarveDB db = VarveDB.open(config(copy, key, capacity, false)))
        {
            assertArrayEquals(rotationPayload(1, events + 1), readStream(db, 1).get(events), with + ", reopened");
            assertShredded(db, ROTATION_SHRED_EVERY, false, with + ", reopened");
        }
        return true;
    }

    @ParameterizedTest
    @ValueSource(strings = {"complete", "renamed-old", "renamed-next"})
    void aRotationKilledAtAStepIsSettledByAWritableOpenIntoOneKeySet(final String step) throws Exception
    {
        final int streams = SMALL_ROTATION_STREAMS;
        final int events = 2;
        final Path killed = dir.resolve("killed-at-" + step);
        fillRotationStore(killed, streams, events);
        final List<byte[]> keysUnderA = readyKeys(killed.resolve(FILE_NAME));
        assertEquals(streams - streams / ROTATION_SHRED_EVERY, keysUnderA.size());

        final Process child = MultiProcessTest.start(withChildJvm("-Dvarve.test.rotationPause=" + step), "enc-rotate",
            killed.toString(), Integer.toString(streams));
        try (BufferedReader out = MultiProcessTest.stdout(child))
        {
            assertEquals("rotating .", out.readLine());
            assertEquals("rotation-reached " + step, out.readLine());
            kill(child);
        }
        final String label = "killed at " + step;
        assertEquals(step, stage(killed), label + ": the files as the step leaves them");
        final Path newFile = killed.resolve(step.equals("renamed-next") ? FILE_NAME : NEXT_FILE_NAME);
        final List<byte[]> keysUnderB = readyKeys(newFile);
        assertEquals(keysUnderA.size(), keysUnderB.size(), label + ": the new key set is whole");
        assertEquals(1, intAt(newFile, COMPLETE_OFFSET), label);
        final Map<String, String> before = EncryptionTest.digests(killed);

        // read-only opens: the key of the file named varve.keys reads; a rotation cut short is refused
        final List<String> observed = new ArrayList<>();
        for (final byte[] key : List.of(A, B))
        {
            final boolean reads = step.equals("complete") && key == A || step.equals("renamed-next") && key == B;
            final String with = label + ", read-only open with " + keyName(key);
            if (reads)
            {
                try (VarveDB db = VarveDB.openReadOnly(config(killed, key, rotationCapacity(streams), false)))
                {
                    checkRotationStore(db, streams, events, 7, with);
                }
                observed.add(keyName(key) + " reads");
            }
            else
            {
                final EncryptionKeyException refused = assertThrows(EncryptionKeyException.class,
                    () -> VarveDB.openReadOnly(config(killed, key, rotationCapacity(streams), false)), with);
                final boolean cutShort = !step.equals("renamed-next");
                assertTrue(refused.getMessage().contains(cutShort ? "open the store for writing once" :
                    "does not open"), with + ": " + refused.getMessage());
                observed.add(keyName(key) + " refused (" + (cutShort ? "cut short" : "wrong key") + ")");
            }
        }
        // (but varve.counters, where a read-only open that succeeds registers itself)
        final Map<String, String> after = EncryptionTest.digests(killed);
        after.remove("varve.counters");
        before.remove("varve.counters");
        assertEquals(Set.of(), changed(before, after), label + ": read-only opens change nothing");

        // writable opens, each from its own copy of the killed store
        final List<String> settles = new ArrayList<>();
        for (final byte[] key : List.of(A, B))
        {
            final boolean opened = settle(killed, key, streams, events, 7, key == A ? keysUnderB : keysUnderA, label);
            assertEquals(keysThatSettle(step).contains(key), opened, label + ": writable open with " + keyName(key));
            settles.add(keyName(key) + (opened ? (key == A ? " rolls back" : " rolls forward") : " refused"));
        }
        if (!step.equals("renamed-next"))
        {
            // rolled back: the next rotation goes through
            final Path back = killed.resolveSibling(killed.getFileName() + "-A");
            try (VarveDB db = VarveDB.open(config(back, A, rotationCapacity(streams), false)))
            {
                db.rotateMasterKey(B);
            }
            try (VarveDB db = VarveDB.open(config(back, B, rotationCapacity(streams), false)))
            {
                assertEquals(events + 1, readStream(db, 1).size());
            }
        }
        System.out.printf("rotation killed at %s: read-only %s; writable %s%n", step, observed, settles);
    }

    /** Where the random kills of a rotation aim: anywhere, or after the files show a step. */
    static final List<String> KILL_AIMS = List.of("anytime", "writing", "whole", "renamed");

    interface FileCondition
    {
        boolean holds(Path store) throws IOException;
    }

    /** @return true once the condition holds, false if the deadline passed first. */
    static boolean awaitFiles(final Path store, final long deadline, final FileCondition condition)
        throws IOException
    {
        while (System.nanoTime() < deadline)
        {
            try
            {
                if (condition.holds(store))
                {
                    return true;
                }
            }
            catch (final java.nio.file.NoSuchFileException renamedMeanwhile)
            {
                // looked at a name the rotation just moved: look again
            }
        }
        return false;
    }

    @Test
    void aRotationOfALargeKeySetKilledAtRandomMomentsLeavesOneWholeKeySet() throws Exception
    {
        final long start = System.nanoTime();
        final int streams = ROTATION_STREAMS;
        final int sampleEvery = 97;
        final Path pristine = dir.resolve("pristine");
        fillRotationStore(pristine, streams, 1);
        final List<byte[]> keysUnderA = readyKeys(pristine.resolve(FILE_NAME));
        final long built = System.nanoTime();

        // a rotation that runs to its end: how long one takes, from the parent's view
        final Path whole = dir.resolve("whole");
        copyTree(pristine, whole);
        final long duration;
        final Process first = MultiProcessTest.start(CHILD_JVM, "enc-rotate", whole.toString(),
            Integer.toString(streams));
        try (BufferedReader out = MultiProcessTest.stdout(first))
        {
            assertEquals("rotating .", out.readLine());
            final long from = System.nanoTime();
            final String rotated = out.readLine();
            duration = System.nanoTime() - from;
            assertTrue(rotated.startsWith("rotated "), rotated);
            assertEquals("closed .", out.readLine());
            assertTrue(first.waitFor(60, TimeUnit.SECONDS));
            assertEquals(0, first.exitValue());
        }
        assertEquals("done", stage(whole));
        assertTrue(settle(whole, B, streams, 1, sampleEvery, keysUnderA, "a whole rotation"));
        assertFalse(settle(whole, A, streams, 1, sampleEvery, List.of(), "a whole rotation"));

        final Map<String, Integer> stages = new TreeMap<>();
        int temporaryFiles = 0;
        for (int kill = 0; kill < ROTATION_KILLS; kill++)
        {
            final Path store = dir.resolve("rotation-" + kill);
            copyTree(pristine, store);
            final Process child = MultiProcessTest.start(CHILD_JVM, "enc-rotate", store.toString(),
                Integer.toString(streams));
            final String aim = KILL_AIMS.get(kill % KILL_AIMS.size());
            try (BufferedReader out = MultiProcessTest.stdout(child))
            {
                assertEquals("rotating .", out.readLine());
                final long from = System.nanoTime();
                // the file dance is a short part of a rotation (most of it is wrapping the keys anew): most kills
                // wait until the files show a step, then a random moment more
                final long delay = switch (aim)
                {
                    case "anytime" -> ThreadLocalRandom.current().nextLong(duration * 6 / 5);
                    case "writing" -> awaitFiles(store, from + 4 * duration, (s) -> exists(s, NEXT_FILE_NAME)) ?
                        ThreadLocalRandom.current().nextLong(duration) : 0;
                    case "whole" -> awaitFiles(store, from + 4 * duration, (s) -> exists(s, NEXT_FILE_NAME) &&
                        intAt(s.resolve(NEXT_FILE_NAME), COMPLETE_OFFSET) == 1) ?
                        ThreadLocalRandom.current().nextLong(10_000_000) : 0;
                    default -> awaitFiles(store, from + 4 * duration, (s) -> exists(s, OLD_FILE_NAME) ||
                        !exists(s, FILE_NAME)) ? ThreadLocalRandom.current().nextLong(10_000_000) : 0;
                };
                final long until = System.nanoTime() + delay;
                while (System.nanoTime() < until)
                {
                    Thread.onSpinWait();
                }
                kill(child);
            }
            final String stage = stage(store);
            stages.merge(aim + " -> " + stage, 1, Integer::sum);
            try (Stream<Path> files = Files.list(store))
            {
                temporaryFiles += (int)files.filter((p) -> p.getFileName().toString().endsWith(".tmp")).count();
            }
            final String label = "random kill " + kill + " (" + stage + ")";
            final List<byte[]> keysUnderB = exists(store, NEXT_FILE_NAME) ? readyKeys(store.resolve(NEXT_FILE_NAME)) :
                stage.equals("before-complete") ? List.of() : readyKeys(store.resolve(FILE_NAME));
            int opened = 0;
            for (final byte[] key : List.of(A, B))
            {
                final boolean settled = settle(store, key, streams, 1, sampleEvery,
                    key == A ? keysUnderB : keysUnderA, label);
                assertEquals(keysThatSettle(stage).contains(key), settled, label + ": writable open with " +
                    keyName(key));
                opened += settled ? 1 : 0;
            }
            assertTrue(opened >= 1, label + ": one of the keys opens the store");
            // the copies are done with: keep the disk use flat
            for (final String suffix : List.of("", "-A", "-B"))
            {
                final Path copy = dir.resolve("rotation-" + kill + suffix);
                if (Files.exists(copy))
                {
                    SegmentReplaceTest.deleteTree(copy);
                }
            }
        }
        System.out.printf("rotation crash: %d streams (built in %d ms), a whole rotation takes %d ms; %d random " +
            "kills (aim -> stage) %s, %d temporary files left by a kill, in %d ms%n", streams,
            (built - start) / 1_000_000, duration / 1_000_000, ROTATION_KILLS, stages, temporaryFiles,
            (System.nanoTime() - start) / 1_000_000);
    }

    // ------------------------------------------------------------------------------------------------ key race

    static final int RACE_CAPACITY = 2048;

    static long raceTag(final int process, final long stream, final int round)
    {
        return (long)process << 40 | stream << 8 | round;
    }

    /**
     * Two processes meet before each first append of a stream, so that both make the stream's first key at the same
     * moment (within the time a cache line takes to travel): each writes the step it arrived at into its own slot
     * of a file both map, and spins until the other's slot shows it too. A partner that is gone (killed), or does
     * not come within {@link #PARTNER_WAIT_NS}, leaves the other to go on alone from then on.
     */
    static final class Barrier
    {
        static final long PARTNER_WAIT_NS = TimeUnit.SECONDS.toNanos(10);
        private final UnsafeBuffer buffer;
        private final int self;
        private final int other;
        private boolean alone;
        int met;

        Barrier(final Path file, final int process) throws IOException
        {
            try (java.nio.channels.FileChannel channel = java.nio.channels.FileChannel.open(file,
                java.nio.file.StandardOpenOption.CREATE, java.nio.file.StandardOpenOption.READ,
                java.nio.file.StandardOpenOption.WRITE))
            {
                buffer = new UnsafeBuffer(channel.map(java.nio.channels.FileChannel.MapMode.READ_WRITE, 0, 4096));
            }
            self = process * 128;
            other = (3 - process) * 128;
            buffer.putLongVolatile(self + 8, ProcessHandle.current().pid());
        }

        void arrive(final long step)
        {
            buffer.putLongVolatile(self, step);
            if (alone)
            {
                return;
            }
            final long start = System.nanoTime();
            long spins = 0;
            while (buffer.getLongVolatile(other) < step)
            {
                if ((++spins & 0xFFFF) == 0)
                {
                    final long pid = buffer.getLongVolatile(other + 8);
                    if (System.nanoTime() - start > PARTNER_WAIT_NS ||
                        pid != 0 && !ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false))
                    {
                        alone = true;
                        return;
                    }
                }
                Thread.onSpinWait();
            }
            met++;
        }
    }

    /**
     * The child of the key creation race: opens the shared store, says {@code opened}, waits for {@code go T};
     * appends {@link #RACE_EVENTS} rounds over {@link #RACE_STREAMS} streams with ExpectedVersion.ANY, the first
     * round paced so that both processes make each stream's first append at the same moment (stream s at
     * T + s steps), saying {@code ack S VERSION ROUND} after each; says {@code appended} and waits for
     * {@code verify}; then reads every stream and says {@code stream S TAGS OK} (its events' tags in version order,
     * and whether every payload was whole), then {@code verified}.
     */
    static void raceChild(final Path dir, final int process) throws IOException
    {
        final PrintStream out = childOut();
        final BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.US_ASCII));
        try (VarveDB db = VarveDB.open(config(dir, A, RACE_CAPACITY, true)); Appender appender = db.appender())
        {
            say(out, "opened " + ProcessHandle.current().pid());
            final Barrier barrier = new Barrier(Path.of(in.readLine().split(" ", 2)[1]), process);
            for (int round = 0; round < RACE_EVENTS; round++)
            {
                for (long stream = 1; stream <= RACE_STREAMS; stream++)
                {
                    if (round == 0)
                    {
                        barrier.arrive(stream);
                    }
                    final long version = appender.append(stream, ExpectedVersion.ANY, EVENT_TYPE,
                        payload(raceTag(process, stream, round)));
                    say(out, "ack " + stream + " " + version + " " + round);
                }
            }
            say(out, "appended " + barrier.met);
            assertEquals("verify", in.readLine());
            for (long stream = 1; stream <= RACE_STREAMS; stream++)
            {
                say(out, "stream " + stream + " " + raceRead(db, stream));
            }
            say(out, "verified");
        }
    }

    /** A stream's events: their tags in version order, and whether each payload is the one its tag makes. */
    static String raceRead(final VarveDB db, final long stream)
    {
        final StringBuilder tags = new StringBuilder();
        final boolean[] whole = { true };
        final long[] version = { 0 };
        db.readStream(stream, 1, Integer.MAX_VALUE, (e) ->
        {
            final byte[] bytes = bytes(e);
            final long tag = bytes.length >= 8 ? ByteBuffer.wrap(bytes).getLong() : -1;
            whole[0] &= Arrays.equals(payload(tag), bytes) && e.version() == ++version[0];
            tags.append(tags.length() == 0 ? "" : ",").append(Long.toHexString(tag));
        });
        return (tags.length() == 0 ? "-" : tags) + " " + (whole[0] ? "ok" : "bad");
    }

    /** A child process and every line it printed so far. */
    private static final class Child
    {
        final int process;
        final Process handle;
        final List<String> lines = Collections.synchronizedList(new ArrayList<>());
        final Thread reader;

        Child(final int process, final Process handle)
        {
            this.process = process;
            this.handle = handle;
            this.reader = new Thread(() ->
            {
                try (BufferedReader in = MultiProcessTest.stdout(handle))
                {
                    for (String line = in.readLine(); line != null; line = in.readLine())
                    {
                        lines.add(line);
                    }
                }
                catch (final IOException ignore)
                {
                    // the process died
                }
            });
            reader.setDaemon(true);
            reader.start();
        }

        void await(final String line) throws InterruptedException
        {
            final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
            while (!lines.contains(line))
            {
                assertTrue(handle.isAlive() || lines.contains(line), "child " + process + " died before saying " +
                    line + ": " + tail());
                assertTrue(System.nanoTime() < deadline, "child " + process + " never said " + line + ": " + tail());
                Thread.sleep(5);
            }
        }

        /** @return the first line said that starts so, or null. */
        String find(final String prefix)
        {
            synchronized (lines)
            {
                return lines.stream().filter((l) -> l.startsWith(prefix)).findFirst().orElse(null);
            }
        }

        void send(final String line) throws IOException
        {
            handle.getOutputStream().write((line + "\n").getBytes(StandardCharsets.US_ASCII));
            handle.getOutputStream().flush();
        }

        List<String> tail()
        {
            synchronized (lines)
            {
                return new ArrayList<>(lines.subList(Math.max(0, lines.size() - 5), lines.size()));
            }
        }
    }

    /**
     * What one race left: lost races (DISCARDED entries), those still holding a key, streams with a later key left
     * READY, events read, events read that nobody was told of, first appends made together (as the survivors'
     * barriers count them).
     */
    record RaceResult(int discarded, int discardedWithKey, int extraKeys, int events, int unacknowledged,
        int together)
    {
    }

    /**
     * Two writer processes race on the first keys of {@link #RACE_STREAMS} new streams; {@code victim} (1 or 2;
     * 0 for none) is killed with SIGKILL at a random moment of the first round.
     */
    private RaceResult race(final Path store, final int victim) throws Exception
    {
        final String label = "race in " + store.getFileName() + (victim > 0 ? ", process " + victim + " killed" : "");
        VarveDB.open(config(store, A, RACE_CAPACITY, true)).close();
        final Path barrierFile = store.resolveSibling(store.getFileName() + ".barrier");
        final int[] met = { 0 };
        final List<Child> children = new ArrayList<>();
        try
        {
            for (int p = 1; p <= 2; p++)
            {
                children.add(new Child(p, MultiProcessTest.start(CHILD_JVM, "enc-race", store.toString(),
                    Integer.toString(p))));
            }
            for (final Child child : children)
            {
                final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
                while (child.find("opened ") == null)
                {
                    assertTrue(child.handle.isAlive() && System.nanoTime() < deadline, label + ": " + child.tail());
                    Thread.sleep(5);
                }
            }
            for (final Child child : children)
            {
                child.send("go " + barrierFile);
            }
            if (victim > 0)
            {
                // once it has made a random number of its first appends (each of a new stream), and a moment more
                final Child dead = children.get(victim - 1);
                final int acks = 1 + ThreadLocalRandom.current().nextInt(RACE_STREAMS);
                final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
                while (dead.lines.size() < 1 + acks && dead.handle.isAlive() && System.nanoTime() < deadline)
                {
                    Thread.onSpinWait();
                }
                final long until = System.nanoTime() + ThreadLocalRandom.current().nextLong(200_000);
                while (System.nanoTime() < until)
                {
                    Thread.onSpinWait();
                }
                kill(dead.handle);
                dead.reader.join(10_000);
            }
            for (final Child child : children)
            {
                if (child.process != victim)
                {
                    final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
                    while (child.find("appended ") == null)
                    {
                        assertTrue(child.handle.isAlive() && System.nanoTime() < deadline, label + ": " +
                            child.tail());
                        Thread.sleep(5);
                    }
                    met[0] += Integer.parseInt(child.find("appended ").split(" ")[1]);
                }
            }
            for (final Child child : children)
            {
                if (child.process != victim)
                {
                    child.send("verify");
                    child.await("verified .");
                    assertTrue(child.handle.waitFor(60, TimeUnit.SECONDS), label);
                    assertEquals(0, child.handle.exitValue(), label);
                    child.reader.join(10_000);
                }
            }
        }
        finally
        {
            for (final Child child : children)
            {
                if (child.handle.isAlive())
                {
                    kill(child.handle);
                }
            }
        }

        // what each process was told: tag -> version
        final Map<Long, Long> acknowledged = new HashMap<>();
        for (final Child child : children)
        {
            int acks = 0;
            synchronized (child.lines)
            {
                for (final String line : child.lines)
                {
                    final String[] parts = line.split(" ");
                    if (parts[0].equals("ack") && line.endsWith(" ."))
                    {
                        final long stream = Long.parseLong(parts[1]);
                        acknowledged.put(raceTag(child.process, stream, Integer.parseInt(parts[3])),
                            Long.parseLong(parts[2]));
                        acks++;
                    }
                }
            }
            if (child.process != victim)
            {
                assertEquals(RACE_STREAMS * RACE_EVENTS, acks, label + ": process " + child.process + " acks");
            }
        }
        // a fresh open reads every acknowledged event at its version, byte for byte; an event nobody was told of
        // can only be the killed process's last append
        final Map<Long, String> fresh = new HashMap<>();
        int events = 0;
        int unacknowledged = 0;
        try (VarveDB db = VarveDB.open(config(store, A, RACE_CAPACITY, true)))
        {
            final Set<Long> seen = new HashSet<>();
            for (long stream = 1; stream <= RACE_STREAMS; stream++)
            {
                final String read = raceRead(db, stream);
                fresh.put(stream, read);
                assertTrue(read.endsWith(" ok"), label + ": stream " + stream + " reads whole: " + read);
                final String[] tags = read.split(" ")[0].split(",");
                for (int i = 0; i < tags.length; i++)
                {
                    final long tag = Long.parseUnsignedLong(tags[i], 16);
                    assertEquals(stream, tag >>> 8 & 0xFFFFFFFFL, label + ": an event of stream " + stream);
                    assertTrue(seen.add(tag), label + ": event " + Long.toHexString(tag) + " once");
                    final Long version = acknowledged.get(tag);
                    if (version == null)
                    {
                        assertEquals(victim, (int)(tag >>> 40), label + ": event " + Long.toHexString(tag) +
                            " of stream " + stream + " was never acknowledged");
                        unacknowledged++;
                    }
                    else
                    {
                        assertEquals((long)version, i + 1, label + ": event " + Long.toHexString(tag) + " version");
                    }
                    events++;
                }
            }
            assertTrue(seen.containsAll(acknowledged.keySet()), label + ": every acknowledged event is read");
            assertTrue(unacknowledged <= 1, label + ": one append of the killed process was in flight");
            final Map<Long, List<byte[]>> all = readAll(db);
            assertEquals(events, all.values().stream().mapToInt(List::size).sum(), label + ": readAll");
        }
        // the survivor read what the fresh open reads
        for (final Child child : children)
        {
            if (child.process == victim)
            {
                continue;
            }
            synchronized (child.lines)
            {
                for (final String line : child.lines)
                {
                    if (line.startsWith("stream "))
                    {
                        final String[] parts = line.split(" ", 3);
                        assertEquals(fresh.get(Long.parseLong(parts[1])) + " .", parts[2],
                            label + ": process " + child.process + " read " + line);
                    }
                }
            }
        }
        // one key per stream, used by both
        final List<Entry> entries = entries(store.resolve(FILE_NAME));
        int discarded = 0;
        int extraKeys = 0;
        int discardedWithKey = 0;
        final Map<Long, Integer> keysOf = new HashMap<>();
        for (final Entry entry : entries)
        {
            if (entry.state() == DISCARDED)
            {
                discardedWithKey += entry.zeroed() ? 0 : 1;
                discarded++;
                continue;
            }
            assertEquals(READY, entry.state(), label + ": entry " + entry.number() + " is " +
                stateName(entry.state()));
            keysOf.merge(entry.stream(), 1, Integer::sum);
        }
        for (long stream = 1; stream <= RACE_STREAMS; stream++)
        {
            final int keys = keysOf.getOrDefault(stream, 0);
            if (victim == 0)
            {
                assertEquals(1, keys, label + ": the entries of stream " + stream + " not discarded");
            }
            else
            {
                // a process killed after making its entry READY and before it checked the entries before its own
                // leaves a later entry nobody uses: the stream's key is its first
                assertTrue(keys >= 1, label + ": stream " + stream + " has a key");
                extraKeys += keys - 1;
            }
        }
        assertEquals(RACE_STREAMS, keysOf.size(), label + ": keys of no other stream");
        // a process that lost a race zeroes its entry; one killed while it made a key (that it never used) may
        // leave that entry with the key in it: a claim the others discarded for it, an entry it had made READY
        // and not yet discarded, or one it had marked DISCARDED and not yet zeroed. One at most: a process makes
        // one key at a time
        assertTrue(victim == 0 ? discardedWithKey == 0 && extraKeys == 0 : discardedWithKey + extraKeys <= 1,
            label + ": " + discardedWithKey + " discarded entries still hold a key, " + extraKeys +
            " later entries of a stream are READY");
        return new RaceResult(discarded, discardedWithKey, extraKeys, events, unacknowledged, met[0]);
    }

    @Test
    void twoWriterProcessesMakingTheFirstKeyOfTheSameStreamsAtOnceShareOneKeyEach() throws Exception
    {
        final long start = System.nanoTime();
        final RaceResult clean = race(dir.resolve("race"), 0);
        assertEquals(2 * RACE_STREAMS * RACE_EVENTS, clean.events());
        final List<RaceResult> killed = new ArrayList<>();
        for (int kill = 0; kill < RACE_KILLS; kill++)
        {
            killed.add(race(dir.resolve("race-kill-" + kill), 1 + kill % 2));
        }
        System.out.printf("key race: %d streams, both processes: %s; with a kill: %s; in %d ms%n", RACE_STREAMS,
            clean, killed, (System.nanoTime() - start) / 1_000_000);
        assertTrue(clean.discarded() + killed.stream().mapToInt(RaceResult::discarded).sum() > 0,
            "some key creation races were lost (and settled): the race was run");
    }

    // ------------------------------------------------------------------------------------------------ power cut

    /** A store on a simulated disk that holds only what was forced; no flush or checkpoint but those asked for. */
    static VarveConfig.Builder onSimulatedDisk(final Path live, final PowerCut cut, final boolean multiProcess)
    {
        return VarveConfig.builder(live).segmentSize(1 << 20).indexCapacity(1024).indexBlocksPerChunk(64)
            .eventIdCapacity(4096).multiProcess(multiProcess).encryption(A).forceObserver(cut)
            .durability(Durability.OS).flushIntervalMicros(TimeUnit.HOURS.toMicros(1))
            .checkpointIntervalMillis(TimeUnit.HOURS.toMillis(1));
    }

    /**
     * A writer makes stream 1's key with its first append and waits until the append is durable; the power fails.
     * The event is below the durable position, so it is in the store after the reboot: its key must be too, and
     * the entry count in the key file's header that a reopen scans up to (not only the entry).
     */
    @Test
    void aKeyIsDurableBeforeTheFirstEventEncryptedWithIt() throws Exception
    {
        final Path live = dir.resolve("live");
        final Path rebooted = dir.resolve("rebooted");
        final PowerCut cut = new PowerCut(live);
        final long durable;
        try (VarveDB db = VarveDB.open(onSimulatedDisk(live, cut, false).build()))
        {
            final Appender appender = db.appender();
            appender.append(1, ExpectedVersion.NO_STREAM, EVENT_TYPE, shredPayload(1, 1));
            appender.awaitDurable(appender.lastPosition());
            durable = db.durablePosition();
            cut.cut(new java.util.SplittableRandom(1), 0.0);
        }
        cut.materialize(rebooted);
        try (VarveDB db = VarveDB.open(config(rebooted, A, 1024, false)))
        {
            assertTrue(db.tailPosition() >= durable, "the durable event survived the power cut");
            assertArrayEquals(shredPayload(1, 1), readStream(db, 1).get(0));
        }
    }

    /**
     * Two writers of a shared store (two multi-process instances in this JVM: each has its own key file mapping and
     * its own record of the key entries it made, as two processes have). The first makes stream 1's key and
     * appends to it; its flusher has not run yet. The second appends to stream 1 too, with that key, and waits
     * until its append is durable: its flusher forces the keys it made (none) and then the log, which holds both
     * events. The power fails. Both events are below the durable position, so they are in the store after the
     * reboot; their key must be too.
     */
    @Test
    void aKeyMadeByAnotherWriterIsDurableBeforeTheEventsEncryptedWithIt() throws Exception
    {
        final Path live = dir.resolve("live");
        final Path rebooted = dir.resolve("rebooted");
        final PowerCut cut = new PowerCut(live);
        final VarveConfig.Builder builder = onSimulatedDisk(live, cut, true);
        final long durable;
        try (VarveDB first = VarveDB.open(builder.build()); VarveDB second = VarveDB.open(builder.build()))
        {
            first.appender().append(1, ExpectedVersion.NO_STREAM, EVENT_TYPE, shredPayload(1, 1));
            final Appender appender = second.appender();
            appender.append(1, ExpectedVersion.exact(1), EVENT_TYPE, shredPayload(1, 2));
            appender.awaitDurable(appender.lastPosition());
            durable = second.durablePosition();
            assertTrue(durable > appender.lastPosition(), "both events are durable: " + durable);
            cut.cut(new java.util.SplittableRandom(1), 0.0);
        }
        cut.materialize(rebooted);
        try (VarveDB db = VarveDB.open(config(rebooted, A, 1024, false)))
        {
            assertTrue(db.tailPosition() >= durable, "the durable events survived the power cut");
            final List<byte[]> read = readStream(db, 1);
            assertEquals(2, read.size());
            assertArrayEquals(shredPayload(1, 1), read.get(0));
            assertArrayEquals(shredPayload(1, 2), read.get(1));
        }
    }

    /**
     * Shreds return once durable: a stream with a key (its event durable before the shred) and a stream without one
     * are shredded after a power cut that follows the calls, and nothing else was forced in between.
     */
    @Test
    void aShredIsDurableWhenItReturns() throws Exception
    {
        final Path live = dir.resolve("live");
        final Path rebooted = dir.resolve("rebooted");
        final PowerCut cut = new PowerCut(live);
        try (VarveDB db = VarveDB.open(onSimulatedDisk(live, cut, false).build()))
        {
            final Appender appender = db.appender();
            appender.append(1, ExpectedVersion.NO_STREAM, EVENT_TYPE, shredPayload(1, 1));
            appender.append(2, ExpectedVersion.NO_STREAM, EVENT_TYPE, shredPayload(2, 1));
            appender.awaitDurable(appender.lastPosition());
            assertTrue(db.shredStream(1));
            assertFalse(db.shredStream(3), "no key to destroy");
            cut.cut(new java.util.SplittableRandom(1), 0.0);
        }
        cut.materialize(rebooted);
        try (VarveDB db = VarveDB.open(config(rebooted, A, 1024, false)))
        {
            assertShredded(db, 1, false, "after the power cut");
            assertShreddedWithoutEvents(db, 3, "after the power cut");
            assertThrows(StreamShreddedException.class, () -> db.appender().append(3, ExpectedVersion.ANY, EVENT_TYPE,
                new byte[3]), "a stream shredded before it had a key never gets one");
            assertArrayEquals(shredPayload(2, 1), readStream(db, 2).get(0));
        }
    }

    /**
     * Fails on the code this was written against (kept disabled: a judgment call for the key file's owner, not a
     * small obvious fix). A power cut can leave the key file's entry count on disk ahead of an entry that never
     * reached it (the count is in the header, forced by every writable open's takeGeneration and now with new
     * entries; another writer process may have claimed an entry the count covers and not forced it yet). On disk
     * that entry is EMPTY below the count. The first writable open settles it (DISCARDED); but a read-only open
     * before that waits for it in KeyFile.awaitSettled as for a claim in progress, 30 s, then throws
     * IllegalStateException "claimed by process 0". Below the count an entry was always claimed before the count
     * passed it, so an EMPTY one is only ever such debris: no key, nothing to wait for.
     */
    @Test
    void anEmptyEntryBelowTheCountIsNoKeyToAReadOnlyOpen() throws Exception
    {
        try (VarveDB db = VarveDB.open(config(dir, A, 1024, false)))
        {
            db.appender().append(1, ExpectedVersion.ANY, EVENT_TYPE, shredPayload(1, 1));
        }
        final byte[] file = Files.readAllBytes(dir.resolve(FILE_NAME));
        final UnsafeBuffer buffer = new UnsafeBuffer(file);
        buffer.putLong(COUNT_OFFSET, buffer.getLong(COUNT_OFFSET) + 1);
        Files.write(dir.resolve(FILE_NAME), file);
        assertTimeoutPreemptively(java.time.Duration.ofSeconds(5), () ->
        {
            try (VarveDB db = VarveDB.openReadOnly(config(dir, A, 1024, false)))
            {
                assertFalse(db.isShredded(2));
                assertArrayEquals(shredPayload(1, 1), readStream(db, 1).get(0));
            }
        });
    }
}
