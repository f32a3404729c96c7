package io.varvedb.attack;

import io.varvedb.*;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.*;
import java.util.concurrent.*;

import static org.junit.jupiter.api.Assertions.*;

class MultiProcIdAttackTest
{
    @TempDir
    Path dir;

    @Test
    void twoChildrenAndParentRaceIdsWithKills() throws Exception
    {
        final List<String> bad = Collections.synchronizedList(new ArrayList<>());
        final ConcurrentHashMap<Long, String> answer = new ConcurrentHashMap<>();
        final long base = 1_000_000;
        for (int round = 0; round < 4; round++)
        {
            final long rb = base * (round + 1);
            try (VarveDB db = VarveDB.open(KillIdChild.config(dir, true)))
            {
                final Process c1 = KillIdAttackTest.start(dir.toString(), "true", Long.toString(rb), "1", "shared");
                final Process c2 = KillIdAttackTest.start(dir.toString(), "true", Long.toString(rb), "1", "shared");
                final BufferedReader o1 = new BufferedReader(new InputStreamReader(c1.getInputStream(), StandardCharsets.US_ASCII));
                final BufferedReader o2 = new BufferedReader(new InputStreamReader(c2.getInputStream(), StandardCharsets.US_ASCII));
                assertEquals("opened", o1.readLine());
                assertEquals("opened", o2.readLine());
                final Thread r1 = reader(o1, answer, bad, "c1");
                final Thread r2 = reader(o2, answer, bad, "c2");
                // parent races the same ids
                final ExecutorService ex = Executors.newSingleThreadExecutor();
                final Future<?> f = ex.submit(() ->
                {
                    try (Appender a = db.appender())
                    {
                        for (long i = 0; i < 3000; i++)
                        {
                            final long low = rb + i;
                            final long stream = 1000 + (i % 7);
                            final long v;
                            if (i % 5 == 4)
                            {
                                final EventBatch b = new EventBatch();
                                for (int j = 0; j < 3; j++) b.add(1, new byte[10 + j]).eventId(0xD1, low + j * 1_000_000_000L);
                                v = a.appendBatch(stream, ExpectedVersion.ANY, b);
                            }
                            else
                            {
                                v = a.append(stream, ExpectedVersion.ANY, 1, 0xD1, low, new byte[16]);
                            }
                            final String me = v + "@" + a.lastPosition();
                            final String prev = answer.putIfAbsent(low, me);
                            if (prev != null && !prev.equals(me)) bad.add("parent " + low + " " + me + " vs " + prev);
                        }
                    }
                    return null;
                });
                Thread.sleep(50 + 100 * round);
                c1.toHandle().destroyForcibly();
                try
                {
                    f.get(30, TimeUnit.SECONDS);
                }
                catch (TimeoutException t)
                {
                    fail("parent hung after a kill");
                }
                c2.toHandle().destroyForcibly();
                c1.waitFor(); c2.waitFor();
                r1.join(); r2.join();
                ex.shutdown();
            }
            try (VarveDB db = VarveDB.open(KillIdChild.config(dir, true)))
            {
                final Map<Long, Long> last = new HashMap<>();
                final Set<Long> seen = new HashSet<>();
                for (long[] r : IdSemanticsAttackTest.all(db))
                {
                    if (!seen.add(r[4])) bad.add("id twice " + r[4]);
                    final long prev = last.getOrDefault(r[0], 0L);
                    if (r[1] != prev + 1) bad.add("stream " + r[0] + " version " + r[1] + " after " + prev);
                    last.put(r[0], r[1]);
                    final long j = r[4] / 1_000_000_000L;
                    final long first = r[4] % 1_000_000_000L;
                    final boolean batch = (first % 1_000_000L) % 5 == 4;
                    final String a = batch && j != 2 ? null : answer.get(first);
                    if (a != null && !a.equals(r[1] + "@" + r[2])) bad.add("id " + r[4] + " answered " + a + " log " + r[1] + "@" + r[2]);
                }
                System.out.println("round " + round + " events " + seen.size() + " answers " + answer.size());
            }
            assertTrue(bad.isEmpty(), String.join("\n", bad.subList(0, Math.min(20, bad.size()))));
        }
    }

    static Thread reader(final BufferedReader in, final Map<Long, String> answer, final List<String> bad, final String who)
    {
        final Thread t = new Thread(() ->
        {
            try
            {
                String line;
                while ((line = in.readLine()) != null)
                {
                    final String[] p = line.split(" ");
                    if (p[0].equals("A"))
                    {
                        final long low = Long.parseLong(p[1]);
                        final String me = p[2] + "@" + p[3];
                        final String prev = answer.putIfAbsent(low, me);
                        if (prev != null && !prev.equals(me)) bad.add(who + " " + low + " " + me + " vs " + prev);
                    }
                    else if (p[0].equals("E")) bad.add(who + " " + line);
                }
            }
            catch (Exception e)
            {
                bad.add(who + " " + e);
            }
        });
        t.start();
        return t;
    }
}
