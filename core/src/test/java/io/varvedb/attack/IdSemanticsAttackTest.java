package io.varvedb.attack;

import io.varvedb.*;
import org.agrona.MutableDirectBuffer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.*;

import static org.junit.jupiter.api.Assertions.*;

class IdSemanticsAttackTest
{
    @TempDir
    Path dir;

    static VarveConfig.Builder cfg(final Path dir)
    {
        return VarveConfig.builder(dir).segmentSize(64 * 1024).indexCapacity(1024).indexBlocksPerChunk(16);
    }

    static List<long[]> all(final VarveDB db)
    {
        final List<long[]> out = new ArrayList<>();
        long pos = VarveDB.START_POSITION;
        while (true)
        {
            final long[] next = {-1};
            final int n = db.readAll(pos, 1000, e ->
            {
                out.add(new long[]{e.streamId(), e.version(), e.position(), e.eventIdHigh(), e.eventIdLow()});
                next[0] = e.nextPosition();
            });
            if (n == 0) break;
            pos = next[0];
        }
        return out;
    }

    static long countId(final VarveDB db, final long h, final long l)
    {
        return all(db).stream().filter(r -> r[3] == h && r[4] == l).count();
    }

    @Test
    void singleRetryAnswers()
    {
        try (VarveDB db = VarveDB.open(cfg(dir).build()); Appender a = db.appender())
        {
            assertEquals(1, a.append(1, ExpectedVersion.NO_STREAM, 1, 7, 8, new byte[3]));
            assertFalse(a.lastWasDuplicate());
            final long pos = a.lastPosition();
            a.append(1, ExpectedVersion.ANY, 1, new byte[1]);
            assertFalse(a.lastWasDuplicate());
            assertEquals(1, a.append(1, ExpectedVersion.exact(99), 1, 7, 8, new byte[3]));
            assertTrue(a.lastWasDuplicate());
            assertEquals(pos, a.lastPosition());
            assertEquals(1, a.tryAppend(1, 55, 1, 7, 8, new org.agrona.concurrent.UnsafeBuffer(new byte[3]), 0, 3));
            assertTrue(a.lastWasDuplicate());
            assertEquals(pos, a.lastPosition());
            // different payload, still a retry
            assertEquals(1, a.append(1, ExpectedVersion.NO_STREAM, 2, 7, 8, new byte[30]));
            assertTrue(a.lastWasDuplicate());
            // a no-id append resets
            a.append(1, ExpectedVersion.ANY, 1, new byte[1]);
            assertFalse(a.lastWasDuplicate());
            // other stream refused, not created
            final long count = db.streamCount();
            final EventIdConflictException ex = assertThrows(EventIdConflictException.class,
                () -> a.append(2, ExpectedVersion.NO_STREAM, 1, 7, 8, new byte[3]));
            assertEquals(1, ex.existingStreamId());
            assertEquals(1, ex.existingVersion());
            assertEquals(2, ex.streamId());
            assertEquals(count, db.streamCount());
            assertEquals(0, db.streamVersion(2));
            assertThrows(EventIdConflictException.class,
                () -> a.tryAppend(2, ExpectedVersion.NO_STREAM_VALUE, 1, 7, 8, new org.agrona.concurrent.UnsafeBuffer(new byte[3]), 0, 3));
            assertEquals(0, db.streamVersion(2));
            assertEquals(1, countId(db, 7, 8));
            assertEquals(3, db.streamVersion(1));
        }
    }

    @Test
    void flagAfterRefusals()
    {
        try (VarveDB db = VarveDB.open(cfg(dir).build()); Appender a = db.appender())
        {
            a.append(1, ExpectedVersion.NO_STREAM, 1, 7, 8, new byte[3]);
            a.append(1, ExpectedVersion.ANY, 1, 7, 8, new byte[3]);
            assertTrue(a.lastWasDuplicate());
            // a conflict of a new id
            assertThrows(ConcurrencyConflictException.class, () -> a.append(1, ExpectedVersion.exact(5), 1, 9, 9, new byte[3]));
            System.out.println("after CCE lastWasDuplicate=" + a.lastWasDuplicate());
            assertFalse(a.lastWasDuplicate(), "after a ConcurrencyConflictException of a new id");
            a.append(1, ExpectedVersion.ANY, 1, 7, 8, new byte[3]);
            assertTrue(a.lastWasDuplicate());
            assertEquals(Appender.CONFLICT, a.tryAppend(1, 5, 1, 10, 10, new org.agrona.concurrent.UnsafeBuffer(new byte[3]), 0, 3));
            assertFalse(a.lastWasDuplicate(), "after CONFLICT");
            a.append(1, ExpectedVersion.ANY, 1, 7, 8, new byte[3]);
            assertThrows(EventIdConflictException.class, () -> a.append(2, ExpectedVersion.ANY, 1, 7, 8, new byte[3]));
            assertFalse(a.lastWasDuplicate(), "after EventIdConflictException");
        }
    }

    @Test
    void batchRules()
    {
        try (VarveDB db = VarveDB.open(cfg(dir).build()); Appender a = db.appender())
        {
            a.append(1, ExpectedVersion.NO_STREAM, 1, new byte[1]);
            final EventBatch b = new EventBatch();
            b.add(1, new byte[1]).eventId(1, 1).add(1, new byte[2]).eventId(1, 2).add(1, new byte[3]).eventId(1, 3);
            assertEquals(4, a.appendBatch(1, ExpectedVersion.exact(1), b));
            assertFalse(a.lastWasDuplicate());
            final long pos = a.lastPosition();
            a.append(1, ExpectedVersion.ANY, 1, new byte[1]);
            assertEquals(4, a.appendBatch(1, ExpectedVersion.exact(1), b));
            assertTrue(a.lastWasDuplicate());
            assertEquals(pos, a.lastPosition());
            assertEquals(4, a.tryAppendBatch(1, 0, b));
            assertTrue(a.lastWasDuplicate());
            // subset
            final EventBatch sub = new EventBatch().add(1, new byte[1]).eventId(1, 1).add(1, new byte[1]).eventId(1, 2);
            assertThrows(EventIdConflictException.class, () -> a.appendBatch(1, ExpectedVersion.ANY, sub));
            final EventBatch sub2 = new EventBatch().add(1, new byte[1]).eventId(1, 2).add(1, new byte[1]).eventId(1, 3);
            assertThrows(EventIdConflictException.class, () -> a.appendBatch(1, ExpectedVersion.ANY, sub2));
            final EventBatch one = new EventBatch().add(1, new byte[1]).eventId(1, 2);
            // a batch of one member: what is it?
            try
            {
                final long v = a.appendBatch(1, ExpectedVersion.ANY, one);
                System.out.println("batch of one member -> " + v + " dup=" + a.lastWasDuplicate());
            }
            catch (EventIdConflictException e)
            {
                System.out.println("batch of one member refused");
            }
            final EventBatch rev = new EventBatch().add(1, new byte[1]).eventId(1, 3).add(1, new byte[1]).eventId(1, 2).add(1, new byte[1]).eventId(1, 1);
            assertThrows(EventIdConflictException.class, () -> a.appendBatch(1, ExpectedVersion.ANY, rev));
            final EventBatch sup = new EventBatch().add(1, new byte[1]).eventId(1, 1).add(1, new byte[1]).eventId(1, 2).add(1, new byte[1]).eventId(1, 3).add(1, new byte[1]).eventId(1, 4);
            assertThrows(EventIdConflictException.class, () -> a.appendBatch(1, ExpectedVersion.ANY, sup));
            final EventBatch pre = new EventBatch().add(1, new byte[1]).eventId(1, 0x99).add(1, new byte[1]).eventId(1, 1).add(1, new byte[1]).eventId(1, 2).add(1, new byte[1]).eventId(1, 3);
            assertThrows(EventIdConflictException.class, () -> a.appendBatch(1, ExpectedVersion.ANY, pre));
            // same batch in other stream
            assertThrows(EventIdConflictException.class, () -> a.appendBatch(2, ExpectedVersion.ANY, b));
            assertEquals(0, db.streamVersion(2));
            // single of a member
            assertEquals(3, a.append(1, ExpectedVersion.NO_STREAM, 1, 1, 2, new byte[1]));
            assertTrue(a.lastWasDuplicate());
            // singles then a batch of them
            a.append(1, ExpectedVersion.ANY, 1, 2, 1, new byte[1]);
            a.append(1, ExpectedVersion.ANY, 1, 2, 2, new byte[1]);
            final EventBatch singles = new EventBatch().add(1, new byte[1]).eventId(2, 1).add(1, new byte[1]).eventId(2, 2);
            assertThrows(EventIdConflictException.class, () -> a.appendBatch(1, ExpectedVersion.ANY, singles));
            // two consecutive batches combined
            final EventBatch b2 = new EventBatch().add(1, new byte[1]).eventId(3, 1).add(1, new byte[1]).eventId(3, 2);
            final EventBatch b3 = new EventBatch().add(1, new byte[1]).eventId(3, 3).add(1, new byte[1]).eventId(3, 4);
            a.appendBatch(1, ExpectedVersion.ANY, b2);
            a.appendBatch(1, ExpectedVersion.ANY, b3);
            final EventBatch b23 = new EventBatch().add(1, new byte[1]).eventId(3, 1).add(1, new byte[1]).eventId(3, 2).add(1, new byte[1]).eventId(3, 3).add(1, new byte[1]).eventId(3, 4);
            assertThrows(EventIdConflictException.class, () -> a.appendBatch(1, ExpectedVersion.ANY, b23));
            // mixed
            final EventBatch mixed = new EventBatch().add(1, new byte[1]).eventId(4, 1).add(1, new byte[1]);
            assertThrows(IllegalArgumentException.class, () -> a.appendBatch(1, ExpectedVersion.ANY, mixed));
            final EventBatch mixed2 = new EventBatch().add(1, new byte[1]).add(1, new byte[1]).eventId(4, 1);
            assertThrows(IllegalArgumentException.class, () -> a.appendBatch(1, ExpectedVersion.ANY, mixed2));
            final EventBatch twice = new EventBatch().add(1, new byte[1]).eventId(4, 1).add(1, new byte[1]).eventId(4, 1);
            assertThrows(IllegalArgumentException.class, () -> a.appendBatch(1, ExpectedVersion.ANY, twice));
            // eventId reset to 0,0 makes a no-id batch
            final EventBatch reset = new EventBatch().add(1, new byte[1]).eventId(4, 1).add(1, new byte[1]).eventId(4, 2);
            reset.eventId(0, 0);
            assertThrows(IllegalArgumentException.class, () -> a.appendBatch(1, ExpectedVersion.ANY, reset));
            // batch of new ids where one is held, in the middle
            final EventBatch mid = new EventBatch().add(1, new byte[1]).eventId(5, 1).add(1, new byte[1]).eventId(1, 2).add(1, new byte[1]).eventId(5, 3);
            assertThrows(EventIdConflictException.class, () -> a.appendBatch(1, ExpectedVersion.ANY, mid));
            assertEquals(0, countId(db, 5, 1));
            // nothing leaked
            for (long[] r : all(db)) if (r[3] != 0 || r[4] != 0) assertEquals(1, countId(db, r[3], r[4]), Arrays.toString(r));
            assertEquals(1, countId(db, 1, 2));
            final long v = db.streamVersion(1);
            assertEquals(all(db).size(), v);
        }
    }

    @Test
    void zeroId()
    {
        try (VarveDB db = VarveDB.open(cfg(dir).build()); Appender a = db.appender())
        {
            a.append(1, ExpectedVersion.ANY, 1, 0, 0, new byte[1]);
            a.append(1, ExpectedVersion.ANY, 1, 0, 0, new byte[1]);
            System.out.println("zero id: version " + db.streamVersion(1) + " dup " + a.lastWasDuplicate());
            assertThrows(IllegalArgumentException.class, () -> db.readEvent(0, 0, e -> { }));
            a.append(1, ExpectedVersion.ANY, 1, new UUID(0, 0), new byte[1]);
            assertFalse(a.lastWasDuplicate());
            // ids with only high or low set, and -1
            a.append(1, ExpectedVersion.ANY, 1, 0, 1, new byte[1]);
            a.append(1, ExpectedVersion.ANY, 1, 1, 0, new byte[1]);
            a.append(1, ExpectedVersion.ANY, 1, -1, -1, new byte[1]);
            a.append(1, ExpectedVersion.ANY, 1, Long.MIN_VALUE, 0, new byte[1]);
            final long v = db.streamVersion(1);
            assertEquals(v - 3, a.append(1, ExpectedVersion.ANY, 1, 0, 1, new byte[1]));
            assertEquals(v - 2, a.append(1, ExpectedVersion.ANY, 1, 1, 0, new byte[1]));
            assertEquals(v - 1, a.append(1, ExpectedVersion.ANY, 1, -1, -1, new byte[1]));
            assertEquals(v, a.append(1, ExpectedVersion.ANY, 1, new UUID(Long.MIN_VALUE, 0), new byte[1]));
            assertTrue(a.lastWasDuplicate());
            final long[] got = new long[2];
            assertTrue(db.readEvent(new UUID(-1, -1), e -> { got[0] = e.version(); got[1] = e.eventIdLow(); }));
            assertEquals(v - 1, got[0]);
            assertEquals(-1, got[1]);
            assertFalse(db.readEvent(2, 2, e -> fail()));
        }
    }

    static class ThrowingCodec implements Codec<String>
    {
        boolean fail = true;
        int calls;

        @Override
        public int maxEncodedLength(final String e) { return 16; }

        @Override
        public int encode(final String e, final MutableDirectBuffer buf, final int off)
        {
            calls++;
            if (fail) throw new IllegalStateException("boom");
            buf.putByte(0, (byte)1);
            return 1;
        }

        @Override
        public String decode(final org.agrona.DirectBuffer buf, final int off, final int len) { return "x"; }
    }

    @Test
    void typedCodecThrowsThenRetry()
    {
        try (VarveDB db = VarveDB.open(cfg(dir).build()); Appender a = db.appender())
        {
            final ThrowingCodec c = new ThrowingCodec();
            assertThrows(IllegalStateException.class, () -> a.append(1, ExpectedVersion.NO_STREAM, 1, 5, 5, "e", c));
            assertEquals(0, db.streamVersion(1));
            assertFalse(db.readEvent(5, 5, e -> fail("id held after a failed codec")));
            // id free in another stream now
            assertThrows(IllegalStateException.class, () -> a.append(2, ExpectedVersion.NO_STREAM, 1, 5, 5, "e", c));
            c.fail = false;
            assertEquals(1, a.append(3, ExpectedVersion.NO_STREAM, 1, 5, 5, "e", c));
            assertFalse(a.lastWasDuplicate());
            c.fail = true;
            // retry with a throwing codec: a retry writes nothing, so must it call the codec?
            try
            {
                assertEquals(1, a.append(3, ExpectedVersion.NO_STREAM, 1, 5, 5, "e", c));
                assertTrue(a.lastWasDuplicate());
            }
            catch (IllegalStateException e)
            {
                System.out.println("retry with throwing codec threw (codec called on a duplicate)");
            }
            // tryAppend typed
            assertEquals(Appender.CONFLICT, a.tryAppend(3, 7, 1, 6, 6, "e", new ThrowingCodec() {{ fail = false; }}));
            assertThrows(IllegalStateException.class, () -> a.tryAppend(3, 1, 1, 6, 6, "e", c));
            assertEquals(1, db.streamVersion(3));
            c.fail = false;
            assertEquals(2, a.tryAppend(3, 1, 1, 6, 6, "e", c));
            assertEquals(1, countId(db, 5, 5));
            assertEquals(1, countId(db, 6, 6));
            // codec throws in a fresh stream after a previous throw in same stream; then more
            c.fail = true;
            for (int i = 0; i < 50; i++)
            {
                final long s = 100 + i;
                assertThrows(IllegalStateException.class, () -> a.append(s, ExpectedVersion.NO_STREAM, 1, 9, s, "e", c));
            }
            c.fail = false;
            for (int i = 0; i < 50; i++)
            {
                assertEquals(1, a.append(100 + i, ExpectedVersion.NO_STREAM, 1, 9, 100 + i, "e", c));
            }
            assertEquals(0, all(db).stream().filter(r -> r[0] >= 100 && r[1] != 1).count());
        }
    }

    @Test
    void tableFullBoundaries() throws Exception
    {
        try (VarveDB db = VarveDB.open(cfg(dir).eventIdCapacity(1).build()); Appender a = db.appender())
        {
            assertEquals(1, a.append(1, ExpectedVersion.NO_STREAM, 1, 1, 1, new byte[1]));
            assertThrows(EventIdTableFullException.class, () -> a.append(1, ExpectedVersion.ANY, 1, 1, 2, new byte[1]));
            assertThrows(EventIdTableFullException.class, () -> a.append(2, ExpectedVersion.ANY, 1, 1, 2, new byte[1]));
            assertEquals(0, db.streamVersion(2));
            assertEquals(1, a.append(1, ExpectedVersion.ANY, 1, 1, 1, new byte[1]));
            assertTrue(a.lastWasDuplicate());
            assertThrows(EventIdConflictException.class, () -> a.append(2, ExpectedVersion.ANY, 1, 1, 1, new byte[1]));
            a.append(1, ExpectedVersion.ANY, 1, new byte[1]);
            final EventBatch b = new EventBatch().add(1, new byte[1]).eventId(2, 1);
            assertThrows(EventIdTableFullException.class, () -> a.appendBatch(1, ExpectedVersion.ANY, b));
            assertEquals(2, db.streamVersion(1));
        }
        try (VarveDB db = VarveDB.open(cfg(dir).eventIdCapacity(3).build()); Appender a = db.appender())
        {
            assertEquals(1, a.append(1, ExpectedVersion.ANY, 1, 1, 1, new byte[1]));
            assertTrue(a.lastWasDuplicate());
            final EventBatch b = new EventBatch().add(1, new byte[1]).eventId(2, 1).add(1, new byte[1]).eventId(2, 2).add(1, new byte[1]).eventId(2, 3);
            assertThrows(EventIdTableFullException.class, () -> a.appendBatch(1, ExpectedVersion.ANY, b));
            assertEquals(2, db.streamVersion(1));
            // ids partly taken by a refused batch?
            final EventBatch b2 = new EventBatch().add(1, new byte[1]).eventId(2, 1).add(1, new byte[1]).eventId(2, 2);
            assertEquals(4, a.appendBatch(1, ExpectedVersion.ANY, b2));
            assertThrows(EventIdTableFullException.class, () -> a.append(1, ExpectedVersion.ANY, 1, 2, 3, new byte[1]));
            assertEquals(4, a.appendBatch(1, ExpectedVersion.ANY, b2));
            assertTrue(a.lastWasDuplicate());
        }
        // reopen smaller: must not forget ids
        try (VarveDB db = VarveDB.open(cfg(dir).eventIdCapacity(1).build()); Appender a = db.appender())
        {
            assertEquals(1, a.append(1, ExpectedVersion.ANY, 1, 1, 1, new byte[1]));
            assertTrue(a.lastWasDuplicate());
            assertEquals(3, a.append(1, ExpectedVersion.ANY, 1, 2, 1, new byte[1]));
            assertTrue(a.lastWasDuplicate());
            assertEquals(4, a.append(1, ExpectedVersion.ANY, 1, 2, 2, new byte[1]));
            assertTrue(a.lastWasDuplicate());
        }
        Files.delete(dir.resolve("index/event-ids.idx"));
        // reopen smaller with the table gone: rebuilt at which capacity? must hold all 3
        try (VarveDB db = VarveDB.open(cfg(dir).eventIdCapacity(1).build()); Appender a = db.appender())
        {
            assertEquals(1, a.append(1, ExpectedVersion.ANY, 1, 1, 1, new byte[1]));
            assertTrue(a.lastWasDuplicate());
            assertEquals(3, a.append(1, ExpectedVersion.ANY, 1, 2, 1, new byte[1]));
            assertTrue(a.lastWasDuplicate());
            assertEquals(4, a.append(1, ExpectedVersion.ANY, 1, 2, 2, new byte[1]));
            assertTrue(a.lastWasDuplicate());
            assertEquals(4, db.streamVersion(1));
        }
    }
}
