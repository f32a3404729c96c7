package io.varvedb.attack;

import io.varvedb.*;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

class CodecLeakTest
{
    @TempDir
    Path dir;

    @Test
    void failedTypedAppendUsesCapacityForGood()
    {
        try (VarveDB db = VarveDB.open(IdSemanticsAttackTest.cfg(dir).eventIdCapacity(1).build()); Appender a = db.appender())
        {
            final IdSemanticsAttackTest.ThrowingCodec c = new IdSemanticsAttackTest.ThrowingCodec();
            assertThrows(IllegalStateException.class, () -> a.append(1, ExpectedVersion.ANY, 1, 1, 1, "x", c));
            assertEquals(0, db.streamVersion(1));
            assertFalse(db.readEvent(1, 1, e -> { }));
        }
        try (VarveDB db = VarveDB.open(IdSemanticsAttackTest.cfg(dir).eventIdCapacity(1).build()); Appender a = db.appender())
        {
            assertEquals(1, a.append(1, ExpectedVersion.ANY, 1, 1, 2, new byte[1]), "empty store, capacity 1, after reopen");
        }
    }

    @Test
    void failedTypedAppendOnExistingStream()
    {
        try (VarveDB db = VarveDB.open(IdSemanticsAttackTest.cfg(dir).eventIdCapacity(1).build()); Appender a = db.appender())
        {
            a.append(1, ExpectedVersion.ANY, 1, new byte[1]);
            final IdSemanticsAttackTest.ThrowingCodec c = new IdSemanticsAttackTest.ThrowingCodec();
            assertThrows(IllegalStateException.class, () -> a.append(1, ExpectedVersion.ANY, 1, 1, 1, "x", c));
            assertEquals(2, a.append(1, ExpectedVersion.ANY, 1, 1, 2, new byte[1]));
        }
    }
}
