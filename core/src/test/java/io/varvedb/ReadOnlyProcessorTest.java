package io.varvedb;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A processor on a store opened read-only is allowed (a projection in another process): it writes its checkpoint
 * and lock in {@code checkpoints/} and nothing else. Where the directory cannot be written, it is refused with
 * {@link ReadOnlyStoreException} naming the directory.
 */
class ReadOnlyProcessorTest
{
    @TempDir
    Path dir;

    @Test
    void aProcessorOnAReadOnlyStoreWritesOnlyItsCheckpoint() throws Exception
    {
        final Path store = dir.resolve("store");
        try (VarveDB db = VarveDB.open(TestStores.small(store)))
        {
            for (int i = 1; i <= 10; i++)
            {
                db.appender().append(i, ExpectedVersion.NO_STREAM, 1, new byte[16]);
            }
        }
        final Map<String, byte[]> before = contents(store);
        try (VarveDB db = VarveDB.openReadOnly(store))
        {
            final List<Long> seen = new ArrayList<>();
            try (Processor processor = db.processor("projection", (e) -> seen.add(e.streamId())))
            {
                while (processor.poll(100) > 0)
                {
                    // drain
                }
            }
            assertEquals(10, seen.size());
            assertEquals(db.tailPosition(), db.checkpoints().get("projection"));
            db.resetCheckpoint("projection", VarveDB.START_POSITION);
        }
        final Map<String, byte[]> after = contents(store);
        assertEquals(List.of("checkpoints/projection.ckpt", "checkpoints/projection.lock"),
            after.keySet().stream().filter((f) -> !before.containsKey(f)).toList(), "only the checkpoint is new");
        for (final Map.Entry<String, byte[]> file : before.entrySet())
        {
            if (file.getKey().equals(io.varvedb.internal.counters.CountersFileDescriptor.FILE_NAME))
            {
                // the one other file a reader writes: its own counters, in a region of its own
                continue;
            }
            assertArrayEquals(file.getValue(), after.get(file.getKey()), file.getKey() + " unchanged");
        }
        try (io.varvedb.counters.VarveCounters counters = io.varvedb.counters.VarveCounters.open(store))
        {
            assertTrue(counters.snapshot().processes().stream().anyMatch((p) -> p.role().equals("reader") &&
                p.total(io.varvedb.counters.CounterType.PROCESSOR_CHECKPOINTS) == 0), "the reader's counters");
        }
    }

    @Test
    void aProcessorWhereTheDirectoryCannotBeWrittenIsRefusedNamingIt() throws Exception
    {
        Assumptions.assumeTrue(Tmpfs.available(dir.resolve("probe")), "needs permission to mount a tmpfs");
        try (Tmpfs fs = Tmpfs.mount(dir.resolve("ro"), "2m"))
        {
            final Path store = fs.path().resolve("store");
            try (VarveDB db = VarveDB.open(TestStores.small(store)))
            {
                db.appender().append(1, ExpectedVersion.NO_STREAM, 1, new byte[16]);
            }
            fs.remount("ro");
            try (VarveDB db = VarveDB.openReadOnly(store))
            {
                final ReadOnlyStoreException refused = assertThrows(ReadOnlyStoreException.class,
                    () -> db.processor("projection", (e) -> { }));
                assertTrue(refused.getMessage().contains(store.resolve("checkpoints").toString()) &&
                    refused.getMessage().contains("projection"), refused.getMessage());
                assertThrows(ReadOnlyStoreException.class, () -> db.resetCheckpoint("projection", 0));
                assertFalse(db.deleteCheckpoint("projection"), "nothing to delete");
                // subscriptions write nothing and work
                assertEquals(1, db.readAll(0, 10, (e) -> { }));
                try (Subscription subscription = db.subscription(VarveDB.START_POSITION))
                {
                    assertEquals(1, subscription.poll((e) -> { }, 10));
                }
            }
            fs.remount("rw");
        }
    }

    private static Map<String, byte[]> contents(final Path store) throws Exception
    {
        final Map<String, byte[]> files = new TreeMap<>();
        try (Stream<Path> all = Files.walk(store))
        {
            for (final Path file : all.filter(Files::isRegularFile).toList())
            {
                files.put(store.relativize(file).toString(), Files.readAllBytes(file));
            }
        }
        return files;
    }
}
