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
 * Read the latest event of a random stream out of 100,000 (three events each): a point lookup through the
 * stream index, {@code readStreamBackward(id, LATEST_VERSION, 1)} for VarveDB.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 3, time = 3)
@Fork(value = 1, jvmArgsAppend = {Flags.AGRONA, Flags.OPEN_REFLECT, Flags.OPEN_LANG, Flags.OPEN_NIO,
    Flags.OPEN_NIO_CH, Flags.OPEN_IO, Flags.OPEN_UTIL, Flags.EXPORT_REF, Flags.EXPORT_NIO_CH, Flags.EXPORT_MISC,
    Flags.NO_ANALYTICS, Flags.HEAP_MIN, Flags.HEAP_MAX})
public class ReadLatestBenchmark
{
    private static final int STREAMS = 100_000;
    private static final int EVENTS_PER_STREAM = 3;

    /** System under test. */
    @Param({Systems.VARVE, Systems.VARVE_NOVERIFY, Systems.LMDB, Systems.SQLITE})
    public String system;

    /** Payload bytes. */
    @Param({"64", "256", "1024"})
    public int payload;

    private Path directory;
    private EventStore store;
    private EventStore.Reader reader;
    private long[] order;
    private int next;

    /**
     * Fill a fresh store.
     */
    @Setup(Level.Trial)
    public void setUp()
    {
        directory = Bench.freshDirectory("latest-" + system);
        store = Systems.open(system, directory);
        try (EventStore.Writer writer = store.writer(Bench.payload(payload)))
        {
            final StreamCursor cursor = new StreamCursor(STREAMS, true);
            for (int i = 0; i < STREAMS; i++)
            {
                cursor.append(writer, EVENTS_PER_STREAM);
            }
        }
        reader = store.reader();
        // a different shuffle from the one used to write, so reads do not follow log order
        order = Bench.shuffledStreams(STREAMS);
        for (int i = 0; i < order.length / 2; i++)
        {
            final long tmp = order[i];
            order[i] = order[order.length - 1 - i];
            order[order.length - 1 - i] = tmp;
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
    public long readLatest()
    {
        final int i = next;
        next = i + 1 == order.length ? 0 : i + 1;
        if (reader.readLatest(order[i]) != 1)
        {
            throw new IllegalStateException("stream " + order[i] + " has no latest event");
        }
        return reader.digest();
    }
}
