package io.varvedb.jmh;

import io.varvedb.internal.counters.AppenderCounters;
import io.varvedb.internal.counters.CountersFileDescriptor;
import io.varvedb.internal.counters.LatencyRecorder;
import io.varvedb.internal.counters.StoreCounters;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Threads;
import org.openjdk.jmh.annotations.Warmup;

import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * The per-append work of the live counters alone, outside an append, through the engine's own classes (a
 * {@link StoreCounters} on a real {@code varve.counters} file, with latency recording): what an append pays for
 * counting ({@code counted}: {@link AppenderCounters#appended}, two increments and two ordered stores), and for
 * recording its latency ({@code timedAndRecorded}: two {@link System#nanoTime()} calls and
 * {@link LatencyRecorder#record}), split into its parts, with one thread and with two threads sharing the store's
 * recorder (as two appenders of one store do). The append benchmarks with {@code varve-nocounters} and
 * {@code varve-latency} measure the same inside the append; this one says where the time goes.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {Flags.AGRONA, Flags.NO_ANALYTICS, Flags.HEAP_MIN, Flags.HEAP_MAX})
public class CountersCostBenchmark
{
    /** A plausible append latency, in ns: what the recorder is given. */
    private static final long LATENCY_NS = 120;

    /**
     * One store's counters with latency recording, shared by the threads as a store's appenders share them.
     */
    @State(Scope.Benchmark)
    public static class Store
    {
        private Path directory;
        private StoreCounters counters;
        private LatencyRecorder latency;
        /** The recorder the appenders without counters of their own share (any number of threads). */
        private io.varvedb.internal.counters.LatencySink shared;

        /**
         * Open a counters file in a fresh directory.
         */
        @Setup(Level.Trial)
        public void setUp()
        {
            directory = Bench.freshDirectory("counters-cost");
            counters = StoreCounters.open(directory, CountersFileDescriptor.ROLE_WRITER, true);
            if (counters == null)
            {
                throw new IllegalStateException("no counters file in " + directory);
            }
            latency = counters.latency();
            shared = latency.newSink(true);
        }

        /**
         * Close and delete it.
         */
        @TearDown(Level.Trial)
        public void tearDown()
        {
            counters.close();
            Bench.delete(directory);
        }
    }

    /**
     * One appender's counters: each thread its own, as each appender.
     */
    @State(Scope.Thread)
    public static class Own
    {
        private AppenderCounters counters;
        /** The appender's own latency recorder, which comes with its counters. */
        private io.varvedb.internal.counters.LatencySink sink;
        private long value = LATENCY_NS;

        /**
         * @param store the store's counters.
         */
        @Setup(Level.Trial)
        public void setUp(final Store store)
        {
            counters = store.counters.newAppender();
            sink = counters.latency();
        }
    }

    /**
     * Nothing: the harness's own cost per call.
     *
     * @param own unused but for the same state as the others.
     * @return a value.
     */
    @Benchmark
    public long baseline(final Own own)
    {
        return own.value;
    }

    /**
     * What every append does with counters on (a 64 B event takes 112 bytes of log).
     *
     * @param own this thread's counters.
     */
    @Benchmark
    public void counted(final Own own)
    {
        own.counters.appended(1, 112);
    }

    /**
     * A replica of {@link AppenderCounters#appended}'s work (the single-writer path: two field increments and two
     * {@code putLongRelease}) on a direct buffer, counters 128 bytes apart as in a counters file: the reference for
     * the variants below, each without one part of it, to say which part costs what.
     *
     * @param replica the replica's counts and buffer.
     */
    @Benchmark
    public void replicaTwoReleaseStores(final Replica replica)
    {
        replica.appends += 1;
        replica.bytes += 112;
        replica.values.putLongRelease(0, replica.appends);
        replica.values.putLongRelease(Replica.SECOND, replica.bytes);
    }

    /**
     * The replica with the bytes counter not published: one ordered store.
     *
     * @param replica the replica's counts and buffer.
     */
    @Benchmark
    public void replicaOneReleaseStore(final Replica replica)
    {
        replica.appends += 1;
        replica.bytes += 112;
        replica.values.putLongRelease(0, replica.appends);
    }

    /**
     * The replica with plain stores instead of ordered ones (on x86 the same instruction; only the compiler's freedom
     * to reorder differs).
     *
     * @param replica the replica's counts and buffer.
     */
    @Benchmark
    public void replicaTwoPlainStores(final Replica replica)
    {
        replica.appends += 1;
        replica.bytes += 112;
        replica.values.putLong(0, replica.appends);
        replica.values.putLong(Replica.SECOND, replica.bytes);
    }

    /**
     * The replica counting in its fields only, publishing nothing.
     *
     * @param replica the replica's counts and buffer.
     */
    @Benchmark
    public void replicaNoStore(final Replica replica)
    {
        replica.appends += 1;
        replica.bytes += 112;
    }

    /**
     * The replica's state: counts in fields, published into a direct buffer (as the counters file's mapping).
     */
    @State(Scope.Thread)
    public static class Replica
    {
        /** Offset of the second counter: Agrona lays counters out 128 bytes apart. */
        static final int SECOND = 128;
        private final org.agrona.concurrent.UnsafeBuffer values =
            new org.agrona.concurrent.UnsafeBuffer(java.nio.ByteBuffer.allocateDirect(4096));
        private long appends;
        private long bytes;
    }

    /**
     * The same, two threads with counters of their own each.
     *
     * @param own this thread's counters.
     */
    @Benchmark
    @Threads(2)
    public void counted2Threads(final Own own)
    {
        own.counters.appended(1, 112);
    }

    /**
     * The two clock reads an append makes when it records its latency.
     *
     * @return their difference.
     */
    @Benchmark
    public long nanoTimeTwice()
    {
        final long start = System.nanoTime();
        return System.nanoTime() - start;
    }

    /**
     * One value into an appender's own recorder (an HdrHistogram {@code SingleWriterRecorder}).
     *
     * @param own the appender's recorder and the value.
     */
    @Benchmark
    public void recorded(final Own own)
    {
        own.sink.record(own.value);
    }

    /**
     * Two threads, each into its own recorder, as two appenders with counters of their own.
     *
     * @param own the appender's recorder and the value.
     */
    @Benchmark
    @Threads(2)
    public void recorded2Threads(final Own own)
    {
        own.sink.record(own.value);
    }

    /**
     * Two threads into the one recorder that appenders without counters of their own share.
     *
     * @param store the store's counters.
     * @param own   the value.
     */
    @Benchmark
    @Threads(2)
    public void recordedShared2Threads(final Store store, final Own own)
    {
        store.shared.record(own.value);
    }

    /**
     * What an append adds with latencies recorded: the clock at its start and end, and the record.
     *
     * @param own the appender's recorder.
     */
    @Benchmark
    public void timedAndRecorded(final Own own)
    {
        final long start = System.nanoTime();
        own.sink.record(System.nanoTime() - start);
    }
}
