package io.varvedb;

import io.varvedb.internal.index.StreamIndexDescriptor;
import io.varvedb.internal.log.RecordDescriptor;
import io.varvedb.internal.log.SegmentDescriptor;
import io.varvedb.internal.store.MetaDescriptor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Crashes simulated on the files of a closed store: the store is marked as not closed cleanly and its log is
 * damaged the way a killed writer can leave it. Reopening must keep every whole event and serve nothing else.
 */
class RecoveryTest
{
    @TempDir
    Path dir;

    private static VarveConfig config(final Path dir)
    {
        return TestStores.small(dir);
    }

    private static List<StoreChecker.Event> populate(final Path dir, final int events)
    {
        try (VarveDB db = VarveDB.open(config(dir)))
        {
            final Appender appender = db.appender();
            for (int i = 0; i < events; i++)
            {
                appender.append(1 + i % 3, ExpectedVersion.ANY, i, ("event-" + i).getBytes());
            }
            return StoreChecker.readAll(db);
        }
    }

    @Test
    void aRecordCutAtAnyOffsetIsTruncatedAndEverythingBeforeItSurvives() throws IOException
    {
        final Path template = dir.resolve("template");
        final List<StoreChecker.Event> events = populate(template, 50);
        final StoreChecker.Event last = events.get(events.size() - 1);
        final int frameLength = RecordDescriptor.frameLength(last.payload().length);

        for (int cut = 0; cut < frameLength; cut++)
        {
            final Path store = dir.resolve("cut-" + cut);
            copy(template, store);
            markDirty(store);
            zero(store, last.position() + cut, frameLength - cut);
            try (VarveDB db = VarveDB.open(config(store)))
            {
                assertFalse(db.openedCleanly());
                final List<StoreChecker.Event> recovered = StoreChecker.readAll(db);
                assertEquals(events.size() - 1, recovered.size(), "cut at " + cut);
                assertEventsEqual(events.subList(0, events.size() - 1), recovered);
                StoreChecker.check(db);
                final long stream = last.streamId();
                assertEquals(last.version() - 1, db.streamVersion(stream));
                assertEquals(last.version(), db.appender().append(stream, ExpectedVersion.exact(last.version() - 1),
                    9, "again".getBytes()), "appends continue with the right version");
            }
        }
    }

    @Test
    void garbageAfterTheTailIsNeverServed() throws IOException
    {
        final List<StoreChecker.Event> events = populate(dir, 20);
        final long tail = events.get(19).position() + RecordDescriptor.alignedLength(
            RecordDescriptor.frameLength(events.get(19).payload().length));
        markDirty(dir);
        final byte[] garbage = new byte[4096];
        new java.util.Random(7).nextBytes(garbage);
        write(dir, tail, garbage);
        try (VarveDB db = VarveDB.open(config(dir)))
        {
            assertEventsEqual(events, StoreChecker.readAll(db));
            final Appender appender = db.appender();
            for (int i = 0; i < 30; i++)
            {
                appender.append(9, ExpectedVersion.ANY, 1, new byte[i]);
            }
            StoreChecker.check(db);
            assertEquals(50, StoreChecker.readAll(db).size());
        }
    }

    @Test
    void unfinishedRecordsBeforeWholeOnesBecomePadding() throws IOException
    {
        try (VarveDB db = VarveDB.open(config(dir)))
        {
            final Appender appender = db.appender();
            appender.append(1, ExpectedVersion.NO_STREAM, 1, "a".getBytes());
            appender.append(2, ExpectedVersion.NO_STREAM, 1, "b".getBytes());
            appender.append(3, ExpectedVersion.NO_STREAM, 1, "c".getBytes());
            appender.append(4, ExpectedVersion.NO_STREAM, 1, "d".getBytes());
            appender.append(5, ExpectedVersion.NO_STREAM, 1, "e".getBytes());
        }
        final List<StoreChecker.Event> events = readAllOf(dir);
        markDirty(dir);
        // stream 2: claimed, writer never started (zeros); stream 4: being written (negative length)
        zero(dir, events.get(1).position(), RecordDescriptor.alignedLength(RecordDescriptor.frameLength(1)));
        final ByteBuffer negative = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(0, -41);
        write(dir, events.get(3).position(), negative.array());

        try (VarveDB db = VarveDB.open(config(dir)))
        {
            assertEquals(2, db.recoveryDiscarded());
            final List<StoreChecker.Event> recovered = StoreChecker.readAll(db);
            assertEquals(List.of(1L, 3L, 5L), recovered.stream().map(StoreChecker.Event::streamId).toList());
            assertEquals(0, db.streamVersion(2));
            assertEquals(0, db.streamVersion(4));
            assertEquals(1, db.appender().append(2, ExpectedVersion.NO_STREAM, 1, "b2".getBytes()));
            StoreChecker.check(db);
        }
    }

    @Test
    void aBatchWhoseFirstRecordWasNotPublishedIsDroppedWhole() throws IOException
    {
        try (VarveDB db = VarveDB.open(config(dir)))
        {
            final Appender appender = db.appender();
            appender.append(1, ExpectedVersion.NO_STREAM, 1, "a".getBytes());
            appender.appendBatch(1, ExpectedVersion.exact(1),
                new EventBatch().add(1, "b1".getBytes()).add(1, "b2".getBytes()).add(1, "b3".getBytes()));
            appender.append(2, ExpectedVersion.NO_STREAM, 1, "other".getBytes());
        }
        final List<StoreChecker.Event> events = readAllOf(dir);
        markDirty(dir);
        final ByteBuffer negative = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN)
            .putInt(0, -RecordDescriptor.frameLength(2));
        write(dir, events.get(1).position(), negative.array());

        try (VarveDB db = VarveDB.open(config(dir)))
        {
            final List<StoreChecker.Event> recovered = StoreChecker.readAll(db);
            assertEquals(2, recovered.size());
            assertEquals(1, db.streamVersion(1), "no part of the batch survives");
            assertEquals(1, db.streamVersion(2));
            StoreChecker.check(db);
        }
    }

    @Test
    void corruptionFollowedByIntactRecordsIsRefusedWithFileAndPosition() throws IOException
    {
        final List<StoreChecker.Event> events = populate(dir, 20);
        markDirty(dir);
        final long position = events.get(5).position();
        flipByte(dir, position + RecordDescriptor.HEADER_LENGTH);
        final byte[] before = Files.readAllBytes(segmentFile(dir, 0));
        final CorruptStoreException e = assertThrows(CorruptStoreException.class, () -> VarveDB.open(config(dir)));
        assertTrue(e.getMessage().contains("position " + position), e.getMessage());
        assertTrue(e.getMessage().contains(segmentFile(dir, 0).getFileName().toString()), e.getMessage());
        assertArrayEquals(before, Files.readAllBytes(segmentFile(dir, 0)), "the log is left as it was");
    }

    @Test
    void aDeletedIndexIsRebuiltFromTheLog() throws IOException
    {
        final List<StoreChecker.Event> events = populate(dir, 300);
        try (Stream<Path> files = Files.list(dir.resolve("index")))
        {
            for (final Path file : files.toList())
            {
                Files.delete(file);
            }
        }
        try (VarveDB db = VarveDB.open(config(dir)))
        {
            assertFalse(db.openedCleanly());
            assertEquals(300, db.recoveredEvents());
            assertEventsEqual(events, StoreChecker.readAll(db));
            StoreChecker.check(db);
        }
    }

    @Test
    void foreignAndUnknownFilesAreRefusedAndLeftUntouched() throws IOException
    {
        final Path foreign = dir.resolve("foreign");
        Files.createDirectories(foreign);
        Files.writeString(foreign.resolve("notes.txt"), "not a store");
        final StoreFormatException notAStore = assertThrows(StoreFormatException.class,
            () -> VarveDB.open(foreign));
        assertTrue(notAStore.getMessage().contains("notes.txt"), notAStore.getMessage());
        assertEquals(Files.readString(foreign.resolve("notes.txt")), "not a store");
        try (Stream<Path> files = Files.list(foreign))
        {
            assertEquals(List.of(foreign.resolve("notes.txt")), files.toList(), "nothing created in a foreign directory");
        }

        final Path badMagic = dir.resolve("bad-magic");
        populate(badMagic, 1);
        write(badMagic, MetaDescriptor.MAGIC_OFFSET, "NOTVARVE".getBytes(), badMagic.resolve(MetaDescriptor.FILE_NAME));
        final byte[] meta = Files.readAllBytes(badMagic.resolve(MetaDescriptor.FILE_NAME));
        assertThrows(StoreFormatException.class, () -> VarveDB.open(config(badMagic)));
        assertThrows(StoreFormatException.class, () -> VarveDB.openReadOnly(badMagic));
        assertArrayEquals(meta, Files.readAllBytes(badMagic.resolve(MetaDescriptor.FILE_NAME)));

        final Path future = dir.resolve("future");
        populate(future, 1);
        final ByteBuffer version = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(0, 99);
        write(future, SegmentDescriptor.FORMAT_VERSION_OFFSET, version.array(), segmentFile(future, 0));
        markDirty(future);
        final StoreFormatException newer = assertThrows(StoreFormatException.class, () -> VarveDB.open(config(future)));
        assertTrue(newer.getMessage().contains("format version 99"), newer.getMessage());

        // the index is derived from the log: a damaged header is rebuilt over, a newer build's index is refused
        final Path badIndex = dir.resolve("bad-index");
        final List<StoreChecker.Event> written = populate(badIndex, 5);
        write(badIndex, StreamIndexDescriptor.MAGIC_OFFSET, new byte[8],
            badIndex.resolve("index").resolve(StreamIndexDescriptor.FILE_NAME));
        try (VarveDB db = VarveDB.open(config(badIndex)))
        {
            assertEventsEqual(written, StoreChecker.readAll(db));
            StoreChecker.check(db);
        }
        final Path newerIndex = dir.resolve("newer-index");
        populate(newerIndex, 1);
        final Path table = newerIndex.resolve("index").resolve(StreamIndexDescriptor.FILE_NAME);
        write(newerIndex, StreamIndexDescriptor.FORMAT_VERSION_OFFSET, version.array(), table);
        final byte[] before = Files.readAllBytes(table);
        final StoreFormatException newerFormat =
            assertThrows(StoreFormatException.class, () -> VarveDB.open(config(newerIndex)));
        assertTrue(newerFormat.getMessage().contains("format version 99"), newerFormat.getMessage());
        assertArrayEquals(before, Files.readAllBytes(table), "left untouched");

        final Path shortMeta = dir.resolve("short-meta");
        Files.createDirectories(shortMeta);
        Files.write(shortMeta.resolve(MetaDescriptor.FILE_NAME), new byte[10]);
        assertThrows(StoreFormatException.class, () -> VarveDB.open(shortMeta));
    }

    @Test
    void filesWhoseHeaderNeverReachedTheDiskAreInitialisedAgain() throws IOException
    {
        final List<StoreChecker.Event> events = populate(dir, 300);
        final long lastSegment = events.get(events.size() - 1).position() / TestStores.SEGMENT;
        markDirty(dir);
        // a crash right after creating the next segment and an index chunk: zero headers, as if never written
        // (the pre-allocator may not have made the next segment before the close: a blank one is what it leaves)
        Files.write(segmentFile(dir, lastSegment + 1), new byte[SegmentDescriptor.HEADER_LENGTH + TestStores.SEGMENT]);
        write(dir, 0, new byte[256], dir.resolve("index").resolve("blocks-0000000000.idx"));
        try (VarveDB db = VarveDB.open(config(dir)))
        {
            assertEventsEqual(events, StoreChecker.readAll(db));
            StoreChecker.check(db);
            final Appender appender = db.appender();
            for (int i = 0; i < 300; i++)
            {
                appender.append(1, ExpectedVersion.ANY, 1, new byte[400]);
            }
            StoreChecker.check(db);
        }
    }

    @Test
    void aMissingSegmentInTheMiddleIsRefused() throws IOException
    {
        try (VarveDB db = VarveDB.open(config(dir)))
        {
            final Appender appender = db.appender();
            for (int i = 0; i < 400; i++)
            {
                appender.append(1, ExpectedVersion.ANY, 1, new byte[500]);
            }
        }
        markDirty(dir);
        Files.delete(segmentFile(dir, 1));
        final CorruptStoreException e = assertThrows(CorruptStoreException.class, () -> VarveDB.open(config(dir)));
        assertTrue(e.getMessage().contains("missing"), e.getMessage());
    }

    // ------------------------------------------------------------------------------------------------ helpers

    static List<StoreChecker.Event> readAllOf(final Path dir)
    {
        try (VarveDB db = VarveDB.openReadOnly(dir))
        {
            return StoreChecker.readAll(db);
        }
    }

    static void assertEventsEqual(final List<StoreChecker.Event> expected, final List<StoreChecker.Event> actual)
    {
        assertEquals(expected.size(), actual.size());
        for (int i = 0; i < expected.size(); i++)
        {
            final StoreChecker.Event e = expected.get(i);
            final StoreChecker.Event a = actual.get(i);
            assertEquals(e.streamId(), a.streamId());
            assertEquals(e.version(), a.version());
            assertEquals(e.position(), a.position());
            assertEquals(e.eventType(), a.eventType());
            assertArrayEquals(e.payload(), a.payload(), "payload of event " + i);
        }
    }

    static Path segmentFile(final Path dir, final long segment)
    {
        return dir.resolve("log").resolve(SegmentDescriptor.fileName(segment * TestStores.SEGMENT));
    }

    static long fileOffset(final long position)
    {
        return SegmentDescriptor.HEADER_LENGTH + position % TestStores.SEGMENT;
    }

    static void markDirty(final Path dir) throws IOException
    {
        ConcurrentStressTest.markDirty(dir);
    }

    static void zero(final Path dir, final long position, final int length) throws IOException
    {
        write(dir, position, new byte[length]);
    }

    static void write(final Path dir, final long position, final byte[] bytes) throws IOException
    {
        write(dir, fileOffset(position), bytes, segmentFile(dir, position / TestStores.SEGMENT));
    }

    static void write(final Path dir, final long fileOffset, final byte[] bytes, final Path file) throws IOException
    {
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.WRITE))
        {
            channel.write(ByteBuffer.wrap(bytes), fileOffset);
        }
    }

    static void flipByte(final Path dir, final long position) throws IOException
    {
        final Path file = segmentFile(dir, position / TestStores.SEGMENT);
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE))
        {
            final ByteBuffer one = ByteBuffer.allocate(1);
            channel.read(one, fileOffset(position));
            one.put(0, (byte)(one.get(0) ^ 0x40));
            channel.write(one.rewind(), fileOffset(position));
        }
    }

    static void copy(final Path from, final Path to) throws IOException
    {
        try (Stream<Path> files = Files.walk(from))
        {
            for (final Path source : files.sorted(Comparator.naturalOrder()).toList())
            {
                final Path target = to.resolve(from.relativize(source).toString());
                if (Files.isDirectory(source))
                {
                    Files.createDirectories(target);
                }
                else
                {
                    Files.copy(source, target);
                }
            }
        }
    }

    @SuppressWarnings("unused")
    private static String describe(final Map<Long, List<StoreChecker.Event>> streams)
    {
        return Arrays.toString(streams.keySet().toArray());
    }
}
