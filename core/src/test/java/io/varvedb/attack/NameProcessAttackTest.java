package io.varvedb.attack;

import io.varvedb.*;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.*;
import java.nio.charset.StandardCharsets;
import java.nio.file.*;
import java.util.*;
import java.util.concurrent.*;

import static org.junit.jupiter.api.Assertions.*;

class NameProcessAttackTest
{
    @TempDir Path dir;

    static Process start(String... args) throws IOException
    {
        List<String> c = new ArrayList<>();
        c.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        c.add("--add-exports=java.base/jdk.internal.misc=ALL-UNNAMED");
        c.add("-cp"); c.add(System.getProperty("java.class.path"));
        c.add(NameChild.class.getName());
        c.addAll(List.of(args));
        return new ProcessBuilder(c).redirectError(ProcessBuilder.Redirect.INHERIT).start();
    }

    static Map<String, Long> collect(Process p, List<String> raw) throws Exception
    {
        Map<String, Long> m = new LinkedHashMap<>();
        BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.US_ASCII));
        String line;
        while ((line = r.readLine()) != null)
        {
            raw.add(line);
            String[] s = line.split(" ");
            if (s.length == 2) m.put(s[0], Long.parseLong(s[1]));
        }
        return m;
    }

    @Test
    void twoProcessesSameNames() throws Exception
    {
        for (String mode : new String[]{ "mp-db", "mp-app" })
        {
            Path d = dir.resolve(mode);
            Files.createDirectories(d);
            // make the store first so both children open an existing one
            try (VarveDB db = VarveDB.open(NameChild.config(d, true, 4096))) { }
            int n = 300;
            Process p1 = start(mode, d.toString(), Integer.toString(n), "4096");
            Process p2 = start(mode, d.toString(), Integer.toString(n), "4096");
            ExecutorService ex = Executors.newFixedThreadPool(2);
            List<String> r1 = new ArrayList<>(), r2 = new ArrayList<>();
            Future<Map<String, Long>> f1 = ex.submit(() -> collect(p1, r1));
            Future<Map<String, Long>> f2 = ex.submit(() -> collect(p2, r2));
            Map<String, Long> m1 = f1.get(60, TimeUnit.SECONDS), m2 = f2.get(60, TimeUnit.SECONDS);
            ex.shutdown();
            assertEquals(0, p1.waitFor(), mode + " " + r1);
            assertEquals(0, p2.waitFor(), mode + " " + r2);
            assertEquals(n, m1.size()); assertEquals(n, m2.size());
            assertEquals(m1, m2, mode);
            assertEquals(n, new HashSet<>(m1.values()).size(), "two names share an id");
            try (VarveDB db = VarveDB.open(NameChild.config(d, true, 4096)))
            {
                for (var e : m1.entrySet())
                {
                    assertEquals(e.getValue(), db.findStreamId(e.getKey()));
                    assertEquals(2, db.streamVersion(e.getKey()));
                }
                System.out.println("MP " + mode + ": named=" + db.namedStreamCount());
            }
        }
    }

    @Test
    void killDuringCreation() throws Exception
    {
        for (int round = 0; round < 4; round++)
        {
            Path d = dir.resolve("k" + round);
            String mode = round % 2 == 0 ? "sp-db" : "sp-app";
            Process p = start(mode, d.toString(), "100000", "200000");
            BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.US_ASCII));
            Map<String, Long> seen = new LinkedHashMap<>();
            String line;
            long deadline = System.nanoTime() + 3_000_000_000L;
            int target = 200 + round * 377;
            while ((line = r.readLine()) != null)
            {
                String[] s = line.split(" ");
                if (s.length == 2) seen.put(s[0], Long.parseLong(s[1]));
                if (seen.size() >= target || System.nanoTime() > deadline) break;
            }
            p.destroyForcibly();
            p.waitFor();
            try (VarveDB db = VarveDB.open(NameChild.config(d, false, 200000)))
            {
                for (var e : seen.entrySet())
                {
                    assertEquals(e.getValue(), db.findStreamId(e.getKey()), "round " + round + " " + e.getKey());
                    assertEquals(e.getKey(), db.streamName(e.getValue()));
                }
                long next = db.streamId("after-kill");
                Set<Long> ids = new HashSet<>(seen.values());
                assertFalse(ids.contains(next), "new name got a handed-out id");
                // every name listed has a distinct id
                Map<Long, String> byId = new HashMap<>();
                db.streams("", (name, id) -> assertNull(byId.put(id, name), "id " + id + " twice"));
                System.out.println("KILL round " + round + ": printed=" + seen.size() + " named=" +
                    db.namedStreamCount() + " next=" + next);
            }
        }
    }
}
