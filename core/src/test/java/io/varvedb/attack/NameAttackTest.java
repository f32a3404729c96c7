package io.varvedb.attack;

import io.varvedb.*;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.*;
import java.util.*;
import java.util.concurrent.*;
import java.util.concurrent.atomic.*;

import static org.junit.jupiter.api.Assertions.*;

class NameAttackTest
{
    @TempDir Path dir;

    static VarveConfig cfg(Path d, int names)
    {
        return VarveConfig.builder(d).segmentSize(64 * 1024).indexCapacity(4096).indexBlocksPerChunk(64)
            .nameCapacity(names).build();
    }

    static final int HEADER = 128, ENTRY = 128, COUNTER = 64;

    static long readLong(Path f, long off) throws Exception
    {
        try (RandomAccessFile r = new RandomAccessFile(f.toFile(), "r"))
        {
            byte[] b = new byte[8]; r.seek(off); r.readFully(b);
            return ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).getLong();
        }
    }
    static void writeLong(Path f, long off, long v) throws Exception
    {
        try (RandomAccessFile r = new RandomAccessFile(f.toFile(), "rw"))
        {
            r.seek(off); r.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(v).array());
        }
    }
    static void flip(Path f, long off, int mask) throws Exception
    {
        try (RandomAccessFile r = new RandomAccessFile(f.toFile(), "rw"))
        {
            r.seek(off); int b = r.read(); r.seek(off); r.write(b ^ mask);
        }
    }

    Path names() { return dir.resolve("index").resolve("names.idx"); }

    // ---- input validation
    @Test
    void lengthLimitsAndBadStrings()
    {
        try (VarveDB db = VarveDB.open(cfg(dir, 64)))
        {
            String max = "a".repeat(112);
            long id = db.streamId(max);
            assertEquals(id, db.findStreamId(max));
            assertEquals(max, db.streamName(id));
            assertThrows(IllegalArgumentException.class, () -> db.streamId("a".repeat(113)));
            // 111 ASCII + 2-byte char = 113 bytes
            assertThrows(IllegalArgumentException.class, () -> db.streamId("a".repeat(111) + "\u00e9"));
            // 110 + 2 = 112 ok
            String m2 = "a".repeat(110) + "\u00e9";
            long id2 = db.streamId(m2);
            assertEquals(m2, db.streamName(id2));
            // 4-byte char straddle: 109 + 4 = 113
            assertThrows(IllegalArgumentException.class, () -> db.streamId("a".repeat(109) + "\uD83D\uDE00"));
            String m4 = "a".repeat(108) + "\uD83D\uDE00";
            assertEquals(m4, db.streamName(db.streamId(m4)));
            assertThrows(IllegalArgumentException.class, () -> db.streamId(""));
            assertThrows(NullPointerException.class, () -> db.streamId(null));
            assertThrows(IllegalArgumentException.class, () -> db.streamId("x\uD800"));
            assertThrows(IllegalArgumentException.class, () -> db.streamId("\uDC00x"));
            assertThrows(IllegalArgumentException.class, () -> db.findStreamId("\uDC00x"));
            String nul = "a\u0000b";
            long idn = db.streamId(nul);
            assertNotEquals(idn, db.streamId("a"));
            assertEquals(nul, db.streamName(idn));
            long idnul2 = db.streamId("\u0000");
            assertEquals("\u0000", db.streamName(idnul2));
            // appender path too
            try (Appender a = db.appender())
            {
                assertThrows(IllegalArgumentException.class, () -> a.streamId(""));
                assertThrows(IllegalArgumentException.class, () -> a.streamId("x\uD800"));
                assertThrows(IllegalArgumentException.class, () -> a.streamId("a".repeat(113)));
                assertThrows(NullPointerException.class, () -> a.streamId(null));
                assertEquals(idn, a.streamId(nul));
                assertEquals(id, a.streamId(max));
                assertThrows(IllegalArgumentException.class,
                    () -> a.append(-1000, ExpectedVersion.ANY, 1, new byte[1]));
                long unknown = -(db.namedStreamCount() + 1);
                assertThrows(IllegalArgumentException.class,
                    () -> a.append(unknown, ExpectedVersion.ANY, 1, new byte[1]));
                assertThrows(IllegalArgumentException.class,
                    () -> a.append(Long.MIN_VALUE, ExpectedVersion.ANY, 1, new byte[1]));
            }
            assertNull(db.streamName(Long.MIN_VALUE));
            assertNull(db.streamName(-100000));
            assertNull(db.streamName(5));
            assertThrows(IllegalArgumentException.class, () -> db.readStream(-1000, 1, 10, e -> {}));
        }
        try (VarveDB db = VarveDB.open(cfg(dir, 64)))
        {
            assertEquals("a".repeat(112), db.streamName(-1));
            assertEquals(-1, db.findStreamId("a".repeat(112)));
        }
    }

    // ---- capacity
    @Test
    void capacityOne() throws Exception
    {
        try (VarveDB db = VarveDB.open(cfg(dir, 1)))
        {
            long a = db.streamId("a");
            assertEquals(-1, a);
            assertThrows(NameTableFullException.class, () -> db.streamId("b"));
            assertThrows(NameTableFullException.class, () -> db.streamId("b"));
            try (Appender ap = db.appender())
            {
                assertThrows(NameTableFullException.class, () -> ap.append("b", ExpectedVersion.ANY, 1, new byte[1]));
                ap.append("a", ExpectedVersion.ANY, 1, new byte[1]);
            }
            assertEquals(0, db.findStreamId("b"));
            assertEquals(a, db.streamId("a"));
            assertEquals(1, db.streamVersion("a"));
        }
        try (VarveDB db = VarveDB.open(cfg(dir, 100)))
        {
            assertEquals(1, db.nameCapacity());
            assertEquals(-1, db.streamId("a"));
            assertThrows(NameTableFullException.class, () -> db.streamId("b"));
            assertEquals(1, db.streamVersion("a"));
        }
    }

    // race two appender threads on the same names, capacity exactly the number of names
    @Test
    void racingSameNameWastesCapacity() throws Exception
    {
        int n = 200;
        List<String> refused = Collections.synchronizedList(new ArrayList<>());
        Map<String, Long> ids = new ConcurrentHashMap<>();
        AtomicInteger twoIds = new AtomicInteger();
        try (VarveDB db = VarveDB.open(cfg(dir, n)))
        {
            for (int i = 0; i < n; i++)
            {
                String name = "race-" + i;
                CyclicBarrier barrier = new CyclicBarrier(2);
                Runnable r = () -> {
                    try (Appender a = db.appender())
                    {
                        barrier.await();
                        long id = a.streamId(name);
                        Long prev = ids.putIfAbsent(name, id);
                        if (prev != null && prev != id) twoIds.incrementAndGet();
                    }
                    catch (NameTableFullException e) { refused.add(name); }
                    catch (Exception e) { throw new RuntimeException(e); }
                };
                Thread t1 = new Thread(r), t2 = new Thread(r);
                t1.start(); t2.start(); t1.join(); t2.join();
            }
            System.out.println("RACE: names=" + db.namedStreamCount() + " refused=" + refused.size() +
                " twoIds=" + twoIds.get());
            assertEquals(0, twoIds.get());
            assertEquals(List.of(), refused, "names refused though only " + db.namedStreamCount() + " of " + n + " exist");
        }
    }

    // ---- damage at rest after clean close
    @Test
    void slotBitFlipAfterCleanClose() throws Exception
    {
        int cap = 16;
        try (VarveDB db = VarveDB.open(cfg(dir, cap)))
        {
            assertEquals(-1, db.streamId("alpha"));
            try (Appender a = db.appender()) { a.append("alpha", ExpectedVersion.ANY, 1, "e".getBytes()); }
        }
        long slots = HEADER + (long)cap * ENTRY;
        long size = Files.size(names());
        long found = -1;
        for (long off = slots; off < size; off += 8)
        {
            if (readLong(names(), off) != 0) { found = off; break; }
        }
        assertTrue(found > 0);
        flip(names(), found + 5, 0x10); // a tag bit
        try (VarveDB db = VarveDB.open(cfg(dir, cap)))
        {
            long again = db.streamId("alpha");
            System.out.println("SLOTFLIP: alpha id after flip=" + again + " version=" + db.streamVersion("alpha") +
                " name(-1)=" + db.streamName(-1));
            assertEquals(-1, again, "alpha got a second id");
            assertEquals(1, db.streamVersion("alpha"));
        }
    }

    @Test
    void counterLoweredAfterCleanClose() throws Exception
    {
        int cap = 16;
        try (VarveDB db = VarveDB.open(cfg(dir, cap)))
        {
            db.streamId("a"); db.streamId("b"); db.streamId("c");
            try (Appender ap = db.appender()) { ap.append("c", ExpectedVersion.ANY, 1, "c-event".getBytes()); }
        }
        assertEquals(3, readLong(names(), COUNTER));
        writeLong(names(), COUNTER, 2); // bit flip 3 -> 2
        try (VarveDB db = VarveDB.open(cfg(dir, cap)))
        {
            long d = db.streamId("d");
            long c = db.streamId("c");
            System.out.println("COUNTER: d=" + d + " c=" + c + " name(-3)=" + db.streamName(-3) +
                " version(d)=" + db.streamVersion("d") + " version(c)=" + db.streamVersion("c"));
            assertNotEquals(d, c, "two names share an id");
            assertEquals(-3, c, "c's id changed");
            assertEquals(0, db.streamVersion("d"), "d sees c's events");
        }
    }

    @Test
    void counterRaisedAfterCleanClose() throws Exception
    {
        int cap = 16;
        try (VarveDB db = VarveDB.open(cfg(dir, cap)))
        {
            db.streamId("a");
        }
        flip(names(), COUNTER + 7, 0x40); // high bit of counter
        try (VarveDB db = VarveDB.open(cfg(dir, cap)))
        {
            assertEquals(-1, db.streamId("a"));
            long b = db.streamId("b"); // only one name exists, capacity 16
            assertEquals(-2, b);
        }
    }

    @Test
    void stateFlipLoggedToAbandonedAfterCleanClose() throws Exception
    {
        int cap = 16;
        try (VarveDB db = VarveDB.open(cfg(dir, cap)))
        {
            db.streamId("a");
            try (Appender ap = db.appender()) { ap.append("a", ExpectedVersion.ANY, 1, "x".getBytes()); }
        }
        flip(names(), HEADER, 0x01); // state 2 -> 3
        try (VarveDB db = VarveDB.open(cfg(dir, cap)))
        {
            System.out.println("STATEFLIP: find=" + db.findStreamId("a") + " name=" + db.streamName(-1) +
                " count=" + db.namedStreamCount());
            assertEquals(-1, db.findStreamId("a"));
            assertEquals("a", db.streamName(-1));
            assertEquals(1, db.streamVersion("a"));
        }
    }

    @Test
    void nameBytesFlipAfterCleanClose() throws Exception
    {
        int cap = 16;
        try (VarveDB db = VarveDB.open(cfg(dir, cap)))
        {
            db.streamId("a"); db.streamId("b");
        }
        flip(names(), HEADER + 16, 0x03); // 'a' -> 'b' in entry 0 name, CRC now wrong
        try (VarveDB db = VarveDB.open(cfg(dir, cap)))
        {
            assertEquals(-1, db.findStreamId("a"));
            assertEquals(-2, db.findStreamId("b"));
            assertEquals("a", db.streamName(-1));
        }
    }

    @Test
    void deletedNamesIdx() throws Exception
    {
        try (VarveDB db = VarveDB.open(cfg(dir, 16)))
        {
            db.streamId("a"); db.streamId("b"); db.streamId("c");
            try (Appender ap = db.appender()) { ap.append("b", ExpectedVersion.ANY, 1, "x".getBytes()); }
        }
        Files.delete(names());
        try (VarveDB db = VarveDB.open(cfg(dir, 16)))
        {
            assertEquals(-2, db.findStreamId("b"));
            assertEquals(-3, db.streamId("c"));
            assertEquals(-4, db.streamId("d"));
            assertEquals(1, db.streamVersion("b"));
        }
        Files.delete(names());
        // reopen with smaller capacity than names in the log
        try (VarveDB db = VarveDB.open(cfg(dir, 2)))
        {
            System.out.println("DELETED-SMALLCAP: find(c)=" + db.findStreamId("c") + " cap=" + db.nameCapacity());
        }
        catch (VarveException e)
        {
            System.out.println("DELETED-SMALLCAP threw " + e);
        }
    }

    @Test
    void readOnlyFollowerSeesNames() throws Exception
    {
        try (VarveDB w = VarveDB.open(cfg(dir, 16)))
        {
            w.appender().append(5, ExpectedVersion.ANY, 1, new byte[1]);
            try (VarveDB r = VarveDB.openReadOnly(cfg(dir, 16)))
            {
                assertEquals(0, r.findStreamId("a"));
                assertThrows(ReadOnlyStoreException.class, () -> r.streamId("a"));
                long a = w.streamId("a");
                assertEquals(a, r.findStreamId("a"));
                assertEquals(a, r.streamId("a"));
                assertEquals("a", r.streamName(a));
                List<String> l = new ArrayList<>();
                r.streams("", (n, id) -> l.add(n));
                assertEquals(List.of("a"), l);
            }
        }
    }

    @Test
    void streamsPrefix() throws Exception
    {
        try (VarveDB db = VarveDB.open(cfg(dir, 16)))
        {
            db.streamId("order-1"); db.streamId("ord"); db.streamId("order-2"); db.streamId("\u00e9t\u00e9");
            List<String> l = new ArrayList<>();
            db.streams("order-", (n, id) -> l.add(n + "=" + id));
            assertEquals(List.of("order-1=-1", "order-2=-3"), l);
            l.clear();
            db.streams("\u00e9", (n, id) -> l.add(n));
            assertEquals(List.of("\u00e9t\u00e9"), l);
            l.clear();
            db.streams("", (n, id) -> l.add(n));
            assertEquals(4, l.size());
        }
    }
}
