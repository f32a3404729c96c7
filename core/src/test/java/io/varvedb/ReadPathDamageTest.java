package io.varvedb;

import io.varvedb.internal.log.RecordDescriptor;
import io.varvedb.internal.log.SegmentDescriptor;
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
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.zip.CRC32C;

import static org.junit.jupiter.api.Assertions.*;

/**
 * What readers do with damaged records and with positions that are not where a record starts: damage is a
 * {@link CorruptStoreException} naming file and position, a bad position an {@link IllegalArgumentException}; never
 * a skipped event, a forged one, or an exception of the wrong kind.
 */
class ReadPathDamageTest
{
    private static final int EVENTS = 1_101;

    @TempDir
    Path dir;

    /** One event per stream, sizes varied so segment rolls leave padding at both sides of a boundary. */
    private static List<StoreChecker.Event> populate(final Path store)
    {
        try (VarveDB db = VarveDB.open(TestStores.small(store)))
        {
            final Appender appender = db.appender();
            for (int i = 0; i < EVENTS; i++)
            {
                appender.append(1 + i, ExpectedVersion.NO_STREAM, 1, new byte[100 + (i * 37) % 300]);
            }
            return StoreChecker.readAll(db);
        }
    }

    private static VarveConfig config(final Path store, final boolean checksums)
    {
        return VarveConfig.builder(store).segmentSize(TestStores.SEGMENT).indexCapacity(4096).indexBlocksPerChunk(64)
            .verifyChecksumsOnRead(checksums).build();
    }

    /** @return the first segment (after the first) that starts with a padding record: a roll's second half. */
    private static long segmentStartingWithPadding(final Path store) throws IOException
    {
        for (long segment = 1; ; segment++)
        {
            final Path file = RecoveryTest.segmentFile(store, segment);
            assertTrue(Files.exists(file), "no segment starts with padding");
            final ByteBuffer header = read(file, SegmentDescriptor.HEADER_LENGTH, 16);
            if (header.getInt(RecordDescriptor.FRAME_LENGTH_OFFSET) > 0 &&
                header.getShort(RecordDescriptor.RECORD_TYPE_OFFSET) == RecordDescriptor.TYPE_PADDING)
            {
                return segment;
            }
        }
    }

    private static ByteBuffer read(final Path file, final long offset, final int length) throws IOException
    {
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ))
        {
            final ByteBuffer bytes = ByteBuffer.allocate(length).order(ByteOrder.LITTLE_ENDIAN);
            channel.read(bytes, offset);
            return bytes.flip();
        }
    }

    static void flipBit(final Path file, final long offset, final int bit) throws IOException
    {
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE))
        {
            final ByteBuffer one = ByteBuffer.allocate(1);
            channel.read(one, offset);
            one.put(0, (byte)(one.get(0) ^ (1 << bit)));
            channel.write(one.rewind(), offset);
        }
    }

    private static void assertCorruptNamingFile(final Throwable thrown, final String what)
    {
        assertInstanceOf(CorruptStoreException.class, thrown, what + ": " + thrown);
        assertTrue(thrown.getMessage().contains(".log") && thrown.getMessage().contains("position"),
            what + ": " + thrown.getMessage());
    }

    /**
     * Bit 6 of the frame length of the padding a segment roll left at the start of a segment: readers once skipped
     * the event behind it and delivered 1,100 of 1,101 events, and a rebuild "recovered" 1,100.
     */
    @Test
    void aFlippedBitInAPaddingLengthIsReportedByEveryReader() throws Exception
    {
        for (final boolean checksums : new boolean[] { true, false })
        {
            final Path store = dir.resolve("padding-" + checksums);
            final List<StoreChecker.Event> original = populate(store);
            assertEquals(EVENTS, original.size());
            final long segment = segmentStartingWithPadding(store);
            // a bit that is clear in the length (bit 6 once; the lowest clear one from the alignment's up now): the
            // padding then claims to be longer and would hide what follows it, where a length flipped to 0 would be
            // an unfinished claim, padded by recovery with nothing lost
            final int length = read(RecoveryTest.segmentFile(store, segment), SegmentDescriptor.HEADER_LENGTH, 4)
                .getInt(0);
            final int bit = Integer.numberOfTrailingZeros(~(length >>> 4)) + 4;
            flipBit(RecoveryTest.segmentFile(store, segment), SegmentDescriptor.HEADER_LENGTH + bit / 8, bit % 8);

            try (VarveDB db = VarveDB.open(config(store, checksums)))
            {
                final List<Long> seen = new ArrayList<>();
                assertCorruptNamingFile(assertThrows(VarveException.class,
                    () -> db.readAll(VarveDB.START_POSITION, Integer.MAX_VALUE, (e) -> seen.add(e.streamId()))),
                    "readAll, checksums " + checksums);

                final List<Throwable> failures = Collections.synchronizedList(new ArrayList<>());
                final RunningSubscription subscription = db.subscribeToAll(VarveDB.START_POSITION, (e) -> { },
                    SubscriptionOptions.defaults().errorHandler(failures::add));
                final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
                while (subscription.isRunning() && System.nanoTime() < deadline)
                {
                    Thread.sleep(1);
                }
                subscription.close();
                assertNotNull(subscription.failure(), "the subscription stopped at the damage, reported");
                assertCorruptNamingFile(subscription.failure().getCause(), "subscription");
                assertEquals(1, failures.size());
                // every event before the damage was served, and none after it
                assertTrue(seen.size() < EVENTS);
            }

            // a rebuild of the index must refuse the log rather than recover it without the hidden event
            ConcurrentStressTest.markDirty(store);
            try (java.util.stream.Stream<Path> files = Files.walk(store.resolve("index")))
            {
                for (final Path file : files.sorted(java.util.Comparator.reverseOrder()).toList())
                {
                    Files.delete(file);
                }
            }
            final CorruptStoreException refused = assertThrows(CorruptStoreException.class,
                () -> VarveDB.open(config(store, checksums)).close());
            assertTrue(refused.getMessage().contains(".log"), refused.getMessage());
        }
    }

    /**
     * Single-bit flips all over every padding record's header (the frame length, checksum, type, flags and the
     * length's copy; about one bit in six, a different sample per padding), checksums on or off: every reader
     * refuses with {@link CorruptStoreException}; never fewer events without a word.
     */
    @Test
    void bitFlipsAllOverEveryPaddingHeaderAreReportedNeverSkipped() throws Exception
    {
        final Path template = dir.resolve("template");
        final List<StoreChecker.Event> original = populate(template);
        final List<long[]> paddings = paddingPositions(template);
        assertTrue(paddings.size() >= 4, "the store has paddings at segment ends and starts: " + paddings);
        final SplittableRandom random = new SplittableRandom(7);
        assertTrue(paddings.stream().anyMatch((p) -> p[1] == RecordDescriptor.ALIGNMENT),
            "the store has a padding of the smallest length, too short for the copy of its length");
        for (final long[] found : paddings)
        {
            final long padding = found[0];
            final Path file = RecoveryTest.segmentFile(template, padding / TestStores.SEGMENT);
            // its header, up to the copy of its length, or its end where it is shorter (the next record's bytes)
            final int headerBits = (int)Math.min(RecordDescriptor.PADDING_CHECKSUM_END, found[1]) * 8;
            for (int bit = random.nextInt(4); bit < headerBits; bit += 1 + random.nextInt(10))
            {
                // the clean store is opened, read and closed as it is; the log is never written, so flip in place
                flipBit(file, RecoveryTest.fileOffset(padding) + bit / 8, bit % 8);
                final boolean checksums = random.nextBoolean();
                final int flipped = bit;
                try (VarveDB db = VarveDB.open(config(template, checksums)))
                {
                    // every byte of a padding's header is covered, its checksum checked even with checksums off
                    final CorruptStoreException refused = assertThrows(CorruptStoreException.class,
                        () -> StoreChecker.readAll(db), "bit " + flipped + " of the padding at " + padding +
                        ", checksums " + checksums);
                    assertTrue(refused.getMessage().contains(".log"), refused.getMessage());
                }
                flipBit(file, RecoveryTest.fileOffset(padding) + bit / 8, bit % 8);
            }
        }
    }

    /** @return position and frame length of every padding. */
    private static List<long[]> paddingPositions(final Path store) throws IOException
    {
        final List<long[]> paddings = new ArrayList<>();
        for (long segment = 0; Files.exists(RecoveryTest.segmentFile(store, segment)); segment++)
        {
            final Path file = RecoveryTest.segmentFile(store, segment);
            final ByteBuffer bytes = read(file, 0, (int)Files.size(file));
            int offset = SegmentDescriptor.HEADER_LENGTH;
            while (offset < bytes.limit())
            {
                final int frameLength = bytes.getInt(offset);
                if (frameLength <= 0)
                {
                    break;
                }
                if (bytes.getShort(offset + RecordDescriptor.RECORD_TYPE_OFFSET) == RecordDescriptor.TYPE_PADDING)
                {
                    paddings.add(new long[]{ segment * TestStores.SEGMENT + offset - SegmentDescriptor.HEADER_LENGTH,
                        frameLength });
                }
                offset += RecordDescriptor.alignedLength(frameLength);
            }
        }
        return paddings;
    }

    /**
     * A flipped high bit of an event's frame length once made readAll throw IllegalArgumentException ("newLimit >
     * capacity"), or IndexOutOfBoundsException with checksums off, where readStream said CorruptStoreException.
     */
    @Test
    void aHugeFrameLengthIsDamageToReadAllAsToReadStream() throws Exception
    {
        for (final boolean checksums : new boolean[] { true, false })
        {
            for (final int bit : new int[] { 30, 24, 20 })
            {
                final Path store = dir.resolve("huge-" + checksums + "-" + bit);
                final List<StoreChecker.Event> original = populate(store);
                final StoreChecker.Event victim = original.get(5);
                flipBit(RecoveryTest.segmentFile(store, victim.position() / TestStores.SEGMENT),
                    RecoveryTest.fileOffset(victim.position()) + bit / 8, bit % 8);
                try (VarveDB db = VarveDB.open(config(store, checksums)))
                {
                    assertCorruptNamingFile(assertThrows(VarveException.class,
                        () -> db.readAll(VarveDB.START_POSITION, Integer.MAX_VALUE, (e) -> { })),
                        "readAll, bit " + bit + ", checksums " + checksums);
                    assertCorruptNamingFile(assertThrows(VarveException.class,
                        () -> db.readStream(victim.streamId(), 1, 10, (e) -> { })),
                        "readStream, bit " + bit + ", checksums " + checksums);
                    final Subscription subscription = db.subscription(VarveDB.START_POSITION);
                    assertCorruptNamingFile(assertThrows(VarveException.class,
                        () -> subscription.poll((e) -> { }, Integer.MAX_VALUE)), "subscription poll");
                }
            }
        }
    }

    /** readAll(1L << 60) and subscription(1L << 60) once threw IllegalStateException from deep inside the log. */
    @Test
    void aPositionBeyondTheTailIsAnArgumentError()
    {
        final List<StoreChecker.Event> original = populate(dir);
        try (VarveDB db = VarveDB.open(TestStores.small(dir)))
        {
            final long tail = db.tailPosition();
            for (final long position : new long[] { 1L << 60, tail + RecordDescriptor.ALIGNMENT,
                tail + TestStores.SEGMENT, Long.MAX_VALUE - 31 })
            {
                final IllegalArgumentException readAll = assertThrows(IllegalArgumentException.class,
                    () -> db.readAll(position, 10, (e) -> fail("nothing to deliver")), "readAll " + position);
                assertTrue(readAll.getMessage().contains("beyond the end of the log"), readAll.getMessage());
                assertThrows(IllegalArgumentException.class, () -> db.subscription(position), "subscription");
                assertThrows(IllegalArgumentException.class, () -> db.subscribeToAll(position, (e) -> { }));
                assertThrows(IllegalArgumentException.class, () -> db.resetCheckpoint("p", position));
                assertThrows(IllegalArgumentException.class,
                    () -> db.processor("p", (e) -> { }, ProcessorOptions.defaults().startPosition(position)));
            }
            assertEquals(0, db.readAll(tail, 10, (e) -> fail("nothing after the tail")), "the tail itself is fine");
            assertEquals(0, db.subscription(tail).poll((e) -> fail("nothing yet"), 10));
            assertFalse(db.checkpoints().containsKey("p"), "nothing was written for a refused position");
            assertEquals(original.size(), StoreChecker.readAll(db).size());
        }
    }

    /**
     * readAll(64), 64 inside the first record, once served its payload as an event of a stream that does not exist,
     * and resetCheckpoint(name, 64) was accepted. Here the payload holds a perfect forgery: a whole record header
     * with a valid checksum, at a 32-byte boundary inside the record.
     */
    @Test
    void aPositionInsideARecordIsRefusedAndNothingIsForged()
    {
        try (VarveDB db = VarveDB.open(TestStores.small(dir)))
        {
            final Appender appender = db.appender();
            // the first record's payload starts at position 40; position 64 is payload byte 24
            final byte[] payload = new byte[200];
            final int forged = 64 - RecordDescriptor.HEADER_LENGTH;
            final ByteBuffer record = ByteBuffer.wrap(payload).order(ByteOrder.LITTLE_ENDIAN);
            final int frameLength = RecordDescriptor.HEADER_LENGTH + 8;
            record.putInt(forged + RecordDescriptor.FRAME_LENGTH_OFFSET, frameLength);
            record.putShort(forged + RecordDescriptor.RECORD_TYPE_OFFSET, RecordDescriptor.TYPE_EVENT);
            record.putLong(forged + RecordDescriptor.STREAM_ID_OFFSET, 666);
            record.putLong(forged + RecordDescriptor.VERSION_OFFSET, 1);
            final CRC32C crc = new CRC32C();
            crc.update(payload, forged + RecordDescriptor.CHECKSUM_START, frameLength - RecordDescriptor.CHECKSUM_START);
            record.putInt(forged + RecordDescriptor.CHECKSUM_OFFSET, (int)crc.getValue());
            appender.append(1, ExpectedVersion.NO_STREAM, 1, payload);
            appender.append(2, ExpectedVersion.NO_STREAM, 1, new byte[10]);

            final IllegalArgumentException inside = assertThrows(IllegalArgumentException.class,
                () -> db.readAll(64, 10, (e) -> fail("forged event delivered: stream " + e.streamId())));
            assertTrue(inside.getMessage().contains("inside a record"), inside.getMessage());
            assertThrows(IllegalArgumentException.class, () -> db.subscription(64));
            assertThrows(IllegalArgumentException.class, () -> db.subscribeToAll(64, (e) -> fail("forged")));
            assertThrows(IllegalArgumentException.class, () -> db.resetCheckpoint("p", 64));
            assertThrows(IllegalArgumentException.class,
                () -> db.processor("p", (e) -> fail("forged"), ProcessorOptions.defaults().startPosition(64)));
            assertFalse(db.checkpoints().containsKey("p"));
            assertEquals(0, db.streamVersion(666));
        }
    }

    /**
     * One flipped bit made the last record's frame length run past the tail: FROM_NOW then resolved beyond the
     * tail, and the events appended next were skipped by the subscription and the processor started from now.
     */
    @Test
    void fromNowNeverStartsBeyondADamagedFrame() throws IOException
    {
        final long last;
        try (VarveDB db = VarveDB.open(TestStores.small(dir)))
        {
            final Appender appender = db.appender();
            for (int i = 0; i < 10; i++)
            {
                appender.append(1 + i % 2, ExpectedVersion.ANY, 1, new byte[24]);
            }
            last = appender.lastPosition();
        }
        flipBit(RecoveryTest.segmentFile(dir, 0), RecoveryTest.fileOffset(last) + 1, 2);
        try (VarveDB db = VarveDB.open(TestStores.small(dir)))
        {
            assertCorruptNamingFile(assertThrows(VarveException.class, () -> db.subscription(VarveDB.FROM_NOW)),
                "subscription(FROM_NOW)");
            assertCorruptNamingFile(assertThrows(VarveException.class, () -> db.processor("from-now", (e) -> { },
                ProcessorOptions.defaults().startPosition(VarveDB.FROM_NOW))), "processor FROM_NOW");
            assertFalse(db.checkpoints().containsKey("from-now"), "no checkpoint beyond the tail was written");
        }
    }

    /**
     * An append whose codec is still encoding holds the space before another thread's published event: the
     * other event's position is a record start all the same, and is accepted at once, not refused after a wait.
     */
    @Test
    void aPositionBehindAnAppendInProgressIsAccepted() throws Exception
    {
        try (VarveDB db = VarveDB.open(TestStores.small(dir)))
        {
            final java.util.concurrent.CountDownLatch encoding = new java.util.concurrent.CountDownLatch(1);
            final java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);
            final Codec<String> slow = new Codec<>()
            {
                @Override
                public int maxEncodedLength(final String value)
                {
                    return 200;
                }

                @Override
                public int encode(final String value, final org.agrona.MutableDirectBuffer buffer, final int max)
                {
                    encoding.countDown();
                    try
                    {
                        release.await();
                    }
                    catch (final InterruptedException ex)
                    {
                        Thread.currentThread().interrupt();
                    }
                    return buffer.putStringWithoutLengthAscii(0, value);
                }

                @Override
                public String decode(final org.agrona.DirectBuffer buffer, final int offset, final int length)
                {
                    return buffer.getStringWithoutLengthAscii(offset, length);
                }
            };
            final Thread stalled = new Thread(() ->
            {
                try (Appender appender = db.appender())
                {
                    appender.append(1, ExpectedVersion.ANY, 1, "slow", slow);
                }
            });
            stalled.start();
            try
            {
                assertTrue(encoding.await(30, TimeUnit.SECONDS));
                final long mine;
                try (Appender appender = db.appender())
                {
                    appender.append(2, ExpectedVersion.ANY, 1, new byte[10]);
                    mine = appender.lastPosition();
                }
                assertTrue(mine > 0, "the stalled append holds the space before it");
                final long started = System.nanoTime();
                final long[] seen = { -1 };
                assertEquals(1, db.readAll(mine, 10, (e) -> seen[0] = e.position()));
                assertEquals(mine, seen[0]);
                assertEquals(mine, db.subscription(mine).position());
                db.resetCheckpoint("p", mine);
                assertEquals(mine, (long)db.checkpoints().get("p"));
                assertThrows(IllegalArgumentException.class, () -> db.readAll(mine + 32, 1, (e) -> { }),
                    "inside a record behind the append in progress");
                assertTrue(System.nanoTime() - started < TimeUnit.MILLISECONDS.toNanos(900),
                    "answered without waiting for the stalled append");
            }
            finally
            {
                // a failed assertion must not leave the append stalled: close() would wait for it forever
                release.countDown();
                stalled.join();
            }
            assertEquals(2, StoreChecker.readAll(db).size());
        }
    }

    /** A checkpoint file that points inside a record (damaged, or written by hand) is refused at start. */
    @Test
    void aCheckpointInsideARecordIsRefusedAtStart() throws IOException
    {
        populate(dir);
        try (VarveDB db = VarveDB.open(TestStores.small(dir)))
        {
            db.resetCheckpoint("p", VarveDB.START_POSITION);
        }
        // forge a valid checkpoint file for position 64 with the store's own writer
        new io.varvedb.internal.store.CheckpointStore(dir).write("p", 64);
        try (VarveDB db = VarveDB.open(TestStores.small(dir)))
        {
            final CorruptStoreException refused = assertThrows(CorruptStoreException.class,
                () -> db.processor("p", (e) -> fail("forged")));
            assertTrue(refused.getMessage().contains("p.ckpt") && refused.getMessage().contains("resetCheckpoint"),
                refused.getMessage());
            db.resetCheckpoint("p", VarveDB.START_POSITION);
            db.processor("p", (e) -> { }).close();
        }
    }

    /**
     * Positions checked while two threads append across segment rolls: each appended event's position is accepted
     * and reads that very event, 32 bytes into it is refused; the marks checks leave as they race never mislead.
     */
    @Test
    void recordStartsAreJudgedRightWhileAppendsRace() throws Exception
    {
        try (VarveDB db = VarveDB.open(TestStores.small(dir)))
        {
            final java.util.concurrent.ConcurrentLinkedQueue<Long> appended = new java.util.concurrent.ConcurrentLinkedQueue<>();
            final java.util.concurrent.atomic.AtomicBoolean done = new java.util.concurrent.atomic.AtomicBoolean();
            final List<Throwable> failures = Collections.synchronizedList(new ArrayList<>());
            final List<Thread> threads = new ArrayList<>();
            for (int t = 0; t < 2; t++)
            {
                final int thread = t;
                threads.add(new Thread(() ->
                {
                    try (Appender appender = db.appender())
                    {
                        for (int i = 0; i < 20_000; i++)
                        {
                            // at least 128 bytes a record: 32 bytes in is always inside it
                            appender.append(1 + thread, ExpectedVersion.ANY, 1, new byte[90 + (i * 31) % 400]);
                            appended.add(appender.lastPosition());
                        }
                    }
                    catch (final Throwable ex)
                    {
                        failures.add(ex);
                    }
                }));
            }
            final int[] checked = new int[1];
            final Thread checker = new Thread(() ->
            {
                final SplittableRandom random = new SplittableRandom(5);
                final long[] seen = new long[1];
                try
                {
                    while (!done.get() || !appended.isEmpty())
                    {
                        final Long position = appended.poll();
                        if (position == null)
                        {
                            Thread.onSpinWait();
                            continue;
                        }
                        if (random.nextInt(3) == 0)
                        {
                            continue;
                        }
                        seen[0] = -1;
                        assertEquals(1, db.readAll(position, 1, (e) -> seen[0] = e.position()));
                        assertEquals((long)position, seen[0]);
                        final long inside = position + RecordDescriptor.ALIGNMENT;
                        assertThrows(IllegalArgumentException.class, () -> db.readAll(inside, 1, (e) -> { }),
                            "position " + inside);
                        checked[0]++;
                    }
                }
                catch (final Throwable ex)
                {
                    failures.add(ex);
                }
            });
            checker.start();
            threads.forEach(Thread::start);
            for (final Thread thread : threads)
            {
                thread.join();
            }
            done.set(true);
            checker.join();
            assertEquals(List.of(), failures);
            assertTrue(checked[0] > 1000, "checked " + checked[0]);
            assertTrue(db.tailPosition() > 10L * TestStores.SEGMENT, "the appends crossed many segment rolls");
        }
    }

    /**
     * The record-start check agrees with the log at every aligned position, whichever order the positions are
     * asked in (the marks a check leaves must never mislead a later one).
     */
    @Test
    void everyAlignedPositionIsJudgedRight() throws IOException
    {
        populate(dir);
        final Set<Long> starts = new HashSet<>();
        try (VarveDB db = VarveDB.open(TestStores.small(dir)))
        {
            final long tail = db.tailPosition();
            for (long segment = 0; segment * TestStores.SEGMENT < tail; segment++)
            {
                final Path file = RecoveryTest.segmentFile(dir, segment);
                final ByteBuffer bytes = read(file, 0, (int)Files.size(file));
                int offset = SegmentDescriptor.HEADER_LENGTH;
                while (offset < bytes.limit() && bytes.getInt(offset) > 0)
                {
                    starts.add(segment * TestStores.SEGMENT + offset - SegmentDescriptor.HEADER_LENGTH);
                    offset += RecordDescriptor.alignedLength(bytes.getInt(offset));
                }
            }
            starts.add(tail);
            final List<Long> positions = new ArrayList<>();
            for (long position = 0; position <= tail; position += RecordDescriptor.ALIGNMENT)
            {
                positions.add(position);
            }
            Collections.shuffle(positions, new java.util.Random(3));
            for (final long position : positions)
            {
                boolean accepted;
                try
                {
                    db.readAll(position, 1, (e) -> { });
                    accepted = true;
                }
                catch (final IllegalArgumentException ex)
                {
                    accepted = false;
                }
                assertEquals(starts.contains(position), accepted, "position " + position);
            }
        }
    }
}
