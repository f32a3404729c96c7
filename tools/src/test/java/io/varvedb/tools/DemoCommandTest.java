package io.varvedb.tools;

import io.varvedb.Appender;
import io.varvedb.ExpectedVersion;
import io.varvedb.VarveDB;
import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The demo on a real store: everything sells out, nothing is oversold, the store it leaves verifies; and the
 * proof it relies on does catch an oversold stream.
 */
class DemoCommandTest
{
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
