package io.varvedb;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A real full disk and a real read-only file system, on a small tmpfs.
 */
class ResourceFaultTest
{
    @TempDir
    Path dir;

    private VarveConfig config(final Path store)
    {
        return VarveConfig.builder(store).segmentSize(64 * 1024).indexCapacity(64).indexBlocksPerChunk(16).build();
    }

    /**
     * A new store the disk has no room for is refused, and leaves no varve.meta behind whose shape every later
     * open would have to take: the same directory then opens with a shape that fits.
     */
    @Test
    void aStoreThatCannotBeCreatedLeavesNothingBehind() throws Exception
    {
        Assumptions.assumeTrue(Tmpfs.available(dir.resolve("probe")), "needs permission to mount a tmpfs");
        try (Tmpfs fs = Tmpfs.mount(dir.resolve("tiny"), "1m"))
        {
            final Path store = fs.path().resolve("store");
            // room for varve.meta (a page) but not for the index table's first unit (2 MiB): the table's other
            // units are holes until streams need them, so a 16-million-stream table no longer needs 1 GiB
            Files.createDirectories(store);
            fillDisk(fs.path(), io.varvedb.internal.store.MetaDescriptor.LENGTH);
            final StoreIOException full = assertThrows(StoreIOException.class, () -> VarveDB.open(
                VarveConfig.builder(store).segmentSize(64 * 1024).indexCapacity(1 << 24).build()));
            assertTrue(full.getMessage().contains("No space left on device"), full.getMessage());
            try (java.util.stream.Stream<Path> left = Files.list(store))
            {
                assertEquals(List.of(), left.map((p) -> p.getFileName().toString()).toList(),
                    "nothing of the failed store is left, its lock file included");
            }
            Files.delete(fs.path().resolve("filler"));
            try (VarveDB db = VarveDB.open(config(store)))
            {
                assertEquals(64, db.config().indexCapacity(), "the shape asked for now, not the failed one");
                db.appender().append(1, ExpectedVersion.NO_STREAM, 1, new byte[8]);
            }
        }
    }

    @Test
    void aFullDiskFailsAppendsCleanlyAndTheStoreGoesOnWhenSpaceReturns() throws Exception
    {
        Assumptions.assumeTrue(Tmpfs.available(dir.resolve("probe")), "needs permission to mount a tmpfs");
        try (Tmpfs fs = Tmpfs.mount(dir.resolve("small"), "420k"))
        {
            final Path store = fs.path().resolve("store");
            final List<Long> acknowledged = new ArrayList<>();
            StoreIOException full = null;
            try (VarveDB db = VarveDB.open(config(store)))
            {
                final Appender appender = db.appender();
                final long[] versions = new long[5];
                for (int i = 0; i < 100_000 && full == null; i++)
                {
                    try
                    {
                        final long version = appender.append(1 + i % 5, ExpectedVersion.ANY, 1, payload(i));
                        assertEquals(++versions[i % 5], version);
                        acknowledged.add((long)i);
                    }
                    catch (final StoreIOException ex)
                    {
                        full = ex;
                    }
                }
                assertNotNull(full, "the disk filled up");
                assertTrue(full.getMessage().contains("No space left on device"), full.getMessage());
                assertTrue(full.getMessage().contains(store.toString()), "names the file: " + full.getMessage());
                assertThrows(StoreIOException.class, () -> appender.append(1, ExpectedVersion.ANY, 1, payload(-1)),
                    "still full, still a clean refusal");
                checkAcknowledged(db, acknowledged);

                fs.remount("size=4m");
                appendIds(appender, 1_000_000, 2000, acknowledged);
                checkAcknowledged(db, acknowledged);
            }
            try (VarveDB db = VarveDB.open(config(store)))
            {
                checkAcknowledged(db, acknowledged);
            }
        }
    }

    /**
     * A store filled to the last segment the disk holds opens again, serves every event, appends what fits its
     * current segment, and appends again once space is back, without being reopened.
     */
    @Test
    void aStoreOnAFullDiskOpensServesReadsAndAppendsOnceSpaceIsBack() throws Exception
    {
        Assumptions.assumeTrue(Tmpfs.available(dir.resolve("probe")), "needs permission to mount a tmpfs");
        try (Tmpfs fs = Tmpfs.mount(dir.resolve("full"), "420k"))
        {
            final Path store = fs.path().resolve("store");
            final List<Long> acknowledged = new ArrayList<>();
            try (VarveDB db = VarveDB.open(config(store)))
            {
                final Appender appender = db.appender();
                for (int i = 0; ; i++)
                {
                    try
                    {
                        appender.append(1 + i % 5, ExpectedVersion.ANY, 1, payload(i));
                        acknowledged.add((long)i);
                    }
                    catch (final StoreIOException ex)
                    {
                        break;
                    }
                }
            }
            // and not one block left for anything else either
            fillDisk(fs.path());

            final List<Throwable> reported = new java.util.concurrent.CopyOnWriteArrayList<>();
            final VarveConfig reporting = VarveConfig.builder(store).segmentSize(64 * 1024).indexCapacity(64)
                .indexBlocksPerChunk(16).backgroundErrorHandler(reported::add).build();
            try (VarveDB db = VarveDB.open(reporting))
            {
                checkAcknowledged(db, acknowledged);
                final StoreIOException refused = assertThrows(StoreIOException.class,
                    () -> fillSegment(db.appender(), acknowledged), "the next segment does not fit");
                assertTrue(refused.getMessage().contains("No space left on device") &&
                    refused.getMessage().contains(store.toString()), refused.getMessage());
                SubscriptionTest.await(() -> db.preallocationFailures() > 0 && !reported.isEmpty(),
                    "the background pre-allocation reports that it cannot make the next segment");
                assertTrue(reported.get(0) instanceof StoreIOException, String.valueOf(reported.get(0)));
                checkAcknowledged(db, acknowledged);

                Files.delete(fs.path().resolve("filler"));
                fs.remount("size=4m");
                // no reopen: the same store, the same appender's next append goes on
                final Appender appender = db.appender();
                appendIds(appender, 2_000_000, 3000, acknowledged);
                checkAcknowledged(db, acknowledged);
            }
            try (VarveDB db = VarveDB.open(config(store)))
            {
                assertTrue(db.openedCleanly());
                checkAcknowledged(db, acknowledged);
            }
        }
    }

    /**
     * A new store opens on a disk with room for its index and one allocation step of the log but not for one
     * segment: reads work (there is nothing to read), appends work as far as the disk has room (a segment gets its
     * disk blocks in 2 MiB steps as the log grows into it, issue 21), are then refused with the disk's error, and go
     * on once space is back.
     */
    @Test
    void aNewStoreOpensWithLessFreeSpaceThanASegment() throws Exception
    {
        Assumptions.assumeTrue(Tmpfs.available(dir.resolve("probe")), "needs permission to mount a tmpfs");
        try (Tmpfs fs = Tmpfs.mount(dir.resolve("small"), "3m"))
        {
            final Path store = fs.path().resolve("store");
            final VarveConfig config = VarveConfig.builder(store).segmentSize(4 << 20).indexCapacity(64)
                .indexBlocksPerChunk(16).backgroundErrorHandler((e) -> { }).build();
            final List<Long> acknowledged = new ArrayList<>();
            try (VarveDB db = VarveDB.open(config))
            {
                assertEquals(0, db.streamVersion(1));
                assertEquals(0, db.readAll(0, 10, (e) -> fail("nothing was appended")));
                final Appender appender = db.appender();
                final StoreIOException refused = assertThrows(StoreIOException.class,
                    () -> appendIds(appender, 0, 1 << 20, acknowledged));
                assertTrue(refused.getMessage().contains("No space left on device"), refused.getMessage());
                assertTrue(acknowledged.size() > 1000, "appends go on while the disk has room: " + acknowledged.size() + ", then " + refused.getMessage());
                checkAcknowledged(db, acknowledged);

                fs.remount("size=16m");
                appendIds(appender, 2_000_000, 100, acknowledged);
                checkAcknowledged(db, acknowledged);
            }
            try (VarveDB db = VarveDB.openReadOnly(store))
            {
                checkAcknowledged(db, acknowledged);
            }
        }
    }

    @Test
    void aReadOnlyFileSystemIsRefusedForWritingAndReadableReadOnly() throws Exception
    {
        Assumptions.assumeTrue(Tmpfs.available(dir.resolve("probe")), "needs permission to mount a tmpfs");
        try (Tmpfs fs = Tmpfs.mount(dir.resolve("ro"), "2m"))
        {
            final Path store = fs.path().resolve("store");
            createOneEventStore(config(store));
            fs.remount("ro");
            final StoreIOException refused = assertThrows(StoreIOException.class, () -> VarveDB.open(config(store)));
            assertTrue(refused.getMessage().contains("not writable") && refused.getMessage().contains("openReadOnly"),
                refused.getMessage());
            try (VarveDB db = VarveDB.openReadOnly(store))
            {
                assertEquals(1, db.streamVersion(1));
                assertEquals(1, db.readAll(0, 10, (e) -> assertEquals(1, e.payload().getLong(0))));
            }
        }
    }

    /**
     * The pid in {@code varve.lock} needs a disk block: a sound store whose lock file is gone (copied or restored
     * without it) still opens on a full disk, and a new store refused there leaves no lock file behind.
     */
    @Test
    void theLockFileNeedsNoRoom() throws Exception
    {
        Assumptions.assumeTrue(Tmpfs.available(dir.resolve("probe")), "needs permission to mount a tmpfs");
        try (Tmpfs fs = Tmpfs.mount(dir.resolve("nolock"), "8m"))
        {
            final Path store = fs.path().resolve("store");
            createOneEventStore(config(store));
            Files.delete(store.resolve("varve.lock"));
            final Path empty = Files.createDirectories(fs.path().resolve("empty"));
            fillDisk(fs.path());
            try (VarveDB db = VarveDB.open(config(store)))
            {
                assertEquals(1, db.readAll(0, 10, (e) -> assertEquals(1, e.payload().getLong(0))));
            }
            final StoreIOException refused = assertThrows(StoreIOException.class, () -> VarveDB.open(config(empty)));
            assertTrue(refused.getMessage().contains("No space left on device"), refused.getMessage());
            try (java.util.stream.Stream<Path> files = Files.list(empty))
            {
                assertEquals(List.of(), files.toList(), "a refused new store leaves nothing, no lock file either");
            }
        }
    }

    /** In a frame of its own, so nothing of the store stays reachable from the test's frame. */
    private static void createOneEventStore(final VarveConfig config)
    {
        try (VarveDB db = VarveDB.open(config))
        {
            db.appender().append(1, ExpectedVersion.NO_STREAM, 1, payload(1));
        }
    }

    /** Append until the current segment is full; the first append that needs the next one throws. */
    private static void fillSegment(final Appender appender, final List<Long> acknowledged)
    {
        appendIds(appender, 1_000_000, 100_000, acknowledged);
    }

    /** Append the events {@code firstId, firstId + 1, ...} over five streams, noting each acknowledged one. */
    static void appendIds(final Appender appender, final int firstId, final int count,
        final List<Long> acknowledged)
    {
        for (int i = 0; i < count; i++)
        {
            final int id = firstId + i;
            appender.append(1 + id % 5, ExpectedVersion.ANY, 1, payload(id));
            acknowledged.add((long)id);
        }
    }

    /** Leave {@code free} bytes on the file system, taking the rest with one file, "filler". */
    static void fillDisk(final Path mount, final long free) throws java.io.IOException
    {
        final long usable = Files.getFileStore(mount).getUsableSpace();
        try (java.nio.channels.FileChannel channel = java.nio.channels.FileChannel.open(mount.resolve("filler"),
            java.nio.file.StandardOpenOption.CREATE_NEW, java.nio.file.StandardOpenOption.WRITE))
        {
            io.varvedb.internal.io.MappedFile.zeroFill(channel, usable - free);
        }
        assertEquals(free, Files.getFileStore(mount).getUsableSpace(), "the disk is full but for " + free);
    }

    /** Take every block left on the file system with one file, "filler". */
    static void fillDisk(final Path mount) throws java.io.IOException
    {
        try (java.nio.channels.FileChannel channel = java.nio.channels.FileChannel.open(mount.resolve("filler"),
            java.nio.file.StandardOpenOption.CREATE_NEW, java.nio.file.StandardOpenOption.WRITE))
        {
            final java.nio.ByteBuffer block = java.nio.ByteBuffer.allocate(4096);
            while (true)
            {
                block.clear();
                channel.write(block);
            }
        }
        catch (final java.io.IOException ex)
        {
            if (!String.valueOf(ex.getMessage()).contains("No space left on device"))
            {
                throw ex;
            }
        }
        assertEquals(0, Files.getFileStore(mount).getUsableSpace(), "the disk is full");
    }

    static byte[] payload(final long id)
    {
        final byte[] bytes = new byte[200];
        new org.agrona.concurrent.UnsafeBuffer(bytes).putLong(0, id);
        return bytes;
    }

    static void checkAcknowledged(final VarveDB db, final List<Long> acknowledged)
    {
        final List<Long> ids = new ArrayList<>();
        db.readAll(0, Integer.MAX_VALUE, (e) -> ids.add(e.payload().getLong(0)));
        assertEquals(acknowledged, ids, "every acknowledged event, in order, nothing else");
        StoreChecker.check(db);
    }
}
