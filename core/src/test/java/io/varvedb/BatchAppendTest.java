package io.varvedb;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class BatchAppendTest
{
    @TempDir
    Path dir;

    @Test
    void aBatchGetsConsecutiveVersionsContiguousInTheLog()
    {
        try (VarveDB db = VarveDB.open(TestStores.small(dir)))
        {
            final Appender appender = db.appender();
            appender.append(1, ExpectedVersion.NO_STREAM, 1, bytes("before"));
            appender.append(2, ExpectedVersion.NO_STREAM, 1, bytes("other"));
            final EventBatch batch = new EventBatch();
            for (int i = 0; i < 60; i++)
            {
                batch.add(10 + i, bytes("b" + i));
            }
            assertEquals(61, appender.appendBatch(1, ExpectedVersion.exact(1), batch));
            final long batchLastPosition = appender.lastPosition();
            appender.append(2, ExpectedVersion.exact(1), 1, bytes("after"));

            final List<StoreChecker.Event> all = StoreChecker.readAll(db);
            assertEquals(63, all.size());
            for (int i = 0; i < 60; i++)
            {
                final StoreChecker.Event event = all.get(2 + i);
                assertEquals(1, event.streamId());
                assertEquals(2 + i, event.version());
                assertEquals(10 + i, event.eventType());
                assertEquals("b" + i, new String(event.payload(), StandardCharsets.US_ASCII));
            }
            assertEquals(all.get(61).position(), batchLastPosition, "lastPosition is the batch's last event");
            final boolean[] inBatch = new boolean[1];
            db.readStream(1, 30, 1, (e) -> inBatch[0] = e.isInBatch());
            assertTrue(inBatch[0]);
            StoreChecker.check(db);
        }
    }

    @Test
    void aConflictingBatchWritesNothing()
    {
        try (VarveDB db = VarveDB.open(TestStores.small(dir)))
        {
            final Appender appender = db.appender();
            appender.append(1, ExpectedVersion.NO_STREAM, 1, bytes("x"));
            final long tail = db.tailPosition();
            final EventBatch batch = new EventBatch().add(1, bytes("a")).add(1, bytes("b"));
            final ConcurrencyConflictException e = assertThrows(ConcurrencyConflictException.class,
                () -> appender.appendBatch(1, ExpectedVersion.NO_STREAM, batch));
            assertEquals(1, e.actualVersion());
            assertEquals(tail, db.tailPosition());
            assertEquals(1, db.streamVersion(1));
            assertThrows(IllegalArgumentException.class,
                () -> appender.appendBatch(1, ExpectedVersion.ANY, new EventBatch()));
        }
    }

    @Test
    void aBatchLargerThanHalfASegmentIsRefused()
    {
        try (VarveDB db = VarveDB.open(TestStores.small(dir)))
        {
            final EventBatch batch = new EventBatch();
            for (int i = 0; i < 40; i++)
            {
                batch.add(1, new byte[1000]);
            }
            assertThrows(EventTooLargeException.class, () -> db.appender().appendBatch(1, ExpectedVersion.ANY, batch));
            assertEquals(0, db.streamVersion(1));
            assertEquals(0, db.tailPosition());
        }
    }

    @Test
    void batchesAcrossSegmentRollsStayWhole()
    {
        try (VarveDB db = VarveDB.open(TestStores.small(dir)))
        {
            final Appender appender = db.appender();
            final EventBatch batch = new EventBatch();
            long version = 0;
            for (int round = 0; round < 200; round++)
            {
                batch.clear();
                for (int i = 0; i <= round % 7; i++)
                {
                    batch.add(i, new byte[100 + round]);
                }
                version = appender.appendBatch(round % 3 + 1, ExpectedVersion.ANY, batch);
                assertTrue(version > 0);
            }
            assertTrue(db.tailPosition() > 3L * TestStores.SEGMENT);
            final List<Integer> sizes = new ArrayList<>();
            StoreChecker.check(db).values().forEach((events) -> sizes.add(events.size()));
            assertEquals(200 / 7 * 28 + 1 + 2 + 3 + 4, sizes.stream().mapToInt(Integer::intValue).sum());
        }
    }

    private static byte[] bytes(final String s)
    {
        return s.getBytes(StandardCharsets.US_ASCII);
    }
}
