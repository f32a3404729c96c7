package io.varvedb.attack;

import io.varvedb.*;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

class TableFullBatchTest
{
    @TempDir
    Path dir;

    @Test
    void refusedBatchLeavesNoIdBehind()
    {
        try (VarveDB db = VarveDB.open(IdSemanticsAttackTest.cfg(dir).eventIdCapacity(3).build()); Appender a = db.appender())
        {
            a.append(1, ExpectedVersion.ANY, 1, 1, 1, new byte[1]);
            final EventBatch b = new EventBatch().add(1, new byte[1]).eventId(2, 1).add(1, new byte[1]).eventId(2, 2).add(1, new byte[1]).eventId(2, 3);
            assertThrows(EventIdTableFullException.class, () -> a.appendBatch(1, ExpectedVersion.ANY, b));
            assertEquals(1, db.streamVersion(1));
            System.out.println("readEvent(2,1) after refused batch: " + db.readEvent(2, 1, e -> System.out.println("  got " + e)));
            // capacity 3, one held: a 2-id batch must fit
            final EventBatch b2 = new EventBatch().add(1, new byte[1]).eventId(2, 1).add(1, new byte[1]).eventId(2, 2);
            assertEquals(3, a.appendBatch(1, ExpectedVersion.ANY, b2));
        }
    }

    @Test
    void refusedBatchTwice()
    {
        try (VarveDB db = VarveDB.open(IdSemanticsAttackTest.cfg(dir).eventIdCapacity(2).build()); Appender a = db.appender())
        {
            final EventBatch b = new EventBatch().add(1, new byte[1]).eventId(2, 1).add(1, new byte[1]).eventId(2, 2).add(1, new byte[1]).eventId(2, 3);
            assertThrows(EventIdTableFullException.class, () -> a.appendBatch(1, ExpectedVersion.ANY, b));
            // capacity 2, none held: a single must fit
            assertEquals(1, a.append(1, ExpectedVersion.ANY, 1, 9, 9, new byte[1]));
            assertEquals(2, a.append(1, ExpectedVersion.ANY, 1, 9, 10, new byte[1]));
        }
    }

    @Test
    void refusedSingleThenSingle()
    {
        try (VarveDB db = VarveDB.open(IdSemanticsAttackTest.cfg(dir).eventIdCapacity(2).build()); Appender a = db.appender())
        {
            a.append(1, ExpectedVersion.ANY, 1, 9, 1, new byte[1]);
            assertThrows(ConcurrencyConflictException.class, () -> a.append(1, ExpectedVersion.exact(7), 1, 9, 2, new byte[1]));
            assertEquals(2, a.append(1, ExpectedVersion.ANY, 1, 9, 3, new byte[1]));
        }
    }

    @Test
    void conflictedBatchesDoNotUseCapacity()
    {
        try (VarveDB db = VarveDB.open(IdSemanticsAttackTest.cfg(dir).eventIdCapacity(2).build()); Appender a = db.appender())
        {
            a.append(1, ExpectedVersion.ANY, 1, 9, 1, new byte[1]);
            final EventBatch b = new EventBatch().add(1, new byte[1]).eventId(5, 1).add(1, new byte[1]).eventId(9, 1);
            assertThrows(EventIdConflictException.class, () -> a.appendBatch(1, ExpectedVersion.ANY, b));
            final EventBatch c = new EventBatch().add(1, new byte[1]).eventId(5, 2);
            assertThrows(ConcurrencyConflictException.class, () -> a.appendBatch(1, ExpectedVersion.exact(9), c));
            assertEquals(2, a.append(1, ExpectedVersion.ANY, 1, 9, 3, new byte[1]));
        }
    }
}
