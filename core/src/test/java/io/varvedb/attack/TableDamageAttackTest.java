package io.varvedb.attack;

import io.varvedb.*;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.*;
import java.util.*;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

class TableDamageAttackTest
{
    @TempDir
    Path base;

    static final int IDS = 40;

    static VarveConfig cfg(final Path d, final int cap)
    {
        return IdSemanticsAttackTest.cfg(d).eventIdCapacity(cap).build();
    }

    /** id i -> stream, version */
    static Map<Long, long[]> populate(final Path d, final int cap, final long from, final int n)
    {
        final Map<Long, long[]> m = new HashMap<>();
        try (VarveDB db = VarveDB.open(cfg(d, cap)); Appender a = db.appender())
        {
            for (long i = from; i < from + n; i++)
            {
                final long s = 1 + i % 3;
                final long v = a.append(s, ExpectedVersion.ANY, 1, 0x55, i, new byte[5]);
                m.put(i, new long[]{s, v, a.lastPosition()});
            }
        }
        return m;
    }

    static void copyDir(final Path from, final Path to) throws IOException
    {
        try (Stream<Path> s = Files.walk(from))
        {
            for (Path p : (Iterable<Path>)s::iterator)
            {
                final Path t = to.resolve(from.relativize(p).toString());
                if (Files.isDirectory(p)) Files.createDirectories(t);
                else Files.copy(p, t, StandardCopyOption.REPLACE_EXISTING);
            }
        }
    }

    static String check(final Path d, final int cap, final Map<Long, long[]> expect)
    {
        try (VarveDB db = VarveDB.open(cfg(d, cap)); Appender a = db.appender())
        {
            for (Map.Entry<Long, long[]> e : expect.entrySet())
            {
                final long[] sv = e.getValue();
                final long[] got = {-1, -1};
                if (!db.readEvent(0x55, e.getKey(), ev -> { got[0] = ev.streamId(); got[1] = ev.version(); }))
                {
                    return "readEvent lost id " + e.getKey();
                }
                if (got[0] != sv[0] || got[1] != sv[1]) return "readEvent wrong for " + e.getKey();
                final long v;
                try
                {
                    v = a.append(sv[0], ExpectedVersion.ANY, 1, 0x55, e.getKey(), new byte[5]);
                }
                catch (EventIdConflictException ex)
                {
                    return "retry of " + e.getKey() + " refused: " + ex.getMessage();
                }
                if (v != sv[1] || !a.lastWasDuplicate() || a.lastPosition() != sv[2])
                {
                    return "retry of id " + e.getKey() + " in stream " + sv[0] + " answered v" + v + " dup=" + a.lastWasDuplicate() + " expected v" + sv[1] + " (opened cleanly " + db.openedCleanly() + ")";
                }
                try
                {
                    a.append(sv[0] == 1 ? 2 : 1, ExpectedVersion.ANY, 1, 0x55, e.getKey(), new byte[5]);
                    return "id " + e.getKey() + " accepted in a second stream";
                }
                catch (EventIdConflictException ok)
                {
                    // fine
                }
            }
            // a new id still goes in once
            final long v = a.append(9, ExpectedVersion.ANY, 1, 0x66, 1, new byte[5]);
            if (a.lastWasDuplicate()) return "new id taken for duplicate";
            final Set<Long> seen = new HashSet<>();
            for (long[] r : IdSemanticsAttackTest.all(db))
            {
                if (r[3] == 0x55 && !seen.add(r[4])) return "id " + r[4] + " twice in log";
            }
            return null;
        }
        catch (CorruptStoreException | StoreFormatException e)
        {
            return "REFUSED " + e.getClass().getSimpleName() + ": " + e.getMessage();
        }
    }

    @Test
    void staleTableCopyAfterCleanClose() throws Exception
    {
        final Path d = base.resolve("s");
        final Map<Long, long[]> m = populate(d, 64, 0, 20);
        final Path saved = base.resolve("saved.idx");
        Files.copy(d.resolve("index/event-ids.idx"), saved);
        m.putAll(populate(d, 64, 20, 20));
        Files.copy(saved, d.resolve("index/event-ids.idx"), StandardCopyOption.REPLACE_EXISTING);
        final String r = check(d, 64, m);
        assertNull(r, r);
    }

    @Test
    void staleWholeIndexCopyAfterCleanClose() throws Exception
    {
        final Path d = base.resolve("s");
        final Map<Long, long[]> m = populate(d, 64, 0, 20);
        copyDir(d.resolve("index"), base.resolve("savedIndex"));
        Files.copy(d.resolve("varve.meta"), base.resolve("saved.meta"));
        m.putAll(populate(d, 64, 20, 20));
        copyDir(base.resolve("savedIndex"), d.resolve("index"));
        final String r = check(d, 64, m);
        assertNull(r, r);
    }

    @Test
    void foreignTable() throws Exception
    {
        final Path d = base.resolve("s");
        final Path other = base.resolve("o");
        final Map<Long, long[]> m = populate(d, 64, 0, 20);
        populate(other, 64, 100, 25);
        Files.copy(other.resolve("index/event-ids.idx"), d.resolve("index/event-ids.idx"), StandardCopyOption.REPLACE_EXISTING);
        final String r = check(d, 64, m);
        assertNull(r, r);
    }

    @Test
    void deletedAndTruncated() throws Exception
    {
        final Path d = base.resolve("s");
        final Map<Long, long[]> m = populate(d, 64, 0, IDS);
        final long size = Files.size(d.resolve("index/event-ids.idx"));
        System.out.println("table size " + size);
        final List<String> bad = new ArrayList<>();
        for (long cut : new long[]{0, 1, 7, 8, 63, 64, 100, 4095, 4096, size / 2, size - 64, size - 1, -1})
        {
            final Path c = base.resolve("c" + cut);
            copyDir(d, c);
            if (cut < 0) Files.delete(c.resolve("index/event-ids.idx"));
            else try (RandomAccessFile f = new RandomAccessFile(c.resolve("index/event-ids.idx").toFile(), "rw")) { f.setLength(cut); }
            final String r = check(c, 64, m);
            if (r != null) bad.add("cut " + cut + ": " + r);
        }
        assertTrue(bad.isEmpty(), String.join("\n", bad));
    }

    @Test
    void bitFlips() throws Exception
    {
        final Path d = base.resolve("s");
        final Map<Long, long[]> m = populate(d, 64, 0, IDS);
        final long size = Files.size(d.resolve("index/event-ids.idx"));
        final SplittableRandom rnd = new SplittableRandom(7);
        final List<String> bad = new ArrayList<>();
        final int trials = Integer.getInteger("flips", 250);
        final Path c = base.resolve("c");
        for (int i = 0; i < trials; i++)
        {
            final long at = i < 128 ? i * 8 + rnd.nextInt(8) : rnd.nextLong(size);
            final int bit = rnd.nextInt(8);
            if (Files.exists(c)) deleteTree(c);
            copyDir(d, c);
            try (RandomAccessFile f = new RandomAccessFile(c.resolve("index/event-ids.idx").toFile(), "rw"))
            {
                f.seek(at);
                final int b = f.read();
                f.seek(at);
                f.write(b ^ (1 << bit));
            }
            final String r = check(c, 64, m);
            if (r != null && !r.startsWith("REFUSED")) bad.add("flip byte " + at + " bit " + bit + ": " + r);
            else if (r != null) System.out.println("flip " + at + "/" + bit + " " + r);
        }
        assertTrue(bad.isEmpty(), String.join("\n", bad));
    }

    static void deleteTree(final Path p) throws IOException
    {
        try (Stream<Path> s = Files.walk(p))
        {
            s.sorted(Comparator.reverseOrder()).forEach(x -> x.toFile().delete());
        }
    }
}
