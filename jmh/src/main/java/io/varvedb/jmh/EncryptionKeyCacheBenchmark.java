package io.varvedb.jmh;

import io.varvedb.internal.crypto.StreamCiphers;
import org.agrona.collections.Hashing;
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
 * What a miss in a thread's cache of stream keys costs. Each appender and each reading thread keeps the ciphers of
 * up to {@value StreamCiphers#CACHE_SIZE} stream keys, the oldest evicted first; an event of a stream whose key is
 * not cached re-keys the evicted key's cipher (the JDK's AES key schedule and the GHASH tables), after a lookup in
 * the key file under its lock. {@link #readAll} scans {@value #EVENTS} events of 64 B
 * spread round robin over {@code streams} streams (1: every event hits; 1,000: more streams than the cache holds, and
 * round robin, every event misses); {@link #append} appends one event with {@code ANY} to the next of {@code streams} streams, round
 * robin, into a fresh store. Clear and encrypted in one run: the difference at 1,000 streams less the difference
 * at 1 is the cost of the misses. The set-up prints, for the encrypted store, the share of events whose stream's
 * key is not cached (the order is fixed, so it is exact).
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {Flags.AGRONA, Flags.OPEN_REFLECT, Flags.OPEN_LANG, Flags.OPEN_NIO,
    Flags.OPEN_NIO_CH, Flags.OPEN_IO, Flags.OPEN_UTIL, Flags.EXPORT_REF, Flags.EXPORT_NIO_CH, Flags.EXPORT_MISC,
    Flags.NO_ANALYTICS, Flags.HEAP_MIN, Flags.HEAP_MAX})
public class EncryptionKeyCacheBenchmark
{
    /** Events in the reads' store. */
    static final int EVENTS = 16_000;
    private static final int PAYLOAD = 64;

    /** Streams the events are spread over, round robin in a fixed shuffled order. */
    @Param({"1", "1000"})
    public int streams;

    /** "clear" or "encrypted". */
    @Param({"clear", "encrypted"})
    public String mode;

    private Path directory;
    private EventStore store;
    private EventStore.Writer writer;
    private EventStore.Reader reader;
    private StreamCursor cursor;

    /**
     * Open a fresh store; for the reads, fill it.
     *
     * @param params which benchmark runs.
     */
    @Setup(Level.Trial)
    public void setUp(final BenchmarkParams params)
    {
        directory = Bench.freshDirectory("keycache-" + mode);
        store = Systems.open(EncryptionBenchmark.system(mode), directory);
        writer = store.writer(Bench.payload(PAYLOAD));
        cursor = new StreamCursor(streams, false);
        if ("encrypted".equals(mode))
        {
            System.out.printf("key cache: %d streams round robin, %.1f%% of events miss a %d-key cache (oldest " +
                "evicted first)%n", streams, 100.0 * missRatio(Bench.shuffledStreams(streams)), StreamCiphers.CACHE_SIZE);
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
    }

    /**
     * @param order stream ids, visited round robin for ever.
     * @return the share of visits, in the steady state, whose stream's key is not in {@link StreamCiphers}'s cache
     * (as it keeps it: the oldest evicted first).
     */
    static double missRatio(final long[] order)
    {
        // the cache as StreamCiphers keeps it: up to CACHE_SIZE keys, the oldest evicted first
        final java.util.LinkedHashSet<Long> cached = new java.util.LinkedHashSet<>();
        int misses = 0;
        for (int round = 0; round < 2; round++)
        {
            misses = 0;
            for (final long streamId : order)
            {
                if (!cached.contains(streamId))
                {
                    if (cached.size() == StreamCiphers.CACHE_SIZE)
                    {
                        cached.remove(cached.iterator().next());
                    }
                    cached.add(streamId);
                    misses++;
                }
            }
        }
        return (double)misses / order.length;
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
