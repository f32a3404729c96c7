package io.varvedb;

import io.varvedb.internal.index.NameTableDescriptor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Named streams: a name maps to one negative stream id, stable across restarts, threads and damage to the table.
 */
class NamedStreamTest
{
    @TempDir
    Path dir;

    private VarveConfig config()
    {
        return VarveConfig.builder(dir).segmentSize(TestStores.SEGMENT).indexCapacity(4096).indexBlocksPerChunk(64)
            .nameCapacity(64).build();
    }

    @Test
    void namesGetNegativeIdsInCreationOrderAndWorkEverywhere()
    {
        try (VarveDB db = VarveDB.open(config()))
        {
            assertEquals(0, db.findStreamId("order-7781"));
            assertEquals(-1, db.streamId("order-7781"));
            assertEquals(-2, db.streamId("order-7782"));
            assertEquals(-1, db.streamId("order-7781"), "the same name, the same id");
            assertEquals(-1, db.findStreamId("order-7781"));
            assertEquals("order-7781", db.streamName(-1));
            assertNull(db.streamName(-3));
            assertNull(db.streamName(5));

            final Appender appender = db.appender();
            assertEquals(1, appender.append("order-7781", ExpectedVersion.NO_STREAM, 7, new byte[]{ 1 }));
            assertEquals(2, appender.append(-1, ExpectedVersion.exact(1), 7, new byte[]{ 2 }));
            appender.append(42, ExpectedVersion.ANY, 7, new byte[]{ 3 });
            assertEquals(-3, appender.streamId("zürich"));
            assertEquals(1, appender.append("zürich", ExpectedVersion.ANY, 8, new byte[0]));
            assertEquals(2, db.streamVersion("order-7781"));
            assertEquals(0, db.streamVersion("order-7782"));
            assertEquals(0, db.streamVersion("never-created"));
            final List<Long> versions = new ArrayList<>();
            assertEquals(2, db.readStream("order-7781", 1, 10, (e) -> versions.add(e.version())));
            assertEquals(List.of(1L, 2L), versions);
            assertEquals(0, db.readStream("never-created", 1, 10, (e) -> fail()));

            // the name records are in the log, but no reader of events sees them
            final List<StoreChecker.Event> events = StoreChecker.readAll(db);
            assertEquals(4, events.size());
            StoreChecker.check(db);

            final Map<String, Long> listed = new LinkedHashMap<>();
            db.streams("order-", listed::put);
            assertEquals(Map.of("order-7781", -1L, "order-7782", -2L), listed);
            final List<String> all = new ArrayList<>();
            db.streams("", (name, id) -> all.add(name));
            assertEquals(List.of("order-7781", "order-7782", "zürich"), all);
            assertEquals(3, db.namedStreamCount());
        }
    }

    @Test
    void unknownNegativeIdsAndBadNamesAreRefused()
    {
        try (VarveDB db = VarveDB.open(config()))
        {
            final Appender appender = db.appender();
            final IllegalArgumentException unknown = assertThrows(IllegalArgumentException.class,
                () -> appender.append(-1, ExpectedVersion.ANY, 1, new byte[1]));
            assertTrue(unknown.getMessage().contains("no stream name has it"), unknown.getMessage());
            assertThrows(IllegalArgumentException.class, () -> db.streamVersion(-1));
            assertThrows(IllegalArgumentException.class, () -> appender.append(0, ExpectedVersion.ANY, 1, new byte[1]));

            final String longest = "x".repeat(VarveDB.MAX_STREAM_NAME_LENGTH);
            assertEquals(-1, db.streamId(longest));
            final long tail = db.tailPosition();
            final IllegalArgumentException tooLong = assertThrows(IllegalArgumentException.class,
                () -> db.streamId(longest + "x"));
            assertTrue(tooLong.getMessage().contains("1 to " + VarveDB.MAX_STREAM_NAME_LENGTH + " bytes"),
                tooLong.getMessage());
            // 56 two-byte characters fit, 57 do not
            assertEquals(-2, db.streamId("é".repeat(56)));
            assertThrows(IllegalArgumentException.class, () -> db.streamId("é".repeat(57)));
            assertThrows(IllegalArgumentException.class, () -> db.streamId(""));
            assertThrows(IllegalArgumentException.class, () -> db.streamId("\ud800"));
            assertThrows(NullPointerException.class, () -> db.streamId(null));
            assertEquals(tail + 160, db.tailPosition(), "only the record of the two-byte name was written");
        }
    }

    @Test
    void aFullTableRefusesNewNamesWithItsCapacity()
    {
        try (VarveDB db = VarveDB.open(VarveConfig.builder(dir).segmentSize(TestStores.SEGMENT).nameCapacity(3)
            .build()))
        {
            db.streamId("a");
            db.streamId("b");
            db.streamId("c");
            final NameTableFullException full = assertThrows(NameTableFullException.class, () -> db.streamId("d"));
            assertTrue(full.getMessage().contains("3 names") && full.getMessage().contains("nameCapacity"),
                full.getMessage());
            assertThrows(NameTableFullException.class, () -> db.appender().append("e", ExpectedVersion.ANY, 1,
                new byte[0]));
            assertEquals(-2, db.streamId("b"), "existing names keep working");
            assertEquals(3, db.nameCapacity());
        }
        assertThrows(IllegalArgumentException.class, () -> VarveConfig.builder(dir).nameCapacity(0));
        assertThrows(IllegalArgumentException.class,
            () -> VarveConfig.builder(dir).nameCapacity(NameTableDescriptor.MAX_CAPACITY + 1));
    }

    @Test
    void namesSurviveRestartsAndReadOnlyOpens()
    {
        try (VarveDB db = VarveDB.open(config()))
        {
            db.streamId("one");
            db.appender().append(db.streamId("two"), ExpectedVersion.ANY, 1, new byte[3]);
        }
        try (VarveDB reader = VarveDB.openReadOnly(config()))
        {
            assertEquals(-2, reader.findStreamId("two"));
            assertEquals(-2, reader.streamId("two"));
            assertEquals("one", reader.streamName(-1));
            assertEquals(1, reader.streamVersion("two"));
            assertThrows(ReadOnlyStoreException.class, () -> reader.streamId("three"));
        }
        try (VarveDB db = VarveDB.open(config()))
        {
            assertTrue(db.openedCleanly());
            assertEquals(-1, db.streamId("one"));
            assertEquals(-2, db.streamId("two"));
            assertEquals(-3, db.streamId("three"));
            assertEquals(1, db.streamVersion(-2));
        }
    }

    @Test
    void concurrentCreationFromFourThreadsGivesEachNameOneId() throws Exception
    {
        final int threads = 4;
        final int names = 50;
        try (VarveDB db = VarveDB.open(VarveConfig.builder(dir).segmentSize(TestStores.SEGMENT).nameCapacity(1024)
            .build()))
        {
            final ExecutorService pool = Executors.newFixedThreadPool(threads);
            final CyclicBarrier start = new CyclicBarrier(threads);
            final Map<String, Long> ids = new ConcurrentHashMap<>();
            final List<Future<?>> done = new ArrayList<>();
            for (int t = 0; t < threads; t++)
            {
                final boolean ownAppender = t % 2 == 0;
                done.add(pool.submit(() ->
                {
                    final Appender appender = db.appender();
                    start.await();
                    for (int i = 0; i < names; i++)
                    {
                        final String name = "stream-" + i;
                        final long id = ownAppender ? appender.streamId(name) : db.streamId(name);
                        final Long previous = ids.putIfAbsent(name, id);
                        assertTrue(previous == null || previous == id, name + ": " + previous + " and " + id);
                        appender.append(id, ExpectedVersion.ANY, 1, new byte[4]);
                    }
                    appender.close();
                    return null;
                }));
            }
            for (final Future<?> f : done)
            {
                f.get();
            }
            pool.shutdown();
            assertEquals(names, ids.size());
            assertEquals(names, ids.values().stream().distinct().count(), "no two names share an id");
            for (final Map.Entry<String, Long> e : ids.entrySet())
            {
                assertEquals(e.getKey(), db.streamName(e.getValue()));
                assertEquals(threads, db.streamVersion(e.getValue()));
            }
            assertEquals(names, db.namedStreamCount());
            StoreChecker.check(db);
        }
        try (VarveDB db = VarveDB.open(VarveConfig.builder(dir).segmentSize(TestStores.SEGMENT).build()))
        {
            assertEquals(names, db.namedStreamCount());
            assertEquals(1024, db.nameCapacity(), "a table keeps the capacity it was made with");
        }
    }

    @Test
    void aDamagedTableIsDetectedAndRefilledFromTheLog() throws Exception
    {
        try (VarveDB db = VarveDB.open(config()))
        {
            db.streamId("alpha");
            db.streamId("beta");
            db.appender().append("gamma", ExpectedVersion.ANY, 1, new byte[1]);
        }
        final Path table = dir.resolve("index").resolve(NameTableDescriptor.FILE_NAME);
        // flip a byte of beta's name: its checksum no longer matches
        flip(table, NameTableDescriptor.entryOffset(1) + NameTableDescriptor.ENTRY_NAME_OFFSET);
        try (VarveDB db = VarveDB.open(config()))
        {
            assertEquals("beta", db.streamName(-2));
            assertEquals(-2, db.findStreamId("beta"));
            assertEquals(-4, db.streamId("delta"));
        }
        // a foreign header: the table is made anew and refilled from the log
        flip(table, NameTableDescriptor.MAGIC_OFFSET);
        try (VarveDB db = VarveDB.open(config()))
        {
            assertEquals(List.of("alpha", "beta", "gamma", "delta"), names(db));
            assertEquals(1, db.streamVersion("gamma"));
        }
        // gone altogether
        Files.delete(table);
        try (VarveDB db = VarveDB.open(config()))
        {
            assertEquals(List.of("alpha", "beta", "gamma", "delta"), names(db));
            assertEquals(-5, db.streamId("epsilon"));
        }
    }

    @Test
    void aNameWhoseRecordAPowerCutTookIsNotHandedOutUntilAskedForAgain() throws Exception
    {
        // a table that says logged for a name the log does not hold (as after a power cut that kept the table's
        // page but not the log's): a dirty open that scans the whole log demotes it, and the next streamId logs it
        try (VarveDB db = VarveDB.open(config()))
        {
            db.streamId("kept");
        }
        final Path index = dir.resolve("index");
        final Path table = index.resolve(NameTableDescriptor.FILE_NAME);
        final byte[] utf8 = "lost".getBytes(StandardCharsets.UTF_8);
        try (FileChannel channel = FileChannel.open(table, StandardOpenOption.READ, StandardOpenOption.WRITE))
        {
            final ByteBuffer entry = ByteBuffer.allocate(NameTableDescriptor.ENTRY_LENGTH)
                .order(java.nio.ByteOrder.LITTLE_ENDIAN);
            entry.putInt(NameTableDescriptor.LOGGED).putInt(utf8.length)
                .putInt(io.varvedb.internal.index.NameTableAccess.checksum(1, utf8)).putInt(0).put(utf8);
            entry.clear();
            channel.write(entry, NameTableDescriptor.entryOffset(1));
            final ByteBuffer counter = ByteBuffer.allocate(8).order(java.nio.ByteOrder.LITTLE_ENDIAN).putLong(0, 2);
            channel.write(counter, NameTableDescriptor.COUNTER_OFFSET);
        }
        // the stream index gone: the open rebuilds it from the whole log
        try (var files = Files.list(index))
        {
            for (final Path file : files.toList())
            {
                if (!file.equals(table))
                {
                    Files.delete(file);
                }
            }
        }
        try (VarveDB db = VarveDB.open(config()))
        {
            assertEquals(0, db.findStreamId("lost"), "not in the log: not handed out");
            assertThrows(IllegalArgumentException.class, () -> db.streamVersion(-2));
            assertEquals(-2, db.streamId("lost"), "asked for again: the same id, now logged");
            assertEquals("lost", db.streamName(-2));
            assertEquals(-1, db.findStreamId("kept"));
        }
    }

    private static List<String> names(final VarveDB db)
    {
        final List<String> names = new ArrayList<>();
        db.streams("", (name, id) -> names.add(name));
        return names;
    }

    private static void flip(final Path file, final long offset) throws Exception
    {
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE))
        {
            final ByteBuffer b = ByteBuffer.allocate(1);
            channel.read(b, offset);
            b.put(0, (byte)(b.get(0) ^ 0x5a)).clear();
            channel.write(b, offset);
        }
    }
}
