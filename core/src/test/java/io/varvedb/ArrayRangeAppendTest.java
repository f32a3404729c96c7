package io.varvedb;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The README's API table promises {@code append(streamId, expected, eventType, byte[], offset, length)}: the
 * overload exists for append, tryAppend and EventBatch.add, appends exactly the range, and refuses a bad range
 * before anything is written.
 */
class ArrayRangeAppendTest
{
    @TempDir
    Path dir;

    private static final byte[] ARRAY = "..hello..world..".getBytes(StandardCharsets.US_ASCII);

    @Test
    void eachOverloadAppendsExactlyTheRange()
    {
        try (VarveDB db = VarveDB.open(TestStores.small(dir)))
        {
            final Appender appender = db.appender();
            assertEquals(1, appender.append(1, ExpectedVersion.NO_STREAM, 7, ARRAY, 2, 5));
            assertEquals(2, appender.tryAppend(1, 1, 8, ARRAY, 9, 5));
            assertEquals(Appender.CONFLICT, appender.tryAppend(1, 1, 8, ARRAY, 9, 5));
            assertEquals(2, appender.lastActualVersion());
            assertEquals(4, appender.appendBatch(1, ExpectedVersion.exact(2),
                new EventBatch().add(9, ARRAY, 0, 2).add(10, ARRAY, 16, 0)));

            final List<StoreChecker.Event> events = StoreChecker.readAll(db);
            assertEquals(4, events.size());
            assertEquals("hello", text(events.get(0)));
            assertEquals(7, events.get(0).eventType());
            assertEquals("world", text(events.get(1)));
            assertEquals(8, events.get(1).eventType());
            assertEquals("..", text(events.get(2)));
            assertEquals("", text(events.get(3)));
            StoreChecker.check(db);
        }
    }

    @Test
    void aBadRangeIsRefusedAndWritesNothing()
    {
        try (VarveDB db = VarveDB.open(TestStores.small(dir)))
        {
            final Appender appender = db.appender();
            appender.append(1, ExpectedVersion.NO_STREAM, 1, ARRAY, 0, 1);
            final long tail = db.tailPosition();
            final int[][] bad = {{-1, 1}, {0, -1}, {0, 17}, {16, 1}, {10, 7}, {Integer.MAX_VALUE, 1},
                {1, Integer.MAX_VALUE}};
            for (final int[] range : bad)
            {
                final String what = "[" + range[0] + ", +" + range[1] + ")";
                final IndexOutOfBoundsException e = assertThrows(IndexOutOfBoundsException.class,
                    () -> appender.append(1, ExpectedVersion.ANY, 1, ARRAY, range[0], range[1]), what);
                assertTrue(e.getMessage().contains("16 bytes"), e.getMessage());
                assertThrows(IndexOutOfBoundsException.class,
                    () -> appender.tryAppend(1, ExpectedVersion.ANY_VALUE, 1, ARRAY, range[0], range[1]), what);
                final EventBatch batch = new EventBatch().add(1, ARRAY, 0, 1);
                assertThrows(IndexOutOfBoundsException.class, () -> batch.add(1, ARRAY, range[0], range[1]), what);
                assertEquals(1, batch.size(), "a refused add leaves the batch as it was");
            }
            assertThrows(NullPointerException.class, () -> appender.append(1, ExpectedVersion.ANY, 1, (byte[])null, 0, 0));
            assertThrows(NullPointerException.class, () -> appender.tryAppend(1, -2, 1, (byte[])null, 0, 0));
            assertThrows(NullPointerException.class, () -> new EventBatch().add(1, (byte[])null, 0, 0));
            assertThrows(IllegalArgumentException.class, () -> appender.append(0, ExpectedVersion.ANY, 1, ARRAY, 0, 1));
            assertEquals(tail, db.tailPosition(), "nothing claimed");
            assertEquals(1, db.streamVersion(1));
            // the appender is usable after every refusal
            assertEquals(2, appender.append(1, ExpectedVersion.exact(1), 1, ARRAY, 2, 5));
            StoreChecker.check(db);
        }
    }

    @Test
    void theArrayRangeAppendAllocatesNothing()
    {
        final com.sun.management.ThreadMXBean threads =
            (com.sun.management.ThreadMXBean)ManagementFactory.getThreadMXBean();
        try (VarveDB db = VarveDB.open(VarveConfig.builder(dir).segmentSize(16 << 20).build()))
        {
            final Appender appender = db.appender();
            for (int i = 0; i < 20_000; i++)
            {
                appender.append(1, ExpectedVersion.ANY, 1, ARRAY, 2, 5);
                appender.tryAppend(1, ExpectedVersion.ANY_VALUE, 1, ARRAY, 9, 5);
            }
            final long before = threads.getCurrentThreadAllocatedBytes();
            for (int i = 0; i < 10_000; i++)
            {
                appender.append(1, ExpectedVersion.ANY, 1, ARRAY, 2, 5);
                appender.tryAppend(1, ExpectedVersion.ANY_VALUE, 1, ARRAY, 9, 5);
            }
            final long allocated = threads.getCurrentThreadAllocatedBytes() - before;
            // a new index chunk now and then may allocate its mapping's objects; the append itself nothing
            assertTrue(allocated < 16 * 1024, "allocated " + allocated + " bytes for 20,000 appends");
        }
    }

    private static String text(final StoreChecker.Event event)
    {
        return new String(event.payload(), StandardCharsets.US_ASCII);
    }
}
