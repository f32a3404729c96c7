package io.varvedb.jmh;

import io.varvedb.tools.ChronicleTarget;
import io.varvedb.tools.FixedRateRun;
import io.varvedb.tools.LatencyTarget;
import org.HdrHistogram.Histogram;

import java.io.FileOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.Locale;

/**
 * Fixed-rate append latency for any system of the benchmarks, corrected for coordinated omission: the same code drives
 * VarveDB, Chronicle Queue, LMDB and SQLite, so their percentiles can be put side by side.
 * <p>
 * The pacing and timing are {@code varve latency}'s own ({@link FixedRateRun}): one thread appends one event at a
 * time to one stream with an exact expected version (the optimistic-concurrency path), each append has an intended
 * send time on a fixed schedule, and its latency is recorded from that time, so a stall counts against every append
 * it delayed (a closed-loop sampler such as JMH's {@code SampleTime} counts it once); the service time of the call
 * alone is recorded beside it. A system that cannot sustain the rate falls further and further behind: the run stops
 * 1 s after the schedule's end, and reports how many sends it missed ({@code kept_up=false}). Chronicle Queue is the
 * tools' {@link ChronicleTarget} (the record {@link ChronicleStore} writes too); every other system is its
 * {@link EventStore} through {@link EventStoreTarget}.
 * <p>
 * Usage: {@code java <Flags> -cp benchmarks.jar io.varvedb.jmh.FixedRateLatency SYSTEM RATE SECONDS WARMUP PAYLOAD
 * [HISTOGRAM_FILE]}. Prints one {@code key=value} per line (nanoseconds) for {@code run_all.py}; the histogram file
 * gets HdrHistogram's percentile distribution of the corrected latency, in microseconds.
 */
public final class FixedRateLatency
{
    private static final double[] PERCENTILES = {50, 90, 99, 99.9, 99.99};
    private static final double MICROS = 1000.0;
    private static final int ARGS = 5;

    private FixedRateLatency()
    {
    }

    /**
     * @param args system, rate (appends/s), measured seconds, warm-up seconds, payload bytes, optional histogram file.
     * @throws Exception if the run fails or the histogram file cannot be written.
     */
    public static void main(final String[] args) throws Exception
    {
        if (args.length < ARGS)
        {
            throw new IllegalArgumentException("usage: FixedRateLatency SYSTEM RATE SECONDS WARMUP PAYLOAD [HGRM]");
        }
        final String system = args[0];
        final long rate = Long.parseLong(args[1]);
        final double seconds = Double.parseDouble(args[2]);
        final double warmup = Double.parseDouble(args[3]);
        final int payload = Integer.parseInt(args[4]);
        if (rate < 1 || seconds <= 0 || warmup < 0 || payload < 0)
        {
            throw new IllegalArgumentException("rate >= 1, seconds > 0, warm-up >= 0, payload >= 0");
        }
        final FixedRateRun run = new FixedRateRun(1, rate, (long)(warmup * 1e9), (long)(seconds * 1e9));

        final Path directory = Bench.freshDirectory("latency-" + system);
        final FixedRateRun.Result result;
        try (LatencyTarget target = open(system, directory, Bench.payload(payload)))
        {
            result = run.run(target);
        }
        finally
        {
            Bench.delete(directory);
        }

        final PrintStream out = System.out;
        out.printf(Locale.ROOT, "system=%s%nrate=%d%nseconds=%s%nwarmup=%s%npayload=%d%n", system, rate, seconds, warmup,
            payload);
        out.printf(Locale.ROOT, "scheduled=%d%nsent=%d%nlate_at_end_ns=%d%nkept_up=%s%n", result.scheduled(),
            result.sent(), Math.max(0, result.lateAtEndNanos()), result.keptUp());
        print(out, "corrected", result.corrected());
        print(out, "service", result.service());
        if (args.length > ARGS)
        {
            try (PrintStream file = new PrintStream(new FileOutputStream(args[ARGS]), false, "US-ASCII"))
            {
                result.corrected().outputPercentileDistribution(file, MICROS);
            }
        }
    }

    private static LatencyTarget open(final String system, final Path directory, final byte[] payload)
    {
        if (Systems.CHRONICLE.equals(system))
        {
            return new ChronicleTarget(directory, payload, Bench.EVENT_TYPE);
        }
        return new EventStoreTarget(system, Systems.open(system, directory), payload);
    }

    private static void print(final PrintStream out, final String name, final Histogram histogram)
    {
        for (final double percentile : PERCENTILES)
        {
            out.printf(Locale.ROOT, "%s_p%s=%d%n", name, percentile, histogram.getValueAtPercentile(percentile));
        }
        out.printf(Locale.ROOT, "%s_max=%d%n%s_count=%d%n", name, histogram.getMaxValue(), name,
            histogram.getTotalCount());
    }
}
