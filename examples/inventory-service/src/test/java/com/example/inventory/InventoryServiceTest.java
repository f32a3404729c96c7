package com.example.inventory;

import io.varvedb.VarveDB;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class InventoryServiceTest
{
    @TempDir
    Path dir;

    @Test
    void buyersRacingForStockNeverOversell() throws Exception
    {
        final InventoryService.Summary summary = InventoryService.run(dir, 3, 500, 4);
        assertEquals(List.of(), summary.oversold(), summary.toString());
        // each product sells out unless an order gave up after its last conflict: never more than its stock
        assertTrue(summary.unitsSold() <= 3 * 500, summary.toString());
        assertTrue(summary.unitsSold() > 0, summary.toString());
        assertEquals(summary.unitsSold(), summary.projectedUnitsSold(), "the projection saw every order");

        // a restart of the projection resumes from its saved state: same totals, nothing applied twice
        try (VarveDB db = VarveDB.open(dir))
        {
            final SalesProjection again = new SalesProjection(InventoryService.projectionFile(dir)).start(db);
            final long end = db.tailPosition();
            while (again.position() < end)
            {
                Thread.sleep(1);
            }
            again.close();
            assertEquals(summary.unitsSold(), again.unitsSold().values().stream().mapToLong(Long::longValue).sum());
        }
    }
}
