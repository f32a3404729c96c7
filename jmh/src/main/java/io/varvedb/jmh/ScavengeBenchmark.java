package io.varvedb.jmh;

import io.varvedb.Appender;
import io.varvedb.EventHandler;
import io.varvedb.ExpectedVersion;
import io.varvedb.ScavengeResult;
import io.varvedb.VarveConfig;
import io.varvedb.VarveDB;
import org.agrona.concurrent.UnsafeBuffer;
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
 * What a scavenge running in the background costs the foreground, VarveDB against itself in one run. Each trial
 * fills a fresh store ({@link #SEGMENT} segments) with {@link #PREFILL} events of 64 bytes over {@link #JUNK} + 1
 * streams in turn: stream 1 (the stream {@code readStream} loads, {@link #STREAM_EVENTS} events) and
 * {@link #JUNK} others. With {@code scavenging = true} a background thread, for the whole iteration, deletes
 * {@link #DELETES_PER_ROUND} of the others softly ({@code deleteStream}) and runs {@code db.scavenge()}, again and
 * again: every round drops events from every sealed segment, so every round rewrites every sealed segment (read,
 * copy, force, rename), the heaviest steady scavenge there is (a round takes longer than an iteration's 2 s would
 * need to run out of streams to delete). With {@code false} the thread does not exist. The foreground:
 * <ul>
 *   <li>{@code append}: one thread appends 64 B events to 100 other streams with {@code ANY} (events/s);</li>
 *   <li>{@code readStream}: loads stream 1 from version 1, {@link #STREAM_EVENTS} events (events/s);</li>
 *   <li>{@code readAll}: reads the global log on from where it stopped, {@link #SCAN} events a call, starting
 *   over at the end (events/s). With scavenging it reads the rewritten (compacted) segments too.</li>
 * </ul>
 * The tear-down of each iteration prints the rounds and segments the background rewrote. On 2 cores the background thread takes one
 * core: the ratio measures sharing the machine with a scavenge, not only interference in the store.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {Flags.AGRONA, Flags.HEAP_MIN, Flags.HEAP_MAX})
public class ScavengeBenchmark
{
    /** Segment size: a prefilled store has a dozen sealed segments to rewrite. */
    public static final int SEGMENT = 4 * 1024 * 1024;
    /** Events appended before the trial. */
    public static final int PREFILL = 400_000;
    /** Streams the background deletes, one a round. */
    public static final int JUNK = 399;
    /** Streams deleted before each scavenge: 5% of the events, so about 20 rounds of rewrites per store. */
    public static final int DELETES_PER_ROUND = 20;
    /** Events of stream 1. */
    public static final int STREAM_EVENTS = PREFILL / (JUNK + 1);
    /** Events per readAll call. */
    public static final int SCAN = 10_000;
    private static final long STREAM = 1;
    private static final long APPEND_STREAMS = 100;
    private static final long FIRST_APPEND_STREAM = 10_000;

    /** Whether a scavenge runs in the background. */
    @Param({"false", "true"})
    public boolean scavenging;

    private Path directory;
    private VarveDB db;
    private Appender appender;
    private final UnsafeBuffer payload = new UnsafeBuffer(Bench.payload(64));
    private long appended;
    private long readPosition;
    private final long[] digest = new long[2];
    private final EventHandler folder = (e) ->
    {
        digest[0] += e.position() ^ e.payload().getLong(0);
        digest[1] = e.nextPosition();
    };
    private Thread scavenger;
    private volatile boolean running;
    private volatile Throwable scavengeFailure;
    private long rounds;
    private long segmentsRewritten;
    private long bytesReclaimed;

    /**
     * Fill a fresh store and start the background scavenges.
     */
    @Setup(Level.Iteration)
    public void setUp()
    {
        directory = Bench.freshDirectory("scavenge-" + scavenging);
        db = VarveDB.open(VarveConfig.builder(directory).segmentSize(SEGMENT).indexCapacity(1 << 14).build());
        appender = db.appender();
        for (int i = 0; i < PREFILL; i++)
        {
            final int turn = i % (JUNK + 1);
            appender.append(turn == 0 ? STREAM : 1 + turn, ExpectedVersion.ANY, Bench.EVENT_TYPE, payload, 0, 64);
        }
        if (db.readStream(STREAM, 1, Integer.MAX_VALUE, folder) != STREAM_EVENTS)
        {
            throw new IllegalStateException("stream 1 did not read back " + STREAM_EVENTS + " events");
        }
        appended = 0;
        readPosition = VarveDB.START_POSITION;
        rounds = 0;
        segmentsRewritten = 0;
        bytesReclaimed = 0;
        scavenger = null;
        if (scavenging)
        {
            running = true;
            scavenger = new Thread(this::scavengeLoop, "scavenger");
            scavenger.setDaemon(true);
            scavenger.start();
        }
    }

    private void scavengeLoop()
    {
        try
        {
            long next = 2;
            while (running)
            {
                for (int i = 0; i < DELETES_PER_ROUND && next <= 1 + JUNK; i++)
                {
                    db.deleteStream(next++, ExpectedVersion.ANY);
                }
                final ScavengeResult result = db.scavenge();
                rounds++;
                segmentsRewritten += result.segmentsRewritten();
                bytesReclaimed += result.bytesReclaimed();
            }
        }
        catch (final Throwable ex)
        {
            scavengeFailure = ex;
        }
    }

    /**
     * Stop the scavenges, close and delete the store.
     *
     * @throws InterruptedException if interrupted.
     */
    @TearDown(Level.Iteration)
    public void tearDown() throws InterruptedException
    {
        if (scavenger != null)
        {
            running = false;
            scavenger.join();
            System.out.println("scavenges: " + rounds + " rounds, " + segmentsRewritten + " segments rewritten, " +
                bytesReclaimed / (1024 * 1024) + " MiB reclaimed");
        }
        appender.close();
        db.close();
        Bench.delete(directory);
        if (scavengeFailure != null)
        {
            throw new IllegalStateException("the background scavenge failed", scavengeFailure);
        }
    }

    /**
     * @return the version appended.
     */
    @Benchmark
    public long append()
    {
        return appender.append(FIRST_APPEND_STREAM + appended++ % APPEND_STREAMS, ExpectedVersion.ANY,
            Bench.EVENT_TYPE, payload, 0, 64);
    }

    /**
     * @return the digest of what was read.
     */
    @Benchmark
    @OperationsPerInvocation(STREAM_EVENTS)
    public long readStream()
    {
        if (db.readStream(STREAM, 1, STREAM_EVENTS, folder) != STREAM_EVENTS)
        {
            throw new IllegalStateException("short read of stream 1");
        }
        return digest[0];
    }

    /**
     * @return the digest of what was read.
     */
    @Benchmark
    @OperationsPerInvocation(SCAN)
    public long readAll()
    {
        int left = SCAN;
        while (left > 0)
        {
            final int read = db.readAll(readPosition, left, folder);
            if (read == 0)
            {
                readPosition = VarveDB.START_POSITION;
                continue;
            }
            left -= read;
            readPosition = digest[1];
        }
        return digest[0];
    }
}
