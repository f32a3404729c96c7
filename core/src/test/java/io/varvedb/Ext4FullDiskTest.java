package io.varvedb;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A full ext4 file system (a loop device), where new log space is reserved with {@code fallocate}: the blocks of an
 * unwritten extent are the file's, so the first write to one of its pages needs no new block and cannot be a
 * {@code SIGBUS} (which would kill this JVM and fail the run). The tmpfs tests (ResourceFaultTest) meet ENOSPC
 * too, but tmpfs has no unwritten extents. Needs root, {@code mkfs.ext4} and loop devices; skipped elsewhere.
 */
class Ext4FullDiskTest
{
    @TempDir
    Path dir;

    @Test
    void appendsOnAFullExt4FailWithAnExceptionAndEveryAcknowledgedEventStays() throws Exception
    {
        final Path image = dir.resolve("ext4.img");
        final Path mount = dir.resolve("mnt");
        Files.createDirectories(mount);
        try (java.io.RandomAccessFile file = new java.io.RandomAccessFile(image.toFile(), "rw"))
        {
            file.setLength(24L << 20);
        }
        Assumptions.assumeTrue(run("mkfs.ext4", "-q", "-F", image.toString()) &&
            run("mount", "-o", "loop", image.toString(), mount.toString()), "needs mkfs.ext4 and a loop mount");
        try
        {
            final Path store = mount.resolve("store");
            final VarveConfig config = VarveConfig.builder(store).segmentSize(4 << 20).indexCapacity(64)
                .indexBlocksPerChunk(16).build();
            final List<Long> acknowledged = new ArrayList<>();
            StoreIOException full = null;
            try (VarveDB db = VarveDB.open(config))
            {
                final Appender appender = db.appender();
                for (int i = 0; i < 1_000_000 && full == null; i++)
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
                assertNotNull(full, "the disk filled up");
                assertTrue(full.getMessage().contains("No space left on device"), full.getMessage());
                assertTrue(acknowledged.size() > 10_000, acknowledged.size() + " events before the disk was full");
                ResourceFaultTest.checkAcknowledged(db, acknowledged);
            }
            try (VarveDB db = VarveDB.open(config))
            {
                ResourceFaultTest.checkAcknowledged(db, acknowledged);
            }
        }
        finally
        {
            // lazy: the JVM may still map files there until they are collected
            run("umount", "-l", mount.toString());
        }
    }

    private static boolean run(final String... command) throws IOException, InterruptedException
    {
        try
        {
            final Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
            process.getInputStream().readAllBytes();
            return process.waitFor(60, TimeUnit.SECONDS) && process.exitValue() == 0;
        }
        catch (final IOException ex)
        {
            // no such command here
            return false;
        }
    }
}
