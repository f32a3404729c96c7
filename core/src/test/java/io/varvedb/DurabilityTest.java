package io.varvedb;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The durability modes keep their promises about {@link VarveDB#durablePosition()}, and recovery uses the
 * durable position and the index checkpoint the way the README says.
 */
class DurabilityTest
{
    @TempDir
    Path dir;

    private VarveConfig config(final Durability durability)
    {
        return VarveConfig.builder(dir).segmentSize(TestStores.SEGMENT).indexCapacity(256).indexBlocksPerChunk(64)
            .durability(durability).flushIntervalMicros(200).checkpointIntervalMillis(50).build();
    }

    @Test
    void syncAppendsReturnDurable()
    {
        try (VarveDB db = VarveDB.open(config(Durability.SYNC)))
        {
            final Appender appender = db.appender();
            final EventBatch batch = new EventBatch().add(1, new byte[10]).add(1, new byte[20]);
            for (int i = 0; i < 200; i++)
            {
                appender.append(1 + i % 4, ExpectedVersion.ANY, 1, new byte[50]);
                assertTrue(db.durablePosition() > appender.lastPosition(), "durable when append returns");
                appender.appendBatch(7, ExpectedVersion.ANY, batch);
                assertTrue(db.durablePosition() > appender.lastPosition(), "a batch too");
            }
        }
    }

    @Test
    void groupCommitMakesEventsDurableWithoutWaitingAndAwaitDurableWaits() throws InterruptedException
    {
        try (VarveDB db = VarveDB.open(config(Durability.GROUP_COMMIT)))
        {
            final Appender appender = db.appender();
            appender.append(1, ExpectedVersion.ANY, 1, new byte[50]);
            final long first = appender.lastPosition();
            final long deadline = System.nanoTime() + 5_000_000_000L;
            while (db.durablePosition() <= first)
            {
                assertTrue(System.nanoTime() < deadline, "the flusher forces within its interval");
                Thread.sleep(1);
            }
            for (int i = 0; i < 100; i++)
            {
                appender.append(2, ExpectedVersion.ANY, 1, new byte[50]);
                appender.awaitDurable(appender.lastPosition());
                assertTrue(db.durablePosition() > appender.lastPosition());
            }
        }
    }

    @Test
    void osModeForcesNothingByItselfButAwaitDurableForces() throws InterruptedException
    {
        try (VarveDB db = VarveDB.open(config(Durability.OS)))
        {
            final Appender appender = db.appender();
            appender.append(1, ExpectedVersion.ANY, 1, new byte[50]);
            final long position = appender.lastPosition();
            Thread.sleep(200);
            assertTrue(db.durablePosition() <= position, "OS mode leaves the log to the kernel: nothing forced");
            appender.append(1, ExpectedVersion.ANY, 1, new byte[50]);
            appender.awaitDurable(appender.lastPosition());
            assertTrue(db.durablePosition() > appender.lastPosition(), "forced on demand");
        }
    }

    @Test
    void recoveryScansOnlyFromTheIndexCheckpointAndRollsBackWhatTheLogLost() throws IOException
    {
        final List<StoreChecker.Event> events;
        try (VarveDB db = VarveDB.open(config(Durability.OS)))
        {
            final Appender appender = db.appender();
            for (int i = 0; i < 600; i++)
            {
                appender.append(1 + i % 5, ExpectedVersion.ANY, i, ("e" + i).getBytes());
            }
            events = StoreChecker.readAll(db);
        }
        final long checkpoint = events.get(500).position();
        ConcurrentStressTest.markCrashed(dir, checkpoint, checkpoint);
        // the writer was killed while the last three records were claimed but not written: the index has them
        for (int i = 597; i < 600; i++)
        {
            RecoveryTest.zero(dir, events.get(i).position(), 64);
        }

        try (VarveDB db = VarveDB.open(config(Durability.OS)))
        {
            assertEquals(checkpoint, db.recoveryScannedFrom(), "incremental: the scan starts at the checkpoint");
            RecoveryTest.assertEventsEqual(events.subList(0, 597), StoreChecker.readAll(db));
            StoreChecker.check(db);
            for (int i = 597; i < 600; i++)
            {
                final long stream = events.get(i).streamId();
                assertEquals(events.get(i).version() - 1, db.streamVersion(stream), "rolled back");
            }
            final long stream = events.get(597).streamId();
            assertEquals(events.get(597).version(), db.appender().append(stream,
                ExpectedVersion.exact(events.get(597).version() - 1), 1, "again".getBytes()));
            StoreChecker.check(db);
        }
    }

    @Test
    void anUnforcedCheckpointIsTrustedWithinTheSameBootOnly() throws IOException
    {
        final List<StoreChecker.Event> events;
        try (VarveDB db = VarveDB.open(config(Durability.OS)))
        {
            final Appender appender = db.appender();
            for (int i = 0; i < 200; i++)
            {
                appender.append(1 + i % 4, ExpectedVersion.ANY, i, new byte[20]);
            }
            events = StoreChecker.readAll(db);
        }
        final long checkpoint = events.get(150).position();
        final long thisBoot = io.varvedb.internal.store.BootId.current();
        org.junit.jupiter.api.Assumptions.assumeTrue(thisBoot != 0, "needs the kernel's boot id");

        ConcurrentStressTest.markCrashed(dir, checkpoint, 0);
        writeMeta(io.varvedb.internal.store.MetaDescriptor.CHECKPOINT_FORCED_OFFSET, 0, thisBoot);
        try (VarveDB db = VarveDB.open(config(Durability.OS)))
        {
            assertEquals(checkpoint, db.recoveryScannedFrom(), "same boot: the page cache held the index");
            RecoveryTest.assertEventsEqual(events, StoreChecker.readAll(db));
        }

        ConcurrentStressTest.markCrashed(dir, checkpoint, 0);
        writeMeta(io.varvedb.internal.store.MetaDescriptor.CHECKPOINT_FORCED_OFFSET, 0, thisBoot + 1);
        try (VarveDB db = VarveDB.open(config(Durability.OS)))
        {
            assertEquals(0, db.recoveryScannedFrom(), "another boot: an unforced checkpoint is not trusted");
            RecoveryTest.assertEventsEqual(events, StoreChecker.readAll(db));
            StoreChecker.check(db);
        }
    }

    private void writeMeta(final int forcedOffset, final int forced, final long bootId) throws IOException
    {
        try (java.nio.channels.FileChannel channel = java.nio.channels.FileChannel.open(
            dir.resolve(io.varvedb.internal.store.MetaDescriptor.FILE_NAME), java.nio.file.StandardOpenOption.WRITE))
        {
            final java.nio.ByteBuffer buffer = java.nio.ByteBuffer.allocate(8).order(java.nio.ByteOrder.LITTLE_ENDIAN);
            channel.write(buffer.putInt(0, forced).limit(4), forcedOffset);
            channel.write(buffer.clear().putLong(0, bootId), io.varvedb.internal.store.MetaDescriptor.BOOT_ID_OFFSET);
        }
    }

    @Test
    void anIndexThatContradictsTheLogIsRebuiltFromTheStart() throws IOException
    {
        final List<StoreChecker.Event> events;
        try (VarveDB db = VarveDB.open(config(Durability.OS)))
        {
            final Appender appender = db.appender();
            for (int i = 0; i < 300; i++)
            {
                appender.append(1 + i % 3, ExpectedVersion.ANY, i, new byte[20]);
            }
            events = StoreChecker.readAll(db);
        }
        final long checkpoint = events.get(100).position();
        ConcurrentStressTest.markCrashed(dir, checkpoint, checkpoint);
        // damage every stream slot's version: the index now claims versions the log does not hold
        final Path table = dir.resolve("index").resolve("streams.idx");
        final byte[] bytes = java.nio.file.Files.readAllBytes(table);
        final java.nio.ByteBuffer buffer = java.nio.ByteBuffer.wrap(bytes).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        for (int offset = 4096; offset < bytes.length; offset += 32)
        {
            if (buffer.getLong(offset) != 0)
            {
                buffer.putLong(offset + 8, 7L << 1);
            }
        }
        java.nio.file.Files.write(table, bytes);

        try (VarveDB db = VarveDB.open(config(Durability.OS)))
        {
            assertEquals(0, db.recoveryScannedFrom(), "fell back to a full rebuild");
            RecoveryTest.assertEventsEqual(events, StoreChecker.readAll(db));
            StoreChecker.check(db);
        }
    }

    @Test
    void damageBelowTheDurablePositionIsNeverTruncatedAway() throws IOException
    {
        final List<StoreChecker.Event> events;
        try (VarveDB db = VarveDB.open(config(Durability.SYNC)))
        {
            final Appender appender = db.appender();
            for (int i = 0; i < 50; i++)
            {
                appender.append(1, ExpectedVersion.ANY, i, new byte[30]);
            }
            events = StoreChecker.readAll(db);
        }
        final StoreChecker.Event last = events.get(49);
        ConcurrentStressTest.markCrashed(dir, 0, last.position() + 128);
        RecoveryTest.flipByte(dir, last.position() + 50);
        final CorruptStoreException e = assertThrows(CorruptStoreException.class,
            () -> VarveDB.open(config(Durability.SYNC)));
        assertTrue(e.getMessage().contains("durable"), e.getMessage());
        assertTrue(e.getMessage().contains("position " + last.position()), e.getMessage());
    }
}
