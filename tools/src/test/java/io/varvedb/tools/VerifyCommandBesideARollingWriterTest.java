package io.varvedb.tools;

import io.varvedb.Appender;
import io.varvedb.ExpectedVersion;
import io.varvedb.VarveConfig;
import io.varvedb.VarveDB;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code varve verify} beside a live writer that rolls segments as fast as it can. A segment renamed into
 * {@code log/} while verify lists the directory may be missing from the listing, though the store is sound.
 */
class VerifyCommandBesideARollingWriterTest
{
    private static final int SEGMENT_SIZE = 64 * 1024;
    /** A quarter of a segment: the writer rolls a segment every four appends. */
    private static final int PAYLOAD = SEGMENT_SIZE / 4 - 64;
    /**
     * Segments before verify starts: a listing of fewer files is read in one system call, and no file can slip
     * through it; a larger one is read in batches, between which the writer renames its next segments in.
     */
    private static final long SEGMENTS_BEFORE = 1200;
    /**
     * How far the writer may roll on during each verify run: it waits there, so a slow verify never finds it done,
     * and the disk the test takes stays bounded (about 180 MB in all).
     */
    private static final long SEGMENTS_PER_RUN = 300;
    private static final int VERIFY_RUNS = 5;
    private static final long TIMEOUT_MS = TimeUnit.SECONDS.toMillis(60);

    @TempDir
    Path temp;

    @Test
    void neverReportsASegmentRenamedInDuringTheListingAsMissing() throws Exception
    {
        final Path dir = temp.resolve("store");
        final AtomicBoolean stop = new AtomicBoolean();
        final java.util.concurrent.atomic.AtomicLong allowance =
            new java.util.concurrent.atomic.AtomicLong(SEGMENTS_BEFORE * SEGMENT_SIZE);
        final AtomicReference<Throwable> failure = new AtomicReference<>();
        try (VarveDB db = VarveDB.open(VarveConfig.builder(dir).segmentSize(SEGMENT_SIZE).indexCapacity(16).build()))
        {
            final Thread writer = new Thread(() ->
            {
                final byte[] payload = new byte[PAYLOAD];
                try (Appender appender = db.appender())
                {
                    long version = 0;
                    while (!stop.get())
                    {
                        if (db.tailPosition() < allowance.get())
                        {
                            version = appender.append(1, ExpectedVersion.exact(version), 1, payload);
                        }
                        else
                        {
                            Thread.sleep(1);
                        }
                    }
                }
                catch (final Throwable ex)
                {
                    failure.set(ex);
                }
            }, "rolling-writer");
            writer.start();
            try
            {
                final long deadline = System.currentTimeMillis() + TIMEOUT_MS;
                while (db.tailPosition() < SEGMENTS_BEFORE * SEGMENT_SIZE && writer.isAlive() &&
                    System.currentTimeMillis() < deadline)
                {
                    Thread.sleep(10);
                }
                int runsBesideTheWriter = 0;
                for (int run = 1; run <= VERIFY_RUNS && writer.isAlive(); run++)
                {
                    final long segments = db.tailPosition() / SEGMENT_SIZE;
                    allowance.set((segments + SEGMENTS_PER_RUN) * SEGMENT_SIZE);
                    final Cli.Result verify = Cli.run("verify", dir.toString());
                    assertEquals(ExitCode.OK, verify.exit(), "run " + run + " at " + segments + " segments: " + verify);
                    assertTrue(verify.out().contains("note: a writer"), verify::toString);
                    // beside the writer only if it rolled segments while verify listed and read them
                    if (db.tailPosition() / SEGMENT_SIZE > segments)
                    {
                        runsBesideTheWriter++;
                    }
                }
                assertTrue(runsBesideTheWriter >= VERIFY_RUNS / 2,
                    "the writer stopped rolling segments before verify ran beside it often enough: " +
                    runsBesideTheWriter + " runs");
            }
            finally
            {
                stop.set(true);
                writer.join(TIMEOUT_MS);
            }
        }
        assertNull(failure.get());
    }
}
