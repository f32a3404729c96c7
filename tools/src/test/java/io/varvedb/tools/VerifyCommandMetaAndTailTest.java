package io.varvedb.tools;

import io.varvedb.Appender;
import io.varvedb.ExpectedVersion;
import io.varvedb.VarveConfig;
import io.varvedb.VarveDB;
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
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Consumer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code varve verify} checks every field of {@code varve.meta} against the log, and every byte after the log's
 * end in every segment: damage there makes the other tools, or the next writer, fail or misbehave.
 */
class VerifyCommandMetaAndTailTest
{
    private static final int SEGMENT_SIZE = 64 * 1024;
    /** Frame 40 + 24 = 64 bytes: 1,024 such events fill a 64 KiB segment exactly. */
    private static final int PAYLOAD = 24;
    private static final int RECORD = 64;
    private static final int INDEX_CAPACITY = 64;

    @TempDir
    Path temp;

    @Test
    void everyFlippedBitOfTheDurablePositionIsFound() throws IOException
    {
        final Path dir = writeStore(100);
        assertSound(dir);
        for (int bit = 0; bit < Long.SIZE; bit++)
        {
            final long mask = 1L << bit;
            updateMeta(dir, (page) -> page.putLong(MetaDescriptor.DURABLE_POSITION_OFFSET,
                page.getLong(MetaDescriptor.DURABLE_POSITION_OFFSET) ^ mask));
            final int flipped = bit;
            final Cli.Result verify = Cli.run("verify", dir.toString());
            assertEquals(ExitCode.CHECK_FAILED, verify.exit(), () -> "bit " + flipped + ": " + verify);
            assertTrue(verify.out().contains("varve.meta: durable position "), () -> "bit " + flipped + ": " + verify);
            updateMeta(dir, (page) -> page.putLong(MetaDescriptor.DURABLE_POSITION_OFFSET,
                page.getLong(MetaDescriptor.DURABLE_POSITION_OFFSET) ^ mask));
        }
        assertSound(dir);
    }

    @Test
    void everyFieldOfTheMetaFileIsChecked() throws IOException
    {
        final Path dir = writeStore(100);
        final long tail = 100 * RECORD;
        damaged(dir, "varve.meta: index checkpoint ", (page) -> page.putLong(MetaDescriptor.INDEX_CHECKPOINT_OFFSET,
            tail ^ (1L << 40)));
        damaged(dir, "varve.meta: index checkpoint ", (page) -> page.putLong(MetaDescriptor.INDEX_CHECKPOINT_OFFSET,
            tail - RECORD));
        damaged(dir, "varve.meta: open state 3 ", (page) -> page.putInt(MetaDescriptor.CLEAN_SHUTDOWN_OFFSET, 3));
        damaged(dir, "varve.meta: writer durability 9 ", (page) -> page.putInt(
            MetaDescriptor.WRITER_DURABILITY_OFFSET, 9));
        damaged(dir, "varve.meta: creation time ", (page) -> page.putLong(MetaDescriptor.CREATED_OFFSET, 0));
        damaged(dir, "varve.meta: creation time ", (page) -> page.putLong(MetaDescriptor.CREATED_OFFSET,
            page.getLong(MetaDescriptor.CREATED_OFFSET) ^ (1L << 50)));
        damaged(dir, "varve.meta: index capacity 128", (page) -> page.putInt(MetaDescriptor.INDEX_CAPACITY_OFFSET,
            INDEX_CAPACITY * 2));
        damaged(dir, "varve.meta: reserved word at offset 280", (page) -> page.putInt(
            MetaDescriptor.CHECKPOINT_FORCED_OFFSET, 2));
        damaged(dir, "varve.meta: encrypted flag 2 (offset 780) is neither 0 nor 1", (page) -> page.putInt(
            MetaDescriptor.ENCRYPTED_OFFSET, 2));
        for (final int offset : new int[] {32, 127, 136, 255, 288, MetaDescriptor.KEY_FILE_ID_OFFSET + 16,
            MetaDescriptor.LENGTH - 1})
        {
            damaged(dir, "varve.meta: reserved byte at offset " + offset + " is 0x10",
                (page) -> page.put(offset, (byte)0x10));
        }
        damaged(dir, "varve.meta: tail position ", (page) -> page.putLong(MetaDescriptor.TAIL_POSITION_OFFSET,
            tail + 4));
        assertSound(dir);
    }

    @Test
    void aStoreNotClosedCleanlyNeedsADurablePositionOnARecordBoundaryWithinTheLog() throws IOException
    {
        final Path dir = writeStore(100);
        final long tail = 100 * RECORD;
        // what a crash leaves: the open state says open, and no live process holds the store
        updateMeta(dir, (page) -> page.putInt(MetaDescriptor.CLEAN_SHUTDOWN_OFFSET, MetaDescriptor.DIRTY));
        Files.writeString(dir.resolve(Stores.LOCK_FILE), "");
        updateMeta(dir, (page) -> page.putLong(MetaDescriptor.DURABLE_POSITION_OFFSET, tail - RECORD));
        assertSound(dir);

        damaged(dir, "varve.meta: durable position 32 (offset 256) falls inside the record at position 0",
            (page) -> page.putLong(MetaDescriptor.DURABLE_POSITION_OFFSET, 32));
        damaged(dir, "varve.meta: durable position 6,408 (offset 256) is beyond the tail position 6,400",
            (page) -> page.putLong(MetaDescriptor.DURABLE_POSITION_OFFSET, tail + 8));
        damaged(dir, "varve.meta: durable position 72 (offset 256) is not a multiple of " +
            io.varvedb.internal.log.RecordDescriptor.ALIGNMENT,
            (page) -> page.putLong(MetaDescriptor.DURABLE_POSITION_OFFSET, 72));
        damaged(dir, "varve.meta: durable position -64 (offset 256) is negative",
            (page) -> page.putLong(MetaDescriptor.DURABLE_POSITION_OFFSET, -64));
        damaged(dir, "varve.meta: index checkpoint 96 (offset 264) falls inside the record at position 64",
            (page) -> page.putLong(MetaDescriptor.INDEX_CHECKPOINT_OFFSET, 96));
        assertSound(dir);
    }

    @Test
    void garbageAfterATailOnASegmentBoundaryIsFound() throws IOException
    {
        // exactly one segment of records: the tail sits on the boundary, and segments 1 and 2 are pre-allocated
        final Path dir = writeStore(SEGMENT_SIZE / RECORD);
        // the background pre-allocator makes segment 2 in its own time (open does not wait for it): wait here, so
        // the test does not race it
        try (VarveDB db = VarveDB.open(VarveConfig.builder(dir).segmentSize(SEGMENT_SIZE)
            .indexCapacity(INDEX_CAPACITY).build()))
        {
            assertEquals(SEGMENT_SIZE, db.tailPosition());
            final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (!Files.exists(segment(dir, 2)) && System.nanoTime() < deadline)
            {
                LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(1));
            }
        }
        assertTrue(Files.exists(segment(dir, 2)), "the pre-allocated segments are the point of this test");
        assertSound(dir);

        for (final long[] damage : new long[][] {{1, 4}, {1, 1000}, {2, 0}, {2, SEGMENT_SIZE - 1}})
        {
            final Path file = segment(dir, damage[0]);
            final long offset = SegmentDescriptor.HEADER_LENGTH + damage[1];
            write(file, offset, (byte)0x5a);
            final Cli.Result verify = Cli.run("verify", dir.toString());
            assertEquals(ExitCode.CHECK_FAILED, verify.exit(), verify::toString);
            assertTrue(verify.out().contains("non-zero bytes at file offset " + Format.count(offset / Long.BYTES *
                Long.BYTES) + " of " + file.getFileName() + ", after the end of the log"), verify::toString);
            write(file, offset, (byte)0);
        }
        assertSound(dir);
    }

    private Path writeStore(final int events)
    {
        final Path dir = temp.resolve("store");
        try (VarveDB db = VarveDB.open(VarveConfig.builder(dir).segmentSize(SEGMENT_SIZE)
            .indexCapacity(INDEX_CAPACITY).build());
            Appender appender = db.appender())
        {
            final byte[] payload = new byte[PAYLOAD];
            for (int i = 0; i < events; i++)
            {
                appender.append(1 + i % 3, ExpectedVersion.ANY, 1, payload);
            }
        }
        return dir;
    }

    private static void damaged(final Path dir, final String expected, final Consumer<ByteBuffer> damage)
        throws IOException
    {
        final byte[] original = Files.readAllBytes(dir.resolve(MetaDescriptor.FILE_NAME));
        updateMeta(dir, damage);
        final Cli.Result verify = Cli.run("verify", dir.toString());
        Files.write(dir.resolve(MetaDescriptor.FILE_NAME), original);
        assertEquals(ExitCode.CHECK_FAILED, verify.exit(), () -> expected + ": " + verify);
        assertTrue(verify.out().contains(expected), () -> expected + ": " + verify);
    }

    private static void assertSound(final Path dir)
    {
        final Cli.Result verify = Cli.run("verify", dir.toString());
        assertEquals(ExitCode.OK, verify.exit(), verify::toString);
    }

    private static void updateMeta(final Path dir, final Consumer<ByteBuffer> change) throws IOException
    {
        final Path path = dir.resolve(MetaDescriptor.FILE_NAME);
        final ByteBuffer page = ByteBuffer.wrap(Files.readAllBytes(path)).order(ByteOrder.LITTLE_ENDIAN);
        change.accept(page);
        Files.write(path, page.array());
    }

    private static Path segment(final Path dir, final long index)
    {
        return dir.resolve("log").resolve(SegmentDescriptor.fileName(index * SEGMENT_SIZE));
    }

    private static void write(final Path file, final long offset, final byte value) throws IOException
    {
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.WRITE))
        {
            channel.write(ByteBuffer.wrap(new byte[] {value}), offset);
        }
    }
}
