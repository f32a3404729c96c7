package io.varvedb.attack;

import io.varvedb.*;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

class CapacityEdgeTest
{
    @TempDir
    Path dir;

    @Test
    void failedCodecAtCapacityOne()
    {
        try (VarveDB db = VarveDB.open(IdSemanticsAttackTest.cfg(dir).eventIdCapacity(1).build()); Appender a = db.appender())
        {
            final IdSemanticsAttackTest.ThrowingCodec c = new IdSemanticsAttackTest.ThrowingCodec();
            assertThrows(IllegalStateException.class, () -> a.append(1, ExpectedVersion.ANY, 1, 1, 1, "x", c));
            assertThrows(IllegalStateException.class, () -> a.append(1, ExpectedVersion.ANY, 1, 1, 2, "x", c));
            final EventBatch b = new EventBatch().add(1, new byte[1]).eventId(3, 1);
            assertThrows(ConcurrencyConflictException.class, () -> a.appendBatch(1, ExpectedVersion.exact(4), b));
            assertEquals(1, a.append(1, ExpectedVersion.ANY, 1, 1, 3, new byte[1]));
        }
    }

    @Test
    void fullBatchThenLargerReopenThenRetry()
    {
        final EventBatch b = new EventBatch().add(1, new byte[1]).eventId(2, 1).add(1, new byte[1]).eventId(2, 2).add(1, new byte[1]).eventId(2, 3);
        try (VarveDB db = VarveDB.open(IdSemanticsAttackTest.cfg(dir).eventIdCapacity(2).build()); Appender a = db.appender())
        {
            assertThrows(EventIdTableFullException.class, () -> a.appendBatch(1, ExpectedVersion.ANY, b));
        }
        try (VarveDB db = VarveDB.open(IdSemanticsAttackTest.cfg(dir).eventIdCapacity(3).build()); Appender a = db.appender())
        {
            assertEquals(3, a.appendBatch(1, ExpectedVersion.NO_STREAM, b));
            assertFalse(a.lastWasDuplicate());
            assertEquals(3, a.appendBatch(1, ExpectedVersion.NO_STREAM, b));
            assertTrue(a.lastWasDuplicate());
        }
        try (VarveDB db = VarveDB.open(IdSemanticsAttackTest.cfg(dir).eventIdCapacity(3).build()); Appender a = db.appender())
        {
            assertEquals(3, a.appendBatch(1, ExpectedVersion.NO_STREAM, b));
            assertTrue(a.lastWasDuplicate());
            assertEquals(2, a.append(1, ExpectedVersion.NO_STREAM, 1, 2, 2, new byte[1]));
        }
    }

    @Test
    void concurrentFillExactlyToCapacity() throws Exception
    {
        final int cap = 64;
        try (VarveDB db = VarveDB.open(IdSemanticsAttackTest.cfg(dir).eventIdCapacity(cap).build()))
        {
            final java.util.concurrent.atomic.AtomicInteger ok = new java.util.concurrent.atomic.AtomicInteger();
            final Appender[] as = {db.appender(), db.appender(), db.appender(), db.appender()};
            RaceAttackTest.runAll(4, t ->
            {
                for (int i = 0; i < 100; i++)
                {
                    try
                    {
                        if (i % 4 == 3)
                        {
                            as[t].appendBatch(1 + t, ExpectedVersion.ANY, new EventBatch().add(1, new byte[1]).eventId(t + 10, i).add(1, new byte[1]).eventId(t + 10, i + 1000));
                            ok.addAndGet(2);
                        }
                        else
                        {
                            as[t].append(1 + t, ExpectedVersion.ANY, 1, t + 10, i, new byte[1]);
                            ok.incrementAndGet();
                        }
                    }
                    catch (EventIdTableFullException e)
                    {
                        // expected once full
                    }
                }
            });
            final long ids = IdSemanticsAttackTest.all(db).size();
            System.out.println("filled " + ok.get() + " log " + ids + " of " + cap);
            assertEquals(ok.get(), ids);
            assertTrue(ids >= cap - 1, "refused before full: " + ids + " of " + cap);
        }
    }
}
