package io.varvedb.tools;

import io.varvedb.Appender;
import io.varvedb.Durability;
import io.varvedb.VarveConfig;
import io.varvedb.VarveDB;
import org.HdrHistogram.Histogram;
import org.agrona.concurrent.UnsafeBuffer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * {@code varve latency DIR}: append at a fixed rate and measure each append from the moment it was meant to be
 * sent, not from when the sender got round to it.
 * <p>
 * A load generator that waits for each call to return before timing the next hides stalls: while one append
 * is stuck, the appends that should have been sent meanwhile are never timed ("coordinated omission"). Here each
 * append has an intended send time on a fixed schedule; a sender that falls behind sends at once, and the append's
 * latency is counted from its intended time, so a stall shows up in every append it delayed. The service time of
 * the call alone is recorded beside it for comparison.
 */
@Command(
    name = "latency",
    mixinStandardHelpOptions = true,
    header = "Measure append latency at a fixed rate, corrected for coordinated omission; chart to PNG.",
    description = {
        "Each append has an intended send time on a fixed schedule and its latency is measured from that time, so a stall counts against every append it delayed (coordinated-omission correction); the service time of the call alone is shown beside it. Saves the histogram in HdrHistogram's percentile format (--histogram) and draws the percentile distribution to a PNG (--plot). The store in DIR is created if missing; the run appends to new streams of its own."
    })
public final class LatencyCommand implements Callable<Integer>
{
    private static final long HIGHEST_TRACKABLE_NANOS = TimeUnit.SECONDS.toNanos(60);
    private static final int SIGNIFICANT_DIGITS = 3;
    private static final int EVENT_TYPE = 1;
    private static final long SPIN_THRESHOLD_NANOS = TimeUnit.MICROSECONDS.toNanos(100);
    private static final long PARK_MARGIN_NANOS = TimeUnit.MICROSECONDS.toNanos(60);
    private static final double OUTPUT_SCALE_MICROS = 1000.0;
    /** A sender that cannot keep up stops this long after the schedule's end rather than run on and on. */
    private static final long GRACE_NANOS = TimeUnit.SECONDS.toNanos(1);
    private static final double[] PERCENTILES = {50, 90, 99, 99.9, 99.99};

    @Spec
    private CommandSpec spec;

    @Parameters(index = "0", paramLabel = "DIR", description = "Store directory, created if missing.")
    private Path directory;

    @Option(names = "--rate", paramLabel = "N", defaultValue = "100000",
        description = "Appends per second, all threads together (default: ${DEFAULT-VALUE}).")
    private long rate;

    @Option(names = "--seconds", paramLabel = "S", defaultValue = "5",
        description = "Measured duration (default: ${DEFAULT-VALUE}).")
    private double seconds;

    @Option(names = "--warmup", paramLabel = "S", defaultValue = "1",
        description = "Unmeasured run at the same rate first, to warm up the JIT (default: ${DEFAULT-VALUE}).")
    private double warmupSeconds;

    @Option(names = "--payload", paramLabel = "B", defaultValue = "64",
        description = "Payload bytes per event (default: ${DEFAULT-VALUE}).")
    private int payloadLength;

    @Option(names = "--threads", paramLabel = "T", defaultValue = "1",
        description = "Appending threads, each on its own stream (default: ${DEFAULT-VALUE}).")
    private int threads;

    @Option(names = "--histogram", paramLabel = "FILE",
        description = "Save the corrected histogram here in HdrHistogram's percentile format (microseconds).")
    private Path histogramFile;

    @Option(names = "--plot", paramLabel = "FILE.png", description = "Draw the percentile distribution to a PNG.")
    private Path plotFile;

    @Option(names = "--durability", paramLabel = "MODE", defaultValue = "OS",
        description = "OS, GROUP_COMMIT or SYNC: what an acknowledged append survives (default: ${DEFAULT-VALUE}).")
    private Durability durability;

    @Option(names = "--await-durable",
        description = "After each append, wait until it is forced to disk (appender.awaitDurable): the latency " +
            "of a durable acknowledgement in OS or GROUP_COMMIT mode.")
    private boolean awaitDurable;

    @Override
    public Integer call() throws Exception
    {
        checkArguments();
        final PrintWriter out = spec.commandLine().getOut();
        final Path dir = directory.toAbsolutePath().normalize();
        final Sender[] senders = new Sender[threads];
        final long intervalNanos = Math.max(1, Math.round(threads * 1e9 / rate));
        final long warmupNanos = (long)(warmupSeconds * 1e9);
        final long measuredNanos = (long)(seconds * 1e9);

        Stores.refuseForeign(dir);
        try (VarveDB db = VarveDB.open(VarveConfig.builder(dir).durability(durability).build()))
        {
            if (payloadLength > db.config().maxEventSize())
            {
                throw CliException.usage("--payload " + payloadLength + " is larger than this store's largest event, " +
                    db.config().maxEventSize() + " bytes");
            }
            final long firstStream = db.streamCount() + 1;
            out.printf(Locale.ROOT, "latency: %s appends/s for %s (after %s warm-up), %d-byte payloads, %d thread(s)%n",
                Format.count(rate), Format.seconds(seconds), Format.seconds(warmupSeconds), payloadLength, threads);
            out.printf(Locale.ROOT, "store %s, streams %d..%d, durability %s%s%n", dir, firstStream,
                firstStream + threads - 1, durability, awaitDurable ? ", each append awaits durability" : "");
            out.flush();

            final CyclicBarrier ready = new CyclicBarrier(threads + 1);
            final Thread[] running = new Thread[threads];
            for (int i = 0; i < threads; i++)
            {
                senders[i] = new Sender(db, firstStream + i, payloadLength, intervalNanos, ready, awaitDurable);
                running[i] = new Thread(senders[i], "latency-sender-" + i);
                running[i].start();
            }
            ready.await();
            // staggered starts spread the threads' sends evenly over each interval
            final long start = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(10);
            for (int i = 0; i < threads; i++)
            {
                senders[i].schedule(start + i * (intervalNanos / threads), start + warmupNanos,
                    start + warmupNanos + measuredNanos);
            }
            for (final Thread thread : running)
            {
                thread.join();
            }
            for (final Sender sender : senders)
            {
                if (sender.failure != null)
                {
                    throw sender.failure;
                }
            }
        }

        final Histogram corrected = new Histogram(HIGHEST_TRACKABLE_NANOS, SIGNIFICANT_DIGITS);
        final Histogram service = new Histogram(HIGHEST_TRACKABLE_NANOS, SIGNIFICANT_DIGITS);
        long sent = 0;
        for (final Sender sender : senders)
        {
            corrected.add(sender.corrected);
            service.add(sender.service);
            sent += sender.sent;
        }
        final String machine = String.format(Locale.ROOT, "%d cores, load average %.1f at the end of the run",
            Runtime.getRuntime().availableProcessors(),
            ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage());
        report(out, corrected, service, sent);
        out.println("machine: " + machine);
        writeOutputs(out, corrected, service, machine);
        out.flush();
        return ExitCode.OK;
    }

    private void checkArguments()
    {
        if (rate < 1)
        {
            throw CliException.usage("--rate must be at least 1 append per second, got " + rate);
        }
        if (!(seconds > 0))
        {
            throw CliException.usage("--seconds must be positive, got " + seconds);
        }
        if (!(warmupSeconds >= 0))
        {
            throw CliException.usage("--warmup must be >= 0, got " + warmupSeconds);
        }
        if (payloadLength < 0)
        {
            throw CliException.usage("--payload must be >= 0, got " + payloadLength);
        }
        if (threads < 1)
        {
            throw CliException.usage("--threads must be at least 1, got " + threads);
        }
        if (plotFile != null && !plotFile.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(".png"))
        {
            throw CliException.usage("--plot writes a PNG; give a file name ending in .png, got " + plotFile);
        }
    }

    private void report(final PrintWriter out, final Histogram corrected, final Histogram service, final long sent)
    {
        final double achieved = sent / seconds;
        out.printf(Locale.ROOT, "%nsent %s appends in the measured %s: %s/s (target %s/s)%n", Format.count(sent),
            Format.seconds(seconds), Format.count((long)achieved), Format.count(rate));
        out.println("               corrected (from intended send time)   service time (call alone)");
        for (final double percentile : PERCENTILES)
        {
            out.printf(Locale.ROOT, "  p%-8s   %14s                        %14s%n", label(percentile),
                Format.nanos(corrected.getValueAtPercentile(percentile)),
                Format.nanos(service.getValueAtPercentile(percentile)));
        }
        out.printf(Locale.ROOT, "  %-9s   %14s                        %14s%n", "max",
            Format.nanos(corrected.getMaxValue()), Format.nanos(service.getMaxValue()));
        if (achieved < rate * 0.95)
        {
            out.println("note: the senders could not keep up with the target rate; the corrected latencies show " +
                "the queueing that causes");
        }
    }

    private static String label(final double percentile)
    {
        return percentile == Math.rint(percentile) ? Long.toString((long)percentile) : Double.toString(percentile);
    }

    private void writeOutputs(
        final PrintWriter out, final Histogram corrected, final Histogram service, final String machine)
        throws IOException
    {
        if (histogramFile != null)
        {
            createParent(histogramFile);
            try (PrintStream file = new PrintStream(Files.newOutputStream(histogramFile), false, "UTF-8"))
            {
                corrected.outputPercentileDistribution(file, OUTPUT_SCALE_MICROS);
            }
            out.println("histogram (microseconds, HdrHistogram percentile format): " + histogramFile);
        }
        if (plotFile != null)
        {
            createParent(plotFile);
            final String title = String.format(Locale.ROOT,
                "VarveDB append latency: %s appends/s for %s, %d-byte payloads, %d thread(s)",
                Format.count(rate), Format.seconds(seconds), payloadLength, threads);
            LatencyChart.draw(plotFile, title, machine, corrected, service);
            out.println("chart: " + plotFile);
        }
    }

    private static void createParent(final Path file) throws IOException
    {
        final Path parent = file.toAbsolutePath().getParent();
        if (parent != null)
        {
            Files.createDirectories(parent);
        }
    }

    /**
     * One appending thread on its own stream, on a fixed schedule.
     */
    private static final class Sender implements Runnable
    {
        private final VarveDB db;
        private final long streamId;
        private final UnsafeBuffer payload;
        private final int length;
        private final long intervalNanos;
        private final CyclicBarrier ready;
        private final boolean awaitDurable;
        private final Histogram corrected = new Histogram(HIGHEST_TRACKABLE_NANOS, SIGNIFICANT_DIGITS);
        private final Histogram service = new Histogram(HIGHEST_TRACKABLE_NANOS, SIGNIFICANT_DIGITS);
        private volatile long firstSend;
        private volatile long measureFrom;
        private volatile long measureTo;
        private volatile boolean scheduled;
        private long sent;
        private volatile Exception failure;

        Sender(
            final VarveDB db,
            final long streamId,
            final int length,
            final long intervalNanos,
            final CyclicBarrier ready,
            final boolean awaitDurable)
        {
            this.db = db;
            this.awaitDurable = awaitDurable;
            this.streamId = streamId;
            this.length = length;
            this.payload = new UnsafeBuffer(new byte[Math.max(1, length)]);
            this.intervalNanos = intervalNanos;
            this.ready = ready;
            for (int i = 0; i < length; i++)
            {
                payload.putByte(i, (byte)('a' + i % 26));
            }
        }

        void schedule(final long firstSend, final long measureFrom, final long measureTo)
        {
            this.firstSend = firstSend;
            this.measureFrom = measureFrom;
            this.measureTo = measureTo;
            this.scheduled = true;
        }

        @Override
        public void run()
        {
            try (Appender appender = db.appender())
            {
                ready.await();
                while (!scheduled)
                {
                    Thread.onSpinWait();
                }
                long version = db.streamVersion(streamId);
                long intended = firstSend;
                final long giveUp = measureTo + GRACE_NANOS;
                while (intended < measureTo && System.nanoTime() - giveUp < 0)
                {
                    waitUntil(intended);
                    final long callStart = System.nanoTime();
                    // exact expected version on a stream of our own: the optimistic check runs, and never fails
                    final long result = appender.tryAppend(streamId, version, EVENT_TYPE, payload, 0, length);
                    if (awaitDurable && result != Appender.CONFLICT)
                    {
                        appender.awaitDurable(appender.lastPosition());
                    }
                    final long end = System.nanoTime();
                    if (result == Appender.CONFLICT)
                    {
                        throw new IllegalStateException("stream " + streamId + " changed under the latency run");
                    }
                    version = result;
                    if (intended >= measureFrom)
                    {
                        corrected.recordValue(Math.min(end - intended, HIGHEST_TRACKABLE_NANOS));
                        service.recordValue(Math.min(end - callStart, HIGHEST_TRACKABLE_NANOS));
                        sent++;
                    }
                    intended += intervalNanos;
                }
            }
            catch (final Exception ex)
            {
                failure = ex;
            }
        }

        private static void waitUntil(final long deadline)
        {
            long remaining = deadline - System.nanoTime();
            if (remaining > SPIN_THRESHOLD_NANOS)
            {
                // park most of the way, spin the rest: parking alone overshoots by tens of microseconds
                LockSupport.parkNanos(remaining - PARK_MARGIN_NANOS);
                remaining = deadline - System.nanoTime();
            }
            while (remaining > 0)
            {
                Thread.onSpinWait();
                remaining = deadline - System.nanoTime();
            }
        }
    }
}
