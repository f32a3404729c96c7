package io.varvedb;

import io.varvedb.internal.index.StreamIndexDescriptor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Damage to a closed store's files: every outcome is either the original events, served intact, or a clear
 * exception; never different data.
 */
class CorruptionTest
{
    @TempDir
    Path dir;

    private static List<StoreChecker.Event> populate(final Path store)
    {
        try (VarveDB db = VarveDB.open(TestStores.small(store)))
        {
            final Appender appender = db.appender();
            for (int i = 0; i < 400; i++)
            {
                appender.append(1 + i % 9, ExpectedVersion.ANY, i, ("payload-" + i + "-" + "x".repeat(200 + i % 200)).getBytes());
            }
            return StoreChecker.readAll(db);
        }
    }

    /** @return null if the store served exactly the original events, else the exception it reported. */
    private static VarveException openAndRead(final Path store, final List<StoreChecker.Event> original)
    {
        try (VarveDB db = VarveDB.open(TestStores.small(store)))
        {
            final List<StoreChecker.Event> read = StoreChecker.readAll(db);
            RecoveryTest.assertEventsEqual(original, read);
            StoreChecker.check(db);
            return null;
        }
        catch (final VarveException ex)
        {
            assertNotNull(ex.getMessage());
            return ex;
        }
    }

    @Test
    void singleBitFlipsAreServedIntactOrReportedNeverServedWrong() throws IOException
    {
        final Path template = dir.resolve("template");
        final List<StoreChecker.Event> original = populate(template);
        final long logBytes = original.get(original.size() - 1).position() + 256;
        final SplittableRandom random = new SplittableRandom(11);
        int reported = 0;
        for (int trial = 0; trial < 60; trial++)
        {
            final Path store = dir.resolve("flip-" + trial);
            RecoveryTest.copy(template, store);
            final long position = random.nextLong(logBytes);
            final Path file = RecoveryTest.segmentFile(store, position / TestStores.SEGMENT);
            flipBit(file, RecoveryTest.fileOffset(position), random.nextInt(8));
            if (openAndRead(store, original) != null)
            {
                reported++;
            }
        }
        assertTrue(reported > 30, "most flips land in records and are reported: " + reported);
    }

    @Test
    void bitFlipsInIndexBlocksAreReportedNeverServedWrong() throws IOException
    {
        final Path template = dir.resolve("template");
        final List<StoreChecker.Event> original = populate(template);
        final SplittableRandom random = new SplittableRandom(5);
        int reported = 0;
        for (int trial = 0; trial < 40; trial++)
        {
            final Path store = dir.resolve("index-flip-" + trial);
            RecoveryTest.copy(template, store);
            final Path blocks = store.resolve("index").resolve("blocks-0000000000.idx");
            // the entries of the first blocks: log positions the stream reads follow
            final long block = 1 + random.nextInt(9);
            final long offset = 256 + (block - 1) * 256 + 64 + random.nextInt(24) * 8 + random.nextInt(4);
            flipBit(blocks, offset, random.nextInt(8));

            // sealed at the clean close: the open finds the flip and rebuilds the index from the log
            final Path sealed = dir.resolve("sealed-" + trial);
            RecoveryTest.copy(store, sealed);
            try (VarveDB db = VarveDB.open(TestStores.small(sealed)))
            {
                assertEquals(0, db.recoveryScannedFrom(), "trial " + trial + ": the seal caught the flip");
                RecoveryTest.assertEventsEqual(original, StoreChecker.readAll(db));
                StoreChecker.check(db);
            }

            // without the seal (an index from an older build): the read that meets the flip reports it
            unseal(store);
            if (openAndRead(store, original) != null)
            {
                reported++;
            }
        }
        assertTrue(reported > 20, "flipped positions are caught by the record check: " + reported);
    }

    private static void unseal(final Path store) throws IOException
    {
        try (java.nio.channels.FileChannel channel = java.nio.channels.FileChannel.open(
            store.resolve("index").resolve("streams.idx"), java.nio.file.StandardOpenOption.WRITE))
        {
            channel.write(java.nio.ByteBuffer.allocate(Long.BYTES),
                io.varvedb.internal.index.StreamIndexDescriptor.SEALED_CHECKSUM_OFFSET);
        }
    }

    @Test
    void aZeroedPageInTheMiddleIsReportedWithFileAndPosition() throws IOException
    {
        final List<StoreChecker.Event> original = populate(dir);
        final long page = 4096L * 3;
        final long position = page - 64;
        RecoveryTest.write(dir, RecoveryTest.fileOffset(position) - RecoveryTest.fileOffset(position) % 4096 + 0,
            new byte[4096], RecoveryTest.segmentFile(dir, position / TestStores.SEGMENT));
        final VarveException clean = openAndRead(dir, original);
        assertNotNull(clean, "a clean open serves no hole silently");
        assertTrue(clean instanceof CorruptStoreException, clean.toString());

        ConcurrentStressTest.markDirty(dir);
        final VarveException recovering = openAndRead(dir, original);
        assertTrue(recovering instanceof CorruptStoreException, String.valueOf(recovering));
        assertTrue(recovering.getMessage().contains(".log"), recovering.getMessage());
        assertTrue(recovering.getMessage().contains("intact records follow"), recovering.getMessage());
    }

    @Test
    void aDeletedOrTruncatedSegmentIsRefusedNamingTheFile() throws IOException
    {
        final Path template = dir.resolve("template");
        final List<StoreChecker.Event> original = populate(template);
        assertTrue(original.get(original.size() - 1).position() > 2L * TestStores.SEGMENT);

        final Path deleted = dir.resolve("deleted");
        RecoveryTest.copy(template, deleted);
        Files.delete(RecoveryTest.segmentFile(deleted, 1));
        final VarveException e1 = openAndRead(deleted, original);
        assertTrue(e1 instanceof CorruptStoreException && e1.getMessage().contains("missing") &&
            e1.getMessage().contains(RecoveryTest.segmentFile(deleted, 1).getFileName().toString()), String.valueOf(e1));

        final Path truncated = dir.resolve("truncated");
        RecoveryTest.copy(template, truncated);
        try (FileChannel channel = FileChannel.open(RecoveryTest.segmentFile(truncated, 0), StandardOpenOption.WRITE))
        {
            channel.truncate(1000);
        }
        final VarveException e2 = openAndRead(truncated, original);
        assertTrue(e2 instanceof CorruptStoreException && e2.getMessage().contains("1000 bytes"), String.valueOf(e2));
    }

    /**
     * Issue 19, item 10: a flipped bit that puts varve.meta's durable position beyond the tail is not trusted by
     * any open: the writer recovers from the log (and a SYNC writer never reports more durable than it holds),
     * a read-only open reports no more than the tail, and every event is served.
     */
    @Test
    void aDurablePositionBeyondTheTailIsNeverTrusted() throws IOException
    {
        final Path template = dir.resolve("template");
        final List<StoreChecker.Event> original = populate(template);
        final Path metaFile = template.resolve(io.varvedb.internal.store.MetaDescriptor.FILE_NAME);
        for (final int bit : new int[] { 19, 30, 47, 62, 63 })
        {
            final Path store = dir.resolve("bit-" + bit);
            RecoveryTest.copy(template, store);
            final Path meta = store.resolve(metaFile.getFileName());
            flipBit(meta, io.varvedb.internal.store.MetaDescriptor.DURABLE_POSITION_OFFSET + bit / 8, bit % 8);

            try (VarveDB reader = VarveDB.openReadOnly(store))
            {
                assertTrue(reader.durablePosition() <= reader.tailPosition(),
                    "bit " + bit + ": read-only durable " + reader.durablePosition() + ", tail " + reader.tailPosition());
                RecoveryTest.assertEventsEqual(original, StoreChecker.readAll(reader));
            }
            try (VarveDB db = VarveDB.open(VarveConfig.builder(store).segmentSize(TestStores.SEGMENT)
                .indexCapacity(4096).indexBlocksPerChunk(64).durability(Durability.SYNC).build()))
            {
                assertFalse(db.openedCleanly(), "bit " + bit + ": a meta file that contradicts itself is not clean");
                assertTrue(db.durablePosition() <= db.tailPosition(),
                    "bit " + bit + ": durable " + db.durablePosition() + ", tail " + db.tailPosition());
                RecoveryTest.assertEventsEqual(original, StoreChecker.readAll(db));
                StoreChecker.check(db);
                db.appender().append(1, ExpectedVersion.ANY, 1, new byte[10]);
                assertEquals(db.tailPosition(), db.durablePosition(), "SYNC: durable up to the tail");
            }
            try (VarveDB db = VarveDB.open(TestStores.small(store)))
            {
                assertTrue(db.openedCleanly());
                assertEquals(original.size() + 1, StoreChecker.readAll(db).size());
            }
        }
    }

    /**
     * A flipped bit in varve.meta's tail (the claim counter) puts it off the log's real end, perhaps inside the
     * last record. The writer must not take it for the end of the log (and truncate or overwrite a record there):
     * varve.meta that contradicts itself or the log is not trusted, and the log is recovered whole.
     */
    @Test
    void aFlippedBitInTheTailNeverCostsAnEvent() throws IOException
    {
        final Path template = dir.resolve("template");
        final List<StoreChecker.Event> original = populate(template);
        final Path metaName = template.resolve(io.varvedb.internal.store.MetaDescriptor.FILE_NAME).getFileName();
        for (int bit = 0; bit < 24; bit++)
        {
            final Path store = dir.resolve("tail-bit-" + bit);
            RecoveryTest.copy(template, store);
            flipBit(store.resolve(metaName), io.varvedb.internal.store.MetaDescriptor.TAIL_POSITION_OFFSET + bit / 8,
                bit % 8);
            try (VarveDB db = VarveDB.open(TestStores.small(store)))
            {
                RecoveryTest.assertEventsEqual(original, StoreChecker.readAll(db));
                StoreChecker.check(db);
                db.appender().append(1, ExpectedVersion.ANY, 1, new byte[10]);
                assertEquals(original.size() + 1, StoreChecker.readAll(db).size(), "bit " + bit);
            }
        }
    }

    @Test
    void aTruncatedIndexIsRebuiltFromTheLog() throws IOException
    {
        final List<StoreChecker.Event> original = populate(dir);
        try (FileChannel channel = FileChannel.open(dir.resolve("index").resolve(StreamIndexDescriptor.FILE_NAME),
            StandardOpenOption.WRITE))
        {
            channel.truncate(5000);
        }
        assertNull(openAndRead(dir, original));
        try (VarveDB db = VarveDB.open(TestStores.small(dir)))
        {
            assertTrue(db.openedCleanly(), "rebuilt once, clean after");
        }
    }

    private static void flipBit(final Path file, final long offset, final int bit) throws IOException
    {
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE))
        {
            final java.nio.ByteBuffer one = java.nio.ByteBuffer.allocate(1);
            channel.read(one, offset);
            one.put(0, (byte)(one.get(0) ^ (1 << bit)));
            channel.write(one.rewind(), offset);
        }
    }
}
