package io.varvedb;

import io.varvedb.internal.log.RecordDescriptor;
import io.varvedb.internal.log.RecordFilter;
import io.varvedb.internal.log.ReplaceResult;
import io.varvedb.internal.log.ScavengeProgress;
import io.varvedb.internal.store.MetaDescriptor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Rewriting sealed log segments without some of their records ({@code Log.replaceSegment}): every kept event keeps
 * its position and content, readers step over the dropped ones, and the disk space is given back.
 */
class SegmentReplaceTest
{
    @TempDir
    Path dir;

    /** An event as a reader saw it. */
    record Seen(long position, long next, long streamId, long version, byte[] payload)
    {
        @Override
        public boolean equals(final Object o)
        {
            return o instanceof Seen s && s.position == position && s.next == next && s.streamId == streamId &&
                s.version == version && Arrays.equals(s.payload, payload);
        }

        @Override
        public int hashCode()
        {
            return Long.hashCode(position);
        }
    }

    static Seen seen(final RecordedEvent event)
    {
        final byte[] bytes = new byte[event.payloadLength()];
        event.payload().getBytes(0, bytes);
        return new Seen(event.position(), event.nextPosition(), event.streamId(), event.version(), bytes);
    }

    static List<Seen> readAll(final VarveDB db, final long from)
    {
        final List<Seen> all = new ArrayList<>();
        long position = from;
        while (true)
        {
            final long[] next = { -1 };
            final int read = db.readAll(position, 1000, (e) ->
            {
                all.add(seen(e));
                next[0] = e.nextPosition();
            });
            if (read == 0)
            {
                return all;
            }
            position = next[0];
        }
    }

    static List<Seen> readStream(final VarveDB db, final long streamId)
    {
        final List<Seen> all = new ArrayList<>();
        db.readStream(streamId, 1, Integer.MAX_VALUE, (e) -> all.add(seen(e)));
        return all;
    }

    static byte[] payload(final long stream, final long version)
    {
        final byte[] bytes = new byte[40 + (int)(version % 50)];
        for (int i = 0; i < bytes.length; i++)
        {
            bytes[i] = (byte)(stream * 31 + version * 7 + i);
        }
        return bytes;
    }

    /** Appends events round-robin to streams 1..streams and makes them durable. */
    static long fill(final VarveDB db, final int events, final int streams)
    {
        final Appender appender = db.appender();
        final long[] versions = new long[streams + 1];
        for (int i = 0; i < events; i++)
        {
            final int stream = 1 + i % streams;
            versions[stream]++;
            appender.append(stream, ExpectedVersion.ANY, 7, payload(stream, versions[stream]));
        }
        appender.awaitDurable(appender.lastPosition());
        return db.log().tail();
    }

    /** Keeps the odd streams' events (and name records). */
    static final RecordFilter ODD_STREAMS = (buffer, offset, position) ->
        buffer.getShort(offset + RecordDescriptor.RECORD_TYPE_OFFSET) != RecordDescriptor.TYPE_EVENT ||
        (buffer.getLong(offset + RecordDescriptor.STREAM_ID_OFFSET) & 1) == 1;

    static long allocatedBytes(final Path file) throws Exception
    {
        final Process stat = new ProcessBuilder("stat", "-c", "%b %B", file.toString()).start();
        final String[] out = new String(stat.getInputStream().readAllBytes()).trim().split(" ");
        assertEquals(0, stat.waitFor());
        return Long.parseLong(out[0]) * Long.parseLong(out[1]);
    }

    @Test
    void keptEventsKeepTheirPositionsAndDroppedOnesAreSteppedOver() throws Exception
    {
        final List<Seen> before;
        final List<Seen> kept;
        final List<List<Seen>> keptStreams = new ArrayList<>();
        final long sealed;
        try (VarveDB db = VarveDB.open(TestStores.small(dir)))
        {
            fill(db, 3000, 4);
            before = readAll(db, VarveDB.START_POSITION);
            final long tail = db.log().tail();
            sealed = db.log().segmentOf(tail);
            assertTrue(sealed >= 3, "several sealed segments: " + sealed);
            final long sealedEnd = sealed * TestStores.SEGMENT;
            kept = before.stream().filter((s) -> s.position >= sealedEnd || (s.streamId & 1) == 1).toList();

            final Path first = db.log().segmentPath(0);
            final long diskBefore = allocatedBytes(first);
            for (long segment = 0; segment < sealed; segment++)
            {
                final ReplaceResult result = db.replaceSegment(segment, ODD_STREAMS, ScavengeProgress.NONE);
                assertFalse(result.abandoned());
                assertTrue(result.dropped() > 0 && result.kept() > 0, result.toString());
                assertTrue(result.newDiskBytes() < result.oldDiskBytes() * 2 / 3, result.toString());
            }
            final long diskAfter = allocatedBytes(first);
            assertTrue(diskAfter < diskBefore * 2 / 3, "disk use of segment 0: " + diskBefore + " -> " + diskAfter);
            assertEquals(List.of(), leftovers(), "no temporary file left");

            checkAnswers(db, before, kept, sealedEnd);
            for (long stream = 1; stream <= 3; stream += 2)
            {
                keptStreams.add(readStream(db, stream));
            }

            // compacted again, dropping nothing more: the same answers
            final ReplaceResult again = db.replaceSegment(0, ODD_STREAMS, ScavengeProgress.NONE);
            assertEquals(0, again.dropped());
            checkAnswers(db, before, kept, sealedEnd);
        }

        // a clean reopen
        try (VarveDB db = VarveDB.open(TestStores.small(dir)))
        {
            checkAnswers(db, before, kept, sealed * TestStores.SEGMENT);
            assertEquals(keptStreams.get(0), readStream(db, 1));
            assertEquals(keptStreams.get(1), readStream(db, 3));
        }

        // as after a crash whose index cannot be trusted: rebuilt from the log, streams whose first versions are gone
        deleteTree(dir.resolve("index"));
        markCrashed();
        try (VarveDB db = VarveDB.open(TestStores.small(dir)))
        {
            assertFalse(db.openedCleanly());
            checkAnswers(db, before, kept, sealed * TestStores.SEGMENT);
            assertEquals(keptStreams.get(0), readStream(db, 1));
            assertEquals(keptStreams.get(1), readStream(db, 3));
            // the even streams' early versions are gone, their later ones and their version count are not
            final List<Seen> two = readStream(db, 2);
            assertEquals(kept.stream().filter((s) -> s.streamId == 2).toList(), two);
            assertEquals(before.stream().filter((s) -> s.streamId == 2).count(), db.streamVersion(2));
            final List<Seen> backward = new ArrayList<>();
            assertEquals(two.size(), db.readStreamBackward(2, VarveDB.LATEST_VERSION, Integer.MAX_VALUE,
                (e) -> backward.add(seen(e))));
            java.util.Collections.reverse(backward);
            assertEquals(two, backward);
            // and the store appends on
            db.appender().append(2, ExpectedVersion.exact(db.streamVersion(2)), 7, payload(2, 9999));
        }
    }

    private void checkAnswers(final VarveDB db, final List<Seen> before, final List<Seen> kept, final long sealedEnd)
    {
        assertEquals(kept, readAll(db, VarveDB.START_POSITION), "readAll from the start: the kept events");
        // from a dropped event's position, and from a kept one's
        final Seen dropped = before.stream().filter((s) -> s.position < sealedEnd && (s.streamId & 1) == 0)
            .skip(100).findFirst().orElseThrow();
        final List<Seen> fromDropped = readAll(db, dropped.position);
        assertEquals(kept.stream().filter((s) -> s.position > dropped.position).toList(), fromDropped);
        final Seen keptOne = kept.get(kept.size() / 3);
        assertEquals(kept.stream().filter((s) -> s.position >= keptOne.position).toList(), readAll(db, keptOne.position));
        // inside a kept record is still refused
        assertThrows(IllegalArgumentException.class, () -> db.readAll(keptOne.position + 16, 1, (e) -> { }));
        // the odd streams whole
        for (long stream = 1; stream <= 3; stream += 2)
        {
            final long s = stream;
            assertEquals(before.stream().filter((e) -> e.streamId == s).toList(), readStream(db, stream));
        }
        // the even streams: their events in compacted segments are skipped, only delivered ones counted
        final List<Seen> two = readStream(db, 2);
        assertEquals(kept.stream().filter((s) -> s.streamId == 2).toList(), two);
        assertEquals(two.size(), db.readStream(2, 1, Integer.MAX_VALUE, (e) -> { }));
    }

    private List<Path> leftovers() throws Exception
    {
        try (Stream<Path> files = Files.list(dir.resolve("log")))
        {
            return files.filter((p) -> p.toString().endsWith(".compact.tmp")).toList();
        }
    }

    private void markCrashed() throws Exception
    {
        try (FileChannel channel = FileChannel.open(dir.resolve(MetaDescriptor.FILE_NAME), StandardOpenOption.WRITE))
        {
            final ByteBuffer zero = ByteBuffer.allocate(Long.BYTES).order(ByteOrder.LITTLE_ENDIAN);
            channel.write(zero.duplicate().limit(Integer.BYTES), MetaDescriptor.CLEAN_SHUTDOWN_OFFSET);
            channel.write(zero.duplicate(), MetaDescriptor.INDEX_CHECKPOINT_OFFSET);
        }
    }

    static void deleteTree(final Path path) throws Exception
    {
        try (Stream<Path> files = Files.walk(path))
        {
            for (final Path file : files.sorted(java.util.Comparator.reverseOrder()).toList())
            {
                Files.delete(file);
            }
        }
    }

    @Test
    void aReaderScanningWhileSegmentsAreReplacedSeesEveryKeptEventIntact() throws Exception
    {
        try (VarveDB db = VarveDB.open(TestStores.small(dir)))
        {
            fill(db, 3000, 4);
            final List<Seen> before = readAll(db, VarveDB.START_POSITION);
            final java.util.Map<Long, Seen> byPosition = new java.util.HashMap<>();
            before.forEach((s) -> byPosition.put(s.position, s));
            final long sealed = db.log().segmentOf(db.log().tail());
            final AtomicReference<Throwable> failure = new AtomicReference<>();
            final java.util.concurrent.atomic.AtomicBoolean stop = new java.util.concurrent.atomic.AtomicBoolean();
            final java.util.concurrent.atomic.AtomicLong scans = new java.util.concurrent.atomic.AtomicLong();
            final Thread reader = new Thread(() ->
            {
                try
                {
                    while (!stop.get())
                    {
                        long last = -1;
                        for (final Seen s : readAll(db, VarveDB.START_POSITION))
                        {
                            assertEquals(byPosition.get(s.position), s, "the event at " + s.position);
                            assertTrue(s.position > last);
                            last = s.position;
                        }
                        scans.incrementAndGet();
                    }
                }
                catch (final Throwable ex)
                {
                    failure.set(ex);
                }
            });
            reader.start();
            // drop a little more each round: stream 4, then 2 (every segment replaced twice or more)
            final long[] droppedStreams = { 4, 2 };
            for (int round = 0; round < 6 && failure.get() == null; round++)
            {
                final long drop = droppedStreams[Math.min(round, 1)];
                final long minScans = scans.get() + 1;
                for (long segment = 0; segment < sealed; segment++)
                {
                    db.replaceSegment(segment, (buffer, offset, position) ->
                        buffer.getLong(offset + RecordDescriptor.STREAM_ID_OFFSET) != drop &&
                        buffer.getLong(offset + RecordDescriptor.STREAM_ID_OFFSET) != 4, ScavengeProgress.NONE);
                }
                // the reader made progress across replacements (no deadlock)
                final long deadline = System.nanoTime() + 10_000_000_000L;
                while (scans.get() < minScans && failure.get() == null && System.nanoTime() < deadline)
                {
                    Thread.onSpinWait();
                }
            }
            stop.set(true);
            reader.join();
            assertNull(failure.get(), () -> String.valueOf(failure.get()));
            assertTrue(scans.get() >= 6, "scans: " + scans.get());
            assertFalse(db.log().hasRetired(), "every replaced mapping released");
        }
    }
}
