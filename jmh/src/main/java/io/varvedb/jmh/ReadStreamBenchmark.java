package io.varvedb.jmh;

import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
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
 * Load an aggregate: read a 1,000-event stream from version 1. The stream's events are interleaved with nine
 * other streams' in the log, as they would be in a real store. The score is events per second (divide by 1,000
 * for stream loads). Only systems with a per-stream index take part.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 3, time = 3)
@Fork(value = 1, jvmArgsAppend = {Flags.AGRONA, Flags.OPEN_REFLECT, Flags.OPEN_LANG, Flags.OPEN_NIO,
    Flags.OPEN_NIO_CH, Flags.OPEN_IO, Flags.OPEN_UTIL, Flags.EXPORT_REF, Flags.EXPORT_NIO_CH, Flags.EXPORT_MISC,
    Flags.NO_ANALYTICS, Flags.HEAP_MIN, Flags.HEAP_MAX})
public class ReadStreamBenchmark
{
    private static final int EVENTS = 1_000;
    private static final int STREAMS = 10;
    private static final long STREAM = 1;

    /** System under test. */
    @Param({Systems.VARVE, Systems.VARVE_NOVERIFY, Systems.LMDB, Systems.SQLITE})
    public String system;

    /** Payload bytes. */
    @Param({"64", "256", "1024"})
    public int payload;

    private Path directory;
    private EventStore store;
    private EventStore.Reader reader;

    /**
     * Fill a fresh store.
     */
    @Setup(Level.Trial)
    public void setUp()
    {
        directory = Bench.freshDirectory("readstream-" + system);
        store = Systems.open(system, directory);
        try (EventStore.Writer writer = store.writer(Bench.payload(payload)))
        {
            final StreamCursor cursor = new StreamCursor(STREAMS, true);
            for (int i = 0; i < EVENTS * STREAMS; i++)
            {
                cursor.append(writer, 1);
            }
        }
        reader = store.reader();
        if (reader.readStream(STREAM, 1, EVENTS) != EVENTS)
        {
            throw new IllegalStateException(system + " did not read back " + EVENTS + " events");
        }
    }

    /**
     * Close and delete the store.
     */
    @TearDown(Level.Trial)
    public void tearDown()
    {
        reader.close();
        store.close();
        Bench.delete(directory);
    }

    /**
     * @return the digest of what was read.
     */
    @Benchmark
    @OperationsPerInvocation(EVENTS)
    public long readStream()
    {
        if (reader.readStream(STREAM, 1, EVENTS) != EVENTS)
        {
            throw new IllegalStateException("short read");
        }
        return reader.digest();
    }
}
