package io.varvedb;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.IOException;
import java.lang.management.GarbageCollectorMXBean;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * {@link VarveDB#close()} releases every mapping of the store itself (issue 20): a process that opens and closes a
 * store many times keeps a flat number of mappings even when the garbage collector never runs.
 * <p>
 * A child JVM with a heap far larger than what the cycles allocate (so it does not collect, and the mapped
 * buffers of closed stores are never collected either) opens and closes a small store 8,000 times (CI; more with
 * {@code -Dvarve.mappingLeak.cycles}): for writing,
 * with and without an append, and read-only, with reads. Every {@value #EVERY} cycles, right after a close, it
 * counts the lines of {@code /proc/self/maps}, and those naming the store's directory. The number of mappings may
 * not grow after a warm-up, and after the last close no mapping of the store's files may remain.
 */
class MappingLeakTest
{
    /** 8,000 in CI: a leak of one mapping in 100 cycles shows 60 times over the noise; more by property. */
    static final int CYCLES = Integer.getInteger("varve.mappingLeak.cycles", 8_000);
    static final int EVERY = 500;
    /** Cycles after which the JIT, thread stacks, malloc arenas and the like have settled. */
    static final int WARM_UP = 2_000;
    /** Lines {@code /proc/self/maps} may grow by after the warm-up for reasons that have nothing to do with stores. */
    static final int NOISE = 64;
    /**
     * A heap that is never collected during the run, so that the mapped buffers of closed stores are not either:
     * the cycles allocate about 120 KiB each (2.3 GiB in all) and the eden holds 2.8 GiB; a fixed heap size (no
     * growing or shrinking of its mappings), and a metaspace threshold high enough that class loading triggers no
     * full collection. The child reports the collections it saw.
     */
    static final List<String> JVM_ARGS = List.of("-XX:+UseParallelGC", "-Xms4g", "-Xmx4g", "-Xmn3g",
        "-XX:SurvivorRatio=30", "-XX:-UseAdaptiveSizePolicy", "-XX:MetaspaceSize=256m",
        // each open starts two background threads: with TLABs sized for a 3 GiB eden, every short-lived thread
        // that allocates at all wastes megabytes of it, and the young collections that follow would release
        // leaked mappings and hide the leak this test looks for
        "-XX:TLABSize=64k", "-XX:-ResizeTLAB");
    /** The premise: the collector (which would release leaked mappings) does not run at all, or nearly. */
    static final int MAX_COLLECTIONS = 2;
    /** The child stops once the process has this many mappings: a leak is plain long before. */
    static final long MAX_MAPPINGS = 20_000;
    static final long DEFAULT_MAX_MAP_COUNT = 65_530;
    static final long TIMEOUT_SECONDS = 300;
    private static final Path SHARED_MEMORY = Path.of("/dev/shm");
    private static final Path MAPS = Path.of("/proc/self/maps");

    @TempDir
    Path tempDir;

    @Test
    void closingAStoreReleasesItsMappings() throws Exception
    {
        assumeTrue(Files.isReadable(MAPS), "needs /proc/self/maps");
        // tmpfs: the opens' and closes' forces cost nothing there
        final boolean shm = Files.isDirectory(SHARED_MEMORY) && Files.isWritable(SHARED_MEMORY);
        final Path dir = shm ? Files.createTempDirectory(SHARED_MEMORY, "varve-mapping-leak-") : tempDir;
        try
        {
            final long start = System.nanoTime();
            final Process child = MultiProcessTest.start(JVM_ARGS, "open-close-cycles", dir.resolve("store").toString(),
                Integer.toString(CYCLES), Integer.toString(EVERY));
            final List<String> out = Collections.synchronizedList(new ArrayList<>());
            final Thread reader = new Thread(() ->
            {
                try (BufferedReader lines = MultiProcessTest.stdout(child))
                {
                    for (String line = lines.readLine(); line != null; line = lines.readLine())
                    {
                        out.add(line);
                    }
                }
                catch (final IOException ignore)
                {
                    // the child died; what it printed is judged below
                }
            }, "mapping-leak-child-stdout");
            reader.start();
            final boolean exited = child.waitFor(TIMEOUT_SECONDS, TimeUnit.SECONDS);
            if (!exited)
            {
                child.destroyForcibly().waitFor();
            }
            reader.join(10_000);
            final long millis = (System.nanoTime() - start) / 1_000_000;
            final String transcript = String.join("\n", out);
            System.out.println("MappingLeakTest: child took " + millis + " ms\n" + transcript);
            assertTrue(exited, "the child did not finish in " + TIMEOUT_SECONDS + " s:\n" + transcript);
            assertEquals(0, child.exitValue(), transcript);

            final List<long[]> samples = out.stream().filter((l) -> l.startsWith("sample "))
                .map((l) -> Stream.of(l.split(" ")).skip(1).limit(3).mapToLong(Long::parseLong).toArray())
                .toList();
            final String done = out.stream().filter((l) -> l.startsWith("done ") || l.startsWith("stopped at "))
                .findFirst()
                .orElseThrow(() -> new AssertionError("no done line:\n" + transcript));
            // a child that stopped before the warm-up ended (a fast leak) is judged from its first sample
            final long[] warm = samples.stream().filter((s) -> s[0] >= WARM_UP).findFirst().orElse(samples.get(0));
            final long[] max = samples.stream().filter((s) -> s[0] >= warm[0])
                .max(Comparator.comparingLong((long[] s) -> s[1])).orElseThrow();
            final long[] last = samples.get(samples.size() - 1);
            final String summary = "after " + last[0] + " open/close cycles: " + last[1] + " mappings (" +
                warm[1] + " at cycle " + warm[0] + ", at most " + max[1] + " at cycle " + max[0] + "); " + last[2] +
                " of them map the closed store's files; " + done;

            assertTrue(max[1] - warm[1] <= NOISE, "the process's mappings grew by " + (max[1] - warm[1]) +
                " after the warm-up: " + summary);
            assertTrue(done.startsWith("done "), summary);
            final java.util.regex.Matcher collections = java.util.regex.Pattern.compile("=(\\d+)").matcher(done);
            long gcs = 0;
            while (collections.find())
            {
                gcs += Long.parseLong(collections.group(1));
            }
            assertTrue(gcs <= MAX_COLLECTIONS, "the collector ran " + gcs + " times, which may have hidden a leak: " +
                summary);
            assertEquals(0, last[2], "the closed store's files are still mapped: " + summary);
        }
        finally
        {
            if (shm)
            {
                delete(dir);
            }
        }
    }

    /**
     * The child: opens and closes the store at {@code dir} {@code cycles} times and prints, every {@code every}
     * cycles, "sample CYCLE MAPPINGS STORE_MAPPINGS GCS MILLIS", then "done ..." with the collections it saw.
     */
    static void cycles(final Path dir, final int cycles, final int every) throws IOException
    {
        final VarveConfig config = TestStores.small(dir);
        final byte[] payload = new byte[16];
        try (VarveDB db = VarveDB.open(config))
        {
            db.appender().append(1, ExpectedVersion.ANY, 1, payload);
        }
        final String store = dir.toRealPath().toString() + "/";
        final long start = System.nanoTime();
        final long[] delivered = { 0 };
        final EventHandler count = (e) -> delivered[0]++;
        // a leak would reach the kernel's limit on mappings per process (vm.max_map_count) in a few thousand
        // cycles, after which even starting a thread fails and the child hangs: stop well before
        final long limit = Math.min(MAX_MAPPINGS, maxMapCount() / 2);
        int cycle = 0;
        long mappings = sample(cycle, store, start);
        while (cycle < cycles && mappings < limit)
        {
            cycle++;
            switch (cycle % 4)
            {
                case 0 ->
                {
                    try (VarveDB ignored = VarveDB.open(config))
                    {
                        // opened and closed, nothing else
                    }
                }
                case 1 ->
                {
                    try (VarveDB db = VarveDB.open(config))
                    {
                        db.appender().append(1 + cycle % 8, ExpectedVersion.ANY, 1, payload);
                    }
                }
                case 2 ->
                {
                    try (VarveDB db = VarveDB.openReadOnly(dir))
                    {
                        read(db, count);
                    }
                }
                default ->
                {
                    try (VarveDB db = VarveDB.open(config))
                    {
                        read(db, count);
                        try (Subscription subscription = db.subscription(VarveDB.START_POSITION))
                        {
                            subscription.poll(count, 4);
                        }
                    }
                }
            }
            if (cycle % every == 0)
            {
                mappings = sample(cycle, store, start);
            }
        }
        final long millis = (System.nanoTime() - start) / 1_000_000;
        final List<String> left = Files.readAllLines(MAPS).stream().filter((l) -> l.contains(store))
            .map((l) -> l.substring(l.indexOf(store) + store.length())).distinct().sorted().limit(8).toList();
        final Runtime runtime = Runtime.getRuntime();
        System.out.println((cycle == cycles ? "done " : "stopped at ") + cycle + " cycles in " + millis + " ms" +
            (cycle == cycles ? "" : " with " + mappings + " mappings (limit " + limit + ")") + ", " + delivered[0] +
            " events read, heap used " + (runtime.totalMemory() - runtime.freeMemory()) / (1024 * 1024) + " MiB, gc " +
            ManagementFactory.getGarbageCollectorMXBeans().stream()
                .map((gc) -> gc.getName().replace(' ', '_') + "=" + gc.getCollectionCount())
                .collect(Collectors.joining(",")) + ", still mapped: " + (left.isEmpty() ? "none" : left));
        System.out.flush();
    }

    private static void read(final VarveDB db, final EventHandler handler)
    {
        if (db.streamVersion(1) < 1 || db.readStream(1, 1, 4, handler) < 1 ||
            db.readAll(VarveDB.START_POSITION, 4, handler) < 1)
        {
            throw new IllegalStateException("the store lost its first event");
        }
    }

    private static long maxMapCount()
    {
        try
        {
            // readAllLines, not readString: procfs reports a size of 0, and readString trusts it (reads one byte)
            return Long.parseLong(Files.readAllLines(Path.of("/proc/sys/vm/max_map_count")).get(0).trim());
        }
        catch (final IOException | RuntimeException ex)
        {
            return DEFAULT_MAX_MAP_COUNT;
        }
    }

    private static long sample(final int cycle, final String store, final long start) throws IOException
    {
        final List<String> maps = Files.readAllLines(MAPS);
        final long storeLines = maps.stream().filter((l) -> l.contains(store)).count();
        final long gcs = ManagementFactory.getGarbageCollectorMXBeans().stream()
            .mapToLong(GarbageCollectorMXBean::getCollectionCount).sum();
        System.out.println("sample " + cycle + " " + maps.size() + " " + storeLines + " gcs " + gcs + " ms " +
            (System.nanoTime() - start) / 1_000_000);
        System.out.flush();
        return maps.size();
    }

    private static void delete(final Path dir) throws IOException
    {
        try (Stream<Path> files = Files.walk(dir))
        {
            files.sorted(Comparator.reverseOrder()).forEach((p) -> p.toFile().delete());
        }
    }
}
