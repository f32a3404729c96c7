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
 * Append throughput, one thread: one event per call, to one stream or spread over 100,000 streams, with an
 * exact expected version (the optimistic-concurrency path) or ANY. A fresh store per trial; a trial writes
 * many 64 MiB segments, so touching new pages is in the score.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 3, time = 3)
@Fork(value = 1, jvmArgsAppend = {Flags.AGRONA, Flags.OPEN_REFLECT, Flags.OPEN_LANG, Flags.OPEN_NIO,
    Flags.OPEN_NIO_CH, Flags.OPEN_IO, Flags.OPEN_UTIL, Flags.EXPORT_REF, Flags.EXPORT_NIO_CH, Flags.EXPORT_MISC,
    Flags.NO_ANALYTICS, Flags.HEAP_MIN, Flags.HEAP_MAX})
public class AppendBenchmark
{
    /** System under test; run-all.sh adds the VarveDB durability variants of {@link Systems} for 1 stream. */
    @Param({Systems.VARVE, Systems.CHRONICLE, Systems.LMDB, Systems.SQLITE})
    public String system;

    /** Payload bytes. */
    @Param({"64", "256", "1024"})
    public int payload;

    /** Streams the appends are spread over. */
    @Param({"1", "100000"})
    public int streams;

    /** "exact" for exact(n) expectations, "any" for ANY. */
    @Param({"exact", "any"})
    public String expected;

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
        directory = Bench.freshDirectory("append-" + system);
        store = Systems.open(system, directory);
        writer = store.writer(Bench.payload(payload));
        cursor = new StreamCursor(streams, "exact".equals(expected));
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
     * @return the new version.
     */
    @Benchmark
    public long append()
    {
        return cursor.append(writer, 1);
    }
}
