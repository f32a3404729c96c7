package io.varvedb.jmh;

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
import org.openjdk.jmh.annotations.Warmup;

import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * Batch append, one thread, {@code exact(n)}, spread over 1,000 streams: the score is batches per second
 * (multiply by {@code batch} for events). VarveDB, LMDB and SQLite make each batch atomic (one claim, one
 * transaction); Chronicle writes one excerpt per event.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 3, time = 3)
@Fork(value = 1, jvmArgsAppend = {Flags.AGRONA, Flags.OPEN_REFLECT, Flags.OPEN_LANG, Flags.OPEN_NIO,
    Flags.OPEN_NIO_CH, Flags.OPEN_IO, Flags.OPEN_UTIL, Flags.EXPORT_REF, Flags.EXPORT_NIO_CH, Flags.EXPORT_MISC,
    Flags.NO_ANALYTICS, Flags.HEAP_MIN, Flags.HEAP_MAX})
public class BatchAppendBenchmark
{
    private static final int STREAMS = 1_000;

    /** System under test. */
    @Param({Systems.VARVE, Systems.CHRONICLE, Systems.LMDB, Systems.SQLITE})
    public String system;

    /** Payload bytes. */
    @Param({"64", "256", "1024"})
    public int payload;

    /** Events per batch. */
    @Param({"10", "100"})
    public int batch;

    private Path directory;
    private EventStore store;
    private EventStore.Writer writer;
    private StreamCursor cursor;

    /**
     * Open a fresh store.
     */
    @Setup(Level.Trial)
    public void setUp()
    {
        directory = Bench.freshDirectory("batch-" + system);
        store = Systems.open(system, directory);
        writer = store.writer(Bench.payload(payload));
        cursor = new StreamCursor(STREAMS, true);
    }

    /**
     * Close and delete the store.
     */
    @TearDown(Level.Trial)
    public void tearDown()
    {
        writer.close();
        store.close();
        Bench.delete(directory);
    }

    /**
     * @return the version of the batch's last event.
     */
    @Benchmark
    public long appendBatch()
    {
        return cursor.append(writer, batch);
    }
}
