package io.varvedb;

import org.agrona.concurrent.EpochNanoClock;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Stream metadata limits, soft delete and tombstones, on every stream read path, and across reopen and rebuild.
 */
class StreamLifecycleTest
{
    @TempDir
    Path dir;

    private final AtomicLong now = new AtomicLong(1_700_000_000_000_000_000L);
    private final EpochNanoClock clock = now::get;

    private VarveConfig config()
    {
        return VarveConfig.builder(dir).segmentSize(TestStores.SEGMENT).indexCapacity(4096).indexBlocksPerChunk(64)
            .nameCapacity(256).clock(clock).build();
    }

    private static List<Long> forward(final VarveDB db, final long stream, final long from)
    {
        final List<Long> versions = new ArrayList<>();
        db.readStream(stream, from, 1000, (e) -> versions.add(e.version()));
        return versions;
    }

    private static List<Long> backward(final VarveDB db, final long stream)
    {
        final List<Long> versions = new ArrayList<>();
        db.readStreamBackward(stream, VarveDB.LATEST_VERSION, 1000, (e) -> versions.add(e.version()));
        return versions;
    }

    private static List<Long> range(final long from, final long to)
    {
        final List<Long> versions = new ArrayList<>();
        for (long v = from; v <= to; v++)
        {
            versions.add(v);
        }
        return versions;
    }

    private static void append(final Appender appender, final long stream, final int count)
    {
        for (int i = 0; i < count; i++)
        {
            appender.append(stream, ExpectedVersion.ANY, 1, new byte[]{ (byte)i });
        }
    }

    @Test
    void maxCountAndTruncateBeforeHideTheOldestEventsOnEveryStreamReadAtOnce()
    {
        try (VarveDB db = VarveDB.open(config()))
        {
            final Appender appender = db.appender();
            append(appender, 7, 10);
            append(appender, 8, 10);
            final Subscription subscription = db.streamSubscription(7, 1);

            assertEquals(0, db.setStreamMetadata(7, StreamMetadata.NONE.withMaxCount(3)) - 1, "first metadata event");
            assertEquals(range(8, 10), forward(db, 7, 1));
            assertEquals(range(9, 10), forward(db, 7, 9));
            assertEquals(List.of(10L, 9L, 8L), backward(db, 7));
            assertEquals(10, db.streamVersion(7), "the version counts on");
            assertEquals(8, db.firstVisibleVersion(7));
            final List<Long> delivered = new ArrayList<>();
            subscription.poll((e) -> delivered.add(e.version()), 100);
            assertEquals(range(8, 10), delivered, "a stream subscription honours the limit too");
            assertEquals(range(1, 10), forward(db, 8, 1), "another stream is untouched");

            appender.append(7, ExpectedVersion.exact(10), 1, new byte[0]);
            assertEquals(range(9, 11), forward(db, 7, 1), "the window moves with appends");
            subscription.poll((e) -> delivered.add(e.version()), 100);
            assertEquals(range(8, 11), delivered);

            db.setStreamMetadata(7, db.streamMetadata(7).withMaxCount(0).withTruncateBefore(5));
            assertEquals(StreamMetadata.of(0, 0, 5, false), db.streamMetadata(7));
            assertEquals(range(5, 11), forward(db, 7, 1), "lifting a limit shows what was not scavenged");
            db.setStreamMetadata(7, StreamMetadata.NONE.withTruncateBefore(50));
            assertEquals(List.of(), forward(db, 7, 1));
            assertEquals(List.of(), backward(db, 7));

            // the global log shows everything, and the metadata events themselves
            final List<RecordedEvent> metadataEvents = new ArrayList<>();
            final int[] stream7 = { 0 };
            db.readAll(VarveDB.START_POSITION, 10_000, (e) ->
            {
                if (e.isStreamMetadata())
                {
                    metadataEvents.add(null);
                }
                if (e.streamId() == 7)
                {
                    stream7[0]++;
                }
            });
            assertEquals(3, metadataEvents.size());
            assertEquals(11, stream7[0]);
            final long metadataStream = db.findStreamId("$$$7");
            assertTrue(metadataStream < 0, "the metadata stream is a named system stream");
            assertEquals(3, db.streamVersion(metadataStream));
        }
        try (VarveDB db = VarveDB.open(config()))
        {
            assertEquals(StreamMetadata.NONE.withTruncateBefore(50), db.streamMetadata(7), "recovered from the log");
            assertEquals(List.of(), forward(db, 7, 1));
        }
    }

    @Test
    void maxAgeHidesEventsOlderThanTheLimitByTheirTimestamps()
    {
        try (VarveDB db = VarveDB.open(config()))
        {
            final Appender appender = db.appender();
            for (int i = 0; i < 10; i++)
            {
                now.addAndGet(Duration.ofSeconds(1).toNanos());
                appender.append("sensor", ExpectedVersion.ANY, 1, new byte[]{ (byte)i });
            }
            final long sensor = db.findStreamId("sensor");
            db.setStreamMetadata("sensor", StreamMetadata.NONE.withMaxAge(Duration.ofMillis(3500)));
            // events at t+1s .. t+10s; now t+10s: those of the last 3.5 s are t+7 .. t+10, versions 7 .. 10
            assertEquals(range(7, 10), forward(db, sensor, 1));
            assertEquals(List.of(10L, 9L, 8L, 7L), backward(db, sensor));
            now.addAndGet(Duration.ofSeconds(2).toNanos());
            assertEquals(range(9, 10), forward(db, sensor, 1), "time passing hides more");
            now.addAndGet(Duration.ofSeconds(60).toNanos());
            assertEquals(List.of(), forward(db, sensor, 1));
            assertEquals(10, db.streamVersion(sensor));
        }
    }

    @Test
    void aSoftDeletedStreamReadsEmptyAndContinuesItsVersions()
    {
        try (VarveDB db = VarveDB.open(config()))
        {
            final Appender appender = db.appender();
            append(appender, 42, 5);
            assertThrows(ConcurrencyConflictException.class, () -> db.deleteStream(42, ExpectedVersion.exact(4)));
            assertEquals(range(1, 5), forward(db, 42, 1), "a refused delete changes nothing");
            assertEquals(5, db.deleteStream(42, ExpectedVersion.exact(5)));
            assertTrue(db.isDeleted(42));
            assertEquals(List.of(), forward(db, 42, 1));
            assertEquals(List.of(), backward(db, 42));
            assertEquals(5, db.streamVersion(42), "the version survives the delete");

            // optimistic concurrency holds across the delete: a writer that read version 3 still conflicts
            assertThrows(ConcurrencyConflictException.class,
                () -> appender.append(42, ExpectedVersion.exact(3), 1, new byte[0]));
            assertThrows(ConcurrencyConflictException.class,
                () -> appender.append(42, ExpectedVersion.NO_STREAM, 1, new byte[0]));
            assertEquals(6, appender.append(42, ExpectedVersion.exact(5), 1, new byte[]{ 6 }));
            assertFalse(db.isDeleted(42), "appended to again");
            assertEquals(List.of(6L), forward(db, 42, 1));
            assertEquals(List.of(6L), backward(db, 42));
        }
        try (VarveDB db = VarveDB.open(config()))
        {
            assertEquals(List.of(6L), forward(db, 42, 1));
            assertEquals(6, db.streamVersion(42));
        }
    }

    @Test
    void aTombstonedStreamRefusesEveryAppendAndReadForGood() throws Exception
    {
        try (VarveDB db = VarveDB.open(config()))
        {
            final Appender appender = db.appender();
            append(appender, 9, 3);
            assertThrows(ConcurrencyConflictException.class, () -> db.tombstoneStream(9, ExpectedVersion.exact(2)));
            assertEquals(4, db.tombstoneStream(9, ExpectedVersion.exact(3)));
            assertTombstoned(db, 9);
            assertEquals(1, db.tombstoneStream(11, ExpectedVersion.NO_STREAM), "a stream never written");
            assertTombstoned(db, 11);

            final List<RecordedEvent> tombstones = new ArrayList<>();
            db.readAll(VarveDB.START_POSITION, 100, (e) ->
            {
                if (e.isTombstone())
                {
                    assertEquals(RecordedEvent.TOMBSTONE_EVENT_TYPE, e.eventType());
                    assertEquals(0, e.payloadLength());
                    tombstones.add(null);
                }
            });
            assertEquals(2, tombstones.size(), "the global log shows the tombstones");
        }
        try (VarveDB db = VarveDB.open(config()))
        {
            assertTombstoned(db, 9);
            assertTombstoned(db, 11);
        }
        // the index rebuilt from the log: the tombstone is in the log
        SegmentReplaceTest.deleteTree(dir.resolve("index"));
        try (VarveDB db = VarveDB.open(config()))
        {
            assertTombstoned(db, 9);
            assertTombstoned(db, 11);
            assertEquals(range(1, 1), List.of(1L));
        }
    }

    private static void assertTombstoned(final VarveDB db, final long stream)
    {
        final Appender appender = db.appender();
        assertTrue(db.isTombstoned(stream));
        for (final ExpectedVersion expected : List.of(ExpectedVersion.ANY, ExpectedVersion.STREAM_EXISTS,
            ExpectedVersion.NO_STREAM, ExpectedVersion.exact(3), ExpectedVersion.exact(4)))
        {
            final StreamDeletedException refused = assertThrows(StreamDeletedException.class,
                () -> appender.append(stream, expected, 1, new byte[]{ 1 }));
            assertEquals(stream, refused.streamId());
        }
        final EventBatch batch = new EventBatch();
        batch.add(1, new byte[]{ 1 });
        assertThrows(StreamDeletedException.class, () -> appender.appendBatch(stream, ExpectedVersion.ANY, batch));
        assertThrows(StreamDeletedException.class,
            () -> appender.tryAppend(stream, ExpectedVersion.ANY_VALUE, 1, new byte[]{ 1 }, 0, 1));
        assertThrows(StreamDeletedException.class, () -> db.readStream(stream, 1, 10, (e) -> fail()));
        assertThrows(StreamDeletedException.class,
            () -> db.readStreamBackward(stream, VarveDB.LATEST_VERSION, 10, (e) -> fail()));
        assertThrows(StreamDeletedException.class, () -> db.streamVersion(stream));
        assertThrows(StreamDeletedException.class, () -> db.streamSubscription(stream, 1).poll((e) -> fail(), 10));
        assertThrows(StreamDeletedException.class, () -> db.tombstoneStream(stream, ExpectedVersion.ANY));
        assertThrows(StreamDeletedException.class, () -> db.deleteStream(stream, ExpectedVersion.ANY));
        assertThrows(StreamDeletedException.class, () -> db.setStreamMetadata(stream, StreamMetadata.NONE));
    }

    @Test
    void namesStartingWithDollarAreTheStoresAndMetadataOfNamedStreamsWorks()
    {
        try (VarveDB db = VarveDB.open(config()))
        {
            assertThrows(IllegalArgumentException.class, () -> db.streamId("$mine"));
            assertThrows(IllegalArgumentException.class,
                () -> db.appender().append("$$orders", ExpectedVersion.ANY, 1, new byte[0]));
            final Appender appender = db.appender();
            for (int i = 0; i < 4; i++)
            {
                appender.append("orders", ExpectedVersion.ANY, 1, new byte[0]);
            }
            db.setStreamMetadata("orders", StreamMetadata.NONE.withMaxCount(1));
            final long orders = db.findStreamId("orders");
            assertEquals(List.of(4L), forward(db, orders, 1));
            final long metadataStream = db.findStreamId("$$orders");
            assertTrue(metadataStream < 0);
            assertThrows(IllegalArgumentException.class,
                () -> db.setStreamMetadata(metadataStream, StreamMetadata.NONE), "no metadata of metadata");
            assertThrows(IllegalArgumentException.class, () -> StreamMetadata.of(-1, 0, 0, false));
        }
    }

    @Test
    void everyLifecycleCallOnAClosedStoreSaysItIsClosed()
    {
        final VarveDB db = VarveDB.open(config());
        append(db.appender(), 5, 3);
        final Subscription subscription = db.subscription(VarveDB.START_POSITION);
        db.close();
        final List<org.junit.jupiter.api.function.Executable> calls = List.of(
            db::logStart, db::reclaimable, db::scavenge, () -> db.truncateLogBefore(0),
            () -> db.setStreamMetadata(5, StreamMetadata.NONE), () -> db.streamMetadata(5),
            () -> db.deleteStream(5, ExpectedVersion.ANY), () -> db.tombstoneStream(5, ExpectedVersion.ANY),
            () -> db.isTombstoned(5), () -> db.isDeleted(5), () -> db.firstVisibleVersion(5),
            () -> subscription.poll((e) -> fail(), 10));
        for (final org.junit.jupiter.api.function.Executable call : calls)
        {
            assertThrows(StoreClosedException.class, call);
        }
    }

    @Test
    void aReadOnlyProcessSeesMetadataSetAfterItOpened()
    {
        try (VarveDB db = VarveDB.open(config()))
        {
            append(db.appender(), 5, 6);
            try (VarveDB reader = VarveDB.openReadOnly(config()))
            {
                assertEquals(range(1, 6), forward(reader, 5, 1));
                db.setStreamMetadata(5, StreamMetadata.NONE.withMaxCount(2));
                assertEquals(range(5, 6), forward(reader, 5, 1));
                db.deleteStream(5, ExpectedVersion.ANY);
                assertEquals(List.of(), forward(reader, 5, 1));
                db.tombstoneStream(5, ExpectedVersion.exact(6));
                assertThrows(StreamDeletedException.class, () -> forward(reader, 5, 1));
            }
        }
    }
}
