package io.varvedb;

import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class AppendAndReadTest
{
    @TempDir
    Path dir;
    private VarveDB db;

    @BeforeEach
    void open()
    {
        db = VarveDB.open(TestStores.small(dir));
    }

    @AfterEach
    void close()
    {
        db.close();
    }

    @Test
    void versionsCountEventsFromOne()
    {
        final Appender appender = db.appender();
        assertEquals(0, db.streamVersion(1));
        assertEquals(1, appender.append(1, ExpectedVersion.NO_STREAM, 7, bytes("a")));
        assertEquals(2, appender.append(1, ExpectedVersion.exact(1), 7, bytes("b")));
        assertEquals(3, appender.append(1, ExpectedVersion.ANY, 7, bytes("c")));
        assertEquals(4, appender.append(1, ExpectedVersion.STREAM_EXISTS, 7, bytes("d")));
        assertEquals(4, db.streamVersion(1));
        assertEquals(0, db.streamVersion(2));
    }

    @Test
    void readStreamDeliversPayloadsZeroCopyInOrder()
    {
        final Appender appender = db.appender();
        for (int i = 1; i <= 100; i++)
        {
            appender.append(42, ExpectedVersion.exact(i - 1), i, bytes("event-" + i));
            assertTrue(appender.lastPosition() >= 0);
        }
        final List<String> seen = new ArrayList<>();
        final int count = db.readStream(42, 1, Integer.MAX_VALUE, (e) ->
        {
            assertEquals(42, e.streamId());
            assertEquals(seen.size() + 1, e.version());
            assertEquals(e.version(), e.eventType());
            seen.add(e.payload().getStringWithoutLengthAscii(0, e.payloadLength()));
        });
        assertEquals(100, count);
        assertEquals("event-1", seen.get(0));
        assertEquals("event-100", seen.get(99));

        final List<Long> from50 = new ArrayList<>();
        assertEquals(10, db.readStream(42, 50, 10, (e) -> from50.add(e.version())));
        assertEquals(List.of(50L, 51L, 52L, 53L, 54L, 55L, 56L, 57L, 58L, 59L), from50);

        final List<Long> backward = new ArrayList<>();
        assertEquals(5, db.readStreamBackward(42, VarveDB.LATEST_VERSION, 5, (e) -> backward.add(e.version())));
        assertEquals(List.of(100L, 99L, 98L, 97L, 96L), backward);
    }

    @Test
    void readAllFollowsLogOrderAndContinuesFromNextPosition()
    {
        final Appender appender = db.appender();
        appender.append(1, ExpectedVersion.ANY, 1, bytes("x"));
        appender.append(2, ExpectedVersion.ANY, 1, bytes("y"));
        appender.append(1, ExpectedVersion.ANY, 1, bytes("z"));
        final long[] next = new long[1];
        final List<String> seen = new ArrayList<>();
        assertEquals(2, db.readAll(0, 2, (e) ->
        {
            seen.add(e.streamId() + ":" + e.version());
            next[0] = e.nextPosition();
        }));
        assertEquals(1, db.readAll(next[0], 10, (e) -> seen.add(e.streamId() + ":" + e.version())));
        assertEquals(List.of("1:1", "2:1", "1:2"), seen);
    }

    @Test
    void conflictWritesNothingAndReportsVersions()
    {
        final Appender appender = db.appender();
        appender.append(5, ExpectedVersion.NO_STREAM, 1, bytes("first"));
        final long tail = db.tailPosition();
        final ConcurrencyConflictException e = assertThrows(ConcurrencyConflictException.class,
            () -> appender.append(5, ExpectedVersion.NO_STREAM, 1, bytes("second")));
        assertEquals(5, e.streamId());
        assertEquals(0, e.expectedVersion());
        assertEquals(1, e.actualVersion());
        assertEquals(tail, db.tailPosition());
        assertEquals(1, db.streamVersion(5));
        final UnsafeBuffer payload = new UnsafeBuffer(bytes("p"));
        assertEquals(Appender.CONFLICT, appender.tryAppend(5, 7, 1, payload, 0, 1));
        assertEquals(1, appender.lastActualVersion());
        assertEquals(Appender.CONFLICT, appender.tryAppend(6, ExpectedVersion.STREAM_EXISTS_VALUE, 1, payload, 0, 1));
        assertEquals(0, appender.lastActualVersion());
        assertEquals(1, db.streamCount(), "a refused append to a missing stream must not create it");
    }

    @Test
    void reopenKeepsEverything()
    {
        final Appender appender = db.appender();
        for (int i = 0; i < 1000; i++)
        {
            appender.append(1 + (i % 7), ExpectedVersion.ANY, i, bytes("payload-" + i));
        }
        db.close();
        db = VarveDB.open(TestStores.small(dir));
        assertTrue(db.openedCleanly());
        final int[] count = new int[1];
        db.readAll(0, Integer.MAX_VALUE, (e) ->
        {
            assertEquals("payload-" + count[0], e.payload().getStringWithoutLengthAscii(0, e.payloadLength()));
            count[0]++;
        });
        assertEquals(1000, count[0]);
        assertEquals(143, db.streamVersion(1));
        assertEquals(142, db.streamVersion(7));
        assertEquals(144, db.appender().append(1, ExpectedVersion.exact(143), 0, bytes("more")));
    }

    static byte[] bytes(final String s)
    {
        return s.getBytes(StandardCharsets.US_ASCII);
    }

    /** From an attack: FROM_NOW is a position readAll accepts; what follows "now" is nothing yet. */
    @Test
    void readAllFromNowReadsNothing()
    {
        try (VarveDB db = VarveDB.open(TestStores.small(dir.resolve("now"))))
        {
            db.appender().append(1, ExpectedVersion.ANY, 1, new byte[]{ 1 });
            final List<Long> seen = new ArrayList<>();
            assertEquals(0, db.readAll(VarveDB.FROM_NOW, 10, (e) -> seen.add(e.position())));
            assertEquals(List.of(), seen);
            assertThrows(IllegalArgumentException.class, () -> db.readAll(-2, 10, (e) -> { }));
        }
    }
}
