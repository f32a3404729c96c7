package io.varvedb;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Scavenging: the events streams no longer show leave the disk; everything kept keeps its position; the store
 * reads the same after a reopen and after its index is rebuilt from the scavenged log.
 */
class ScavengeTest
{
    @TempDir
    Path dir;

    /** A kept event as readAll shows it. */
    record Seen(long position, long stream, long version, int payload)
    {
    }

    private VarveConfig config()
    {
        return VarveConfig.builder(dir).segmentSize(TestStores.SEGMENT).indexCapacity(4096).indexBlocksPerChunk(64)
            .nameCapacity(256).build();
    }

    private static List<Seen> readAll(final VarveDB db, final long from)
    {
        final List<Seen> seen = new ArrayList<>();
        db.readAll(from, Integer.MAX_VALUE, (e) ->
        {
            if (!e.isStreamMetadata())
            {
                seen.add(new Seen(e.position(), e.streamId(), e.version(),
                    e.payloadLength() >= 4 ? e.payload().getInt(0) : -1));
            }
        });
        return seen;
    }

    private static List<Seen> readStream(final VarveDB db, final long stream)
    {
        final List<Seen> seen = new ArrayList<>();
        db.readStream(stream, 1, Integer.MAX_VALUE, (e) -> seen.add(new Seen(e.position(), e.streamId(),
            e.version(), e.payloadLength() >= 4 ? e.payload().getInt(0) : -1)));
        return seen;
    }

    private static long firstSegmentsDiskBytes(final Path dir, final int segments) throws Exception
    {
        long total = 0;
        for (int segment = 0; segment < segments; segment++)
        {
            total += SegmentReplaceTest.allocatedBytes(dir.resolve("log").resolve(
                io.varvedb.internal.log.SegmentDescriptor.fileName((long)segment * TestStores.SEGMENT)));
        }
        return total;
    }

    private static byte[] payload(final int i)
    {
        final byte[] bytes = new byte[200];
        bytes[0] = (byte)i;
        bytes[1] = (byte)(i >>> 8);
        bytes[2] = (byte)(i >>> 16);
        bytes[3] = (byte)(i >>> 24);
        return bytes;
    }

    @Test
    void deletedTombstonedAndTruncatedEventsGoEverythingKeptKeepsItsPosition() throws Exception
    {
        final List<Seen> expectedAll;
        final Map<Long, List<Seen>> expectedStreams = new HashMap<>();
        final long diskBefore;
        final long diskAfter;
        final long tailBefore;
        try (VarveDB db = VarveDB.open(config()))
        {
            final Appender appender = db.appender();
            // six streams in turn, so every segment holds events of each: 1 deleted, 2 tombstoned, 3 keeps its
            // last 10, 4 truncated before 200, 5 and 6 untouched
            for (int i = 0; i < 3000; i++)
            {
                appender.append(1 + i % 6, ExpectedVersion.ANY, 1, payload(i));
            }
            db.deleteStream(1, ExpectedVersion.exact(500));
            db.tombstoneStream(2, ExpectedVersion.exact(500));
            db.setStreamMetadata(3, StreamMetadata.NONE.withMaxCount(10));
            db.setStreamMetadata(4, StreamMetadata.NONE.withTruncateBefore(200));
            // appends go on past the deletes: stream 1 lives again from version 501
            for (int i = 3000; i < 3600; i++)
            {
                final long stream = 1 + i % 6;
                if (stream != 2)
                {
                    appender.append(stream, ExpectedVersion.ANY, 1, payload(i));
                }
            }
            final List<Seen> before = readAll(db, VarveDB.START_POSITION);
            for (long stream = 1; stream <= 6; stream++)
            {
                if (stream != 2)
                {
                    expectedStreams.put(stream, readStream(db, stream));
                }
            }
            tailBefore = db.tailPosition();
            final long sealedEnd = (tailBefore / TestStores.SEGMENT) * TestStores.SEGMENT;
            // what stays: the events streams show, tombstones, and whatever lies in the segment being written
            final List<Seen> expected = new ArrayList<>();
            for (final Seen seen : before)
            {
                final boolean visible = seen.stream != 2 && expectedStreams.get(seen.stream).contains(seen);
                if (visible || seen.position >= sealedEnd || (seen.stream == 2 && seen.version == 501))
                {
                    expected.add(seen);
                }
            }
            expectedAll = expected;
            final ScavengeResult estimate = db.reclaimable();
            assertTrue(estimate.eventsDropped() > 1500, estimate.toString());

            diskBefore = firstSegmentsDiskBytes(dir, (int)(tailBefore / TestStores.SEGMENT));
            final List<long[]> progress = new ArrayList<>();
            final ScavengeResult result = db.scavenge((done, total, soFar) ->
                progress.add(new long[]{ done, total, soFar.eventsDropped() }));
            diskAfter = firstSegmentsDiskBytes(dir, (int)(tailBefore / TestStores.SEGMENT));
            assertEquals(estimate.eventsDropped(), result.eventsDropped(), "the estimate was what a scavenge does");
            assertTrue(result.segmentsRewritten() >= 4, result.toString());
            assertFalse(progress.isEmpty());
            assertEquals(progress.get(progress.size() - 1)[0], progress.get(progress.size() - 1)[1]);

            assertEquals(expectedAll, readAll(db, VarveDB.START_POSITION), "kept events, same positions");
            for (final Map.Entry<Long, List<Seen>> stream : expectedStreams.entrySet())
            {
                assertEquals(stream.getValue(), readStream(db, stream.getKey()), "stream " + stream.getKey());
            }
            assertTrue(db.isTombstoned(2));
            assertEquals(tailBefore, db.tailPosition(), "a scavenge appends nothing");

            // a position of a dropped event still reads on, from the next kept event
            final Seen droppedOne = before.stream().filter((s) -> s.stream == 1 && s.version == 3).findFirst().get();
            final List<Seen> fromDropped = readAll(db, droppedOne.position);
            assertEquals(expectedAll.stream().filter((s) -> s.position > droppedOne.position).toList(), fromDropped);
            // a subscription whose cursor stood on a dropped event goes on the same way
            final Subscription subscription = db.subscription(droppedOne.position);
            final List<Long> delivered = new ArrayList<>();
            subscription.poll((e) -> delivered.add(e.position()), 5);
            assertEquals(fromDropped.subList(0, delivered.size()).stream().map(Seen::position).toList(), delivered);

            final ScavengeResult again = db.scavenge();
            assertEquals(0, again.segmentsRewritten(), "nothing new to drop: " + again);
        }
        // the sealed segments: streams 1 and 2 (1,000 of their 3,400 events), most of 3 and a third of 4 went
        final long sealedEvents = expectedAll.stream().filter((e) -> e.position < tailBefore / TestStores.SEGMENT *
            TestStores.SEGMENT).count();
        assertTrue(diskAfter < diskBefore * 6 / 10, "disk " + diskBefore + " -> " + diskAfter + " (" + sealedEvents +
            " events kept in the sealed segments)");

        try (VarveDB db = VarveDB.open(config()))
        {
            assertEquals(expectedAll, readAll(db, VarveDB.START_POSITION), "after a clean reopen");
            for (final Map.Entry<Long, List<Seen>> stream : expectedStreams.entrySet())
            {
                assertEquals(stream.getValue(), readStream(db, stream.getKey()));
            }
        }
        SegmentReplaceTest.deleteTree(dir.resolve("index"));
        try (VarveDB db = VarveDB.open(config()))
        {
            assertEquals(expectedAll, readAll(db, VarveDB.START_POSITION), "after the index was rebuilt");
            for (final Map.Entry<Long, List<Seen>> stream : expectedStreams.entrySet())
            {
                assertEquals(stream.getValue(), readStream(db, stream.getKey()), "rebuilt stream " + stream.getKey());
            }
            assertTrue(db.isTombstoned(2));
            assertTrue(db.isDeleted(1) == false && db.streamVersion(1) == 600);
            assertEquals(StreamMetadata.NONE.withMaxCount(10), db.streamMetadata(3));
            assertEquals(600, db.streamVersion(3));
            assertThrows(StreamDeletedException.class, () -> db.appender().append(2, ExpectedVersion.ANY, 1,
                new byte[0]));
            db.appender().append(4, ExpectedVersion.exact(600), 1, payload(1));
        }
    }

    @Test
    void everyStreamKeepsItsVersionAcrossAScavengeAndARebuild() throws Exception
    {
        final AtomicClock clock = new AtomicClock();
        final VarveConfig config = VarveConfig.builder(dir).segmentSize(TestStores.SEGMENT).indexCapacity(4096)
            .indexBlocksPerChunk(64).nameCapacity(256).clock(clock).build();
        try (VarveDB db = VarveDB.open(config))
        {
            final Appender appender = db.appender();
            for (int i = 0; i < 2400; i++)
            {
                appender.append(1 + i % 4, ExpectedVersion.ANY, 1, payload(i));
            }
            db.deleteStream(1, ExpectedVersion.exact(600));
            db.setStreamMetadata(2, StreamMetadata.NONE.withMaxAge(java.time.Duration.ofSeconds(1)));
            db.setStreamMetadata(3, StreamMetadata.NONE.withTruncateBefore(10_000));
            clock.advance(java.time.Duration.ofSeconds(5).toNanos());
            for (int i = 0; i < 600; i++)
            {
                appender.append(4, ExpectedVersion.ANY, 1, payload(i));
            }
            assertEquals(List.of(), readStream(db, 2), "all of stream 2 expired");
            db.scavenge();
            for (long stream = 1; stream <= 3; stream++)
            {
                assertEquals(List.of(), readStream(db, stream));
            }
        }
        SegmentReplaceTest.deleteTree(dir.resolve("index"));
        try (VarveDB db = VarveDB.open(config))
        {
            for (long stream = 1; stream <= 3; stream++)
            {
                assertEquals(600, db.streamVersion(stream), "stream " + stream + " after a rebuild");
                assertEquals(List.of(), readStream(db, stream));
                assertThrows(ConcurrencyConflictException.class,
                    () -> db.appender().append(1, ExpectedVersion.NO_STREAM, 1, payload(0)));
            }
            assertTrue(db.isDeleted(1));
            assertEquals(601, db.appender().append(1, ExpectedVersion.exact(600), 1, payload(1)));
            assertEquals(1200, db.streamVersion(4));
        }
    }

    /** A clock the test moves. */
    static final class AtomicClock implements org.agrona.concurrent.EpochNanoClock
    {
        private final java.util.concurrent.atomic.AtomicLong now =
            new java.util.concurrent.atomic.AtomicLong(1_700_000_000_000_000_000L);

        @Override
        public long nanoTime()
        {
            return now.get();
        }

        void advance(final long nanos)
        {
            now.addAndGet(nanos);
        }
    }

    @Test
    void onlyTheMetadataInForceIsKeptAndTheIdsOfDroppedEventsAreForgotten() throws Exception
    {
        final UUID orderId = UUID.randomUUID();
        try (VarveDB db = VarveDB.open(config()))
        {
            final Appender appender = db.appender();
            appender.append(77, ExpectedVersion.NO_STREAM, 1, orderId, payload(1));
            for (int limit = 1; limit <= 50; limit++)
            {
                db.setStreamMetadata(78, StreamMetadata.NONE.withMaxCount(limit));
            }
            for (int i = 0; i < 1500; i++)
            {
                appender.append(78, ExpectedVersion.ANY, 1, payload(i));
            }
            db.deleteStream(77, ExpectedVersion.exact(1));
            assertEquals(1, appender.append(77, ExpectedVersion.ANY, 1, orderId, payload(1)),
                "a retry before the scavenge is a duplicate");
            assertTrue(appender.lastWasDuplicate());
            db.scavenge();

            final long metadataStream = db.findStreamId("$$$78");
            final List<Long> metadataVersions = new ArrayList<>();
            db.readStream(metadataStream, 1, 100, (e) -> metadataVersions.add(e.version()));
            assertEquals(List.of(50L), metadataVersions, "the metadata in force, alone");
            assertEquals(50, db.streamMetadata(78).maxCount());
            assertEquals(50, readStream(db, 78).size());
            assertFalse(db.readEvent(orderId, (e) -> fail()), "its event was scavenged");
            assertEquals(2, appender.append(77, ExpectedVersion.ANY, 1, orderId, payload(1)),
                "an id whose event was scavenged is appended anew");
            assertFalse(appender.lastWasDuplicate());
        }
        SegmentReplaceTest.deleteTree(dir.resolve("index"));
        try (VarveDB db = VarveDB.open(config()))
        {
            assertEquals(50, db.streamMetadata(78).maxCount(), "recovered from the one metadata event kept");
            assertEquals(50, readStream(db, 78).size());
        }
    }

    @Test
    void retentionGivesTheSpaceOfWholeSegmentsBackAndKeepsNamesAndTombstones() throws Exception
    {
        try (VarveDB db = VarveDB.open(config()))
        {
            final Appender appender = db.appender();
            final long named = db.streamId("early-name");
            appender.append(named, ExpectedVersion.NO_STREAM, 1, payload(0));
            db.tombstoneStream(55, ExpectedVersion.NO_STREAM);
            for (int i = 0; i < 2000; i++)
            {
                appender.append(1 + i % 3, ExpectedVersion.ANY, 1, payload(i));
            }
            final long diskBefore = firstSegmentsDiskBytes(dir, 4);
            final long start = db.truncateLogBefore(4L * TestStores.SEGMENT);
            assertEquals(4L * TestStores.SEGMENT, start);
            final long diskAfter = firstSegmentsDiskBytes(dir, 4);
            assertTrue(diskBefore - diskAfter > 3L * TestStores.SEGMENT,
                "four segments' events went: " + diskBefore + " -> " + diskAfter);
            assertEquals("early-name", db.streamName(named));
            assertTrue(db.isTombstoned(55));
            assertEquals(List.of(), readStream(db, named));
        }
        SegmentReplaceTest.deleteTree(dir.resolve("index"));
        try (VarveDB db = VarveDB.open(config()))
        {
            assertEquals(db.findStreamId("early-name"), -1, "the name survived in the dropped segment's copy");
            assertTrue(db.isTombstoned(55));
            assertEquals(4L * TestStores.SEGMENT, db.logStart());
        }
    }
}
