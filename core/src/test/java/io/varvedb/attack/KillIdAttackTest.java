package io.varvedb.attack;

import io.varvedb.*;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.*;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

class KillIdAttackTest
{
    @TempDir
    Path dir;

    static Process start(final String... args) throws Exception
    {
        final List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.add("--add-exports=java.base/jdk.internal.misc=ALL-UNNAMED");
        cmd.add("-Xmx128m");
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.add(KillIdChild.class.getName());
        cmd.addAll(List.of(args));
        return new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.INHERIT).start();
    }

    record Try(int thread, long low, int n, long stream, long expected) { }

    @Test
    void killAndRetryEveryId() throws Exception
    {
        final SplittableRandom rnd = new SplittableRandom(3);
        final int kills = Integer.getInteger("kills", 6);
        final List<String> bad = new ArrayList<>();
        for (int kill = 0; kill < kills; kill++)
        {
            final long base = (kill + 1) * 1_000_000_000_000L;
            final Process child = start(dir.toString(), "false", Long.toString(base), "2");
            final BufferedReader out = new BufferedReader(new InputStreamReader(child.getInputStream(), StandardCharsets.US_ASCII));
            assertEquals("opened", out.readLine());
            final Map<Long, Try> tries = new LinkedHashMap<>();
            final Map<Long, long[]> acks = new HashMap<>();
            final int before = 300 + rnd.nextInt(3000);
            int lines = 0;
            String line;
            while (lines < before && (line = out.readLine()) != null)
            {
                parse(line, tries, acks);
                lines++;
            }
            child.toHandle().destroyForcibly();
            assertTrue(child.waitFor(20, TimeUnit.SECONDS));
            while ((line = out.readLine()) != null) parse(line, tries, acks);
            // reopen and retry every try, in order
            try (VarveDB db = VarveDB.open(KillIdChild.config(dir, false)); Appender a = db.appender())
            {
                for (Try t : tries.values())
                {
                    final long v;
                    if (t.n == 1)
                    {
                        v = a.append(t.stream, ExpectedVersion.exact(t.expected), 1, 0xD1, t.low, new byte[20]);
                    }
                    else
                    {
                        final EventBatch b = new EventBatch();
                        for (int j = 0; j < t.n; j++) b.add(1, new byte[10 + j]).eventId(0xD1, t.low + j * 1_000_000_000L);
                        v = a.appendBatch(t.stream, ExpectedVersion.exact(t.expected), b);
                    }
                    final long[] ack = acks.get(t.low);
                    if (ack != null)
                    {
                        if (v != ack[0] || !a.lastWasDuplicate() || a.lastPosition() != ack[1])
                        {
                            bad.add("kill " + kill + " acked " + t + " was v" + ack[0] + "@" + ack[1] + ", retry v" + v + "@" + a.lastPosition() + " dup " + a.lastWasDuplicate());
                        }
                    }
                    else
                    {
                        if (v != t.expected + t.n) bad.add("kill " + kill + " in-flight " + t + " answered v" + v);
                        System.out.println("kill " + kill + " in-flight " + t + " -> v" + v + " dup " + a.lastWasDuplicate());
                    }
                }
                // log: each id once, versions dense
                final Set<Long> seen = new HashSet<>();
                final Map<Long, Long> last = new HashMap<>();
                for (long[] r : IdSemanticsAttackTest.all(db))
                {
                    if (!seen.add(r[4])) bad.add("id twice " + r[4]);
                    final long prev = last.getOrDefault(r[0], 0L);
                    if (r[1] != prev + 1) bad.add("stream " + r[0] + " version " + r[1] + " after " + prev);
                    last.put(r[0], r[1]);
                }
                System.out.println("kill " + kill + ": " + tries.size() + " tries, " + acks.size() + " acks, clean=" + db.openedCleanly());
            }
            assertTrue(bad.isEmpty(), String.join("\n", bad.subList(0, Math.min(20, bad.size()))));
        }
    }

    static void parse(final String line, final Map<Long, Try> tries, final Map<Long, long[]> acks)
    {
        final String[] p = line.split(" ");
        if (p[0].equals("T"))
        {
            tries.put(Long.parseLong(p[2]), new Try(Integer.parseInt(p[1]), Long.parseLong(p[2]), Integer.parseInt(p[3]), Long.parseLong(p[4]), Long.parseLong(p[5])));
        }
        else if (p[0].equals("A"))
        {
            acks.put(Long.parseLong(p[1]), new long[]{Long.parseLong(p[2]), Long.parseLong(p[3])});
            if (!p[4].equals("w")) throw new AssertionError("child saw dup " + line);
        }
        else
        {
            throw new AssertionError("child: " + line);
        }
    }
}
