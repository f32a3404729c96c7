package io.varvedb.jmh;

import org.HdrHistogram.Histogram;

import java.io.FileOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * Fixed-rate append latency for any {@link EventStore}, corrected for coordinated omission: the same code drives
 * VarveDB, Chronicle Queue, LMDB and SQLite, so their percentiles can be put side by side.
 * <p>
 * One thread appends one event at a time to one stream with an exact expected version (the optimistic-concurrency
 * path). Each append has an intended send time on a fixed schedule ({@code start + i / rate}); the sender waits for
 * it (parking while far ahead, spinning in the last {@value #SPIN_MICROS} us), sends at once when behind, and
 * records the latency from the <em>intended</em> time, so a stall counts against every append it delayed (a
 * closed-loop sampler such as JMH's {@code SampleTime} counts it once). The service time of the call alone is
 * recorded beside it. A system that cannot sustain the rate falls further and further behind: the run stops
 * {@value #GRACE_SECONDS} s after the schedule's end, and reports how many sends it missed ({@code kept_up=false}).
 * <p>
 * Usage: {@code java <Flags> -cp benchmarks.jar io.varvedb.jmh.FixedRateLatency SYSTEM RATE SECONDS WARMUP PAYLOAD
 * [HISTOGRAM_FILE]}. Prints one {@code key=value} per line (nanoseconds) for {@code run_all.py}; the histogram file
 * gets HdrHistogram's percentile distribution of the corrected latency, in microseconds.
 */
public final class FixedRateLatency
{
    private static final long HIGHEST_TRACKABLE_NANOS = TimeUnit.SECONDS.toNanos(60);
    private static final int SIGNIFICANT_DIGITS = 3;
    private static final long SPIN_MICROS = 100;
    private static final long SPIN_NANOS = TimeUnit.MICROSECONDS.toNanos(SPIN_MICROS);
    private static final long PARK_MARGIN_NANOS = TimeUnit.MICROSECONDS.toNanos(60);
    private static final long GRACE_SECONDS = 1;
    private static final long GRACE_NANOS = TimeUnit.SECONDS.toNanos(GRACE_SECONDS);
    private static final long STREAM = 1;
    private static final double[] PERCENTILES = {50, 90, 99, 99.9, 99.99};
    private static final double MICROS = 1000.0;
    private static final int ARGS = 5;

    private FixedRateLatency()
    {
    }

    /**
     * @param args system, rate (appends/s), measured seconds, warm-up seconds, payload bytes, optional histogram file.
     * @throws IOException if the histogram file cannot be written.
     */
    public static void main(final String[] args) throws IOException
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
        final long interval = Math.max(1, Math.round(1e9 / rate));
        final Histogram corrected = new Histogram(HIGHEST_TRACKABLE_NANOS, SIGNIFICANT_DIGITS);
        final Histogram service = new Histogram(HIGHEST_TRACKABLE_NANOS, SIGNIFICANT_DIGITS);

        final Path directory = Bench.freshDirectory("latency-" + system);
        long scheduled = 0;
        long sent = 0;
        long lateNanos;
        try (EventStore store = Systems.open(system, directory); EventStore.Writer writer =
            store.writer(Bench.payload(payload)))
        {
            final long start = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(10);
            final long measureFrom = start + (long)(warmup * 1e9);
            final long end = measureFrom + (long)(seconds * 1e9);
            long version = 0;
            long intended = start;
            while (intended < end)
            {
                long now = System.nanoTime();
                if (now - end > GRACE_NANOS)
                {
                    break; // hopelessly behind: what was not sent is reported as missed
                }
                while (intended - now > 0)
                {
                    final long ahead = intended - now;
                    if (ahead > SPIN_NANOS)
                    {
                        LockSupport.parkNanos(ahead - PARK_MARGIN_NANOS);
                    }
                    now = System.nanoTime();
                }
                final long before = System.nanoTime();
                final long result = writer.tryAppend(STREAM, version);
                final long after = System.nanoTime();
                if (result == EventStore.CONFLICT)
                {
                    throw new IllegalStateException(system + ": conflict with a single writer at version " + version);
                }
                version = result;
                if (intended - measureFrom >= 0)
                {
                    corrected.recordValue(Math.min(after - intended, HIGHEST_TRACKABLE_NANOS));
                    service.recordValue(Math.min(after - before, HIGHEST_TRACKABLE_NANOS));
                    sent++;
                }
                intended += interval;
            }
            lateNanos = System.nanoTime() - end;
            scheduled = (long)Math.ceil((end - measureFrom) / (double)interval);
        }
        finally
        {
            Bench.delete(directory);
        }

        final PrintStream out = System.out;
        out.printf(Locale.ROOT, "system=%s%nrate=%d%nseconds=%s%nwarmup=%s%npayload=%d%n", system, rate, seconds, warmup,
            payload);
        out.printf(Locale.ROOT, "scheduled=%d%nsent=%d%nlate_at_end_ns=%d%nkept_up=%s%n", scheduled, sent,
            Math.max(0, lateNanos), sent >= scheduled);
        print(out, "corrected", corrected);
        print(out, "service", service);
        if (args.length > ARGS)
        {
            try (PrintStream file = new PrintStream(new FileOutputStream(args[ARGS]), false, "US-ASCII"))
            {
                corrected.outputPercentileDistribution(file, MICROS);
            }
        }
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
