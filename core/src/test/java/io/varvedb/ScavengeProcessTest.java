package io.varvedb;

import io.varvedb.internal.log.CompactedBuffer;
import io.varvedb.internal.log.RecordDescriptor;
import io.varvedb.internal.log.ScavengeProgress;
import io.varvedb.internal.store.MetaDescriptor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import java.util.stream.Stream;

import static io.varvedb.SegmentReplaceTest.Seen;
import static org.junit.jupiter.api.Assertions.*;

/**
 * Segment replacement across processes: a replacer killed with SIGKILL at random moments leaves the old segment
 * file or the new one, whole; a reader in another process moves to the new file when the shared generation moves,
 * and lets the old one go.
 */
class ScavengeProcessTest
{
    /** Kills in the default run; more with {@code -Dvarve.crash.scavengeKills=N}. */
    private static final int KILLS = Integer.getInteger("varve.crash.scavengeKills", 10);
    private static final long DROPPED_STREAM = 4;

    @TempDir
    Path dir;

    /**
     * Child: rewrite every sealed segment again and again, dropping a longer prefix of stream 4's versions each
     * round (what a scavenger drops of a stream is a prefix), until killed.
     */
    static void scavengeLoop(final Path dir)
    {
        final PrintStream out = new PrintStream(new FileOutputStream(FileDescriptor.out), true);
        try (VarveDB db = VarveDB.open(TestStores.small(dir)))
        {
            out.println("opened");
            final long sealed = db.log().segmentOf(db.log().tail());
            for (long round = 1; ; round++)
            {
                final long upTo = round * 3;
                for (long segment = 0; segment < sealed; segment++)
                {
                    db.replaceSegment(segment, (buffer, offset, position) ->
                        buffer.getLong(offset + RecordDescriptor.STREAM_ID_OFFSET) != DROPPED_STREAM ||
                        buffer.getLong(offset + RecordDescriptor.VERSION_OFFSET) > upTo, ScavengeProgress.NONE);
                }
                out.println("round " + round);
            }
        }
    }

    /** Child: a writer that rewrites its sealed segments, keeping the odd streams, when told "replace". */
    static void replaceOnCommand(final Path dir) throws java.io.IOException
    {
        final PrintStream out = new PrintStream(new FileOutputStream(FileDescriptor.out), true);
        final BufferedReader in = new BufferedReader(new java.io.InputStreamReader(System.in));
        try (VarveDB db = VarveDB.open(TestStores.small(dir)))
        {
            out.println("opened");
            String line;
            while ((line = in.readLine()) != null && line.equals("replace"))
            {
                final long sealed = db.log().segmentOf(db.log().tail());
                for (long segment = 0; segment < sealed; segment++)
                {
                    db.replaceSegment(segment, SegmentReplaceTest.ODD_STREAMS, ScavengeProgress.NONE);
                }
                out.println("replaced");
            }
        }
    }

    @Test
    void aReplacerKilledAtRandomMomentsLeavesEveryKeptEventOnceAtItsPosition() throws Exception
    {
        final List<Seen> before;
        try (VarveDB db = VarveDB.open(TestStores.small(dir)))
        {
            SegmentReplaceTest.fill(db, 3000, 4);
            before = SegmentReplaceTest.readAll(db, VarveDB.START_POSITION);
        }
        final Map<Long, Seen> byPosition = new HashMap<>();
        before.forEach((s) -> byPosition.put(s.position(), s));
        int killedMidRound = 0;
        for (int kill = 0; kill < KILLS; kill++)
        {
            final Process child = MultiProcessTest.start(List.of("-Xmx128m"), "scavenge-loop", dir.toString());
            try (BufferedReader out = MultiProcessTest.stdout(child))
            {
                assertEquals("opened", out.readLine());
                // the kill moment: anywhere in the first rounds (a round rewrites every sealed segment)
                final long deadline = System.nanoTime() + ThreadLocalRandom.current().nextLong(1_000, 150_000_000L);
                while (System.nanoTime() < deadline)
                {
                    Thread.onSpinWait();
                }
                child.toHandle().destroyForcibly();
                child.waitFor();
            }
            try (Stream<Path> files = Files.list(dir.resolve("log")))
            {
                // killed while a new file was being written (statistics only: the moment is random)
                killedMidRound += (int)files.filter((p) -> p.toString().endsWith(".compact.tmp")).count();
            }
            if (kill % 2 == 1)
            {
                // and an index that cannot be trusted: rebuilt from the compacted log
                SegmentReplaceTest.deleteTree(dir.resolve("index"));
                markCrashed(dir);
            }
            try (VarveDB db = VarveDB.open(TestStores.small(dir)))
            {
                try (Stream<Path> files = Files.list(dir.resolve("log")))
                {
                    assertEquals(List.of(), files.filter((p) -> p.toString().endsWith(".compact.tmp")).toList(),
                        "kill " + kill + ": the leftover is deleted at open");
                }
                final List<Seen> after = SegmentReplaceTest.readAll(db, VarveDB.START_POSITION);
                long last = -1;
                long firstOfDropped = Long.MAX_VALUE;
                long lastOfDropped = 0;
                int droppedSeen = 0;
                for (final Seen s : after)
                {
                    assertEquals(byPosition.get(s.position()), s, "kill " + kill + ": the event at " + s.position());
                    assertTrue(s.position() > last, "kill " + kill + ": once, in order");
                    last = s.position();
                    if (s.streamId() == DROPPED_STREAM)
                    {
                        firstOfDropped = Math.min(firstOfDropped, s.version());
                        lastOfDropped = s.version();
                        droppedSeen++;
                    }
                }
                // every other stream's event is there; of stream 4, a suffix of its versions
                assertEquals(before.stream().filter((s) -> s.streamId() != DROPPED_STREAM).count(),
                    after.size() - droppedSeen, "kill " + kill);
                assertEquals(lastOfDropped - firstOfDropped + 1, droppedSeen, "kill " + kill + ": a suffix");
                for (long stream = 1; stream <= 3; stream++)
                {
                    final long s = stream;
                    assertEquals(before.stream().filter((e) -> e.streamId() == s).toList(),
                        SegmentReplaceTest.readStream(db, stream), "kill " + kill + ", stream " + stream);
                }
                assertEquals(after.stream().filter((e) -> e.streamId() == DROPPED_STREAM).toList(),
                    SegmentReplaceTest.readStream(db, DROPPED_STREAM), "kill " + kill);
            }
        }
        System.out.println("scavenge kills: " + KILLS + ", " + killedMidRound + " left a temporary file");
    }

    static void markCrashed(final Path dir) throws Exception
    {
        try (FileChannel channel = FileChannel.open(dir.resolve(MetaDescriptor.FILE_NAME), StandardOpenOption.WRITE))
        {
            final ByteBuffer zero = ByteBuffer.allocate(Long.BYTES).order(ByteOrder.LITTLE_ENDIAN);
            channel.write(zero.duplicate().limit(Integer.BYTES), MetaDescriptor.CLEAN_SHUTDOWN_OFFSET);
            channel.write(zero.duplicate(), MetaDescriptor.INDEX_CHECKPOINT_OFFSET);
        }
    }

    @Test
    void aReaderInAnotherProcessMovesToTheNewFileAndReleasesTheOld() throws Exception
    {
        final List<Seen> before;
        try (VarveDB db = VarveDB.open(TestStores.small(dir)))
        {
            SegmentReplaceTest.fill(db, 3000, 4);
            before = SegmentReplaceTest.readAll(db, VarveDB.START_POSITION);
        }
        final Process child = MultiProcessTest.start(List.of("-Xmx128m"), "replace-on-command", dir.toString());
        try (BufferedReader out = MultiProcessTest.stdout(child);
            PrintWriter in = new PrintWriter(child.getOutputStream(), true))
        {
            assertEquals("opened", out.readLine());
            try (VarveDB reader = VarveDB.openReadOnly(TestStores.small(dir)))
            {
                // this process maps the plain segments
                assertEquals(before, SegmentReplaceTest.readAll(reader, VarveDB.START_POSITION));
                final Path first = reader.log().segmentPath(0);
                final long sealedEnd = reader.log().segmentOf(reader.log().tail()) * TestStores.SEGMENT;
                assertFalse(reader.log().readBuffer(0) instanceof CompactedBuffer);
                assertEquals(0, deletedMappings(first), "nothing replaced yet");

                in.println("replace");
                assertEquals("replaced", out.readLine());
                // the other process renamed new files over the old ones: this one still maps the old until it reads
                assertTrue(deletedMappings(first) > 0, "the old file, unlinked, is still mapped here");

                final List<Seen> kept = before.stream()
                    .filter((s) -> s.position() >= sealedEnd || (s.streamId() & 1) == 1).toList();
                assertEquals(kept, SegmentReplaceTest.readAll(reader, VarveDB.START_POSITION),
                    "after the generation moved: the compacted files");
                assertTrue(reader.log().readBuffer(0) instanceof CompactedBuffer);
                // the reads that held the old mappings are over: they are released, and their disk blocks with them
                assertFalse(reader.log().hasRetired());
                assertEquals(0, deletedMappings(first), "no mapping of a replaced file is left");
            }
            in.close();
            assertEquals(0, child.waitFor());
        }
    }

    /** Mappings of this process of deleted (replaced) files in the directory of {@code segment}. */
    private static long deletedMappings(final Path segment) throws Exception
    {
        final String directory = segment.getParent().toRealPath().toString();
        try (Stream<String> lines = Files.lines(Path.of("/proc/self/maps")))
        {
            return lines.filter((l) -> l.contains(directory) && l.endsWith("(deleted)")).count();
        }
    }
}
