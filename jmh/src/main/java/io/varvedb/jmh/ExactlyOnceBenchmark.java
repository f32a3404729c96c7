package io.varvedb.jmh;

import io.varvedb.Appender;
import io.varvedb.ExpectedVersion;
import io.varvedb.VarveConfig;
import io.varvedb.VarveDB;
import org.agrona.concurrent.UnsafeBuffer;
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
 * What exactly-once appends and named streams cost, VarveDB against itself in one run: one thread appends
 * {@link #BATCH} events of 64 bytes, spread over 1,000 streams with {@code ANY}, into a fresh store per iteration
 * (so the id table starts empty each time, as a new store's does, and never fills). Modes:
 * <ul>
 *   <li>{@code plain}: no event id, by stream id: the baseline;</li>
 *   <li>{@code event-id}: a new event id per append: the id table's lookup and insert;</li>
 *   <li>{@code retry}: every append a retry of an event already in the store: the duplicate answer.</li>
 * </ul>
 * Scores are milliseconds per {@link #BATCH} appends; {@code -prof gc} shows what each allocates.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.SingleShotTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, batchSize = ExactlyOnceBenchmark.BATCH)
@Measurement(iterations = 5, batchSize = ExactlyOnceBenchmark.BATCH)
@Fork(value = 1, jvmArgsAppend = {Flags.AGRONA, Flags.HEAP_MIN, Flags.HEAP_MAX})
public class ExactlyOnceBenchmark
{
    /** Appends per measured iteration. */
    public static final int BATCH = 1_000_000;
    private static final int STREAMS = 1000;

    /** See the class comment. */
    @Param({"plain", "event-id", "retry"})
    public String mode;

    private Path directory;
    private VarveDB db;
    private Appender appender;
    private final UnsafeBuffer payload = new UnsafeBuffer(Bench.payload(64));
    private long sequence;
    private long high;

    /**
     * A fresh store per iteration: an id table as a new store's, whose capacity the iteration never reaches.
     */
    @Setup(Level.Iteration)
    public void setUp()
    {
        directory = Bench.freshDirectory("exactly-once-" + mode);
        db = VarveDB.open(VarveConfig.builder(directory).segmentSize(Bench.SEGMENT_SIZE)
            .indexCapacity(Bench.INDEX_CAPACITY).eventIdCapacity(2 * BATCH).build());
        appender = db.appender();
        sequence = 0;
        high = System.nanoTime();
        if ("retry".equals(mode))
        {
            // the events the retries name: one per stream
            for (int i = 0; i < STREAMS; i++)
            {
                appender.append(i + 1, ExpectedVersion.ANY, Bench.EVENT_TYPE, high, i + 1, payload, 0, 64);
            }
        }
    }

    /**
     * Close and delete the store.
     */
    @TearDown(Level.Iteration)
    public void tearDown()
    {
        appender.close();
        db.close();
        Bench.delete(directory);
    }

    /**
     * @return the version appended (or, for a retry, the original's).
     */
    @Benchmark
    public long append()
    {
        final long n = sequence++;
        final int stream = (int)(n % STREAMS);
        return switch (mode)
        {
            case "plain" -> appender.append(stream + 1, ExpectedVersion.ANY, Bench.EVENT_TYPE, payload, 0, 64);
            case "event-id" -> appender.append(stream + 1, ExpectedVersion.ANY, Bench.EVENT_TYPE, high, n + 1,
                payload, 0, 64);
            case "retry" -> appender.append(stream + 1, ExpectedVersion.ANY, Bench.EVENT_TYPE, high, stream + 1,
                payload, 0, 64);
            default -> throw new IllegalStateException(mode);
        };
    }
}
