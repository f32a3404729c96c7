package io.varvedb;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Exactly-once appends across processes: a gateway appending with event ids is killed with SIGKILL at a random
 * moment; afterwards the same appends are replayed from its side channel (every message from the first, with the
 * expected version each had), and the store ends with each event once, at its original version. And two writer
 * processes appending the same ids at once write each once.
 */
class ExactlyOnceCrashTest
{
    /** The gateway's stream. */
    static final long STREAM = 77;
    /** The high half of every id the gateway appends: its low half is the message's sequence number. */
    static final long ID_HIGH = 0xC0FFEEL;
    private static final int KILLS = Integer.getInteger("varve.crash.idKills", 6);
    private static final int MESSAGES = 1_000_000;

    @TempDir
    Path dir;

    static VarveConfig config(final Path dir, final boolean multiProcess)
    {
        return VarveConfig.builder(dir).segmentSize(1 << 20).indexCapacity(1024).eventIdCapacity(1 << 21)
            .multiProcess(multiProcess).build();
    }

    static byte[] payload(final long sequence)
    {
        return ByteBuffer.allocate(24).putLong(sequence).putLong(~sequence).putLong(sequence * 31).array();
    }

    /** The gateway: message i becomes event i, appended with exact(i - 1); "ack i version" once it returned. */
    static void appendIds(final Path dir, final long count, final boolean multiProcess)
    {
        final PrintStream out = new PrintStream(new FileOutputStream(FileDescriptor.out), false);
        try (VarveDB db = VarveDB.open(config(dir, multiProcess)); Appender appender = db.appender())
        {
            final long from = db.streamVersion(STREAM) + 1;
            out.println("opened " + from);
            out.flush();
            for (long i = from; i <= count; i++)
            {
                final long version = appender.append(STREAM, ExpectedVersion.exact(i - 1), 1, ID_HIGH, i, payload(i));
                out.println("ack " + i + " " + version);
                out.flush();
            }
        }
    }

    /** A writer process racing another on the same ids: "i version wrote|dup" per id. */
    static void raceIds(final Path dir, final int count) throws java.io.IOException
    {
        final PrintStream out = new PrintStream(new FileOutputStream(FileDescriptor.out), false);
        try (VarveDB db = VarveDB.open(config(dir, true)); Appender appender = db.appender())
        {
            out.println("opened");
            out.flush();
            // start together: the parent says go once both are open
            new java.io.BufferedReader(new java.io.InputStreamReader(System.in)).readLine();
            for (int i = 1; i <= count; i++)
            {
                final long version = appender.append(1 + i % 4, ExpectedVersion.ANY, 1, 0xACE, i, payload(i));
                out.println(i + " " + version + " " + (appender.lastWasDuplicate() ? "dup" : "wrote"));
            }
            out.println("done");
            out.flush();
        }
    }

    @Test
    void retriesAfterAKillWriteEachEventOnceAtItsOriginalVersion() throws Exception
    {
        long replayed = 0;
        for (int kill = 0; kill < KILLS; kill++)
        {
            final boolean multiProcess = kill % 2 == 1;
            final Process child = MultiProcessTest.start(List.of("-Xmx256m"), "append-ids", dir.toString(),
                Long.toString(MESSAGES), Boolean.toString(multiProcess));
            final Map<Long, Long> acknowledged = new HashMap<>();
            try (BufferedReader out = MultiProcessTest.stdout(child))
            {
                final String opened = out.readLine();
                assertNotNull(opened, "the gateway opened");
                final int acksBeforeKill = ThreadLocalRandom.current().nextInt(50, 5000);
                String line;
                while (acknowledged.size() < acksBeforeKill && (line = out.readLine()) != null)
                {
                    final String[] parts = line.split(" ");
                    acknowledged.put(Long.parseLong(parts[1]), Long.parseLong(parts[2]));
                }
                // SIGKILL mid-append, most likely: it appends as fast as it can
                child.toHandle().destroyForcibly();
                child.waitFor();
                while ((line = out.readLine()) != null)
                {
                    if (line.startsWith("ack "))
                    {
                        final String[] parts = line.split(" ");
                        acknowledged.put(Long.parseLong(parts[1]), Long.parseLong(parts[2]));
                    }
                }
            }
            for (final Map.Entry<Long, Long> ack : acknowledged.entrySet())
            {
                assertEquals(ack.getKey(), ack.getValue(), "message i is event i");
            }

            // the gateway's successor replays its side channel from the first unanswered message... and, to be sure,
            // from the very start: every retry of an event in the store is answered with its original version
            try (VarveDB db = VarveDB.open(config(dir, multiProcess)); Appender appender = db.appender())
            {
                final long inStore = db.streamVersion(STREAM);
                final long highestAck = acknowledged.keySet().stream().mapToLong(Long::longValue).max().orElse(0);
                assertTrue(inStore >= highestAck, "kill " + kill + ": acknowledged event " + highestAck + " lost");
                final long upTo = inStore + 10;
                for (long i = 1; i <= upTo; i++)
                {
                    final long version = appender.append(STREAM, ExpectedVersion.exact(i - 1), 1, ID_HIGH, i,
                        payload(i));
                    assertEquals(i, version, "kill " + kill + ": message " + i);
                    assertEquals(i <= inStore, appender.lastWasDuplicate(), "kill " + kill + ": message " + i);
                    replayed++;
                }
                checkStream(db, upTo);
            }
        }
        assertTrue(replayed > 0);
    }

    private static void checkStream(final VarveDB db, final long events)
    {
        final long[] next = { 1 };
        db.readStream(STREAM, 1, Integer.MAX_VALUE, (event) ->
        {
            assertEquals(next[0], event.version());
            assertEquals(ID_HIGH, event.eventIdHigh());
            assertEquals(next[0], event.eventIdLow(), "event " + next[0] + " carries its message's id");
            final byte[] bytes = new byte[event.payloadLength()];
            event.payload().getBytes(0, bytes);
            assertArrayEquals(payload(next[0]), bytes);
            next[0]++;
        });
        assertEquals(events + 1, next[0]);
        assertEquals(events, db.streamVersion(STREAM));
    }

    /** Dies inside an append with an id: the id's slot pending, held by this process's lane, the stream too. */
    static void haltInIdAppend(final Path dir, final long stream)
    {
        final VarveDB db = VarveDB.open(MultiWriterChild.config(dir));
        final Appender appender = db.appender();
        appender.append(stream, ExpectedVersion.exact(db.streamVersion(stream)), 1, 0xDEAD, 1, "x",
            MultiWriterChild.HALTING);
    }

    @Test
    void anIdADeadProcessHeldIsResolvedByASurvivorThatAppendsIt() throws Exception
    {
        try (VarveDB db = VarveDB.open(MultiWriterChild.config(dir)); Appender appender = db.appender())
        {
            assertEquals(1, appender.append(9, ExpectedVersion.NO_STREAM, 1, new byte[]{ 1 }));
            final Process dying = MultiProcessTest.start(List.of(), "halt-in-id-append", dir.toString(), "9");
            try (BufferedReader out = MultiProcessTest.stdout(dying))
            {
                assertEquals("halting", out.readLine());
            }
            assertTrue(dying.waitFor(30, java.util.concurrent.TimeUnit.SECONDS));
            assertEquals(9, dying.exitValue());
            assertTimeoutPreemptively(java.time.Duration.ofSeconds(20), () ->
            {
                // the same id, by a survivor: it waits for the dead holder's slot, which is resolved as never
                // written (its record was not published), and writes the event itself
                assertEquals(2, appender.append(9, ExpectedVersion.exact(1), 1, 0xDEAD, 1, new byte[]{ 2 }));
                assertFalse(appender.lastWasDuplicate());
                assertEquals(2, appender.append(9, ExpectedVersion.exact(1), 1, 0xDEAD, 1, new byte[]{ 2 }));
                assertTrue(appender.lastWasDuplicate());
            });
        }
    }

    @Test
    void twoWriterProcessesAppendingTheSameIdsWriteEachOnce() throws Exception
    {
        final int ids = 20_000;
        // created first, so that the two race from their first append, not on the store's creation
        VarveDB.open(config(dir, true)).close();
        final Process a = MultiProcessTest.start(List.of("-Xmx128m"), "race-ids", dir.toString(), Integer.toString(ids));
        final Process b = MultiProcessTest.start(List.of("-Xmx128m"), "race-ids", dir.toString(), Integer.toString(ids));
        final BufferedReader outA = MultiProcessTest.stdout(a);
        final BufferedReader outB = MultiProcessTest.stdout(b);
        assertEquals("opened", outA.readLine());
        assertEquals("opened", outB.readLine());
        for (final Process p : List.of(a, b))
        {
            p.getOutputStream().write("go\n".getBytes());
            p.getOutputStream().flush();
        }
        final java.util.concurrent.CompletableFuture<Map<Integer, String>> readA =
            java.util.concurrent.CompletableFuture.supplyAsync(() -> results(outA));
        final Map<Integer, String> fromB = results(outB);
        final Map<Integer, String> fromA = readA.get();
        assertEquals(0, a.waitFor());
        assertEquals(0, b.waitFor());
        int wroteA = 0;
        int wroteB = 0;
        for (int i = 1; i <= ids; i++)
        {
            final String[] ra = fromA.get(i).split(" ");
            final String[] rb = fromB.get(i).split(" ");
            assertEquals(ra[0], rb[0], "id " + i + ": both processes get the same version");
            assertTrue(ra[1].equals("wrote") ^ rb[1].equals("wrote"), "id " + i + " written by exactly one process");
            wroteA += ra[1].equals("wrote") ? 1 : 0;
            wroteB += rb[1].equals("wrote") ? 1 : 0;
        }
        // both got ids first: they raced, rather than one finding everything the other had written
        assertTrue(wroteA > 0 && wroteB > 0, "process a wrote " + wroteA + ", b " + wroteB);
        try (VarveDB db = VarveDB.open(config(dir, false)))
        {
            final Set<Long> seen = new HashSet<>();
            final long[] events = new long[1];
            db.readAll(VarveDB.START_POSITION, Integer.MAX_VALUE, (event) ->
            {
                assertEquals(0xACE, event.eventIdHigh());
                assertTrue(seen.add(event.eventIdLow()), "id " + event.eventIdLow() + " twice in the log");
                events[0]++;
            });
            assertEquals(ids, events[0]);
        }
    }

    private static Map<Integer, String> results(final BufferedReader reader)
    {
        final Map<Integer, String> results = new HashMap<>();
        try (BufferedReader out = reader)
        {
            String line;
            while ((line = out.readLine()) != null)
            {
                final String[] parts = line.split(" ");
                if (parts.length == 3)
                {
                    results.put(Integer.parseInt(parts[0]), parts[1] + " " + parts[2]);
                }
            }
        }
        catch (final java.io.IOException ex)
        {
            throw new java.io.UncheckedIOException(ex);
        }
        return results;
    }
}
