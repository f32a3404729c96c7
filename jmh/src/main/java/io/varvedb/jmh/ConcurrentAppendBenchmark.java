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

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Append throughput, two threads, {@code exact(n)}: each thread on its own stream ({@code distinct}), or both
 * on one hot stream ({@code hot}), where an append that loses the race is a conflict and the thread retries with
 * the version it learnt. The primary score counts attempts; the {@code successes} and {@code conflicts}
 * secondary scores count outcomes, and {@code successes} is the number to compare. Chronicle has no version
 * check, so it never conflicts.
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 3, time = 3)
@Threads(2)
@Fork(value = 1, jvmArgsAppend = {Flags.AGRONA, Flags.OPEN_REFLECT, Flags.OPEN_LANG, Flags.OPEN_NIO,
    Flags.OPEN_NIO_CH, Flags.OPEN_IO, Flags.OPEN_UTIL, Flags.EXPORT_REF, Flags.EXPORT_NIO_CH, Flags.EXPORT_MISC,
    Flags.NO_ANALYTICS, Flags.HEAP_MIN, Flags.HEAP_MAX})
public class ConcurrentAppendBenchmark
{
    /** Stream both threads fight over in the hot scenario. */
    private static final long HOT_STREAM = 1;

    /**
     * The store, shared by the threads.
     */
    @State(Scope.Benchmark)
    public static class Shared
    {
        /** System under test. */
        @Param({Systems.VARVE, Systems.CHRONICLE, Systems.LMDB, Systems.SQLITE})
        public String system;

        /** "distinct": a stream per thread; "hot": one stream for both. */
        @Param({"distinct", "hot"})
        public String scenario;

        /** Payload bytes. */
        @Param({"64"})
        public int payload;

        private Path directory;
        private EventStore store;
        private final List<EventStore.Writer> writers = new ArrayList<>();
        private long nextStream = HOT_STREAM;

        /**
         * Open a fresh store.
         */
        @Setup(Level.Trial)
        public void setUp()
        {
            directory = Bench.freshDirectory("concurrent-" + system);
            store = Systems.open(system, directory);
        }

        synchronized EventStore.Writer writer()
        {
            final EventStore.Writer writer = store.writer(Bench.payload(payload));
            writers.add(writer);
            return writer;
        }

        synchronized long streamFor()
        {
            return "hot".equals(scenario) ? HOT_STREAM : nextStream++;
        }

        /**
         * Close the writers, then the store, and delete it.
         */
        @TearDown(Level.Trial)
        public synchronized void tearDown()
        {
            writers.forEach(EventStore.Writer::close);
            writers.clear();
            store.close();
            Bench.delete(directory);
        }
    }

    /**
     * One thread's writer and the version it believes its stream is at.
     */
    @State(Scope.Thread)
    public static class Local
    {
        private EventStore.Writer writer;
        private long streamId;
        private long expected;

        /**
         * @param shared the store.
         */
        @Setup(Level.Trial)
        public void setUp(final Shared shared)
        {
            writer = shared.writer();
            streamId = shared.streamFor();
        }
    }

    /**
     * Outcomes per thread, summed by JMH into secondary scores.
     */
    @State(Scope.Thread)
    @AuxCounters(AuxCounters.Type.OPERATIONS)
    public static class Outcomes
    {
        /** Appends that went in. */
        public long successes;
        /** Appends refused because the other thread got there first. */
        public long conflicts;

        /**
         * Counters are per iteration.
         */
        @Setup(Level.Iteration)
        public void reset()
        {
            successes = 0;
            conflicts = 0;
        }
    }

    /**
     * @param local    this thread's writer.
     * @param outcomes this thread's counters.
     * @return the result of the attempt.
     */
    @Benchmark
    public long append(final Local local, final Outcomes outcomes)
    {
        final long result = local.writer.tryAppend(local.streamId, local.expected);
        if (result == EventStore.CONFLICT)
        {
            outcomes.conflicts++;
            local.expected = local.writer.lastActualVersion();
        }
        else
        {
            outcomes.successes++;
            local.expected = result;
        }
        return result;
    }
}
