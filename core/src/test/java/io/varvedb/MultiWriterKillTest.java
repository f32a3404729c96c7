package io.varvedb;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * SIGKILL writer processes of a multi-process store at random moments while the others append: the survivors and
 * a read-only follower in a further process keep making progress on every hot stream (which the dead ones were
 * likely holding) within {@link #PROGRESS_BOUND_MS}; nothing acknowledged is lost; a reopen finds a consistent
 * store. {@code -Dvarve.multiwriter.kills=N} sets the number of kills (24 by default, hundreds by hand), and
 * {@code -Dvarve.multiwriter.pace=NS} the writers' pause between appends (50 us; 0 appends flat out, which makes a
 * kill inside an append far likelier, and the log far larger).
 */
class MultiWriterKillTest
{
    /**
     * How soon the others must make progress after a kill. A survivor's watchdog looks for dead processes and
     * stuck readers every 10 ms and repairs after 20 ms; an appender spinning on a dead process's stream asks
     * after about a millisecond. The bound is generous for a loaded 2-core machine running five JVMs.
     */
    static final long PROGRESS_BOUND_MS = 10_000;
    private static final int WRITERS = 4;

    @TempDir
    Path dir;

    /** A child process and every line it printed so far. */
    private static final class Child
    {
        final Process process;
        final List<String> lines = Collections.synchronizedList(new ArrayList<>());
        final Thread reader;

        Child(final Process process)
        {
            this.process = process;
            this.reader = new Thread(() ->
            {
                try
                {
                    final BufferedReader in = MultiProcessTest.stdout(process);
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

        String last()
        {
            synchronized (lines)
            {
                return lines.isEmpty() ? "" : lines.get(lines.size() - 1);
            }
        }

        void await(final String prefix) throws InterruptedException
        {
            final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (lines.stream().noneMatch((l) -> l.startsWith(prefix)))
            {
                assertTrue(process.isAlive() || lines.stream().anyMatch((l) -> l.startsWith(prefix)),
                    "child died before saying " + prefix + ": " + lines);
                assertTrue(System.nanoTime() < deadline, "child never said " + prefix);
                Thread.sleep(5);
            }
        }
    }

    @Test
    void killedWritersNeverStopTheOthersNorLoseAnAcknowledgedEvent() throws Exception
    {
        final int kills = Integer.getInteger("varve.multiwriter.kills", 24);
        final Random random = new Random(Long.getLong("varve.multiwriter.seed", System.nanoTime()));
        // made first, with segments large enough for a long run
        VarveDB.open(VarveConfig.builder(dir).segmentSize(1 << 20).indexCapacity(2048).indexBlocksPerChunk(16)
            .multiProcess(true).build()).close();

        final List<Child> all = new ArrayList<>();
        final List<Child> writers = new ArrayList<>();
        int nextProcess = 1;
        Child follower = null;
        try
        {
            for (int w = 0; w < WRITERS; w++)
            {
                writers.add(startWriter(nextProcess++, all));
            }
            for (final Child writer : writers)
            {
                writer.await("opened");
            }
            follower = new Child(MultiProcessTest.start(List.of(), "multi-follow", dir.toString()));
            all.add(follower);
            follower.await("seen");

            try (VarveDB reader = VarveDB.openReadOnly(dir))
            {
                for (int kill = 0; kill < kills; kill++)
                {
                    Thread.sleep(50 + random.nextInt(250));
                    final Child victim = writers.remove(random.nextInt(writers.size()));
                    victim.process.destroyForcibly();
                    assertTrue(victim.process.waitFor(30, TimeUnit.SECONDS));
                    final long tailAtKill = reader.tailPosition();
                    final long[] versionsAtKill = hotVersions(reader);
                    final Child replacement = startWriter(nextProcess++, all);
                    writers.add(replacement);

                    final long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(PROGRESS_BOUND_MS);
                    while (true)
                    {
                        final long[] versions = hotVersions(reader);
                        boolean streamsMoved = true;
                        for (int s = 0; s < versions.length; s++)
                        {
                            streamsMoved &= versions[s] > versionsAtKill[s];
                        }
                        final String seen = follower.last();
                        final boolean followerPassed = seen.startsWith("seen ") &&
                            Long.parseLong(seen.split(" ")[2]) >= tailAtKill;
                        if (streamsMoved && followerPassed)
                        {
                            break;
                        }
                        assertTrue(follower.process.isAlive(), "the follower died: " + follower.lines);
                        assertTrue(System.nanoTime() < deadline, "kill " + (kill + 1) + ": no progress within " +
                            PROGRESS_BOUND_MS + " ms: hot streams at " + java.util.Arrays.toString(versions) +
                            " (at the kill " + java.util.Arrays.toString(versionsAtKill) + "), follower " + seen +
                            ", tail at the kill " + tailAtKill);
                        Thread.sleep(5);
                    }
                }
            }
        }
        finally
        {
            for (final Child child : all)
            {
                child.process.destroyForcibly();
                child.process.waitFor(30, TimeUnit.SECONDS);
            }
        }

        final Map<Long, long[]> acked = new HashMap<>();
        final Set<Long> refused = new HashSet<>();
        for (final Child child : all)
        {
            child.reader.join(TimeUnit.SECONDS.toMillis(30));
            if (child == follower)
            {
                continue;
            }
            assertFalse(child.lines.contains("failed"), "a writer failed: see its stderr");
            final List<String> lines = new ArrayList<>(child.lines);
            for (int i = 0; i < lines.size(); i++)
            {
                final String[] parts = lines.get(i).split(" ");
                // the last line of a killed process may be cut short
                if (parts[0].equals("ack") && parts.length == 4)
                {
                    acked.put(Long.parseLong(parts[1]), new long[]{ Long.parseLong(parts[2]),
                        Long.parseLong(parts[3]) });
                }
                else if (parts[0].equals("refused") && parts.length == 2 && i < lines.size() - 1)
                {
                    refused.add(Long.parseLong(parts[1]));
                }
            }
        }
        assertFalse(acked.isEmpty());
        // every writer is dead: this open is the first, and recovers
        try (VarveDB db = VarveDB.open(MultiWriterChild.config(dir)))
        {
            MultiWriterProcessTest.checkAgainstLog(db, acked, refused, false);
        }
    }

    private Child startWriter(final int process, final List<Child> all) throws IOException
    {
        final String pace = System.getProperty("varve.multiwriter.pace");
        final Child child = new Child(MultiProcessTest.start(
            pace == null ? List.of() : List.of("-Dvarve.multiwriter.pace=" + pace), "multi-writer", dir.toString(),
            Integer.toString(process), "2", "-1"));
        all.add(child);
        return child;
    }

    private static long[] hotVersions(final VarveDB reader)
    {
        final long[] versions = new long[MultiWriterChild.HOT_STREAMS];
        for (int s = 0; s < versions.length; s++)
        {
            versions[s] = reader.streamVersion(1 + s);
        }
        return versions;
    }
}
