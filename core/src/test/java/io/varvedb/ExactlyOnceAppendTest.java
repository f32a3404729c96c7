package io.varvedb;

import io.varvedb.internal.index.EventIdTableDescriptor;
import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Exactly-once appends: an event id the store holds makes a retry return the original's version and write
 * nothing; an id of another stream, or a batch overlapping earlier appends in part, is refused.
 */
class ExactlyOnceAppendTest
{
    @TempDir
    Path dir;

    static final Codec<String> UTF8 = new Codec<>()
    {
        @Override
        public int maxEncodedLength(final String event)
        {
            return event.length() * 3;
        }

        @Override
        public int encode(final String event, final org.agrona.MutableDirectBuffer buffer, final int maxLength)
        {
            final byte[] encoded = event.getBytes(StandardCharsets.UTF_8);
            buffer.putBytes(0, encoded);
            return encoded.length;
        }

        @Override
        public String decode(final org.agrona.DirectBuffer buffer, final int offset, final int length)
        {
            return buffer.getStringWithoutLengthUtf8(offset, length);
        }
    };

    private static byte[] bytes(final String text)
    {
        return text.getBytes(StandardCharsets.UTF_8);
    }

    private static List<RecordedEventCopy> readStream(final VarveDB db, final long stream)
    {
        final List<RecordedEventCopy> events = new ArrayList<>();
        db.readStream(stream, 1, Integer.MAX_VALUE, (event) -> events.add(RecordedEventCopy.of(event)));
        return events;
    }

    private static List<RecordedEventCopy> readAll(final VarveDB db)
    {
        final List<RecordedEventCopy> events = new ArrayList<>();
        db.readAll(VarveDB.START_POSITION, Integer.MAX_VALUE, (event) -> events.add(RecordedEventCopy.of(event)));
        return events;
    }

    record RecordedEventCopy(long stream, long version, long position, long idHigh, long idLow, String payload)
    {
        static RecordedEventCopy of(final RecordedEvent event)
        {
            final byte[] payload = new byte[event.payloadLength()];
            event.payload().getBytes(0, payload);
            return new RecordedEventCopy(event.streamId(), event.version(), event.position(), event.eventIdHigh(),
                event.eventIdLow(), new String(payload, StandardCharsets.UTF_8));
        }
    }

    @Test
    void retryOfAnAppendReturnsTheOriginalVersionAndWritesNothing()
    {
        try (VarveDB db = VarveDB.open(TestStores.small(dir)); Appender appender = db.appender())
        {
            final UUID id = UUID.randomUUID();
            assertEquals(1, appender.append(7, ExpectedVersion.NO_STREAM, 1, id, bytes("accepted")));
            assertFalse(appender.lastWasDuplicate());
            final long position = appender.lastPosition();
            appender.append(7, ExpectedVersion.exact(1), 1, bytes("other"));
            final long tail = db.tailPosition();

            // the retry carries the expected version the first attempt had: stale now, yet no conflict
            assertEquals(1, appender.append(7, ExpectedVersion.NO_STREAM, 1, id, bytes("accepted")));
            assertTrue(appender.lastWasDuplicate());
            assertEquals(position, appender.lastPosition());
            assertEquals(tail, db.tailPosition(), "a retry writes nothing");
            assertEquals(2, db.streamVersion(7));

            final List<RecordedEventCopy> events = readStream(db, 7);
            assertEquals(id.getMostSignificantBits(), events.get(0).idHigh());
            assertEquals(id.getLeastSignificantBits(), events.get(0).idLow());
            assertEquals("accepted", events.get(0).payload());
            assertEquals(0, events.get(1).idHigh());
            assertEquals(0, events.get(1).idLow());

            // the next append is not a duplicate
            appender.append(7, ExpectedVersion.ANY, 1, bytes("x"));
            assertFalse(appender.lastWasDuplicate());
        }
    }

    @Test
    void everyAppendFormTakesAnId()
    {
        try (VarveDB db = VarveDB.open(TestStores.small(dir)); Appender appender = db.appender())
        {
            final UnsafeBuffer buffer = new UnsafeBuffer(bytes("direct"));
            assertEquals(1, appender.append(1, ExpectedVersion.ANY, 3, 11, 12, buffer, 0, buffer.capacity()));
            assertEquals(1, appender.append(1, ExpectedVersion.ANY, 3, 11, 12, buffer, 0, buffer.capacity()));
            assertTrue(appender.lastWasDuplicate());

            assertEquals(2, appender.append(1, ExpectedVersion.ANY, 3, 21, 22, bytes("array")));
            assertEquals(2, appender.append(1, ExpectedVersion.ANY, 3, new UUID(21, 22), buffer, 0, 6));
            assertTrue(appender.lastWasDuplicate());

            assertEquals(3, appender.append(1, ExpectedVersion.ANY, 3, 31, 32, "typed", UTF8));
            assertEquals(3, appender.append(1, ExpectedVersion.ANY, 3, new UUID(31, 32), "typed",
                UTF8));
            assertTrue(appender.lastWasDuplicate());

            assertEquals(4, appender.tryAppend(1, 3, 3, 41, 42, buffer, 0, buffer.capacity()));
            // a stale expected version: never a CONFLICT for a retry
            assertEquals(4, appender.tryAppend(1, 0, 3, 41, 42, buffer, 0, buffer.capacity()));
            assertTrue(appender.lastWasDuplicate());
            assertEquals(4, appender.tryAppend(1, 0, 3, 41, 42, bytes("direct"), 0, 6));
            assertEquals(5, appender.tryAppend(1, 4, 3, 51, 52, "t", UTF8));
            assertEquals(5, appender.tryAppend(1, 0, 3, 51, 52, "t", UTF8));
            assertTrue(appender.lastWasDuplicate());

            // a new id with a stale version is an ordinary conflict
            assertEquals(Appender.CONFLICT, appender.tryAppend(1, 0, 3, 61, 62, buffer, 0, buffer.capacity()));
            assertEquals(5, appender.lastActualVersion());
            assertThrows(ConcurrencyConflictException.class,
                () -> appender.append(1, ExpectedVersion.exact(2), 3, 61, 62, bytes("late")));
            assertEquals(5, db.streamVersion(1));

            final List<RecordedEventCopy> events = readStream(db, 1);
            assertEquals(List.of("direct", "array", "typed", "direct", "t"),
                events.stream().map(RecordedEventCopy::payload).toList());
            assertEquals(List.of(11L, 21L, 31L, 41L, 51L), events.stream().map(RecordedEventCopy::idHigh).toList());
        }
    }

    @Test
    void theSameIdInAnotherStreamIsRefusedNamingBothStreams()
    {
        try (VarveDB db = VarveDB.open(TestStores.small(dir)); Appender appender = db.appender())
        {
            final UUID id = UUID.randomUUID();
            appender.append(5, ExpectedVersion.ANY, 1, id, bytes("a"));
            final long tail = db.tailPosition();
            final EventIdConflictException ex = assertThrows(EventIdConflictException.class,
                () -> appender.append(6, ExpectedVersion.ANY, 1, id, bytes("a")));
            assertInstanceOf(IllegalArgumentException.class, ex, "the id is a bad argument for this append");
            assertEquals(6, ex.streamId());
            assertEquals(5, ex.existingStreamId());
            assertEquals(1, ex.existingVersion());
            assertEquals(id, ex.eventId());
            assertTrue(ex.getMessage().contains("stream 5") && ex.getMessage().contains("stream 6"), ex.getMessage());
            assertEquals(tail, db.tailPosition());
            assertEquals(0, db.streamVersion(6));
            assertThrows(EventIdConflictException.class, () -> appender.tryAppend(6, -1, 1,
                id.getMostSignificantBits(), id.getLeastSignificantBits(), bytes("a"), 0, 1));
        }
    }

    @Test
    void aBatchIsADuplicateOnlyAsAWhole()
    {
        try (VarveDB db = VarveDB.open(TestStores.small(dir)); Appender appender = db.appender())
        {
            final EventBatch batch = new EventBatch()
                .add(1, bytes("one")).eventId(1, 1)
                .add(1, bytes("two")).eventId(1, 2)
                .add(1, bytes("three")).eventId(1, 3);
            appender.append(9, ExpectedVersion.ANY, 1, bytes("before"));
            assertEquals(4, appender.appendBatch(9, ExpectedVersion.exact(1), batch));
            final long lastPosition = appender.lastPosition();
            final long tail = db.tailPosition();

            // retried whole, with the stale expected version: the original batch's answer
            assertEquals(4, appender.appendBatch(9, ExpectedVersion.exact(1), batch));
            assertTrue(appender.lastWasDuplicate());
            assertEquals(lastPosition, appender.lastPosition());
            assertEquals(4, appender.tryAppendBatch(9, 1, batch));

            // overlapping in part: refused, nothing written
            final EventBatch partly = new EventBatch()
                .add(1, bytes("two")).eventId(1, 2)
                .add(1, bytes("four")).eventId(1, 4);
            assertThrows(EventIdConflictException.class, () -> appender.appendBatch(9, ExpectedVersion.ANY, partly));
            // all of its ids there, but not as one earlier batch
            final EventBatch subset = new EventBatch()
                .add(1, bytes("two")).eventId(1, 2)
                .add(1, bytes("three")).eventId(1, 3);
            assertThrows(EventIdConflictException.class, () -> appender.appendBatch(9, ExpectedVersion.ANY, subset));
            final EventBatch reordered = new EventBatch()
                .add(1, bytes("two")).eventId(1, 2)
                .add(1, bytes("one")).eventId(1, 1)
                .add(1, bytes("three")).eventId(1, 3);
            assertThrows(EventIdConflictException.class,
                () -> appender.appendBatch(9, ExpectedVersion.ANY, reordered));
            // the whole batch to another stream
            assertThrows(EventIdConflictException.class, () -> appender.appendBatch(10, ExpectedVersion.ANY, batch));
            assertEquals(tail, db.tailPosition());
            assertEquals(4, db.streamVersion(9));

            // a single append of a member is a retry of that member
            assertEquals(3, appender.append(9, ExpectedVersion.ANY, 1, 1, 2, bytes("two")));
            assertTrue(appender.lastWasDuplicate());

            // ids on some events only, or one id twice: refused before anything happens
            final EventBatch mixed = new EventBatch().add(1, bytes("a")).eventId(2, 1).add(1, bytes("b"));
            assertThrows(IllegalArgumentException.class, () -> appender.appendBatch(9, ExpectedVersion.ANY, mixed));
            final EventBatch twice = new EventBatch().add(1, bytes("a")).eventId(2, 1).add(1, bytes("b"))
                .eventId(2, 1);
            assertThrows(IllegalArgumentException.class, () -> appender.appendBatch(9, ExpectedVersion.ANY, twice));
            assertEquals(tail, db.tailPosition());

            final List<RecordedEventCopy> events = readStream(db, 9);
            assertEquals(List.of("before", "one", "two", "three"), events.stream().map(RecordedEventCopy::payload)
                .toList());
        }
    }

    @Test
    void idsSurviveACleanReopenAndARebuildOfTheirTable() throws IOException
    {
        final UUID id = UUID.randomUUID();
        try (VarveDB db = VarveDB.open(TestStores.small(dir)); Appender appender = db.appender())
        {
            appender.append(3, ExpectedVersion.ANY, 1, id, bytes("a"));
            appender.appendBatch(3, ExpectedVersion.ANY, new EventBatch().add(1, bytes("b")).eventId(7, 7)
                .add(1, bytes("c")).eventId(7, 8));
        }
        try (VarveDB db = VarveDB.open(TestStores.small(dir)); Appender appender = db.appender())
        {
            assertEquals(1, appender.append(3, ExpectedVersion.ANY, 1, id, bytes("a")));
            assertTrue(appender.lastWasDuplicate());
        }
        // the table is derived from the log: deleted, or garbled, it is made again
        Files.delete(dir.resolve("index").resolve(EventIdTableDescriptor.FILE_NAME));
        try (VarveDB db = VarveDB.open(TestStores.small(dir)); Appender appender = db.appender())
        {
            assertEquals(1, appender.append(3, ExpectedVersion.ANY, 1, id, bytes("a")));
            assertTrue(appender.lastWasDuplicate());
            assertEquals(3, appender.appendBatch(3, ExpectedVersion.ANY, new EventBatch().add(1, bytes("b"))
                .eventId(7, 7).add(1, bytes("c")).eventId(7, 8)));
            assertTrue(appender.lastWasDuplicate());
        }
        try (FileChannel channel = FileChannel.open(dir.resolve("index").resolve(EventIdTableDescriptor.FILE_NAME),
            StandardOpenOption.WRITE))
        {
            channel.write(ByteBuffer.wrap(new byte[]{ 1, 2, 3, 4, 5, 6, 7, 8 }), 0);
        }
        try (VarveDB db = VarveDB.open(TestStores.small(dir)); Appender appender = db.appender())
        {
            assertEquals(1, appender.append(3, ExpectedVersion.ANY, 1, id, bytes("a")));
            assertTrue(appender.lastWasDuplicate());
            assertEquals(3, db.streamVersion(3));
        }
    }

    /** The seal a clean close leaves is found intact at the next open, whatever the table holds: no rebuild. */
    @Test
    void aCleanReopenTrustsTheTableItSealed() throws IOException
    {
        for (int round = 0; round < 16; round++)
        {
            try (VarveDB db = VarveDB.open(TestStores.small(dir)); Appender appender = db.appender())
            {
                appender.append(1, ExpectedVersion.ANY, 1, round * 7919L, round + 1, bytes("r" + round));
            }
            try (VarveDB db = VarveDB.open(TestStores.small(dir)))
            {
                assertTrue(db.openedCleanly());
                assertFalse(db.eventIdsRebuilt(), "round " + round + ": the table sealed at the close was rebuilt");
            }
        }
    }

    @Test
    void aFlippedBitInTheIdTableOfAClosedStoreIsFoundAndTheTableRebuilt() throws IOException
    {
        final long high = 0x1122334455667788L;
        try (VarveDB db = VarveDB.open(TestStores.small(dir)); Appender appender = db.appender())
        {
            appender.append(4, ExpectedVersion.ANY, 1, high, 0x99, bytes("once"));
        }
        final Path table = dir.resolve("index").resolve(EventIdTableDescriptor.FILE_NAME);
        final ByteBuffer bytes = ByteBuffer.wrap(Files.readAllBytes(table)).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        int at = -1;
        for (int i = EventIdTableDescriptor.HEADER_LENGTH; i + 8 <= bytes.capacity(); i += 8)
        {
            if (bytes.getLong(i) == high)
            {
                at = i;
            }
        }
        assertTrue(at > 0, "the id is in the table");
        try (FileChannel channel = FileChannel.open(table, StandardOpenOption.WRITE))
        {
            // the slot now holds another id: trusted, it would let the retry below write the event again
            channel.write(ByteBuffer.wrap(new byte[]{ (byte)(bytes.get(at) ^ 0x10) }), at);
        }
        try (VarveDB db = VarveDB.open(TestStores.small(dir)); Appender appender = db.appender())
        {
            assertTrue(db.eventIdsRebuilt(), "the damage was found");
            assertEquals(1, appender.append(4, ExpectedVersion.ANY, 1, high, 0x99, bytes("once")));
            assertTrue(appender.lastWasDuplicate());
            assertEquals(1, db.streamVersion(4));
        }
    }

    @Test
    void aFullTableRefusesNewIdsButNotPlainAppendsAndALargerOneRemembersThemAll() throws IOException
    {
        final VarveConfig small = VarveConfig.builder(dir).segmentSize(TestStores.SEGMENT).indexCapacity(64)
            .eventIdCapacity(4).build();
        try (VarveDB db = VarveDB.open(small); Appender appender = db.appender())
        {
            for (int i = 1; i <= 4; i++)
            {
                appender.append(1, ExpectedVersion.ANY, 1, 0, i, bytes("e" + i));
            }
            final long tail = db.tailPosition();
            final EventIdTableFullException ex = assertThrows(EventIdTableFullException.class,
                () -> appender.append(1, ExpectedVersion.ANY, 1, 0, 5, bytes("e5")));
            assertTrue(ex.getMessage().contains("eventIdCapacity"), ex.getMessage());
            // known ids are still answered
            assertEquals(2, appender.append(1, ExpectedVersion.ANY, 1, 0, 2, bytes("e2")));
            assertTrue(appender.lastWasDuplicate());
            // padding may have been written for the refused claim, but no event
            assertEquals(4, db.streamVersion(1));
            assertTrue(db.tailPosition() >= tail);
            assertEquals(5, appender.append(1, ExpectedVersion.ANY, 1, bytes("plain")));
        }
        try (VarveDB db = VarveDB.open(VarveConfig.builder(dir).eventIdCapacity(64).build());
            Appender appender = db.appender())
        {
            assertEquals(6, appender.append(1, ExpectedVersion.ANY, 1, 0, 5, bytes("e5")));
            for (int i = 1; i <= 4; i++)
            {
                assertEquals(i, appender.append(1, ExpectedVersion.ANY, 1, 0, i, bytes("e" + i)));
                assertTrue(appender.lastWasDuplicate());
            }
        }
        // the table lost, the store reopened asking for less room than its log holds ids: the rebuild makes room
        Files.delete(dir.resolve("index").resolve(EventIdTableDescriptor.FILE_NAME));
        try (VarveDB db = VarveDB.open(VarveConfig.builder(dir).eventIdCapacity(2).build());
            Appender appender = db.appender())
        {
            for (int i = 1; i <= 5; i++)
            {
                assertEquals(i == 5 ? 6 : i, appender.append(1, ExpectedVersion.ANY, 1, 0, i, bytes("e" + i)));
                assertTrue(appender.lastWasDuplicate(), "id " + i + " remembered");
            }
        }
    }

    /** Appends that write nothing use none of the capacity: a batch refused whole, a codec that throws. */
    @Test
    void appendsThatWriteNothingUseNoCapacity()
    {
        final VarveConfig two = VarveConfig.builder(dir).segmentSize(TestStores.SEGMENT).indexCapacity(64)
            .eventIdCapacity(2).build();
        final Codec<String> failing = new Codec<>()
        {
            @Override
            public int maxEncodedLength(final String event)
            {
                return 8;
            }

            @Override
            public int encode(final String event, final org.agrona.MutableDirectBuffer buffer, final int maxLength)
            {
                throw new IllegalStateException("codec failed");
            }

            @Override
            public String decode(final org.agrona.DirectBuffer buffer, final int offset, final int length)
            {
                return "";
            }
        };
        try (VarveDB db = VarveDB.open(two); Appender appender = db.appender())
        {
            final EventBatch three = new EventBatch().add(1, bytes("a")).eventId(2, 1).add(1, bytes("b")).eventId(2, 2)
                .add(1, bytes("c")).eventId(2, 3);
            assertThrows(EventIdTableFullException.class, () -> appender.appendBatch(1, ExpectedVersion.ANY, three));
            assertThrows(EventIdTableFullException.class, () -> appender.appendBatch(1, ExpectedVersion.ANY, three));
            for (int i = 0; i < 5; i++)
            {
                assertThrows(IllegalStateException.class,
                    () -> appender.append(1, ExpectedVersion.ANY, 1, 3, 1, "x", failing));
                assertThrows(IllegalStateException.class,
                    () -> appender.append(2, ExpectedVersion.ANY, 1, 3, 1, "x", failing));
            }
            assertEquals(0, db.streamVersion(1));
            assertFalse(db.readEvent(2, 1, (event) -> { }));
            assertFalse(db.readEvent(3, 1, (event) -> { }));
        }
        try (VarveDB db = VarveDB.open(two); Appender appender = db.appender())
        {
            // still room for two, after the reopen too
            assertEquals(2, appender.appendBatch(1, ExpectedVersion.ANY, new EventBatch().add(1, bytes("a"))
                .eventId(2, 1).add(1, bytes("b")).eventId(2, 2)));
            assertThrows(EventIdTableFullException.class,
                () -> appender.append(1, ExpectedVersion.ANY, 1, 3, 1, bytes("c")));
            assertEquals(2, appender.append(1, ExpectedVersion.ANY, 1, 2, 2, bytes("b")));
            assertTrue(appender.lastWasDuplicate());
        }
    }

    /** The pre-allocator makes the id table's pages after its first id, so appends do not fault on them. */
    @Test
    void thePreallocatorTouchesTheIdTablesPagesAfterItsFirstId() throws Exception
    {
        try (VarveDB db = VarveDB.open(VarveConfig.builder(dir).segmentSize(TestStores.SEGMENT).indexCapacity(64)
            .eventIdCapacity(1 << 12).build()); Appender appender = db.appender())
        {
            appender.append(1, ExpectedVersion.ANY, 1, bytes("plain"));
            Thread.sleep(50);
            assertFalse(db.eventIdPagesTouched(), "nothing to touch before the first id: the slots are a hole");
            appender.append(1, ExpectedVersion.ANY, 1, 9, 9, bytes("with id"));
            final long deadline = System.nanoTime() + 10_000_000_000L;
            while (!db.eventIdPagesTouched() && System.nanoTime() < deadline)
            {
                Thread.sleep(1);
            }
            assertTrue(db.eventIdPagesTouched());
            // the touches changed nothing: the id is there, and new ones go in
            assertEquals(2, appender.append(1, ExpectedVersion.ANY, 1, 9, 9, bytes("with id")));
            assertTrue(appender.lastWasDuplicate());
            assertEquals(3, appender.append(1, ExpectedVersion.ANY, 1, 9, 10, bytes("another")));
        }
    }

    @Test
    void readAllAndSubscriptionsSeeTheIds() throws Exception
    {
        try (VarveDB db = VarveDB.open(TestStores.small(dir)); Appender appender = db.appender())
        {
            appender.append(1, ExpectedVersion.ANY, 1, 100, 200, bytes("with"));
            appender.append(2, ExpectedVersion.ANY, 1, bytes("without"));
            final List<RecordedEventCopy> all = readAll(db);
            assertEquals(2, all.size());
            assertEquals(100, all.get(0).idHigh());
            assertEquals(200, all.get(0).idLow());
            assertEquals("with", all.get(0).payload());
            assertEquals(0, all.get(1).idHigh());
            assertEquals("without", all.get(1).payload());

            final List<Long> seen = new java.util.concurrent.CopyOnWriteArrayList<>();
            try (RunningSubscription subscription = db.subscribeToAll(VarveDB.START_POSITION,
                (event) -> seen.add(event.eventIdLow())))
            {
                final long deadline = System.nanoTime() + 10_000_000_000L;
                while (seen.size() < 2 && System.nanoTime() < deadline)
                {
                    Thread.sleep(1);
                }
            }
            assertEquals(List.of(200L, 0L), seen);
        }
    }
}
