package io.varvedb.jmh;

import org.openjdk.jmh.annotations.AuxCounters;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Threads;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.BenchmarkParams;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Two writers appending 64 B events under ANY into one store, either as two threads of the JMH fork
 * ({@link #threads2}) or as the fork's one thread plus a second JVM, an {@link AppendHelper} process appending
 * into the same store at full speed for the whole trial ({@link #processes2}). VarveDB's multi-process mode shares
 * the stream slots and the log tail through mapped memory, so a cross-process CAS should cost what a cross-thread
 * one does; Chronicle Queue takes its own write lock between processes.
 * <p>
 * JMH only times its own threads, so the score to compare is the {@code total} secondary result: the fork's
 * appends plus the helper's appends over the same iteration. The fork reads the helper's running count (published
 * after every append in a shared mapped {@link HelperControl} file) at the iteration's set-up and tear-down, which
 * bracket the measured loop; the delta goes into an {@link AuxCounters} counter that JMH divides by the
 * iteration's measured time like its own. At the end of a trial the counts are checked against the store
 * (VarveDB: the latest version of each stream; Chronicle: its excerpt count), so a lost or extra event fails it.
 * <p>
 * {@code scenario}: {@code distinct}, each writer on its own stream; {@code hot}, every writer on stream 1 (VarveDB
 * only: Chronicle has no streams). {@code processes2} needs {@code varve-mp} (the default mode refuses a second
 * writer process) or {@code chronicle}; invalid combinations throw at set-up.
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 3, time = 3)
@Fork(value = 1, jvmArgsAppend = {Flags.AGRONA, Flags.OPEN_REFLECT, Flags.OPEN_LANG, Flags.OPEN_NIO,
    Flags.OPEN_NIO_CH, Flags.OPEN_IO, Flags.OPEN_UTIL, Flags.EXPORT_REF, Flags.EXPORT_NIO_CH, Flags.EXPORT_MISC,
    Flags.NO_ANALYTICS, Flags.HEAP_MIN, Flags.HEAP_MAX})
public class MultiProcessAppendBenchmark
{
    private static final long HOT_STREAM = 1;

    /**
     * The store, its writers, and in {@code processes2} the helper process.
     */
    @State(Scope.Benchmark)
    public static class Shared
    {
        /** {@code varve} (default mode, threads only), {@code varve-mp} (multi-process mode), {@code chronicle}. */
        @Param({Systems.VARVE, Systems.VARVE_MP, Systems.CHRONICLE})
        public String system;

        /** "distinct": a stream per writer; "hot": one stream for all. */
        @Param({"distinct", "hot"})
        public String scenario;

        /** Payload bytes. */
        @Param({"64"})
        public int payload;

        private Path directory;
        private EventStore store;
        private HelperProcess helper;
        private final List<Local> locals = new ArrayList<>();
        private long nextStream = HOT_STREAM;

        /**
         * Open a fresh store; in {@code processes2} start the helper and wait until it appends.
         *
         * @param params tells which shape runs.
         */
        @Setup(Level.Trial)
        public void setUp(final BenchmarkParams params)
        {
            final boolean processes = params.getBenchmark().endsWith(".processes2");
            if (hot() && Systems.CHRONICLE.equals(system))
            {
                throw new IllegalArgumentException("Chronicle Queue has no streams: run it with scenario=distinct");
            }
            if (processes && !Systems.VARVE_MP.equals(system) && !Systems.CHRONICLE.equals(system))
            {
                throw new IllegalArgumentException("processes2 needs system=varve-mp or chronicle, not " + system);
            }
            directory = Bench.freshDirectory("multiprocess-" + system);
            store = Systems.open(system, directory);
            if (processes)
            {
                // the fork's thread takes stream 1 at its own set-up, after this one: the helper gets 2 (or 1 if hot)
                helper = new HelperProcess(system, directory, hot() ? HOT_STREAM : HOT_STREAM + 1, payload);
            }
        }

        private boolean hot()
        {
            return "hot".equals(scenario);
        }

        synchronized void register(final Local local)
        {
            local.writer = store.writer(Bench.payload(payload));
            local.streamId = hot() ? HOT_STREAM : nextStream++;
            locals.add(local);
        }

        long helperCount()
        {
            return helper == null ? 0 : helper.count();
        }

        /**
         * Stop the helper, close the writers, check every counted append is in the store, close and delete it.
         */
        @TearDown(Level.Trial)
        public synchronized void tearDown()
        {
            try
            {
                final long helperAppends = helper == null ? 0 : helper.stop();
                locals.forEach((local) -> local.writer.close());
                verify(helperAppends);
            }
            finally
            {
                if (helper != null)
                {
                    helper.close();
                    helper = null;
                }
                locals.clear();
                store.close();
                Bench.delete(directory);
            }
        }

        /**
         * Every append either side counted (warm-up included) must be in the store exactly once.
         */
        private void verify(final long helperAppends)
        {
            long forkAppends = 0;
            for (final Local local : locals)
            {
                forkAppends += local.appended;
            }
            final long expected = forkAppends + helperAppends;
            final long found;
            if (store instanceof ChronicleStore)
            {
                found = ((ChronicleStore)store).entryCount();
            }
            else if (hot())
            {
                found = ((VarveStore)store).latestVersion(HOT_STREAM);
            }
            else
            {
                long sum = 0;
                for (final Local local : locals)
                {
                    final long version = ((VarveStore)store).latestVersion(local.streamId);
                    if (version != local.appended)
                    {
                        throw new IllegalStateException("stream " + local.streamId + " is at version " + version +
                            " after " + local.appended + " appends");
                    }
                    sum += version;
                }
                found = sum + (helper == null ? 0 : ((VarveStore)store).latestVersion(HOT_STREAM + 1));
            }
            System.out.println("verified: fork " + forkAppends + " + helper " + helperAppends + " appends, store " +
                "holds " + found);
            if (found != expected)
            {
                throw new IllegalStateException("the store holds " + found + " events; the writers made " + expected);
            }
        }
    }

    /**
     * One JMH thread's writer and stream, and its appends over the whole trial (for the check at the end).
     */
    @State(Scope.Thread)
    public static class Local
    {
        private EventStore.Writer writer;
        private long streamId;
        private long appended;

        /**
         * @param shared the store.
         */
        @Setup(Level.Trial)
        public void setUp(final Shared shared)
        {
            shared.register(this);
        }
    }

    /**
     * Per-iteration counts, divided by JMH by the measured time and summed over the JMH threads.
     */
    @State(Scope.Thread)
    @AuxCounters(AuxCounters.Type.OPERATIONS)
    public static class Counts
    {
        /** Appends by this JMH thread. */
        public long appends;
        /** Appends by the helper process in the same iteration (0 in {@code threads2}). */
        public long helper;
        /** Both: the score to compare between the shapes. */
        public long total;

        private long helperStart;
        private long startNanos;

        /**
         * @param shared the helper's count at the start of the iteration.
         */
        @Setup(Level.Iteration)
        public void start(final Shared shared)
        {
            appends = 0;
            helper = 0;
            total = 0;
            startNanos = System.nanoTime();
            helperStart = shared.helperCount();
        }

        /**
         * @param shared the helper's count at the end of the iteration.
         */
        @TearDown(Level.Iteration)
        public void end(final Shared shared)
        {
            helper = shared.helperCount() - helperStart;
            final long nanos = System.nanoTime() - startNanos;
            total = appends + helper;
            if (shared.helper != null)
            {
                // the helper's own rate over this bracket, printed to cross-check the aux counter's division
                System.out.printf("helper: %.0f appends/s over %.1f ms%n", helper * 1e9 / nanos, nanos / 1e6);
            }
        }
    }

    private static long append(final Local local, final Counts counts)
    {
        final long version = local.writer.tryAppend(local.streamId, EventStore.ANY);
        local.appended++;
        counts.appends++;
        return version;
    }

    /**
     * @param local  this thread's writer.
     * @param counts this thread's counters.
     * @return the new version.
     */
    @Benchmark
    @Threads(2)
    public long threads2(final Local local, final Counts counts)
    {
        return append(local, counts);
    }

    /**
     * @param local  the fork's writer.
     * @param counts its counters and the helper's.
     * @return the new version.
     */
    @Benchmark
    @Threads(1)
    public long processes2(final Local local, final Counts counts)
    {
        return append(local, counts);
    }
}
