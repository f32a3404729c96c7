package io.varvedb.attack;

import io.varvedb.*;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

class TableFullLeakPersistsTest
{
    @TempDir
    Path dir;

    @Test
    void leakAcrossReopen()
    {
        try (VarveDB db = VarveDB.open(IdSemanticsAttackTest.cfg(dir).eventIdCapacity(2).build()); Appender a = db.appender())
        {
            final EventBatch b = new EventBatch().add(1, new byte[1]).eventId(2, 1).add(1, new byte[1]).eventId(2, 2).add(1, new byte[1]).eventId(2, 3);
            assertThrows(EventIdTableFullException.class, () -> a.appendBatch(1, ExpectedVersion.ANY, b));
            assertEquals(0, db.streamVersion(1));
        }
        try (VarveDB db = VarveDB.open(IdSemanticsAttackTest.cfg(dir).eventIdCapacity(2).build()); Appender a = db.appender())
        {
            System.out.println("openedCleanly=" + db.openedCleanly());
            assertEquals(1, a.append(1, ExpectedVersion.ANY, 1, 9, 9, new byte[1]), "after reopen, an empty table of 2 takes an id");
            assertEquals(2, a.append(1, ExpectedVersion.ANY, 1, 9, 10, new byte[1]));
        }
    }
}
