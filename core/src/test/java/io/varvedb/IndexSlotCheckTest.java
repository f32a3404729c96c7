package io.varvedb;

import io.varvedb.internal.index.BlockDescriptor;
import io.varvedb.internal.index.StreamIndexDescriptor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Every slot of the stream index is checked against the log when a store is opened: a slot damaged on disk (a
 * flipped bit, a torn page) is found at {@code open}, and the index is rebuilt from the log instead of
 * misreporting a stream's version; a read-only open refuses it, naming the slot. A crash during that rebuild
 * leads to another rebuild at the next open, never to a partial index being trusted.
 */
class IndexSlotCheckTest
{
    private static final int STREAMS = 40;
    private static final int EVENTS = 1_000;

    @TempDir
    Path dir;

    private Map<Long, List<StoreChecker.Event>> populate(final Path store, final int streams, final int events)
    {
        try (VarveDB db = VarveDB.open(VarveConfig.builder(store).segmentSize(TestStores.SEGMENT)
            .indexCapacity(Math.max(4096, streams)).indexBlocksPerChunk(64).build()))
        {
            final Appender appender = db.appender();
            final EventBatch batch = new EventBatch().add(2, new byte[9]).add(3, new byte[7]);
            for (int i = 0; i < events; i++)
            {
                if (i % 50 == 7)
                {
                    appender.appendBatch(1 + i % streams, ExpectedVersion.ANY, batch);
                }
                else
                {
                    appender.append(1 + i % streams, ExpectedVersion.ANY, 1, ("e" + i).getBytes());
                }
            }
            return StoreChecker.check(db);
        }
    }

    private static Map<Long, List<String>> summary(final Map<Long, List<StoreChecker.Event>> streams)
    {
        final Map<Long, List<String>> summary = new java.util.TreeMap<>();
        streams.forEach((id, events) -> summary.put(id, events.stream().map((e) -> e.version() + "@" + e.position() +
            ":" + e.eventType() + ":" + java.util.Arrays.toString(e.payload())).toList()));
        return summary;
    }

    /** @return the byte offset of the stream's slot in streams.idx. */
    static int slotOf(final Path store, final long streamId) throws IOException
    {
        final ByteBuffer table = ByteBuffer.wrap(Files.readAllBytes(table(store))).order(ByteOrder.LITTLE_ENDIAN);
        for (int offset = StreamIndexDescriptor.HEADER_LENGTH; offset < table.capacity();
            offset += StreamIndexDescriptor.SLOT_LENGTH)
        {
            if (table.getLong(offset) == streamId)
            {
                return offset;
            }
        }
        throw new AssertionError("no slot for stream " + streamId);
    }

    static Path table(final Path store)
    {
        return store.resolve("index").resolve(StreamIndexDescriptor.FILE_NAME);
    }

    static long readLong(final Path file, final long offset) throws IOException
    {
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ))
        {
            final ByteBuffer buffer = ByteBuffer.allocate(Long.BYTES).order(ByteOrder.LITTLE_ENDIAN);
            channel.read(buffer, offset);
            return buffer.getLong(0);
        }
    }

    static void writeLong(final Path file, final long offset, final long value) throws IOException
    {
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.WRITE))
        {
            channel.write(ByteBuffer.allocate(Long.BYTES).order(ByteOrder.LITTLE_ENDIAN).putLong(0, value), offset);
        }
    }

    private static void flipBit(final Path file, final long offset, final int bit) throws IOException
    {
        writeLong(file, offset, readLong(file, offset) ^ (1L << bit));
    }

    /** Opens the store for writing: the index must have been rebuilt, and everything must agree with the log. */
    private void assertRebuiltAndRight(final Path store, final Map<Long, List<StoreChecker.Event>> streams)
    {
        try (VarveDB db = VarveDB.open(TestStores.small(store)))
        {
            assertEquals(0, db.recoveryScannedFrom(), "the index was rebuilt from the start of the log");
            assertTrue(db.recoveredEvents() > 0, "the index was rebuilt from the log");
            assertEquals(summary(streams), summary(StoreChecker.check(db)), "every stream as the log holds it");
            final Appender appender = db.appender();
            for (final Map.Entry<Long, List<StoreChecker.Event>> stream : streams.entrySet())
            {
                final long version = stream.getValue().size();
                assertEquals(version + 1, appender.append(stream.getKey(), ExpectedVersion.exact(version), 1,
                    new byte[3]), "appends go on after the version the log holds");
            }
            StoreChecker.check(db);
        }
    }

    @Test
    void aFlippedVersionBitIsFoundAtOpenAndTheIndexRebuilt() throws IOException
    {
        for (final int bit : new int[]{ 1, 2, 5, 30 })
        {
            final Path store = dir.resolve("version-" + bit);
            final Map<Long, List<StoreChecker.Event>> streams = populate(store, STREAMS, EVENTS);
            // state = version << 1: bit 1 is the version's lowest bit, up or down
            flipBit(table(store), slotOf(store, 7) + StreamIndexDescriptor.SLOT_STATE_OFFSET, bit);
            assertRebuiltAndRight(store, streams);
        }
    }

    @Test
    void aFlippedStreamIdIsFoundAtOpenAndTheIndexRebuilt() throws IOException
    {
        for (final int bit : new int[]{ 0, 3, 40, 63 })
        {
            final Path store = dir.resolve("id-" + bit);
            final Map<Long, List<StoreChecker.Event>> streams = populate(store, STREAMS, EVENTS);
            flipBit(table(store), slotOf(store, 11) + StreamIndexDescriptor.SLOT_STREAM_ID_OFFSET, bit);
            assertRebuiltAndRight(store, streams);
        }
    }

    @Test
    void aFlippedBlockLinkIsFoundAtOpenAndTheIndexRebuilt() throws IOException
    {
        for (final int offset : new int[]{ StreamIndexDescriptor.SLOT_FIRST_BLOCK_OFFSET,
            StreamIndexDescriptor.SLOT_LAST_BLOCK_OFFSET })
        {
            final Path store = dir.resolve("block-" + offset);
            final Map<Long, List<StoreChecker.Event>> streams = populate(store, STREAMS, EVENTS);
            flipBit(table(store), slotOf(store, 13) + offset, 0);
            assertRebuiltAndRight(store, streams);
        }
    }

    @Test
    void aPhantomStreamInAFreeSlotIsFoundAtOpen() throws IOException
    {
        final Path store = dir.resolve("phantom");
        final Map<Long, List<StoreChecker.Event>> streams = populate(store, STREAMS, EVENTS);
        final ByteBuffer table = ByteBuffer.wrap(Files.readAllBytes(table(store))).order(ByteOrder.LITTLE_ENDIAN);
        int free = StreamIndexDescriptor.HEADER_LENGTH;
        while (table.getLong(free) != 0 || table.getLong(free - StreamIndexDescriptor.SLOT_LENGTH) != 0)
        {
            free += StreamIndexDescriptor.SLOT_LENGTH;
        }
        writeLong(table(store), free, 1L << 33);
        assertRebuiltAndRight(store, streams);
    }

    @Test
    void aTornIndexPageIsFoundAtOpenAndTheIndexRebuilt() throws IOException
    {
        final Path store = dir.resolve("torn");
        final Map<Long, List<StoreChecker.Event>> streams = populate(store, STREAMS, EVENTS);
        final long page = slotOf(store, 5) & ~2047L;
        try (FileChannel channel = FileChannel.open(table(store), StandardOpenOption.WRITE))
        {
            // the half page holding stream 5 is from an older write: its versions lag what their blocks say
            final ByteBuffer old = ByteBuffer.wrap(Files.readAllBytes(table(store)), (int)page, 2048)
                .order(ByteOrder.LITTLE_ENDIAN).slice().order(ByteOrder.LITTLE_ENDIAN);
            for (int slot = 0; slot < 2048; slot += StreamIndexDescriptor.SLOT_LENGTH)
            {
                final long state = old.getLong(slot + StreamIndexDescriptor.SLOT_STATE_OFFSET);
                if (state > 2)
                {
                    old.putLong(slot + StreamIndexDescriptor.SLOT_STATE_OFFSET, state - 2);
                }
            }
            channel.write(old.limit(2048), page);
        }
        assertRebuiltAndRight(store, streams);
    }

    @Test
    void aReadOnlyOpenRefusesADamagedSlotNamingIt() throws IOException
    {
        final Path store = dir.resolve("read-only");
        populate(store, STREAMS, EVENTS);
        flipBit(table(store), slotOf(store, 9) + StreamIndexDescriptor.SLOT_STATE_OFFSET, 3);
        final CorruptStoreException e = assertThrows(CorruptStoreException.class, () -> VarveDB.openReadOnly(store));
        assertTrue(e.getMessage().contains("stream 9"), e.getMessage());
        assertTrue(e.getMessage().contains("rebuild"), e.getMessage());
    }

    @Test
    void theCheckCanBeTurnedOffAndThenTheDamageStays() throws IOException
    {
        final Path store = dir.resolve("unchecked");
        final Map<Long, List<StoreChecker.Event>> streams = populate(store, STREAMS, EVENTS);
        flipBit(table(store), slotOf(store, 7) + StreamIndexDescriptor.SLOT_STATE_OFFSET, 2);
        try (VarveDB db = VarveDB.open(VarveConfig.builder(store).verifyIndexOnOpen(false).build()))
        {
            assertEquals(-1, db.recoveredEvents(), "nothing checked, nothing rebuilt");
            assertNotEquals(streams.get(7L).size(), db.streamVersion(7), "the damaged slot misreports its stream");
        }
        assertRebuiltAndRight(store, streams);
    }

    @Test
    void readOnlyOpensRacingAWriterFindNoDamageWhereThereIsNone() throws Exception
    {
        final Path store = dir.resolve("live");
        populate(store, STREAMS, EVENTS);
        try (VarveDB db = VarveDB.open(VarveConfig.builder(store).indexBlocksPerChunk(64).build()))
        {
            final java.util.concurrent.atomic.AtomicBoolean stop = new java.util.concurrent.atomic.AtomicBoolean();
            final java.util.concurrent.atomic.AtomicReference<Throwable> failure =
                new java.util.concurrent.atomic.AtomicReference<>();
            final Thread writer = new Thread(() ->
            {
                try (Appender appender = db.appender())
                {
                    final EventBatch batch = new EventBatch().add(1, new byte[30]).add(2, new byte[40]);
                    for (long i = 0; !stop.get(); i++)
                    {
                        // old streams, new streams (new slots, new blocks) and batches, all the time
                        final long stream = i % 3 == 0 ? 1_000 + i : 1 + i % STREAMS;
                        if (i % 5 == 0)
                        {
                            appender.appendBatch(stream, ExpectedVersion.ANY, batch);
                        }
                        else
                        {
                            appender.append(stream, ExpectedVersion.ANY, 1, new byte[(int)(i % 50)]);
                        }
                        if (stream >= 1_000 && i > 3_000)
                        {
                            i = 0;
                        }
                    }
                }
                catch (final Throwable ex)
                {
                    failure.set(ex);
                }
            });
            writer.start();
            try
            {
                for (int open = 0; open < 300 && failure.get() == null; open++)
                {
                    try (VarveDB reader = VarveDB.openReadOnly(store))
                    {
                        assertTrue(reader.streamCount() >= STREAMS);
                    }
                }
            }
            finally
            {
                stop.set(true);
                writer.join();
            }
            assertNull(failure.get());
        }
    }

    private static final int BLOCKS_PER_CHUNK = 64;

    /** @return the file and byte offset of a block's field, for a store made by {@link #populate}. */
    private static Path chunkOf(final Path store, final long block)
    {
        return store.resolve("index").resolve(String.format("blocks-%010d.idx", (block - 1) / BLOCKS_PER_CHUNK));
    }

    private static long blockOffset(final long block, final int field)
    {
        return BlockDescriptor.CHUNK_HEADER_LENGTH + ((block - 1) % BLOCKS_PER_CHUNK) * BlockDescriptor.BLOCK_LENGTH +
            field;
    }

    private static void unseal(final Path store) throws IOException
    {
        writeLong(table(store), StreamIndexDescriptor.SEALED_CHECKSUM_OFFSET, 0);
    }

    private static void assertReadOnlyRefuses(final Path store, final String what)
    {
        final CorruptStoreException e = assertThrows(CorruptStoreException.class, () -> VarveDB.openReadOnly(store),
            what + ": a read-only open of the closed store refuses it");
        assertTrue(e.getMessage().contains("rebuild"), e.getMessage());
    }

    @Test
    void aReadOnlyOpenOfAClosedStoreIsAsStrictAsAWriters() throws IOException
    {
        final Map<String, Long> damages = new java.util.LinkedHashMap<>();
        damages.put("version lowered by one", 1L);
        damages.put("stream id cleared", 2L);
        damages.put("slot page zeroed", 3L);
        damages.put("stream count changed", 4L);
        for (final Map.Entry<String, Long> damage : damages.entrySet())
        {
            for (final boolean sealed : new boolean[]{ true, false })
            {
                final Path store = dir.resolve("strict-" + damage.getValue() + "-" + sealed);
                final Map<Long, List<StoreChecker.Event>> streams = populate(store, STREAMS, EVENTS);
                final long slot = slotOf(store, 7);
                switch (damage.getValue().intValue())
                {
                    case 1 -> flipBit(table(store), slot + StreamIndexDescriptor.SLOT_STATE_OFFSET, 1);
                    case 2 -> writeLong(table(store), slot + StreamIndexDescriptor.SLOT_STREAM_ID_OFFSET, 0);
                    case 3 ->
                    {
                        final long page = slot & ~4095L;
                        for (long offset = page; offset < page + 4096; offset += Long.BYTES)
                        {
                            writeLong(table(store), offset, 0);
                        }
                    }
                    default -> flipBit(table(store), StreamIndexDescriptor.STREAM_COUNT_OFFSET, 0);
                }
                if (!sealed)
                {
                    unseal(store);
                }
                assertReadOnlyRefuses(store, damage.getKey() + (sealed ? ", sealed" : ", unsealed"));
                assertRebuiltAndRight(store, streams);
            }
        }
    }

    @Test
    void aDamagedNextLinkNeverShortensAStreamRead() throws IOException
    {
        for (final boolean sealed : new boolean[]{ true, false })
        {
            final Path store = dir.resolve("next-" + sealed);
            final Map<Long, List<StoreChecker.Event>> streams = populate(store, 4, 400);
            final long first = readLong(table(store), slotOf(store, 3) + StreamIndexDescriptor.SLOT_FIRST_BLOCK_OFFSET);
            // the stream's first block no longer leads to its second
            writeLong(chunkOf(store, first), blockOffset(first, BlockDescriptor.NEXT_OFFSET), 0);
            if (!sealed)
            {
                unseal(store);
            }
            try (VarveDB db = VarveDB.open(TestStores.small(store)))
            {
                assertEquals(sealed ? 0 : -1, db.recoveryScannedFrom(), sealed ?
                    "the seal caught the damaged link: rebuilt" : "no seal: nothing caught at open");
                assertEquals(summary(streams), summary(StoreChecker.check(db)),
                    "every read delivers every event, routing around the damaged link");
                final List<Long> versions = new java.util.ArrayList<>();
                db.readStream(3, 20, 10, (e) -> versions.add(e.version()));
                assertEquals(java.util.stream.LongStream.rangeClosed(20, 29).boxed().toList(), versions);
            }
        }
    }

    @Test
    void aSelfConsistentStaleSlotIsCaughtByTheSealNeverAppendedOver() throws IOException
    {
        final Path store = dir.resolve("stale");
        final Map<Long, List<StoreChecker.Event>> streams = populate(store, STREAMS, EVENTS);
        final long version = streams.get(2L).size();
        final long slot = slotOf(store, 2);
        final long last = readLong(table(store), slot + StreamIndexDescriptor.SLOT_LAST_BLOCK_OFFSET);
        // two stale words that agree with each other: the slot one version back, the last entry gone
        writeLong(table(store), slot + StreamIndexDescriptor.SLOT_STATE_OFFSET, (version - 1) << 1);
        writeLong(chunkOf(store, last), blockOffset(last, BlockDescriptor.entryOffset(version)), 0);
        try (VarveDB db = VarveDB.open(TestStores.small(store)))
        {
            assertEquals(0, db.recoveryScannedFrom(), "the seal caught it: rebuilt from the log");
            assertEquals(version, db.streamVersion(2));
            assertThrows(ConcurrencyConflictException.class,
                () -> db.appender().append(2, ExpectedVersion.exact(version - 1), 1, new byte[1]),
                "a stale expectation conflicts: no second event of that version is ever written");
            assertEquals(summary(streams), summary(StoreChecker.check(db)));
        }
    }

    @Test
    void aDamagedJumpLinkIsFoundAtOpen() throws IOException
    {
        final Path store = dir.resolve("jump");
        final Map<Long, List<StoreChecker.Event>> streams = populate(store, STREAMS, EVENTS);
        final long first = readLong(table(store), slotOf(store, 9) + StreamIndexDescriptor.SLOT_FIRST_BLOCK_OFFSET);
        flipBit(chunkOf(store, first), blockOffset(first, BlockDescriptor.JUMP_OFFSET), 63);
        unseal(store);
        assertRebuiltAndRight(store, streams);
    }

    @Test
    void aTruncatedOrHeaderDamagedIndexFileIsRebuilt() throws IOException
    {
        final String chunk = "blocks-0000000000.idx";
        final Object[][] damages = {
            { chunk, 100L, -1 }, { chunk, 3000L, -1 }, { chunk, 0L, -1 }, { "streams.idx", 0L, -1 },
            { "streams.idx", 100L, -1 }, { chunk, -1L, 0 }, { chunk, -1L, 8 }, { "streams.idx", -1L, 0 },
            { "streams.idx", -1L, 8, 1 },
        };
        for (int i = 0; i < damages.length; i++)
        {
            final Path store = dir.resolve("file-" + i);
            final Map<Long, List<StoreChecker.Event>> streams = populate(store, STREAMS, EVENTS);
            final Path file = store.resolve("index").resolve((String)damages[i][0]);
            final long length = (Long)damages[i][1];
            if (length >= 0)
            {
                try (FileChannel channel = FileChannel.open(file, StandardOpenOption.WRITE))
                {
                    channel.truncate(length);
                }
            }
            else
            {
                // a flipped bit in the magic or the format version (one that makes an older version: a newer one is
                // refused and left untouched, see StreamIndex.refuseNewerFormat)
                flipBit(file, (Integer)damages[i][2], damages[i].length > 3 ? (Integer)damages[i][3] : 0);
            }
            assertRebuiltAndRight(store, streams);
        }
    }

    /**
     * The block chunk files take their length from the indexBlocksPerChunk of the config that created them: with
     * streams.idx gone, an open naming another value must rebuild over the old chunks, not refuse them.
     */
    @Test
    void aDeletedTableReopenedWithAnotherChunkSizeIsRebuilt() throws IOException
    {
        final Path store = dir.resolve("reshaped");
        final Map<Long, List<StoreChecker.Event>> streams = populate(store, STREAMS, EVENTS);
        Files.delete(table(store));
        final VarveConfig other = VarveConfig.builder(store).segmentSize(TestStores.SEGMENT).indexCapacity(4096)
            .indexBlocksPerChunk(TestStores.small(store).indexBlocksPerChunk() * 4).build();
        try (VarveDB db = VarveDB.open(other))
        {
            assertEquals(0, db.recoveryScannedFrom(), "the index was rebuilt from the start of the log");
            assertEquals(summary(streams), summary(StoreChecker.check(db)), "every stream as the log holds it");
        }
        try (VarveDB db = VarveDB.open(other))
        {
            assertEquals(-1, db.recoveredEvents(), "the rebuilt index is trusted at the next open");
            assertEquals(summary(streams), summary(StoreChecker.check(db)));
        }
    }

    @Test
    void aSoundIndexIsTrustedAsItIs()
    {
        final Path store = dir.resolve("sound");
        final Map<Long, List<StoreChecker.Event>> streams = populate(store, STREAMS, EVENTS);
        try (VarveDB db = VarveDB.open(TestStores.small(store)))
        {
            assertEquals(-1, db.recoveredEvents(), "no rebuild of a sound index");
            assertEquals(summary(streams), summary(StoreChecker.check(db)));
        }
        try (VarveDB db = VarveDB.openReadOnly(store))
        {
            assertEquals(streams.size(), db.streamCount());
        }
    }

    /**
     * Kill the writer while it rebuilds the index (after a damaged slot or a deleted index), at random moments,
     * several times in a row; each next open must rebuild again, never trust a partial index.
     */
    @Test
    void aKillDuringTheRebuildLeadsToAnotherRebuild() throws Exception
    {
        final Path store = dir.resolve("killed");
        final Map<Long, List<StoreChecker.Event>> streams = populate(store, 4_000, 120_000);
        final SplittableRandom random = new SplittableRandom(42);
        for (int kill = 0; kill < 6; kill++)
        {
            if (kill % 2 == 0)
            {
                flipBit(table(store), slotOf(store, 1 + random.nextInt(4_000)) +
                    StreamIndexDescriptor.SLOT_STATE_OFFSET, 2);
            }
            else
            {
                try (Stream<Path> files = Files.walk(store.resolve("index")))
                {
                    for (final Path file : files.sorted(Comparator.reverseOrder()).toList())
                    {
                        Files.delete(file);
                    }
                }
            }
            final Path errors = dir.resolve("child-" + kill + ".err");
            final Process child = MultiProcessTest.start(List.of(), errors, "open-announced", store.toString());
            final BufferedReader out = MultiProcessTest.stdout(child);
            final String first = out.readLine();
            if (!"opening".equals(first))
            {
                assertTrue(child.waitFor(30, TimeUnit.SECONDS));
                fail("kill " + kill + ": the child said " + first + ", exit " + child.exitValue() + ", stderr:\n" +
                    Files.readString(errors));
            }
            Thread.sleep(random.nextInt(5, 400));
            child.destroyForcibly();
            assertTrue(child.waitFor(30, TimeUnit.SECONDS));
            try (VarveDB db = VarveDB.open(TestStores.small(store)))
            {
                assertEquals(summary(streams), summary(StoreChecker.check(db)),
                    "kill " + kill + ": every stream as the log holds it");
            }
        }
    }
}
