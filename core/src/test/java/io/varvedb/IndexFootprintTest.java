package io.varvedb;

import io.varvedb.internal.index.BlockDescriptor;
import io.varvedb.internal.index.EventIdTableDescriptor;
import io.varvedb.internal.index.StreamIndexDescriptor;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The stream index takes disk space as streams appear, not all at creation: the table's slot area and the block
 * chunk files are holes until a stream's creation (or the block pre-allocator ahead of it) allocates them, and
 * nothing is ever written into a hole (a full disk is then a clean exception, never a SIGBUS).
 */
class IndexFootprintTest
{
    @TempDir
    Path dir;

    /** Disk blocks a file or directory tree takes, as du counts them (allocated space, not apparent length). */
    static long allocatedBytes(final Path path) throws IOException, InterruptedException
    {
        final Process process = new ProcessBuilder("du", "-s", "-B1", path.toString()).redirectErrorStream(true)
            .start();
        final String output = new String(process.getInputStream().readAllBytes()).trim();
        assertTrue(process.waitFor(30, TimeUnit.SECONDS) && process.exitValue() == 0, "du: " + output);
        return Long.parseLong(output.split("\\s+")[0]);
    }

    /** The stream index's own files: the table and its block chunks (not the event id table beside them). */
    private static long indexFilesAllocated(final Path store) throws IOException, InterruptedException
    {
        long total = 0;
        try (java.util.stream.Stream<Path> files = Files.list(store.resolve("index")))
        {
            for (final Path file : files.toList())
            {
                final String name = file.getFileName().toString();
                if (name.equals(StreamIndexDescriptor.FILE_NAME) || name.startsWith(BlockDescriptor.FILE_PREFIX))
                {
                    total += allocatedBytes(file);
                }
            }
        }
        return total;
    }

    @Test
    void aNewStoreTakesLittleDiskForItsIndex() throws Exception
    {
        final Path store = dir.resolve("empty");
        try (VarveDB db = VarveDB.open(store))
        {
            db.appender().append(1, ExpectedVersion.NO_STREAM, 1, new byte[3]);
        }
        final long table = allocatedBytes(store.resolve("index").resolve(StreamIndexDescriptor.FILE_NAME));
        final long index = indexFilesAllocated(store);
        // unit 0 (the header and the first slots), and the first stream's unit if another; the first 2 MiB of the
        // block file (its header and the pre-allocator's lead)
        final long unit = StreamIndexDescriptor.UNIT_LENGTH;
        assertTrue(table <= 2 * unit, "the table takes " + table + " bytes");
        assertTrue(index <= 3 * unit, "the index files take " + index + " bytes");
        // a store that never appended an event id spends one page on its id table, whatever its capacity
        final long ids = allocatedBytes(store.resolve("index").resolve(EventIdTableDescriptor.FILE_NAME));
        assertTrue(ids <= EventIdTableDescriptor.HEADER_LENGTH, "the event id table takes " + ids + " bytes");
        // the default shape's files keep their full lengths (holes): the layout is unchanged
        assertEquals(StreamIndexDescriptor.fileLength(StreamIndexDescriptor.tableSize(1 << 20)),
            Files.size(store.resolve("index").resolve(StreamIndexDescriptor.FILE_NAME)));
        try (VarveDB db = VarveDB.open(store))
        {
            assertTrue(db.openedCleanly());
            assertEquals(1, db.streamVersion(1));
        }
    }

    @Test
    void theIndexGrowsAsStreamsAppear() throws Exception
    {
        final Path store = dir.resolve("growing");
        long created = 0;
        long previous = 0;
        for (final long streams : new long[]{ 1, 4, 16 })
        {
            try (VarveDB db = VarveDB.open(store))
            {
                final Appender appender = db.appender();
                for (long id = created + 1; id <= streams; id++)
                {
                    appender.append(id, ExpectedVersion.NO_STREAM, 1, new byte[8]);
                }
                created = streams;
            }
            final long table = allocatedBytes(store.resolve("index").resolve(StreamIndexDescriptor.FILE_NAME));
            final long index = indexFilesAllocated(store);
            // at most a 2 MiB unit per stream (fewer when streams share one) beside unit 0
            final long unit = StreamIndexDescriptor.UNIT_LENGTH;
            assertTrue(table <= unit * (streams + 1), streams + " streams: the table takes " + table);
            // a block per stream, and the pre-allocator's lead: the first 2 MiB of the block file
            assertTrue(index <= table + BlockDescriptor.ALLOCATION_STEP,
                streams + " streams: the index takes " + index);
            assertTrue(index > previous, streams + " streams: the index grew from " + previous + " to " + index);
            previous = index;
        }
        try (VarveDB db = VarveDB.open(store))
        {
            assertEquals(created, db.streamCount());
            StoreChecker.check(db);
        }
    }

    /**
     * 100,000 new streams created by four threads at once, each stream by all four (so creations race for the same
     * slots and units): every invariant holds, and the store reads the same after a reopen.
     */
    @Test
    void manyStreamsCreatedFromFourThreads() throws Exception
    {
        final Path store = dir.resolve("many");
        final int streams = 100_000;
        final int threads = 4;
        final Map<Long, List<String>> before;
        try (VarveDB db = VarveDB.open(VarveConfig.builder(store).segmentSize(16 << 20).build()))
        {
            final CountDownLatch start = new CountDownLatch(1);
            final AtomicReference<Throwable> failure = new AtomicReference<>();
            final List<Thread> workers = new ArrayList<>();
            for (int t = 0; t < threads; t++)
            {
                final int thread = t;
                workers.add(new Thread(() ->
                {
                    try (Appender appender = db.appender())
                    {
                        start.await();
                        final byte[] payload = new byte[16];
                        for (int i = 0; i < streams; i++)
                        {
                            // each thread walks the streams from its own starting point
                            final long id = 1 + (i + (long)thread * streams / threads) % streams;
                            payload[0] = (byte)thread;
                            appender.append(id * 7919, ExpectedVersion.ANY, thread, payload);
                        }
                    }
                    catch (final Throwable ex)
                    {
                        failure.compareAndSet(null, ex);
                    }
                }));
            }
            workers.forEach(Thread::start);
            start.countDown();
            for (final Thread worker : workers)
            {
                worker.join();
            }
            assertNull(failure.get(), () -> String.valueOf(failure.get()));
            assertEquals(streams, db.streamCount());
            before = summary(StoreChecker.check(db));
            assertEquals(streams, before.size());
            before.values().forEach((events) -> assertEquals(threads, events.size()));
        }
        try (VarveDB db = VarveDB.open(store))
        {
            assertTrue(db.openedCleanly());
            assertEquals(before, summary(StoreChecker.check(db)), "the store reads the same after a reopen");
        }
    }

    private static Map<Long, List<String>> summary(final Map<Long, List<StoreChecker.Event>> streams)
    {
        final Map<Long, List<String>> summary = new TreeMap<>();
        streams.forEach((id, events) -> summary.put(id, events.stream().map((e) -> e.version() + "@" + e.position() +
            ":" + e.eventType()).toList()));
        return summary;
    }

    /**
     * The disk fills while new streams are created, each in a table unit of its own: the creation that cannot have
     * its unit (or block) fails with a clean StoreIOException and leaves no stream; the JVM never meets a SIGBUS;
     * nothing acknowledged is lost; once space is back, creations go on without a reopen.
     */
    @Test
    void aFullDiskWhileStreamsAreCreatedFailsCleanlyAndCreationGoesOnOnceSpaceIsBack() throws Exception
    {
        Assumptions.assumeTrue(Tmpfs.available(dir.resolve("probe")), "needs permission to mount a tmpfs");
        try (Tmpfs fs = Tmpfs.mount(dir.resolve("small"), "8m"))
        {
            final Path store = fs.path().resolve("store");
            // a table of 64 MiB (holes) on an 8 MiB disk: streams spread over its 33 units of 2 MiB
            final VarveConfig config = VarveConfig.builder(store).segmentSize(64 * 1024).indexCapacity(1 << 20)
                .indexBlocksPerChunk(1024).backgroundErrorHandler((e) -> { }).build();
            final List<Long> acknowledged = new ArrayList<>();
            final List<String> failures = new ArrayList<>();
            try (VarveDB db = VarveDB.open(config))
            {
                final Appender appender = db.appender();
                long id = 1;
                while (failures.size() < 20 && id < 100_000)
                {
                    try
                    {
                        assertEquals(1, appender.append(id, ExpectedVersion.NO_STREAM, 1, payload(id)));
                        acknowledged.add(id);
                    }
                    catch (final StoreIOException ex)
                    {
                        assertTrue(ex.getMessage().contains("No space left on device"), ex.getMessage());
                        failures.add(ex.getMessage());
                        assertEquals(0, db.streamVersion(id), "a failed creation leaves no stream");
                    }
                    id++;
                }
                assertEquals(20, failures.size(), "the disk filled up");
                assertTrue(failures.stream().anyMatch((m) -> m.contains(StreamIndexDescriptor.FILE_NAME)),
                    "a creation failed for want of a table unit: " + failures);
                assertTrue(acknowledged.size() >= 2, acknowledged.size() + " streams were created");
                assertEquals(acknowledged.size(), db.streamCount(), "no stream of a failed creation was counted");
                checkAcknowledged(db, acknowledged);

                fs.remount("size=128m");
                for (int i = 0; i < 200; i++, id++)
                {
                    assertEquals(1, appender.append(id, ExpectedVersion.NO_STREAM, 1, payload(id)));
                    acknowledged.add(id);
                }
                checkAcknowledged(db, acknowledged);
            }
            try (VarveDB db = VarveDB.open(config))
            {
                assertTrue(db.openedCleanly());
                checkAcknowledged(db, acknowledged);
            }
        }
    }

    private static byte[] payload(final long id)
    {
        final byte[] bytes = new byte[24];
        new org.agrona.concurrent.UnsafeBuffer(bytes).putLong(0, id);
        return bytes;
    }

    private static void checkAcknowledged(final VarveDB db, final List<Long> acknowledged)
    {
        final List<Long> ids = new ArrayList<>();
        db.readAll(0, Integer.MAX_VALUE, (e) ->
        {
            assertEquals(e.streamId(), e.payload().getLong(0));
            ids.add(e.streamId());
        });
        assertEquals(acknowledged, ids, "every acknowledged event, in order, nothing else");
        for (final long id : acknowledged)
        {
            assertEquals(1, db.streamVersion(id));
        }
        StoreChecker.check(db);
    }

    // ------------------------------------------------------------------------- the bitmap is checked, never trusted

    private Map<Long, List<String>> populate(final Path store)
    {
        // 33 units of 2 MiB, some 20 of them used by 30 streams
        try (VarveDB db = VarveDB.open(VarveConfig.builder(store).segmentSize(TestStores.SEGMENT).indexCapacity(1 << 20)
            .indexBlocksPerChunk(64).build()))
        {
            final Appender appender = db.appender();
            for (int i = 0; i < 2_000; i++)
            {
                appender.append(1 + i % 30, ExpectedVersion.ANY, 1, ("e" + i).getBytes());
            }
            return summary(StoreChecker.check(db));
        }
    }

    /** @return the bitmap word of every unit, in order. */
    private static long[] bitmap(final Path store) throws IOException
    {
        final long[] words = new long[StreamIndexDescriptor.UNIT_BITMAP_LENGTH / Long.BYTES];
        for (int i = 0; i < words.length; i++)
        {
            words[i] = IndexSlotCheckTest.readLong(IndexSlotCheckTest.table(store), StreamIndexDescriptor.UNIT_BITMAP_OFFSET + i * Long.BYTES);
        }
        return words;
    }

    private void assertRebuiltAndRight(final Path store, final Map<Long, List<String>> streams)
    {
        try (VarveDB db = VarveDB.open(TestStores.small(store)))
        {
            assertEquals(0, db.recoveryScannedFrom(), "the index was rebuilt from the start of the log");
            assertTrue(db.recoveredEvents() > 0, "the index was rebuilt from the log");
            assertEquals(streams, summary(StoreChecker.check(db)), "every stream as the log holds it");
            for (final long stream : streams.keySet())
            {
                assertEquals(streams.get(stream).size() + 1, db.appender().append(stream,
                    ExpectedVersion.exact(streams.get(stream).size()), 1, new byte[3]));
            }
        }
    }

    /** A unit holding slots whose bit is clear (a power cut lost the header page, or damage): rebuilt. */
    @Test
    void aSlotInAUnitNotMarkedAllocatedIsFoundAtOpenAndTheIndexRebuilt() throws IOException
    {
        for (final boolean sealed : new boolean[]{ true, false })
        {
            final Path store = dir.resolve("clear-bit-" + sealed);
            final Map<Long, List<String>> streams = populate(store);
            final long[] words = bitmap(store);
            // a unit beside unit 0 (which holds the header) that holds streams
            final long used = Long.lowestOneBit(words[0] & ~1L);
            assertNotEquals(0, used);
            IndexSlotCheckTest.writeLong(IndexSlotCheckTest.table(store), StreamIndexDescriptor.UNIT_BITMAP_OFFSET, words[0] & ~used);
            if (!sealed)
            {
                IndexSlotCheckTest.writeLong(IndexSlotCheckTest.table(store), StreamIndexDescriptor.SEALED_CHECKSUM_OFFSET, 0);
            }
            assertRebuiltAndRight(store, streams);
        }
    }

    /**
     * A bit set for a unit that holds nothing (a power cut may have lost its allocation): found by the seal at a
     * clean open, and after the rebuild the bitmap marks only units the rebuild allocated itself.
     */
    @Test
    void aBitSetForAnEmptyUnitIsFoundByTheSealAndClearedByTheRebuild() throws IOException
    {
        final Path store = dir.resolve("set-bit");
        final Map<Long, List<String>> streams = populate(store);
        final long[] words = bitmap(store);
        // a unit of the 33 that no stream uses
        final long spurious = Long.lowestOneBit(~words[0] & ((1L << 33) - 1));
        assertNotEquals(0, spurious);
        IndexSlotCheckTest.writeLong(IndexSlotCheckTest.table(store), StreamIndexDescriptor.UNIT_BITMAP_OFFSET, words[0] | spurious);
        assertRebuiltAndRight(store, streams);
        assertEquals(0, bitmap(store)[0] & spurious, "the rebuild cleared the bit of the unit it did not use");
        assertEquals(words[0], bitmap(store)[0], "the rebuild allocated the units the streams use, and no other");
    }

    /** An index of format version 1 (a table zero-filled whole, no bitmap) is rebuilt in the new format. */
    @Test
    void anIndexOfTheFormerFormatIsRebuilt() throws Exception
    {
        final Path store = dir.resolve("former");
        final Map<Long, List<String>> streams = populate(store);
        try (FileChannel channel = FileChannel.open(IndexSlotCheckTest.table(store), StandardOpenOption.WRITE))
        {
            channel.write(ByteBuffer.allocate(Integer.BYTES).order(ByteOrder.LITTLE_ENDIAN).putInt(0, 1),
                StreamIndexDescriptor.FORMAT_VERSION_OFFSET);
        }
        final StoreFormatException refused = assertThrows(StoreFormatException.class,
            () -> VarveDB.openReadOnly(store), "a read-only open cannot rebuild it");
        assertTrue(refused.getMessage().contains("format version 1"), refused.getMessage());
        assertRebuiltAndRight(store, streams);
        assertEquals(StreamIndexDescriptor.FORMAT_VERSION,
            (int)IndexSlotCheckTest.readLong(IndexSlotCheckTest.table(store), StreamIndexDescriptor.FORMAT_VERSION_OFFSET));
    }
}
