package io.varvedb;

import io.varvedb.internal.log.Log;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The log's disk footprint starts small and grows with the log (issue 21): segment files keep their full length,
 * but get disk blocks only as far as the pre-allocator's lead, which adapts to the append rate.
 */
class LogFootprintTest
{
    private static final long MIB = 1 << 20;

    @TempDir
    Path dir;

    /** A new store with one small event takes a few MiB of log on disk, not three zero-filled 64 MiB segments. */
    @Test
    void aNewStoreTakesLittleDiskAndItGrowsWithTheLog() throws Exception
    {
        final Path store = dir.resolve("store");
        try (VarveDB db = VarveDB.open(store))
        {
            final Appender appender = db.appender();
            appender.append(1, ExpectedVersion.NO_STREAM, 1, new byte[3]);
            // give the pre-allocator some duty cycles: a quiet store keeps its lead small
            Thread.sleep(200);
            final long small = allocatedBytes(store.resolve("log"));
            assertTrue(small <= Log.ALLOCATION_CHUNK + 64 * 1024, "log on disk after one event: " + small + " bytes");

            // about 6 MiB of records
            final byte[] payload = new byte[88];
            for (int i = 0; i < 50_000; i++)
            {
                appender.append(2 + i % 10, ExpectedVersion.ANY, 1, payload);
            }
            final long tail = db.tailPosition();
            final long grown = allocatedBytes(store.resolve("log"));
            assertTrue(grown >= tail, "everything written has blocks: " + grown + " < tail " + tail);
            assertTrue(grown <= tail + 2L * 64 * MIB + 4 * MIB, "at most the lead beyond the tail: " + grown);
        }
        try (VarveDB db = VarveDB.open(store))
        {
            assertEquals(50_000, db.readAll(0, Integer.MAX_VALUE, (e) -> { }) - 1);
            db.appender().append(1, ExpectedVersion.exact(1), 1, new byte[3]);
        }
    }

    /** Appending at full speed, the pre-allocator's lead reaches two segments beyond the tail, as before. */
    @Test
    void aBusyStoreEndsWithTheLeadTwoSegmentsAhead() throws Exception
    {
        final int segment = 8 << 20;
        final Path store = dir.resolve("busy");
        try (VarveDB db = VarveDB.open(VarveConfig.builder(store).segmentSize(segment).build()))
        {
            final Appender appender = db.appender();
            final org.agrona.concurrent.UnsafeBuffer payload = new org.agrona.concurrent.UnsafeBuffer(new byte[64]);
            final long until = System.nanoTime() + 1_500_000_000L;
            long appended = 0;
            while (System.nanoTime() < until)
            {
                for (int i = 0; i < 1000; i++)
                {
                    appender.tryAppend(1, ExpectedVersion.ANY_VALUE, 1, payload, 0, payload.capacity());
                }
                appended += 1000;
            }
            final long tail = db.tailPosition();
            assertTrue(tail > 4L * segment, "a busy run (" + appended + " appends) rolls segments: tail " + tail);
            SubscriptionTest.await(() -> allocatedBytesUnchecked(store.resolve("log")) >= tail + 2L * segment,
                "the lead reaches two segments beyond the tail " + tail);
            assertTrue(allocatedBytes(store.resolve("log")) <= tail + 2L * segment + 2L * Log.ALLOCATION_CHUNK,
                "and no more than that");
        }
    }

    /**
     * The disk fills in the middle of a segment: the append that needs the next chunk fails with StoreIOException
     * (never a SIGBUS), every acknowledged event reads back, and appends go on once space is back.
     */
    @Test
    void aDiskThatFillsInTheMiddleOfASegmentFailsTheAppendCleanly() throws Exception
    {
        Assumptions.assumeTrue(Tmpfs.available(dir.resolve("probe")), "needs permission to mount a tmpfs");
        final int segment = 4 << 20;
        try (Tmpfs fs = Tmpfs.mount(dir.resolve("mid"), "8m"))
        {
            final Path store = fs.path().resolve("store");
            // no background pre-allocator: the chunks are the appender's, 1 MiB each, so the disk fills at a
            // chunk's end inside the 4 MiB segment; index chunks large enough for every event of the test, so the
            // full disk meets the log
            final VarveConfig config = VarveConfig.builder(store).segmentSize(segment).indexCapacity(64)
                .indexBlocksPerChunk(1024).preallocate(false).build();
            final List<Long> acknowledged = new ArrayList<>();
            try (VarveDB db = VarveDB.open(config))
            {
                final Appender appender = db.appender();
                ResourceFaultTest.appendIds(appender, 0, 6_000, acknowledged);
                assertTrue(db.tailPosition() > MIB && db.tailPosition() < 2 * MIB, "tail " + db.tailPosition());
                ResourceFaultTest.fillDisk(fs.path());

                StoreIOException full = null;
                for (int i = 6_000; full == null; i++)
                {
                    try
                    {
                        appender.append(1 + i % 5, ExpectedVersion.ANY, 1, ResourceFaultTest.payload(i));
                        acknowledged.add((long)i);
                    }
                    catch (final StoreIOException ex)
                    {
                        full = ex;
                    }
                }
                assertTrue(full.getMessage().contains("No space left on device"), full.getMessage());
                final long offset = db.tailPosition() % segment;
                assertTrue(offset > MIB && offset < segment - MIB,
                    "the disk filled in the middle of a segment, at offset " + offset);
                assertThrows(StoreIOException.class, () -> appender.append(1, ExpectedVersion.ANY, 1, ResourceFaultTest.payload(-1)),
                    "still full, still a clean refusal (first: " + full.getMessage() + " at " + db.tailPosition() + ")");
                ResourceFaultTest.checkAcknowledged(db, acknowledged);

                Files.delete(fs.path().resolve("filler"));
                ResourceFaultTest.appendIds(appender, 1_000_000, 12_000, acknowledged);
                ResourceFaultTest.checkAcknowledged(db, acknowledged);
            }
            try (VarveDB db = VarveDB.open(config))
            {
                assertTrue(db.openedCleanly());
                ResourceFaultTest.checkAcknowledged(db, acknowledged);
            }
        }
    }

    /**
     * Recovery after a crash reads the rest of the tail's segment and the segments ahead (to zero what lies after
     * the end, and to look for records after a hole) without giving them blocks: on a tmpfs, a read through a
     * shared mapping fills a hole with new pages (and is a SIGBUS when the tmpfs is full), so it reads them through
     * the file channel.
     */
    @Test
    void recoveryDoesNotFillTheHolesItReads() throws Exception
    {
        Assumptions.assumeTrue(Tmpfs.available(dir.resolve("probe")), "needs permission to mount a tmpfs");
        try (Tmpfs fs = Tmpfs.mount(dir.resolve("recovery"), "64m"))
        {
            final Path store = fs.path().resolve("store");
            final VarveConfig config = VarveConfig.builder(store).segmentSize(16 << 20).indexCapacity(64)
                .indexBlocksPerChunk(1024).preallocate(false).build();
            final List<Long> acknowledged = new ArrayList<>();
            try (VarveDB db = VarveDB.open(config))
            {
                ResourceFaultTest.appendIds(db.appender(), 0, 1000, acknowledged);
            }
            RecoveryTest.markDirty(store);
            final long before = allocatedBytes(store.resolve("log"));
            try (VarveDB db = VarveDB.open(config))
            {
                assertFalse(db.openedCleanly(), "recovered");
                ResourceFaultTest.checkAcknowledged(db, acknowledged);
            }
            final long after = allocatedBytes(store.resolve("log"));
            assertTrue(after - before <= 256 * 1024, "recovery gave the log " + (after - before) + " bytes more than " +
                before);
        }
    }

    /** Disk blocks of the files under {@code path}, in bytes, as {@code du} counts them. */
    static long allocatedBytes(final Path path) throws IOException, InterruptedException
    {
        for (int attempt = 0; ; attempt++)
        {
            final Process du = new ProcessBuilder("du", "-s", "-B1", path.toString()).start();
            final String out = new String(du.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            // a live store renames files in as du lists them: a file gone under it fails the run, so try again
            if (du.waitFor() == 0 || attempt == 10)
            {
                assertEquals(0, du.exitValue(), out);
                return Long.parseLong(out.trim().split("\\s+")[0]);
            }
        }
    }

    private static long allocatedBytesUnchecked(final Path path)
    {
        try
        {
            return allocatedBytes(path);
        }
        catch (final IOException | InterruptedException ex)
        {
            throw new IllegalStateException(ex);
        }
    }
}
