package io.varvedb.attack;

import io.varvedb.*;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.*;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Attacks on the stream lifecycle that held (kept as cheap regressions): soft delete of a never-created stream then
 * NO_STREAM/exact(0) appends; delete, re-append, scavenge and an index rebuilt from the log (versions, contents,
 * positions); a tombstone of a never-created stream and of a named one surviving scavenges and a rebuild; the id of a
 * deleted event answered as a retry before the scavenge and free for another stream after it (also after a reopen
 * and a rebuild); every position of a dropped event, an old nextPosition() and a subscription cursor reading on from
 * the next kept event; truncateLogBefore at -1, 0, inside the first segment, a boundary, the tail, beyond it; metadata
 * at Long.MAX_VALUE limits and a 1 ns age; readAll/readStream/step walks concurrent with a scavenge, every payload
 * checked.
 */
class LifecycleHeldAttackTest
{
    @TempDir
    Path dir;

    static final int SEG = 64 * 1024;

    VarveConfig cfg()
    {
        return VarveConfig.builder(dir).segmentSize(SEG).indexCapacity(1024).indexBlocksPerChunk(16).nameCapacity(256)
            .build();
    }

    static byte[] payload(final long stream, final long version)
    {
        final byte[] b = new byte[200];
        final java.nio.ByteBuffer bb = java.nio.ByteBuffer.wrap(b);
        bb.putLong(stream).putLong(version).putLong(stream * 31 + version * 7919);
        return b;
    }

    record Ev(long position, long stream, long version, long pStream, long pVersion, long check, boolean meta,
        boolean tomb)
    {
        boolean ok()
        {
            return meta || tomb || (pStream == stream && pVersion == version && check == stream * 31 + version * 7919);
        }
    }

    static Ev ev(final RecordedEvent e)
    {
        if (e.payloadLength() >= 24)
        {
            return new Ev(e.position(), e.streamId(), e.version(), e.payload().getLong(0, java.nio.ByteOrder.BIG_ENDIAN),
                e.payload().getLong(8, java.nio.ByteOrder.BIG_ENDIAN),
                e.payload().getLong(16, java.nio.ByteOrder.BIG_ENDIAN), e.isStreamMetadata(), e.isTombstone());
        }
        return new Ev(e.position(), e.streamId(), e.version(), -1, -1, -1, e.isStreamMetadata(), e.isTombstone());
    }

    static List<Ev> all(final VarveDB db, final long from)
    {
        final List<Ev> out = new ArrayList<>();
        db.readAll(from, Integer.MAX_VALUE, e -> out.add(ev(e)));
        return out;
    }

    static List<Long> versions(final VarveDB db, final long stream)
    {
        final List<Long> out = new ArrayList<>();
        db.readStream(stream, 1, Integer.MAX_VALUE, e ->
        {
            assertTrue(ev(e).ok(), "payload of " + ev(e));
            out.add(e.version());
        });
        return out;
    }

    static void filler(final VarveDB db, final int n)
    {
        final Appender a = db.appender();
        for (int i = 0; i < n; i++)
        {
            final long v = a.append(999, ExpectedVersion.ANY, 1, payload(999, db.streamVersion(999) + 1));
        }
    }

    void wipeIndex() throws Exception
    {
        try (Stream<Path> files = Files.list(dir.resolve("index")))
        {
            for (final Path file : (Iterable<Path>)files::iterator)
            {
                Files.delete(file);
            }
        }
    }

    static List<Long> range(final long from, final long to)
    {
        final List<Long> out = new ArrayList<>();
        for (long v = from; v <= to; v++)
        {
            out.add(v);
        }
        return out;
    }

    @Test
    void deleteNeverCreatedThenAppend() throws Exception
    {
        try (VarveDB db = VarveDB.open(cfg()))
        {
            assertEquals(0, db.deleteStream(77, ExpectedVersion.NO_STREAM));
            assertEquals(0, db.streamVersion(77));
            final Appender a = db.appender();
            assertEquals(1, a.append(77, ExpectedVersion.NO_STREAM, 1, payload(77, 1)));
            assertEquals(List.of(1L), versions(db, 77));
            assertFalse(db.isDeleted(77));
            assertEquals(0, db.deleteStream(78, ExpectedVersion.exact(0)));
            assertEquals(0, db.deleteStream(78, ExpectedVersion.ANY));
            assertThrows(ConcurrencyConflictException.class, () -> db.deleteStream(79, ExpectedVersion.STREAM_EXISTS));
            assertEquals(1, a.append(78, ExpectedVersion.exact(0), 1, payload(78, 1)));
            filler(db, 1200);
            db.scavenge();
        }
        wipeIndex();
        try (VarveDB db = VarveDB.open(cfg()))
        {
            assertEquals(1, db.streamVersion(77));
            assertEquals(List.of(1L), versions(db, 77));
            assertEquals(1, db.streamVersion(78));
            assertEquals(List.of(1L), versions(db, 78));
            assertEquals(0, db.streamVersion(79));
            assertEquals(List.of(), versions(db, 79));
        }
    }

    @Test
    void deleteReappendScavengeRebuild() throws Exception
    {
        final Map<Long, Long> positions = new HashMap<>();
        List<Ev> before;
        try (VarveDB db = VarveDB.open(cfg()))
        {
            final Appender a = db.appender();
            for (long v = 1; v <= 300; v++)
            {
                a.append(1, ExpectedVersion.exact(v - 1), 1, payload(1, v));
                a.append(2, ExpectedVersion.exact(v - 1), 1, payload(2, v));
            }
            assertEquals(300, db.deleteStream(1, ExpectedVersion.exact(300)));
            for (long v = 301; v <= 303; v++)
            {
                a.append(1, ExpectedVersion.exact(v - 1), 1, payload(1, v));
                positions.put(v, a.lastPosition());
            }
            db.setStreamMetadata(2, StreamMetadata.NONE.withMaxCount(1));
            db.deleteStream(1, ExpectedVersion.exact(303));
            a.append(1, ExpectedVersion.exact(303), 1, payload(1, 304));
            filler(db, 900);
            assertEquals(List.of(304L), versions(db, 1));
            assertEquals(List.of(300L), versions(db, 2));
            before = all(db, 0).stream().filter(e -> e.stream == 1 && e.version >= 304 || e.stream == 2 && e.version == 300 || e.stream == 999).toList();
            db.scavenge();
            assertEquals(List.of(304L), versions(db, 1));
            assertEquals(List.of(300L), versions(db, 2));
            final List<Ev> after = all(db, 0);
            for (final Ev e : after)
            {
                assertTrue(e.ok(), e.toString());
            }
            assertEquals(before, after.stream().filter(e -> e.stream == 1 && e.version >= 304 || e.stream == 2 && e.version == 300 || e.stream == 999).toList());
        }
        wipeIndex();
        try (VarveDB db = VarveDB.open(cfg()))
        {
            assertEquals(304, db.streamVersion(1));
            assertEquals(300, db.streamVersion(2));
            assertEquals(List.of(304L), versions(db, 1));
            assertEquals(List.of(300L), versions(db, 2));
            assertEquals(before, all(db, 0).stream().filter(e -> e.stream == 1 && e.version >= 304 || e.stream == 2 && e.version == 300 || e.stream == 999).toList());
            assertEquals(305, db.appender().append(1, ExpectedVersion.exact(304), 1, payload(1, 305)));
            assertEquals(301, db.appender().append(2, ExpectedVersion.exact(300), 1, payload(2, 301)));
        }
    }

    @Test
    void tombstoneNeverCreatedScavengeRebuild() throws Exception
    {
        try (VarveDB db = VarveDB.open(cfg()))
        {
            assertEquals(1, db.tombstoneStream(5, ExpectedVersion.NO_STREAM));
            final long named = db.streamId("gone");
            db.appender().append(named, ExpectedVersion.ANY, 1, payload(named, 1));
            db.tombstoneStream("gone", ExpectedVersion.ANY);
            filler(db, 1200);
            db.scavenge();
            db.scavenge();
        }
        wipeIndex();
        try (VarveDB db = VarveDB.open(cfg()))
        {
            assertThrows(StreamDeletedException.class, () -> db.appender().append(5, ExpectedVersion.ANY, 1, payload(5, 1)));
            assertThrows(StreamDeletedException.class, () -> db.appender().append("gone", ExpectedVersion.ANY, 1, payload(5, 1)));
            assertTrue(db.isTombstoned(5));
            assertThrows(StreamDeletedException.class, () -> db.streamVersion(5));
            assertThrows(StreamDeletedException.class, () -> db.setStreamMetadata(5, StreamMetadata.NONE));
            assertThrows(StreamDeletedException.class, () -> db.deleteStream(5, ExpectedVersion.ANY));
            assertEquals(db.findStreamId("gone"), db.streamId("gone"));
        }
    }

    @Test
    void idOfDeletedEventAfterScavengeGoesToAnotherStream() throws Exception
    {
        final UUID id = UUID.randomUUID();
        try (VarveDB db = VarveDB.open(cfg()))
        {
            final Appender a = db.appender();
            a.append(1, ExpectedVersion.ANY, 1, id, payload(1, 1));
            a.append(1, ExpectedVersion.ANY, 1, payload(1, 2));
            db.deleteStream(1, ExpectedVersion.ANY);
            assertEquals(1, a.append(1, ExpectedVersion.ANY, 1, id, payload(1, 1)));
            assertTrue(a.lastWasDuplicate());
            assertThrows(EventIdConflictException.class, () -> a.append(2, ExpectedVersion.ANY, 1, id, payload(2, 1)));
            filler(db, 1200);
            db.scavenge();
            assertEquals(1, a.append(2, ExpectedVersion.ANY, 1, id, payload(2, 1)));
            assertFalse(a.lastWasDuplicate());
        }
        try (VarveDB db = VarveDB.open(cfg()))
        {
            final Appender a = db.appender();
            assertEquals(1, a.append(2, ExpectedVersion.ANY, 1, id, payload(2, 1)));
            assertTrue(a.lastWasDuplicate());
            final long[] found = { 0, 0 };
            db.readEvent(id, e -> { found[0] = e.streamId(); found[1] = e.version(); });
            assertArrayEquals(new long[]{ 2, 1 }, found);
        }
        wipeIndex();
        try (VarveDB db = VarveDB.open(cfg()))
        {
            final Appender a = db.appender();
            assertEquals(1, a.append(2, ExpectedVersion.ANY, 1, id, payload(2, 1)));
            assertTrue(a.lastWasDuplicate());
            assertEquals(2, db.streamVersion(1));
            assertEquals(List.of(), versions(db, 1));
        }
    }

    @Test
    void metadataBoundaryValues() throws Exception
    {
        try (VarveDB db = VarveDB.open(cfg()))
        {
            final Appender a = db.appender();
            for (long v = 1; v <= 10; v++)
            {
                a.append(1, ExpectedVersion.ANY, 1, payload(1, v));
                a.append(2, ExpectedVersion.ANY, 1, payload(2, v));
                a.append(3, ExpectedVersion.ANY, 1, payload(3, v));
                a.append(4, ExpectedVersion.ANY, 1, payload(4, v));
            }
            db.setStreamMetadata(1, StreamMetadata.NONE.withMaxCount(Long.MAX_VALUE));
            db.setStreamMetadata(2, StreamMetadata.NONE.withTruncateBefore(Long.MAX_VALUE));
            db.setStreamMetadata(3, StreamMetadata.NONE.withMaxAge(Duration.ofSeconds(Long.MAX_VALUE)));
            db.setStreamMetadata(4, StreamMetadata.NONE.withMaxAge(Duration.ofNanos(1)).withMaxCount(1));
            assertEquals(range(1, 10), versions(db, 1));
            assertEquals(List.of(), versions(db, 2));
            assertEquals(range(1, 10), versions(db, 3));
            final List<Long> backward = new ArrayList<>();
            db.readStreamBackward(1, VarveDB.LATEST_VERSION, Integer.MAX_VALUE, e -> backward.add(e.version()));
            assertEquals(10, backward.size());
            backward.clear();
            db.readStreamBackward(2, VarveDB.LATEST_VERSION, Integer.MAX_VALUE, e -> backward.add(e.version()));
            assertEquals(List.of(), backward);
            assertEquals(1, db.firstVisibleVersion(1));
            assertTrue(db.firstVisibleVersion(2) > 10);
            filler(db, 1200);
            db.scavenge();
            assertEquals(range(1, 10), versions(db, 1));
            assertEquals(range(1, 10), versions(db, 3));
            assertEquals(List.of(), versions(db, 4));
            assertEquals(11, a.append(2, ExpectedVersion.exact(10), 1, payload(2, 11)));
            assertEquals(List.of(), versions(db, 2));
            db.setStreamMetadata(2, StreamMetadata.NONE);
            assertEquals(List.of(10L, 11L), versions(db, 2), "scavenge kept the last before");
        }
        wipeIndex();
        try (VarveDB db = VarveDB.open(cfg()))
        {
            assertEquals(10, db.streamVersion(4));
            assertEquals(11, db.streamVersion(2));
            assertEquals(range(1, 10), versions(db, 3));
        }
    }

    @Test
    void positionsOfDroppedEvents() throws Exception
    {
        try (VarveDB db = VarveDB.open(cfg()))
        {
            final Appender a = db.appender();
            final List<long[]> pos = new ArrayList<>();
            for (long v = 1; v <= 30; v++)
            {
                a.append(1, ExpectedVersion.ANY, 1, payload(1, v));
                pos.add(new long[]{ 1, v, a.lastPosition() });
                a.append(2, ExpectedVersion.ANY, 1, payload(2, v));
                pos.add(new long[]{ 2, v, a.lastPosition() });
            }
            // a range of stream 1 alone
            for (long v = 31; v <= 40; v++)
            {
                a.append(1, ExpectedVersion.ANY, 1, payload(1, v));
                pos.add(new long[]{ 1, v, a.lastPosition() });
            }
            a.append(2, ExpectedVersion.ANY, 1, payload(2, 31));
            pos.add(new long[]{ 2, 31, a.lastPosition() });
            final long[] lastBefore = new long[1];
            db.readAll(pos.get(pos.size() - 12)[2], 1, e -> lastBefore[0] = e.nextPosition());
            final Subscription sub = db.subscription(pos.get(5)[2]);
            db.deleteStream(1, ExpectedVersion.ANY);
            filler(db, 1200);
            db.scavenge();
            // every position of a dropped stream-1 event reads on from the next kept one
            for (int i = 0; i < pos.size(); i++)
            {
                final long[] p = pos.get(i);
                final List<Ev> got = new ArrayList<>();
                db.readAll(p[2], 1, e -> got.add(ev(e)));
                long[] expect = null;
                for (int j = i; j < pos.size(); j++)
                {
                    if (pos.get(j)[0] == 2)
                    {
                        expect = pos.get(j);
                        break;
                    }
                }
                assertEquals(1, got.size());
                final Ev e = got.get(0);
                if (e.meta) continue;
                assertTrue(e.ok(), e.toString());
                assertEquals(expect[2], e.position, "from " + Arrays.toString(p) + " got " + e);
            }
            final List<Ev> got = new ArrayList<>();
            db.readAll(lastBefore[0], 1, e -> got.add(ev(e)));
            assertEquals(2, got.get(0).stream);
            assertEquals(31, got.get(0).version);
            final List<Ev> subGot = new ArrayList<>();
            sub.poll(e -> subGot.add(ev(e)), 3);
            assertEquals(List.of(2L, 2L, 2L), subGot.stream().map(Ev::stream).toList());
            assertEquals(3, subGot.get(0).version);
        }
    }

    @Test
    void truncateLogBeforeWeirdPositions() throws Exception
    {
        try (VarveDB db = VarveDB.open(cfg()))
        {
            filler(db, 1500);
            final long tail = db.tailPosition();
            assertThrows(IllegalArgumentException.class, () -> db.truncateLogBefore(-1));
            assertThrows(IllegalArgumentException.class, () -> db.truncateLogBefore(tail + 1));
            assertThrows(IllegalArgumentException.class, () -> db.truncateLogBefore(Long.MAX_VALUE));
            assertEquals(0, db.truncateLogBefore(0));
            assertEquals(0, db.truncateLogBefore(SEG - 1));
            final long s = db.truncateLogBefore(SEG);
            assertEquals(SEG, s);
            assertThrows(LogTruncatedException.class, () -> db.readAll(SEG - 256, 1, e -> { }));
            final List<Ev> first = new ArrayList<>();
            db.readAll(VarveDB.START_POSITION, 1, e -> first.add(ev(e)));
            assertTrue(first.get(0).position >= SEG);
            final long s2 = db.truncateLogBefore(tail);
            System.out.println("tail " + tail + " start " + s2);
            assertTrue(s2 <= tail);
            final List<Ev> rest = all(db, 0);
            long v = rest.get(0).version;
            for (final Ev e : rest)
            {
                assertTrue(e.ok());
                assertEquals(v++, e.version);
            }
            assertEquals(1500, rest.get(rest.size() - 1).version);
            assertEquals(1500, db.streamVersion(999));
            final List<Long> vs = versions(db, 999);
            assertEquals(rest.get(0).version, vs.get(0));
            assertEquals(1500, vs.get(vs.size() - 1));
            assertEquals(tail, db.tailPosition());
            assertEquals(1501, db.appender().append(999, ExpectedVersion.exact(1500), 1, payload(999, 1501)));
        }
        try (VarveDB db = VarveDB.open(cfg()))
        {
            assertEquals(1501, db.streamVersion(999));
        }
        wipeIndex();
        try (VarveDB db = VarveDB.open(cfg()))
        {
            assertEquals(1501, db.streamVersion(999));
            final List<Long> vs = versions(db, 999);
            assertEquals(1501, vs.get(vs.size() - 1));
        }
    }

    @Test
    void concurrentScavengeWithReaders() throws Exception
    {
        try (VarveDB db = VarveDB.open(cfg()))
        {
            final Appender a = db.appender();
            for (long v = 1; v <= 1200; v++)
            {
                for (long s = 1; s <= 3; s++)
                {
                    a.append(s, ExpectedVersion.ANY, 1, payload(s, v));
                }
            }
            final List<Ev> keptBefore = all(db, 0).stream().filter(e -> e.stream == 3).toList();
            db.deleteStream(1, ExpectedVersion.ANY);
            db.setStreamMetadata(2, StreamMetadata.NONE.withMaxCount(100));
            final java.util.concurrent.atomic.AtomicReference<Throwable> fail = new java.util.concurrent.atomic.AtomicReference<>();
            final java.util.concurrent.atomic.AtomicBoolean stop = new java.util.concurrent.atomic.AtomicBoolean();
            final Thread reader = new Thread(() -> {
                try
                {
                    int rounds = 0;
                    while (!stop.get() || rounds < 3)
                    {
                        rounds++;
                        final List<Ev> got = all(db, 0);
                        final List<Ev> s3 = got.stream().filter(e -> e.stream == 3).toList();
                        for (final Ev e : got) if (!e.ok()) throw new AssertionError("garbage " + e);
                        if (!s3.equals(keptBefore)) throw new AssertionError("stream 3 differs " + s3.size());
                        final List<Long> v3 = versions(db, 3);
                        if (v3.size() != 1200) throw new AssertionError("readStream 3 " + v3.size());
                        final List<Long> v2 = versions(db, 2);
                        if (!v2.equals(range(1101, 1200))) throw new AssertionError("readStream 2 " + v2);
                        long prev = -1;
                        for (final Ev e : got) { if (e.position <= prev) throw new AssertionError("order"); prev = e.position; }
                        // walk by nextPosition in small steps
                        final long[] cur = { 0 };
                        final List<Ev> step = new ArrayList<>();
                        while (true)
                        {
                            final int n = step.size();
                            db.readAll(cur[0], 7, e -> { step.add(ev(e)); cur[0] = e.nextPosition(); });
                            if (step.size() == n) break;
                        }
                        if (step.stream().filter(e -> e.stream == 3).count() != 1200) throw new AssertionError("step walk");
                    }
                }
                catch (final Throwable t)
                {
                    fail.set(t);
                }
            });
            reader.start();
            final ScavengeResult r = db.scavenge();
            stop.set(true);
            reader.join(20_000);
            System.out.println("concurrent " + r);
            if (fail.get() != null) throw new AssertionError(fail.get());
            assertTrue(r.eventsDropped() > 1000);
        }
    }

}
