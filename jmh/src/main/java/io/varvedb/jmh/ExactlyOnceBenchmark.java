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
 *   <li>{@code retry}: every append a retry of an event already in the store: the duplicate answer;</li>
 *   <li>{@code by-name}: no event id, each append addressing its stream by name ({@code "order-17"}): the name is
 *   resolved (UTF-8 encoded, looked up in the name table) on every call, against {@code plain}'s stream id.</li>
 * </ul>
 * Before each iteration one id is appended and the pre-allocator given the time to touch every page of the id
 * table, as it does in the background of a running store (a new table's pages are otherwise made by the appends
 * that land on them, a few microseconds each, for a while). Scores are milliseconds per {@link #BATCH} appends;
 * {@code -prof gc} shows what each allocates.
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
    @Param({"plain", "event-id", "retry", "by-name"})
    public String mode;

    private Path directory;
    private VarveDB db;
    private Appender appender;
    private final UnsafeBuffer payload = new UnsafeBuffer(Bench.payload(64));
    private String[] names;
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
        names = new String[STREAMS];
        for (int i = 0; i < STREAMS; i++)
        {
            names[i] = "order-" + i;
            db.streamId(names[i]);
        }
        sequence = 0;
        high = System.nanoTime();
        // the id table as it is in a running store: its slots allocated (at its first id) and their pages made by
        // the pre-allocator in the background, for every mode alike
        appender.append(STREAMS + 1, ExpectedVersion.ANY, Bench.EVENT_TYPE, ~high, 1, payload, 0, 64);
        awaitIdPages(db);
        if ("retry".equals(mode))
        {
            // the events the retries name: one per stream
            for (int i = 0; i < STREAMS; i++)
            {
                appender.append(i + 1, ExpectedVersion.ANY, Bench.EVENT_TYPE, high, i + 1, payload, 0, 64);
            }
        }
    }

    private static void awaitIdPages(final VarveDB db)
    {
        try
        {
            final java.lang.reflect.Method touched = VarveDB.class.getDeclaredMethod("eventIdPagesTouched");
            touched.setAccessible(true);
            final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (!(boolean)touched.invoke(db))
            {
                if (System.nanoTime() > deadline)
                {
                    throw new IllegalStateException("the id table's pages were not touched within 60 s");
                }
                Thread.sleep(1);
            }
        }
        catch (final ReflectiveOperationException ex)
        {
            throw new IllegalStateException(ex);
        }
        catch (final InterruptedException ex)
        {
            Thread.currentThread().interrupt();
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
            case "by-name" -> appender.append(names[stream], ExpectedVersion.ANY, Bench.EVENT_TYPE, payload, 0, 64);
            default -> throw new IllegalStateException(mode);
        };
    }
}
