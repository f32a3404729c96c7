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
import org.openjdk.jmh.infra.BenchmarkParams;

import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * What encryption at rest costs: the same store, clear ({@link Systems#VARVE}) or encrypted
 * ({@link Systems#VARVE_ENCRYPTED}: AES-256-GCM under a data key per stream), in one JMH run, so the two modes are
 * measured side by side. Time per event (ns), and with {@code -prof gc} bytes allocated per event.
 * <ul>
 *     <li>{@link #append}: one thread, {@code tryAppend} of one event with {@code ANY} to {@value #STREAMS} streams in
 *     a fixed shuffled order (round robin), into a fresh store per trial ({@code Durability.OS}, 64 MiB segments,
 *     disk: the set-up of {@link AppendBenchmark}), so a trial rolls through many segments.</li>
 *     <li>{@link #readStream}: load an aggregate, {@code readStream(id, 1, 200)}: the {@value #STREAM_EVENTS} events
 *     of one stream, interleaved in the log with the {@value #STREAMS} streams' {@value #EVENTS} events (one key:
 *     always in the reader's key cache). Time per event.</li>
 *     <li>{@link #readAll}: scan the same {@value #EVENTS} events from the start of the log, the {@value #STREAMS}
 *     streams interleaved (each event decrypted under its own stream's key). Time per event.</li>
 * </ul>
 * Every read folds every payload byte ({@link Bench#fold}) and checks each record's CRC32C, as in the other read
 * benchmarks. The reads' store is filled in the trial's set-up, written as the appends write it (one event per call,
 * round robin). Key caches beyond 256 streams: {@link EncryptionKeyCacheBenchmark}.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {Flags.AGRONA, Flags.OPEN_REFLECT, Flags.OPEN_LANG, Flags.OPEN_NIO,
    Flags.OPEN_NIO_CH, Flags.OPEN_IO, Flags.OPEN_UTIL, Flags.EXPORT_REF, Flags.EXPORT_NIO_CH, Flags.EXPORT_MISC,
    Flags.NO_ANALYTICS, Flags.HEAP_MIN, Flags.HEAP_MAX})
public class EncryptionBenchmark
{
    /** Streams the events go to, round robin in a fixed shuffled order. */
    static final int STREAMS = 64;
    /**
     * Events of one stream in the reads' store: what {@link #readStream} reads. Fewer than the 1,000 of
     * {@link ReadStreamBenchmark}: an encrypted scan of the whole store then takes tens of ms, not seconds, so each
     * 1 s iteration holds many calls.
     */
    static final int STREAM_EVENTS = 200;
    /** Events in the reads' store: what {@link #readAll} scans. */
    static final int EVENTS = STREAMS * STREAM_EVENTS;
    /** The stream {@link #readStream} reads. */
    private static final long STREAM = 1;

    /** Payload bytes. */
    @Param({"64", "1024"})
    public int payloadSize;

    /** "clear" ({@link Systems#VARVE}) or "encrypted" ({@link Systems#VARVE_ENCRYPTED}). */
    @Param({"clear", "encrypted"})
    public String mode;

    private Path directory;
    private EventStore store;
    private EventStore.Writer writer;
    private EventStore.Reader reader;
    private StreamCursor cursor;

    /**
     * @param mode "clear" or "encrypted".
     * @return the system it names.
     */
    static String system(final String mode)
    {
        switch (mode)
        {
            case "clear":
                return Systems.VARVE;
            case "encrypted":
                return Systems.VARVE_ENCRYPTED;
            default:
                throw new IllegalArgumentException("mode is clear or encrypted, not " + mode);
        }
    }

    /**
     * Open a fresh store; for the reads, fill it.
     *
     * @param params which benchmark runs.
     */
    @Setup(Level.Trial)
    public void setUp(final BenchmarkParams params)
    {
        directory = Bench.freshDirectory("encryption-" + mode);
        store = Systems.open(system(mode), directory);
        writer = store.writer(Bench.payload(payloadSize));
        cursor = new StreamCursor(STREAMS, false);
        if ("encrypted".equals(mode))
        {
            System.out.printf("key cache: %d streams round robin, %.1f%% of events miss a %d-key cache (oldest " +
                "evicted first)%n", STREAMS, 100.0 * EncryptionKeyCacheBenchmark.missRatio(Bench.shuffledStreams(STREAMS)),
                io.varvedb.internal.crypto.StreamCiphers.CACHE_SIZE);
        }
        if (params.getBenchmark().endsWith(".append"))
        {
            return;
        }
        for (int i = 0; i < EVENTS; i++)
        {
            cursor.append(writer, 1);
        }
        reader = store.reader();
        final long read = reader.readAll();
        if (read != EVENTS)
        {
            throw new IllegalStateException(mode + " read back " + read + " events, not " + EVENTS);
        }
        if (reader.readStream(STREAM, 1, STREAM_EVENTS) != STREAM_EVENTS)
        {
            throw new IllegalStateException(mode + " did not read back " + STREAM_EVENTS + " events of a stream");
        }
    }

    /**
     * Close and delete the store.
     */
    @TearDown(Level.Trial)
    public void tearDown()
    {
        if (reader != null)
        {
            reader.close();
        }
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

    /**
     * @return the digest of what was read.
     */
    @Benchmark
    @OperationsPerInvocation(STREAM_EVENTS)
    public long readStream()
    {
        if (reader.readStream(STREAM, 1, STREAM_EVENTS) != STREAM_EVENTS)
        {
            throw new IllegalStateException("short read");
        }
        return reader.digest();
    }

    /**
     * @return the digest of what was read.
     */
    @Benchmark
    @OperationsPerInvocation(EVENTS)
    public long readAll()
    {
        if (reader.readAll() != EVENTS)
        {
            throw new IllegalStateException("short scan");
        }
        return reader.digest();
    }
}
