package io.varvedb;

import io.varvedb.internal.index.StreamIndexDescriptor;
import io.varvedb.internal.process.RegistryDescriptor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Several writer processes on one store ({@code VarveConfig.Builder.multiProcess}): the modes exclude each other,
 * processes race with the guarantees threads have, and a writer that dies mid-append never stops the others.
 */
class MultiWriterProcessTest
{
    @TempDir
    Path dir;

    @Test
    void aStoreOpenInOneModeRefusesAWriterInTheOtherNamingTheHolderAndTheModeToUse() throws Exception
    {
        final Process single = MultiProcessTest.start(List.of(), "open-mode", dir.toString(), "false");
        try
        {
            final String pid = awaitOpened(single);
            final StoreLockedException refused = assertThrows(StoreLockedException.class,
                () -> VarveDB.open(MultiWriterChild.config(dir)));
            assertTrue(refused.getMessage().contains(pid), refused.getMessage());
            assertTrue(refused.getMessage().contains("single-process mode"), refused.getMessage());
            // a follower reads beside either mode
            try (VarveDB reader = VarveDB.openReadOnly(dir))
            {
                assertEquals(0, reader.streamCount());
            }
        }
        finally
        {
            single.getOutputStream().close();
            assertTrue(single.waitFor(30, TimeUnit.SECONDS));
        }

        final Process multi = MultiProcessTest.start(List.of(), "open-mode", dir.toString(), "true");
        try
        {
            final String pid = awaitOpened(multi);
            final StoreLockedException refused = assertThrows(StoreLockedException.class,
                () -> VarveDB.open(TestStores.small(dir)));
            assertTrue(refused.getMessage().contains(pid), refused.getMessage());
            assertTrue(refused.getMessage().contains("multiProcess(true)"), refused.getMessage());
            // a writer in the same mode joins
            try (VarveDB joined = VarveDB.open(MultiWriterChild.config(dir));
                VarveDB reader = VarveDB.openReadOnly(dir))
            {
                joined.appender().append(5, ExpectedVersion.NO_STREAM, 1, new byte[]{ 1 });
                assertEquals(1, reader.streamVersion(5));
            }
        }
        finally
        {
            multi.getOutputStream().close();
            assertTrue(multi.waitFor(30, TimeUnit.SECONDS));
        }
        // the last one out closed it cleanly
        try (VarveDB db = VarveDB.open(TestStores.small(dir)))
        {
            assertTrue(db.openedCleanly());
            assertEquals(1, db.streamVersion(5));
        }
    }

    /**
     * From an attack: a multi-process writer that holds the store but has not registered yet (it registers right
     * after its lock, before it recovers) must not make a refused single-process opener name a stale pid.
     */
    @Test
    void aSingleProcessOpenerRefusedByAMultiProcessHolderSaysSoBeforeItRegisters() throws Exception
    {
        VarveDB.open(TestStores.small(dir)).close();
        final io.varvedb.internal.process.WriterLock holder =
            io.varvedb.internal.process.WriterLock.acquire(dir, true);
        try
        {
            final Process single = MultiProcessTest.start(List.of(), "open-mode", dir.toString(), "false");
            final List<String> said = readAll(single);
            assertTrue(single.waitFor(60, TimeUnit.SECONDS));
            assertEquals(1, said.size(), said.toString());
            assertTrue(said.get(0).startsWith("locked: "), said.get(0));
            assertTrue(said.get(0).contains("multi-process mode"), said.get(0));
            assertTrue(said.get(0).contains("multiProcess(true)"), said.get(0));
        }
        finally
        {
            holder.release(false);
        }
    }

    @Test
    void aWriterJoiningAStoreOthersHaveOpenOpensItCleanly()
    {
        try (VarveDB a = VarveDB.open(MultiWriterChild.config(dir));
            VarveDB b = VarveDB.open(MultiWriterChild.config(dir)))
        {
            assertTrue(a.createdNew());
            assertTrue(b.openedCleanly(), "nothing to recover: the store is open and sound");
            assertEquals(-1, b.recoveredEvents());
        }
    }

    @Test
    void twoStoreInstancesShareTheStreamsAndOneCasDecidesEachConflict()
    {
        try (VarveDB a = VarveDB.open(MultiWriterChild.config(dir));
            VarveDB b = VarveDB.open(MultiWriterChild.config(dir)))
        {
            assertEquals(1, a.appender().append(1, ExpectedVersion.NO_STREAM, 1, new byte[]{ 1 }));
            final ConcurrencyConflictException conflict = assertThrows(ConcurrencyConflictException.class,
                () -> b.appender().append(1, ExpectedVersion.NO_STREAM, 1, new byte[]{ 2 }));
            assertEquals(1, conflict.actualVersion(), "the actual version, whoever wrote it");
            assertEquals(2, b.appender().append(1, ExpectedVersion.exact(1), 1, new byte[]{ 2 }));
            assertEquals(2, a.streamVersion(1));
            final List<Long> seen = new ArrayList<>();
            a.readAll(0, 10, (e) -> seen.add(e.version()));
            assertEquals(List.of(1L, 2L), seen);
        }
        try (VarveDB db = VarveDB.open(TestStores.small(dir)))
        {
            assertTrue(db.openedCleanly(), "closed cleanly by the last writer out");
            StoreChecker.check(db);
        }
    }

    @Test
    void aSyncAppendIsDurableWhenItReturnsAndTheDurablePositionIsShared()
    {
        final VarveConfig.Builder sync = VarveConfig.builder(dir).segmentSize(64 * 1024).indexCapacity(1024)
            .indexBlocksPerChunk(16).multiProcess(true).durability(Durability.SYNC);
        try (VarveDB a = VarveDB.open(sync.build());
            VarveDB b = VarveDB.open(sync.build()))
        {
            final Appender[] appenders = { a.appender(), b.appender() };
            for (int i = 0; i < 200; i++)
            {
                final Appender appender = appenders[i % 2];
                appender.append(1 + i % 3, ExpectedVersion.ANY, 1, new byte[]{ (byte)i });
                final long end = appender.lastPosition() + 1;
                // one position for both writers: whoever forced, the other sees it
                assertTrue(a.durablePosition() >= end, "durable in a after append " + i);
                assertTrue(b.durablePosition() >= end, "durable in b after append " + i);
            }
            assertEquals(a.tailPosition(), a.durablePosition());
        }
    }

    @Test
    void fourWriterProcessesOfTwoThreadsRaceAndEveryInvariantHolds() throws Exception
    {
        final int processes = 4;
        final int operations = Integer.getInteger("varve.multiwriter.operations", 1500);
        final List<Process> children = new ArrayList<>();
        final List<List<String>> outputs = new ArrayList<>();
        for (int p = 0; p < processes; p++)
        {
            children.add(MultiProcessTest.start(List.of(), "multi-writer", dir.toString(), Integer.toString(p + 1),
                "2", Integer.toString(operations)));
        }
        for (final Process child : children)
        {
            outputs.add(readAll(child));
            assertTrue(child.waitFor(120, TimeUnit.SECONDS));
            assertEquals(0, child.exitValue());
        }
        final Map<Long, long[]> acked = new HashMap<>();
        final Set<Long> refused = new HashSet<>();
        for (int p = 0; p < processes; p++)
        {
            final List<String> lines = outputs.get(p);
            assertEquals("done", lines.get(lines.size() - 1), "process " + (p + 1) + " finished cleanly");
            int acks = 0;
            for (final String line : lines)
            {
                final String[] parts = line.split(" ");
                if (parts[0].equals("ack"))
                {
                    acks++;
                    assertNull(acked.put(Long.parseLong(parts[1]),
                        new long[]{ Long.parseLong(parts[2]), Long.parseLong(parts[3]) }));
                }
                else if (parts[0].equals("refused"))
                {
                    refused.add(Long.parseLong(parts[1]));
                }
            }
            assertTrue(acks > 0, "process " + (p + 1) + " appended");
        }
        assertFalse(refused.isEmpty(), "processes racing on hot streams with exact versions must conflict");

        try (VarveDB db = VarveDB.open(TestStores.small(dir)))
        {
            assertTrue(db.openedCleanly(), "the last writer out closed the store cleanly");
            checkAgainstLog(db, acked, refused, true);
        }
    }

    /**
     * Writer processes creating streams all over a table of several allocation units, and index blocks in many
     * chunk files: each unit and chunk is allocated once, under its lock, so no process's zeros wipe another's
     * slot or block.
     */
    @Test
    void processesCreatingStreamsAllOverTheTableLoseNone() throws Exception
    {
        final int processes = 4;
        final int perProcess = 1500;
        final List<Process> children = new ArrayList<>();
        for (int p = 0; p < processes; p++)
        {
            children.add(MultiProcessTest.start(List.of(), "multi-create", dir.toString(),
                Long.toString(1 + (long)p * perProcess), Integer.toString(perProcess)));
        }
        for (final Process child : children)
        {
            final List<String> lines = readAll(child);
            assertTrue(child.waitFor(120, TimeUnit.SECONDS));
            assertEquals("done", lines.get(lines.size() - 1));
        }
        try (VarveDB db = VarveDB.open(VarveConfig.builder(dir).multiProcess(true).build()))
        {
            assertEquals((long)processes * perProcess, db.streamCount());
            for (long id = 1; id <= (long)processes * perProcess; id++)
            {
                assertEquals(1, db.streamVersion(id), "stream " + id);
                final byte[] seen = { 0 };
                db.readStream(id, 1, 1, (e) -> seen[0] = e.payload().getByte(0));
                assertEquals((byte)id, seen[0], "stream " + id + "'s event");
            }
            StoreChecker.check(db);
        }
    }

    /**
     * Every invariant of the concurrent stress test, and every acknowledged event where it was acknowledged.
     *
     * @param exact true when every event in the log must have been acknowledged (no process was killed).
     */
    static void checkAgainstLog(final VarveDB db, final Map<Long, long[]> acked, final Set<Long> refused,
        final boolean exact)
    {
        final Map<Long, List<StoreChecker.Event>> streams = StoreChecker.check(db);
        final Set<Long> inLog = new HashSet<>();
        for (final List<StoreChecker.Event> events : streams.values())
        {
            for (final StoreChecker.Event event : events)
            {
                final long id = ByteBuffer.wrap(event.payload()).order(ByteOrder.LITTLE_ENDIAN).getLong();
                assertTrue(inLog.add(id), "event " + id + " is in the log once");
                assertFalse(refused.contains(id), "a refused append wrote nothing: " + id);
                final long[] where = acked.get(id);
                if (where != null)
                {
                    assertEquals(where[0], event.streamId(), "stream of " + id);
                    assertEquals(where[1], event.version(), "version of " + id);
                }
                else
                {
                    assertFalse(exact, "event " + id + " in the log was never acknowledged");
                }
            }
        }
        for (final Long id : acked.keySet())
        {
            assertTrue(inLog.contains(id), "acknowledged event " + id + " is in the log");
        }
    }

    @Test
    void aWriterKilledBetweenItsCasAndItsPublishNeverStopsTheOthers() throws Exception
    {
        try (VarveDB db = VarveDB.open(MultiWriterChild.config(dir)))
        {
            final Appender appender = db.appender();
            assertEquals(1, appender.append(9, ExpectedVersion.NO_STREAM, 1, new byte[]{ 1 }));
            final Process dying = MultiProcessTest.start(List.of(), "multi-halt-in-append", dir.toString(), "9");
            final List<String> said = readAll(dying);
            assertTrue(dying.waitFor(30, TimeUnit.SECONDS));
            assertEquals(List.of("halting"), said);
            assertEquals(9, dying.exitValue());

            assertTimeoutPreemptively(Duration.ofSeconds(20), () ->
            {
                // the stream the dead process held: an appender gets it back at its old version
                assertEquals(2, appender.append(9, ExpectedVersion.exact(1), 1, new byte[]{ 2 }));
                // and the log space it claimed is padding: readers pass it and see what followed
                assertEquals(1, appender.append(10, ExpectedVersion.NO_STREAM, 1, new byte[]{ 3 }));
                final List<Long> streams = new ArrayList<>();
                try (Subscription subscription = db.subscription(VarveDB.START_POSITION))
                {
                    while (streams.size() < 3)
                    {
                        subscription.poll((e) -> streams.add(e.streamId() * 10 + e.version()), 10);
                        Thread.onSpinWait();
                    }
                }
                assertEquals(List.of(91L, 92L, 101L), streams);
            });
            StoreChecker.check(db);
        }
    }

    @Test
    void aDeadWritersPublishedButUncommittedAppendIsFinishedNotLost() throws Exception
    {
        try (VarveDB db = VarveDB.open(MultiWriterChild.config(dir)))
        {
            final Appender appender = db.appender();
            appender.append(4, ExpectedVersion.NO_STREAM, 1, new byte[]{ 1 });
            appender.append(4, ExpectedVersion.exact(1), 1, new byte[]{ 2 });
            final long position = appender.lastPosition();
            // make it look as a process that died after publishing version 2 and before committing it would leave
            // it: the slot pending on version 1, held by a lane of a registered participant whose process is gone
            final int deadParticipant = RegistryDescriptor.PARTICIPANTS - 1;
            final int deadLane = RegistryDescriptor.LANES - 1;
            final int slot = IndexSlotCheckTest.slotOf(dir, 4);
            try (FileChannel registry = FileChannel.open(dir.resolve(RegistryDescriptor.FILE_NAME),
                StandardOpenOption.READ, StandardOpenOption.WRITE))
            {
                final int participant = RegistryDescriptor.participantOffset(deadParticipant);
                putLong(registry, participant + RegistryDescriptor.PID_OFFSET, Long.MAX_VALUE);
                putInt(registry, participant + RegistryDescriptor.STATE_OFFSET, RegistryDescriptor.ACTIVE);
                final int lane = RegistryDescriptor.laneOffset(deadLane);
                putLong(registry, lane + RegistryDescriptor.LANE_OWNER_OFFSET, deadParticipant + 1);
                putLong(registry, lane + RegistryDescriptor.LANE_FROM_OFFSET, position);
                putLong(registry, lane + RegistryDescriptor.LANE_CLAIM_OFFSET, position);
                putLong(registry, lane + RegistryDescriptor.LANE_CLAIM_LENGTH_OFFSET, 64);
                putLong(registry, lane + RegistryDescriptor.LANE_SLOT_OFFSET, slot);
                putLong(registry, lane + RegistryDescriptor.LANE_PREVIOUS_OFFSET, 1);
            }
            IndexSlotCheckTest.writeLong(IndexSlotCheckTest.table(dir),
                slot + StreamIndexDescriptor.SLOT_STATE_OFFSET, StreamIndexDescriptor.pendingState(1, deadLane + 1));
            assertEquals(1, db.streamVersion(4), "as the dead process left it");

            assertTimeoutPreemptively(Duration.ofSeconds(20), () ->
            {
                // the append it published is finished, not undone: readers may have seen version 2
                assertEquals(3, appender.append(4, ExpectedVersion.ANY, 1, new byte[]{ 3 }));
            });
            final List<Byte> payloads = new ArrayList<>();
            db.readStream(4, 1, 10, (e) -> payloads.add(e.payload().getByte(0)));
            assertEquals(List.of((byte)1, (byte)2, (byte)3), payloads);
            StoreChecker.check(db);
        }
    }

    @Test
    void aHoleADeadWriterLeftWithoutSayingWhereIsFoundAndPadded() throws Exception
    {
        try (VarveDB db = VarveDB.open(MultiWriterChild.config(dir)))
        {
            final Appender appender = db.appender();
            appender.append(1, ExpectedVersion.NO_STREAM, 1, new byte[]{ 1 });
            final long tail = db.tailPosition();
            // as a process killed between its claim's atomic add and the write of its claim into its lane leaves
            // it: the tail moved past 64 bytes nobody will write, and a lane whose mark is all that says so
            final int deadParticipant = RegistryDescriptor.PARTICIPANTS - 2;
            try (FileChannel registry = FileChannel.open(dir.resolve(RegistryDescriptor.FILE_NAME),
                StandardOpenOption.READ, StandardOpenOption.WRITE))
            {
                final int participant = RegistryDescriptor.participantOffset(deadParticipant);
                putInt(registry, participant + RegistryDescriptor.STATE_OFFSET, RegistryDescriptor.ACTIVE);
                final int lane = RegistryDescriptor.laneOffset(RegistryDescriptor.LANES - 2);
                putLong(registry, lane + RegistryDescriptor.LANE_OWNER_OFFSET, deadParticipant + 1);
                putLong(registry, lane + RegistryDescriptor.LANE_FROM_OFFSET, tail);
            }
            try (FileChannel meta = FileChannel.open(dir.resolve(io.varvedb.internal.store.MetaDescriptor.FILE_NAME),
                StandardOpenOption.READ, StandardOpenOption.WRITE))
            {
                putLong(meta, io.varvedb.internal.store.MetaDescriptor.TAIL_POSITION_OFFSET, tail + 64);
            }
            appender.append(2, ExpectedVersion.NO_STREAM, 1, new byte[]{ 2 });

            assertTimeoutPreemptively(Duration.ofSeconds(20), () ->
            {
                final List<Long> streams = new ArrayList<>();
                try (Subscription subscription = db.subscription(VarveDB.START_POSITION))
                {
                    while (streams.size() < 2)
                    {
                        subscription.poll((e) -> streams.add(e.streamId()), 10);
                        Thread.onSpinWait();
                    }
                }
                assertEquals(List.of(1L, 2L), streams, "the reader passed the hole");
            });
            StoreChecker.check(db);
        }
    }

    private static void putLong(final FileChannel channel, final long position, final long value) throws IOException
    {
        channel.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, value), position);
    }

    private static void putInt(final FileChannel channel, final long position, final int value) throws IOException
    {
        channel.write(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(0, value), position);
    }

    static String awaitOpened(final Process process) throws IOException
    {
        final String line = MultiProcessTest.stdout(process).readLine();
        assertNotNull(line);
        assertTrue(line.startsWith("opened "), line);
        return line.substring("opened ".length());
    }

    static List<String> readAll(final Process process) throws IOException
    {
        final List<String> lines = new ArrayList<>();
        final BufferedReader reader = MultiProcessTest.stdout(process);
        for (String line = reader.readLine(); line != null; line = reader.readLine())
        {
            lines.add(line);
        }
        return lines;
    }
}
