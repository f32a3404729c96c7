package io.varvedb;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Named streams across processes: a writer killed with SIGKILL while creating names loses none it handed out,
 * and two writer processes of a multi-process store agree on every name's id.
 */
class NamedStreamProcessTest
{
    private static final int SHARED_NAMES = 300;

    @TempDir
    Path dir;

    static VarveConfig config(final Path dir, final boolean multiProcess, final Durability durability)
    {
        return VarveConfig.builder(dir).segmentSize(64 * 1024).indexCapacity(4096).indexBlocksPerChunk(16)
            .nameCapacity(1 << 14).multiProcess(multiProcess).durability(durability).build();
    }

    /** Child: create names "name-0", "name-1", ... with one event each until killed, printing each one's id. */
    static void createForever(final Path dir, final Durability durability)
    {
        final PrintStream out = new PrintStream(new FileOutputStream(FileDescriptor.out), true);
        try (VarveDB db = VarveDB.open(config(dir, false, durability)))
        {
            final Appender appender = db.appender();
            for (int i = 0; ; i++)
            {
                final long id = i % 2 == 0 ? db.streamId("name-" + i) : appender.streamId("name-" + i);
                appender.append(id, ExpectedVersion.ANY, 1, new byte[]{ (byte)i });
                out.println("name " + i + " " + id);
            }
        }
    }

    /** Child: after a line on stdin, create the shared names on two threads, printing each one's id. */
    static void createShared(final Path dir) throws Exception
    {
        final PrintStream out = new PrintStream(new FileOutputStream(FileDescriptor.out), true);
        try (VarveDB db = VarveDB.open(config(dir, true, Durability.OS)))
        {
            out.println("ready");
            new BufferedReader(new InputStreamReader(System.in, StandardCharsets.US_ASCII)).readLine();
            final Thread[] threads = new Thread[2];
            for (int t = 0; t < threads.length; t++)
            {
                final int first = t;
                threads[t] = new Thread(() ->
                {
                    try (Appender appender = db.appender())
                    {
                        for (int i = first; i < first + SHARED_NAMES; i++)
                        {
                            final int n = i % SHARED_NAMES;
                            final long id = appender.streamId("shared-" + n);
                            appender.append(id, ExpectedVersion.ANY, 1, new byte[]{ (byte)n });
                            synchronized (out)
                            {
                                out.println("name " + n + " " + id);
                            }
                        }
                    }
                });
                threads[t].start();
            }
            for (final Thread thread : threads)
            {
                thread.join();
            }
            out.println("done");
        }
    }

    @Test
    void aKilledWriterLosesNoNameItHandedOut() throws Exception
    {
        final Map<Integer, Long> handedOut = new HashMap<>();
        for (int kill = 0; kill < 3; kill++)
        {
            final Durability mode = Durability.values()[kill % Durability.values().length];
            final Process child = MultiProcessTest.start(List.of(), "names-forever", dir.toString(), mode.name());
            final BufferedReader out = MultiProcessTest.stdout(child);
            for (int i = 0; i < 200 + kill * 150; i++)
            {
                record(out.readLine(), handedOut);
            }
            child.toHandle().destroyForcibly();
            assertTrue(child.waitFor(30, TimeUnit.SECONDS));
            String line;
            while ((line = out.readLine()) != null)
            {
                record(line, handedOut);
            }
            try (VarveDB db = VarveDB.open(config(dir, false, Durability.OS)))
            {
                assertFalse(db.openedCleanly());
                for (final Map.Entry<Integer, Long> name : handedOut.entrySet())
                {
                    final String text = "name-" + name.getKey();
                    assertEquals(name.getValue(), db.findStreamId(text), text);
                    assertEquals(text, db.streamName(name.getValue()));
                    assertTrue(db.streamVersion(name.getValue()) >= 1, text);
                }
                // versions dense in log order. (Not StoreChecker.check: its stream count would also count a
                // stream whose first append the kill cut short, which an incremental recovery leaves in the index
                // at version 0, for numeric streams as for named ones.)
                final Map<Long, Long> versions = new HashMap<>();
                for (final StoreChecker.Event event : StoreChecker.readAll(db))
                {
                    assertNotNull(db.streamName(event.streamId()), "every event's stream has its name");
                    assertEquals(versions.getOrDefault(event.streamId(), 0L) + 1, event.version());
                    versions.put(event.streamId(), event.version());
                }
                // the next child starts over from name-0: every name it finds keeps its id
            }
        }
        try (VarveDB db = VarveDB.open(config(dir, false, Durability.OS)))
        {
            assertTrue(db.openedCleanly());
            final long fresh = db.streamId("after-the-kills");
            for (final long id : handedOut.values())
            {
                assertNotEquals(id, fresh, "an id is never given twice");
            }
        }
    }

    private static void record(final String line, final Map<Integer, Long> handedOut)
    {
        final String[] parts = line.split(" ");
        assertEquals("name", parts[0], line);
        final Long previous = handedOut.putIfAbsent(Integer.parseInt(parts[1]), Long.parseLong(parts[2]));
        assertTrue(previous == null || previous == Long.parseLong(parts[2]), line);
    }

    @Test
    void twoWriterProcessesAgreeOnEveryNamesId() throws Exception
    {
        final Process first = MultiProcessTest.start(List.of(), "names-shared", dir.toString());
        final BufferedReader firstOut = MultiProcessTest.stdout(first);
        assertEquals("ready", firstOut.readLine());
        final Process second = MultiProcessTest.start(List.of(), "names-shared", dir.toString());
        final BufferedReader secondOut = MultiProcessTest.stdout(second);
        assertEquals("ready", secondOut.readLine());
        first.getOutputStream().write("go\n".getBytes(StandardCharsets.US_ASCII));
        second.getOutputStream().write("go\n".getBytes(StandardCharsets.US_ASCII));
        first.getOutputStream().flush();
        second.getOutputStream().flush();

        final Map<Integer, Long> ids = new HashMap<>();
        for (final BufferedReader out : List.of(firstOut, secondOut))
        {
            String line;
            while (!(line = out.readLine()).equals("done"))
            {
                record(line, ids);
            }
        }
        assertTrue(first.waitFor(60, TimeUnit.SECONDS));
        assertTrue(second.waitFor(60, TimeUnit.SECONDS));
        assertEquals(0, first.exitValue());
        assertEquals(0, second.exitValue());
        assertEquals(SHARED_NAMES, ids.size());
        assertEquals(SHARED_NAMES, ids.values().stream().distinct().count(), "one id per name");
        try (VarveDB db = VarveDB.open(config(dir, true, Durability.OS)))
        {
            assertEquals(SHARED_NAMES, db.namedStreamCount());
            for (final Map.Entry<Integer, Long> name : ids.entrySet())
            {
                assertEquals(name.getValue(), db.findStreamId("shared-" + name.getKey()));
                // four appends per name: two threads in each of two processes
                assertEquals(4, db.streamVersion(name.getValue()));
            }
            StoreChecker.check(db);
        }
    }
}
