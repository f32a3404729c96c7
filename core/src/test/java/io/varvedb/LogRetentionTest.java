package io.varvedb;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Whole-log retention: the log start moves to a segment boundary, readers left behind are told, stream reads
 * skip what was dropped, and positions of what is kept never change.
 */
class LogRetentionTest
{
    @TempDir
    Path dir;

    private VarveConfig.Builder builder()
    {
        return VarveConfig.builder(dir).segmentSize(TestStores.SEGMENT).indexCapacity(4096).indexBlocksPerChunk(64)
            .nameCapacity(64);
    }

    /** Appends about four segments of events to streams 1..4 in turn; returns each event's position. */
    private static List<long[]> fill(final VarveDB db, final int events)
    {
        final Appender appender = db.appender();
        final List<long[]> appended = new ArrayList<>();
        for (int i = 0; i < events; i++)
        {
            final long stream = 1 + i % 4;
            final long version = appender.append(stream, ExpectedVersion.ANY, 1, new byte[200]);
            appended.add(new long[]{ stream, version, appender.lastPosition() });
        }
        return appended;
    }

    @Test
    void truncationMovesTheStartAndReadersBehindItAreToldNeverServedAGap()
    {
        try (VarveDB db = VarveDB.open(builder().build()))
        {
            final List<long[]> appended = fill(db, 1200);
            final long segment = TestStores.SEGMENT;
            assertTrue(db.tailPosition() > 3 * segment);
            final Subscription behind = db.subscription(appended.get(10)[2]);
            final Subscription skipping = db.subscription(appended.get(10)[2]).skipTruncated(true);
            final Subscription fromStart = db.subscription(VarveDB.START_POSITION);

            assertEquals(0, db.logStart());
            assertThrows(IllegalArgumentException.class, () -> db.truncateLogBefore(db.tailPosition() + 16));
            assertThrows(IllegalArgumentException.class, () -> db.truncateLogBefore(-1));
            final long start = db.truncateLogBefore(2 * segment + 100);
            assertEquals(2 * segment, start, "rounded down to a segment boundary");
            assertEquals(start, db.logStart());
            assertEquals(start, db.truncateLogBefore(segment), "the start never moves back");

            // the global log: below the start is refused, START_POSITION reads from the start
            final long dropped = appended.get(5)[2];
            final LogTruncatedException refused = assertThrows(LogTruncatedException.class,
                () -> db.readAll(dropped, 10, (e) -> fail()));
            assertEquals(dropped, refused.position());
            assertEquals(start, refused.logStart());
            final List<Long> positions = new ArrayList<>();
            db.readAll(VarveDB.START_POSITION, 100_000, (e) -> positions.add(e.position()));
            final List<Long> kept = new ArrayList<>();
            for (final long[] event : appended)
            {
                if (event[2] >= start)
                {
                    kept.add(event[2]);
                }
            }
            assertEquals(kept, positions, "exactly the kept events, at their positions");

            // subscriptions to all that stand below the start
            assertThrows(LogTruncatedException.class, () -> behind.poll((e) -> fail(), 10));
            assertThrows(LogTruncatedException.class, () -> behind.poll((e) -> fail(), 10), "and again");
            final List<Long> skipped = new ArrayList<>();
            skipping.poll((e) -> skipped.add(e.position()), 10_000);
            assertEquals(kept, skipped);
            final List<Long> started = new ArrayList<>();
            fromStart.poll((e) -> started.add(e.position()), 10_000);
            assertEquals(kept, started);

            // stream reads skip what retention dropped, as if truncated
            for (long stream = 1; stream <= 4; stream++)
            {
                final List<Long> versions = new ArrayList<>();
                db.readStream(stream, 1, 10_000, (e) -> versions.add(e.position()));
                final List<Long> expected = new ArrayList<>();
                for (final long[] event : appended)
                {
                    if (event[0] == stream && event[2] >= start)
                    {
                        expected.add(event[2]);
                    }
                }
                assertEquals(expected, versions);
                assertEquals(300, db.streamVersion(stream));
            }
        }
        try (VarveDB db = VarveDB.open(builder().build()))
        {
            assertEquals(2 * TestStores.SEGMENT, db.logStart(), "the start is durable");
        }
    }

    @Test
    void aProcessorBehindTheStartStopsOrSkipsAheadAsAsked() throws Exception
    {
        try (VarveDB db = VarveDB.open(builder().build()))
        {
            fill(db, 100);
            final List<Long> seen = new ArrayList<>();
            try (Processor processor = db.processor("p", (e) -> seen.add(e.position()),
                ProcessorOptions.defaults().manualCheckpoints()))
            {
                processor.poll(10);
                processor.checkpoint();
            }
            fill(db, 1100);
            db.truncateLogBefore(3 * TestStores.SEGMENT);
            try (Processor processor = db.processor("p", (e) -> fail(), ProcessorOptions.defaults()))
            {
                assertThrows(LogTruncatedException.class, () -> processor.poll(10));
            }
            final List<Long> after = new ArrayList<>();
            try (Processor processor = db.processor("p", (e) -> after.add(e.position()),
                ProcessorOptions.defaults().skipTruncated(true)))
            {
                processor.poll(10);
            }
            final long[] first = { -1 };
            db.readAll(VarveDB.START_POSITION, 1, (e) -> first[0] = e.position());
            assertEquals(3 * TestStores.SEGMENT, db.logStart());
            assertEquals(first[0], after.get(0), "went on from the first kept event");
        }
    }

    @Test
    void retentionByBytesRunsInTheBackgroundWork()
    {
        try (VarveDB db = VarveDB.open(builder().retainLogBytes(2L * TestStores.SEGMENT)
            .backgroundThreading(BackgroundThreading.INVOKED).build()))
        {
            fill(db, 2000);
            assertEquals(0, db.logStart());
            db.doBackgroundWork();
            final long tailSegment = db.tailPosition() / TestStores.SEGMENT;
            assertEquals((tailSegment - 1) * TestStores.SEGMENT, db.logStart(), "the newest two segments are kept");
        }
    }
}
