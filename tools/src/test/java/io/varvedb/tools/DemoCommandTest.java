package io.varvedb.tools;

import io.varvedb.Appender;
import io.varvedb.ExpectedVersion;
import io.varvedb.VarveDB;
import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The demo on a real store: everything sells out, nothing is oversold, the store it leaves verifies; the proof it
 * relies on does catch an oversold stream; and {@code --fresh} never deletes a store a writer has open.
 */
class DemoCommandTest
{
    private static final int WRITTEN = 1000;
    @TempDir
    Path temp;

    @Test
    void sellsOutWithoutOversellingAndLeavesASoundStore()
    {
        final Path dir = temp.resolve("demo");
        final Cli.Result demo = Cli.run("demo", "--dir", dir.toString(), "--products", "3", "--stock", "20000",
            "--threads", "3", "--duration", "30");
        assertEquals(ExitCode.OK, demo.exit(), demo::toString);
        assertTrue(demo.out().contains("Every product sold out"), demo::toString);
        assertTrue(demo.out().contains("units reserved    60,000 of 60,000"), demo::toString);
        assertTrue(demo.out().contains("OK: no product oversold"), demo::toString);
        assertTrue(demo.out().contains("append latency    p50 "), demo::toString);

        // a second run adds new product streams beside the first run's
        final Cli.Result again = Cli.run("demo", "--dir", dir.toString(), "--products", "2", "--stock", "1000",
            "--threads", "2");
        assertEquals(ExitCode.OK, again.exit(), again::toString);
        assertTrue(again.out().contains("products are streams 4..5"), again::toString);

        final Cli.Result verify = Cli.run("verify", dir.toString());
        assertEquals(ExitCode.OK, verify.exit(), verify::toString);

        final Cli.Result fresh = Cli.run("demo", "--dir", dir.toString(), "--fresh", "--products", "1", "--stock",
            "10", "--threads", "2");
        assertEquals(ExitCode.OK, fresh.exit(), fresh::toString);
        assertTrue(fresh.out().contains("products are streams 1..1"), fresh::toString);
    }

    /**
     * Retries are bounded: with one attempt per order every conflict gives its order up, and the proof still holds
     * (a given-up order was never acknowledged, so it is not in the store).
     */
    @Test
    void ordersAreRetriedAtMostMaxAttemptsTimes()
    {
        final Path dir = temp.resolve("bounded");
        final Cli.Result demo = Cli.run("demo", "--dir", dir.toString(), "--products", "1", "--stock", "20000",
            "--threads", "4", "--max-attempts", "1", "--duration", "30");
        assertEquals(ExitCode.OK, demo.exit(), demo::toString);
        assertTrue(demo.out().contains("OK: no product oversold"), demo::toString);
        final java.util.regex.Matcher conflicts =
            java.util.regex.Pattern.compile("conflicts caught  ([0-9,]+) Concurrency.*at most (\\d+) times")
                .matcher(demo.out());
        assertTrue(conflicts.find(), demo::toString);
        final String caught = conflicts.group(1);
        assertEquals("0", conflicts.group(2), "no order was retried: " + demo);
        if (!caught.equals("0"))
        {
            assertTrue(demo.out().contains("given up          " + caught + " orders after 1 attempts each"),
                demo::toString);
        }

        final Cli.Result refused = Cli.run("demo", "--dir", dir.toString(), "--max-attempts", "0");
        assertEquals(ExitCode.USAGE, refused.exit(), refused::toString);
    }

    @Test
    void freshRefusesAStoreAnotherProcessHasOpenForWriting() throws Exception
    {
        final Path dir = temp.resolve("busy");
        try (WriterProcess writer = WriterProcess.start(dir, WRITTEN))
        {
            final Cli.Result fresh = freshDemo(dir);
            assertEquals(ExitCode.STORE, fresh.exit(), fresh::toString);
            assertTrue(fresh.err().contains("open for writing by another process"), fresh::toString);
            assertEquals(1, fresh.err().lines().count(), fresh::toString);

            // the writer's store is still the one on disk: what it appends now is there after it closes
            assertEquals(WRITTEN + 1, writer.append());
        }
        assertStoreHolds(dir, WRITTEN + 1);
    }

    @Test
    void freshRefusesAStoreThisProcessHasOpenForWritingAndKeepsItLocked() throws Exception
    {
        final Path dir = temp.resolve("busy-here");
        final byte[] payload = "held open in the same JVM".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
        try (VarveDB db = VarveDB.open(dir); Appender appender = db.appender())
        {
            for (int i = 0; i < WRITTEN; i++)
            {
                appender.append(1, ExpectedVersion.exact(i), 1, payload);
            }
            final Cli.Result fresh = freshDemo(dir);
            assertEquals(ExitCode.STORE, fresh.exit(), fresh::toString);
            assertTrue(fresh.err().contains("open for writing in this process"), fresh::toString);
            assertTrue(Files.exists(dir.resolve("varve.meta")), "--fresh deleted the meta file of an open store");

            // looking at the lock must not have loosened it: on Linux, closing any descriptor of the lock file
            // drops this process's lock, and a writer in another process could then open the store too
            assertTrue(WriterProcess.lockedForOtherProcesses(dir), "the store's writer lock was released");
            appender.append(1, ExpectedVersion.exact(WRITTEN), 1, payload);
        }
        assertStoreHolds(dir, WRITTEN + 1);
    }

    private static Cli.Result freshDemo(final Path dir)
    {
        return Cli.run("demo", "--dir", dir.toString(), "--fresh", "--products", "1", "--stock", "10",
            "--threads", "2");
    }

    private static void assertStoreHolds(final Path dir, final long events)
    {
        try (VarveDB db = VarveDB.openReadOnly(dir))
        {
            assertEquals(1, db.streamCount());
            assertEquals(events, db.streamVersion(1));
        }
        final Cli.Result verify = Cli.run("verify", dir.toString());
        assertEquals(ExitCode.OK, verify.exit(), verify::toString);
        assertFalse(verify.out().contains("PROBLEM"), verify::toString);
    }

    @Test
    void theProofCatchesAnOversoldProduct()
    {
        final Path dir = temp.resolve("oversold");
        final UnsafeBuffer payload = new UnsafeBuffer(new byte[Inventory.MAX_PAYLOAD_LENGTH]);
        try (VarveDB db = VarveDB.open(dir); Appender appender = db.appender())
        {
            appender.append(1, ExpectedVersion.NO_STREAM, Inventory.STOCK_ADDED, payload, 0,
                Inventory.encodeStockAdded(payload, 5));
            // what a buyer that ignored the expected version could do: two reservations of 3 units from 5
            for (int i = 0; i < 2; i++)
            {
                appender.append(1, ExpectedVersion.ANY, Inventory.STOCK_RESERVED, payload, 0,
                    Inventory.encodeStockReserved(payload, 3, i));
            }
            appender.append(2, ExpectedVersion.NO_STREAM, Inventory.STOCK_ADDED, payload, 0,
                Inventory.encodeStockAdded(payload, 5));
            appender.append(2, ExpectedVersion.exact(1), Inventory.STOCK_RESERVED, payload, 0,
                Inventory.encodeStockReserved(payload, 5, 1));
        }
        try (VarveDB db = VarveDB.openReadOnly(dir))
        {
            final InventoryReplay oversold = InventoryReplay.replay(db, 1);
            assertEquals("OVERSOLD at version 3: 6 units reserved of 5", oversold.problem(2));

            final InventoryReplay sound = InventoryReplay.replay(db, 2);
            assertNull(sound.problem(1));
            assertEquals(5, sound.reserved());
            assertEquals("2 reservations acknowledged, 1 on disk", sound.problem(2));
        }
    }
}
