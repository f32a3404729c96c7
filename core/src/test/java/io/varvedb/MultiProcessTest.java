package io.varvedb;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Real processes: a second writer is refused, a read-only process follows a live writer across segment rolls,
 * a writer killed with SIGKILL loses no acknowledged event, and a large store runs in a small heap.
 */
class MultiProcessTest
{
    private static final String AGRONA_FLAG = "--add-exports=java.base/jdk.internal.misc=ALL-UNNAMED";

    @TempDir
    Path dir;

    static Process start(final List<String> jvmArgs, final String... args) throws IOException
    {
        return start(jvmArgs, null, args);
    }

    /**
     * @param errors where the child's stderr goes; null to share this process's.
     */
    static Process start(final List<String> jvmArgs, final Path errors, final String... args) throws IOException
    {
        final List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        command.add(AGRONA_FLAG);
        command.addAll(jvmArgs);
        command.add("-cp");
        command.add(System.getProperty("java.class.path"));
        command.add(ChildMain.class.getName());
        command.addAll(List.of(args));
        return new ProcessBuilder(command).redirectError(errors == null ?
            ProcessBuilder.Redirect.INHERIT : ProcessBuilder.Redirect.to(errors.toFile())).start();
    }

    static BufferedReader stdout(final Process process)
    {
        return new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.US_ASCII));
    }

    @Test
    void aSecondWriterIsRefusedInThisProcessAndInAnother() throws Exception
    {
        try (VarveDB db = VarveDB.open(TestStores.small(dir)))
        {
            final StoreLockedException here = assertThrows(StoreLockedException.class,
                () -> VarveDB.open(TestStores.small(dir)));
            assertTrue(here.getMessage().contains("this process"), here.getMessage());

            final Process child = start(List.of(), "open-writer", dir.toString());
            final String line = stdout(child).readLine();
            assertTrue(child.waitFor(30, TimeUnit.SECONDS));
            assertNotNull(line);
            assertTrue(line.startsWith("locked: ") && line.contains("another process") &&
                line.contains("pid " + ProcessHandle.current().pid()), line);
            db.appender().append(1, ExpectedVersion.NO_STREAM, 1, new byte[1]);
        }
        final Process child = start(List.of(), "open-writer", dir.toString());
        assertEquals("opened 1", stdout(child).readLine(), "free again once closed");
        assertTrue(child.waitFor(30, TimeUnit.SECONDS));
    }

    @Test
    void aReadOnlyProcessFollowsALiveWriterAcrossSegmentRolls() throws Exception
    {
        final int events = 3000;
        try (VarveDB db = VarveDB.open(TestStores.small(dir)))
        {
            final Process child = start(List.of(), "follow", dir.toString(), Integer.toString(events));
            final BufferedReader out = stdout(child);
            assertEquals("following", out.readLine());
            final Appender appender = db.appender();
            for (int i = 0; i < events; i++)
            {
                appender.append(1 + i % 5, ExpectedVersion.ANY, 1, longPayload(i));
                if (i % 100 == 0)
                {
                    Thread.sleep(1);
                }
            }
            assertTrue(db.tailPosition() > 4L * TestStores.SEGMENT, "several segment rolls happened while followed");
            final long[] versions = new long[6];
            for (int i = 0; i < events; i++)
            {
                final String[] parts = out.readLine().split(" ");
                assertEquals("event", parts[0]);
                final int stream = Integer.parseInt(parts[1]);
                assertEquals(1 + i % 5, stream, "log order");
                assertEquals(++versions[stream], Long.parseLong(parts[2]));
                assertEquals(i, Long.parseLong(parts[3]), "payload");
            }
            assertEquals("done " + events, out.readLine());
            assertTrue(child.waitFor(30, TimeUnit.SECONDS));
            assertEquals(0, child.exitValue());
        }
    }

    @Test
    void aKilledWriterLosesNoAcknowledgedEvent() throws Exception
    {
        final java.util.SplittableRandom random = new java.util.SplittableRandom(42);
        final Map<Long, long[]> acknowledged = new HashMap<>();
        final Map<Long, long[]> durable = new HashMap<>();
        int incremental = 0;
        final int kills = Integer.getInteger("varve.crash.kills", 20);
        for (int kill = 0; kill < kills; kill++)
        {
            // every mode in turn: each must keep every acknowledged event through a kill
            final Durability mode = Durability.values()[kill % Durability.values().length];
            final Process child = start(List.of(), "append-forever", dir.toString(), "3", mode.name());
            final BufferedReader out = stdout(child);
            final int acksBeforeKill = 200 + random.nextInt(3000);
            for (int i = 0; i < acksBeforeKill; i++)
            {
                record(out.readLine(), acknowledged, durable);
            }
            // SIGKILL through the handle: Process.destroyForcibly would also close our end of its stdout
            child.toHandle().destroyForcibly();
            assertTrue(child.waitFor(30, TimeUnit.SECONDS));
            String line;
            while ((line = out.readLine()) != null)
            {
                record(line, acknowledged, durable);
            }

            try (VarveDB db = VarveDB.open(TestStores.small(dir)))
            {
                if (db.recoveryScannedFrom() > 0)
                {
                    incremental++;
                }
                final Map<Long, long[]> found = new HashMap<>();
                for (final StoreChecker.Event event : StoreChecker.readAll(db))
                {
                    final org.agrona.concurrent.UnsafeBuffer payload = new org.agrona.concurrent.UnsafeBuffer(event.payload());
                    final long id = payload.getLong(0);
                    assertTrue(CrashPayload.matches(payload, event.payload().length, id),
                        "event " + id + " is intact byte for byte");
                    assertNull(found.put(id, new long[]{ event.streamId(), event.version() }), "no duplicate " + id);
                }
                for (final Map.Entry<Long, long[]> ack : acknowledged.entrySet())
                {
                    final long[] where = found.get(ack.getKey());
                    assertNotNull(where, "acknowledged event " + ack.getKey() + " survived kill " + kill);
                    assertArrayEquals(ack.getValue(), where);
                }
                try
                {
                    StoreChecker.check(db);
                }
                catch (final AssertionError ex)
                {
                    diagnose(db, kill);
                    throw ex;
                }
                final long id = (1L << 62) + kill;
                final org.agrona.concurrent.UnsafeBuffer payload = new org.agrona.concurrent.UnsafeBuffer(new byte[256]);
                final long expected = db.streamVersion(1);
                assertEquals(expected + 1, db.appender().append(1, ExpectedVersion.exact(expected), 3, payload, 0,
                    CrashPayload.fill(payload, id)), "appends continue with the right versions");
                acknowledged.put(id, new long[]{ 1, expected + 1 });
            }
        }
        assertTrue(acknowledged.size() > 1000);
        assertTrue(durable.size() > 50, "some acknowledgements were durable ones: " + durable.size());
        assertTrue(incremental > 0, "some recoveries started from an index checkpoint");
    }

    @Test
    void aLargeStoreOpensAndRunsInASmallHeap() throws Exception
    {
        final int events = 1_000_000;
        final int streams = 2000;
        try (VarveDB db = VarveDB.open(TestStores.small(dir)))
        {
            final Appender appender = db.appender();
            final org.agrona.concurrent.UnsafeBuffer payload = new org.agrona.concurrent.UnsafeBuffer(new byte[16]);
            for (int i = 0; i < events; i++)
            {
                appender.tryAppend(1 + i % streams, ExpectedVersion.ANY_VALUE, 1, payload, 0, payload.capacity());
            }
        }
        final String expected = "events " + events + " streamEvents " + events;
        Process child = start(List.of("-Xmx16m"), "read-all", dir.toString(), "append");
        String line = stdout(child).readLine();
        assertTrue(child.waitFor(120, TimeUnit.SECONDS));
        assertEquals(0, child.exitValue(), line);
        assertTrue(line.startsWith(expected + " clean true"), line);

        ConcurrentStressTest.markDirty(dir);
        child = start(List.of("-Xmx16m"), "read-all", dir.toString(), "append");
        line = stdout(child).readLine();
        assertTrue(child.waitFor(120, TimeUnit.SECONDS));
        assertEquals(0, child.exitValue(), line);
        assertTrue(line.startsWith("events " + (events + 1) + " streamEvents " + (events + 1) + " clean false"),
            "the index is rebuilt from the log within a 16 MiB heap: " + line);
    }

    private static void diagnose(final VarveDB db, final int kill)
    {
        System.out.println("DIAG kill " + kill + " scannedFrom " + db.recoveryScannedFrom() + " tail " +
            db.tailPosition() + " discarded " + db.recoveryDiscarded() + " recovered " + db.recoveredEvents());
        final List<StoreChecker.Event> all = StoreChecker.readAll(db);
        for (long s = 1; s <= 60; s++)
        {
            final long sid = s;
            final List<StoreChecker.Event> events = all.stream().filter((e) -> e.streamId() == sid).toList();
            if (events.size() != db.streamVersion(s))
            {
                System.out.println("DIAG stream " + s + " log " + events.size() + " index " + db.streamVersion(s));
                for (int i = Math.max(0, events.size() - 3); i < events.size(); i++)
                {
                    final StoreChecker.Event e = events.get(i);
                    final long[] at = { -9 };
                    db.readStream(sid, e.version(), 1, (r) -> at[0] = r.position());
                    System.out.println("DIAG   v" + e.version() + " log@" + e.position() + " index@" + at[0] +
                        " len " + e.payload().length);
                }
            }
        }
    }

    private static byte[] longPayload(final long value)
    {
        final byte[] bytes = new byte[120];
        new org.agrona.concurrent.UnsafeBuffer(bytes).putLong(0, value);
        return bytes;
    }

    private static void record(final String line, final Map<Long, long[]> acknowledged, final Map<Long, long[]> durable)
    {
        if (line == null)
        {
            return;
        }
        final String[] parts = line.split(" ");
        if (parts.length == 4 && (parts[0].equals("ack") || parts[0].equals("durable")))
        {
            final long[] where = { Long.parseLong(parts[1]), Long.parseLong(parts[2]) };
            acknowledged.put(Long.parseLong(parts[3]), where);
            if (parts[0].equals("durable"))
            {
                durable.put(Long.parseLong(parts[3]), where);
            }
        }
    }
}
