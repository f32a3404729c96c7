package io.varvedb.tools;

import io.varvedb.Appender;
import io.varvedb.Durability;
import io.varvedb.EventHandler;
import io.varvedb.RecordedEvent;
import io.varvedb.RunningSubscription;
import io.varvedb.SubscriptionOptions;
import io.varvedb.VarveConfig;
import io.varvedb.VarveDB;
import io.varvedb.internal.log.Log;
import io.varvedb.internal.store.MetaDescriptor;
import org.HdrHistogram.Histogram;
import org.agrona.concurrent.BusySpinIdleStrategy;
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
 * <p>
 * With {@code --subscriber}, a busy-spinning {@link RunningSubscription} in the same process receives every event;
 * each payload starts with its intended send time ({@link System#nanoTime()}, same clock, same process), so the
 * subscriber measures append-to-delivery latency from the same origin as the corrected append latency.
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
    /** How long the subscriber may take to catch up with the last append before the run is declared failed. */
    private static final long DRAIN_TIMEOUT_NANOS = TimeUnit.SECONDS.toNanos(30);
    private static final long DRAIN_POLL_MILLIS = 1;
    /** The intended send time is the payload's first long. */
    private static final int STAMP_OFFSET = 0;
    /** Each sender has a thread, a stream and two histograms of a few hundred KiB: beyond this, memory runs out. */
    static final int MAX_THREADS = 256;
    /** One append per nanosecond: the schedule cannot space sends more finely. */
    static final long MAX_RATE = 1_000_000_000L;
    /** Longest run and warm-up, a day: far from where nanosecond deadlines overflow. */
    static final double MAX_SECONDS = TimeUnit.DAYS.toSeconds(1);

    @Spec
    private CommandSpec spec;

    @Parameters(index = "0", paramLabel = "DIR", description = "Store directory, created if missing.")
    private Path directory;

    @Option(names = "--rate", paramLabel = "N", defaultValue = "100000",
        description = "Appends per second, all threads together, 1 to 1,000,000,000 (default: ${DEFAULT-VALUE}).")
    private long rate;

    @Option(names = "--seconds", paramLabel = "S", defaultValue = "5",
        description = "Measured duration, more than 0 and at most 86,400, long enough for one append at --rate " +
            "(default: ${DEFAULT-VALUE}).")
    private double seconds;

    @Option(names = "--warmup", paramLabel = "S", defaultValue = "1",
        description = "Unmeasured run at the same rate first, to warm up the JIT, 0 to 86,400 " +
            "(default: ${DEFAULT-VALUE}).")
    private double warmupSeconds;

    @Option(names = "--payload", paramLabel = "B", defaultValue = "64",
        description = "Payload bytes per event, 0 to the store's largest event (4 MiB for a new store; " +
            "default: ${DEFAULT-VALUE}).")
    private int payloadLength;

    @Option(names = "--threads", paramLabel = "T", defaultValue = "1",
        description = "Appending threads, each on its own stream, 1 to 256 (default: ${DEFAULT-VALUE}).")
    private int threads;

    @Option(names = "--histogram", paramLabel = "FILE",
        description = "Save the corrected histogram here in HdrHistogram's percentile format (microseconds); " +
            "not a directory.")
    private Path histogramFile;

    @Option(names = "--plot", paramLabel = "FILE.png",
        description = "Draw the percentile distribution to a PNG: a file name ending in .png, not the " +
            "--histogram file.")
    private Path plotFile;

    @Option(names = "--durability", paramLabel = "MODE", defaultValue = "OS",
        description = "OS, GROUP_COMMIT or SYNC: what an acknowledged append survives (default: ${DEFAULT-VALUE}).")
    private Durability durability;

    @Option(names = "--await-durable",
        description = "After each append, wait until it is forced to disk (appender.awaitDurable): the latency " +
            "of a durable acknowledgement in OS or GROUP_COMMIT mode.")
    private boolean awaitDurable;

    @Option(names = "--subscriber",
        description = "Also run a busy-spinning subscription (from now) in this process and measure append-to-" +
            "delivery latency: from each event's intended send time, carried in its first 8 payload bytes, to its " +
            "delivery to the subscriber. Needs --payload >= 8. With --histogram, saved beside it as " +
            "NAME-delivery.hgrm; with --plot, drawn as a third curve. Busy-spinning takes a core.")
    private boolean subscriber;

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

        final DeliveryProbe probe = subscriber ? new DeliveryProbe() : null;
        long appended = 0;
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
            if (subscriber)
            {
                out.println("subscriber: busy-spinning subscription to all, from now, in this process");
            }
            out.flush();

            final RunningSubscription subscription = subscriber ? db.subscribeToAll(VarveDB.FROM_NOW, probe,
                SubscriptionOptions.defaults().idleStrategy(BusySpinIdleStrategy::new).threadName("latency-subscriber"))
                : null;

            final CyclicBarrier ready = new CyclicBarrier(threads + 1);
            final Thread[] running = new Thread[threads];
            for (int i = 0; i < threads; i++)
            {
                senders[i] = new Sender(db, firstStream + i, payloadLength, intervalNanos, ready, awaitDurable,
                    subscriber);
                running[i] = new Thread(senders[i], "latency-sender-" + i);
                running[i].start();
            }
            ready.await();
            // staggered starts spread the threads' sends evenly over each interval
            final long start = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(10);
            if (probe != null)
            {
                // before any send: the subscriber sees the window through the volatile writes, then the events
                probe.window(start + warmupNanos, start + warmupNanos + measuredNanos);
            }
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
                appended += sender.appended;
            }
            if (subscription != null)
            {
                awaitDelivery(subscription, probe, appended);
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
        report(out, corrected, service, probe, sent);
        if (probe != null)
        {
            out.printf(Locale.ROOT, "subscriber received %s of %s events appended (warm-up included), %s of %s " +
                "measured%n", Format.count(probe.received), Format.count(appended), Format.count(probe.measured()),
                Format.count(sent));
        }
        out.println("machine: " + machine);
        writeOutputs(out, corrected, service, probe, machine);
        out.flush();
        return ExitCode.OK;
    }

    /**
     * Wait until the subscriber has received everything appended, then stop it: its histogram is read only after
     * its thread has ended ({@link RunningSubscription#close} joins it).
     */
    private static void awaitDelivery(
        final RunningSubscription subscription, final DeliveryProbe probe, final long appended)
        throws InterruptedException
    {
        final long deadline = System.nanoTime() + DRAIN_TIMEOUT_NANOS;
        while (subscription.delivered() < appended && subscription.isRunning() && System.nanoTime() - deadline < 0)
        {
            Thread.sleep(DRAIN_POLL_MILLIS);
        }
        subscription.close();
        if (subscription.failure() != null)
        {
            throw subscription.failure();
        }
        if (probe.received != appended)
        {
            throw new IllegalStateException("the subscriber received " + probe.received + " of the " + appended +
                " events appended");
        }
    }

    /**
     * Every option against its bounds, before the store is opened or anything is allocated: a value out of
     * bounds would exhaust memory (threads), overflow the schedule's nanosecond deadlines and send nothing
     * (seconds, warm-up), or fail only after the whole run (output files).
     */
    private void checkArguments()
    {
        if (threads < 1 || threads > MAX_THREADS)
        {
            throw CliException.usage("--threads must be at least 1 and at most " + MAX_THREADS + ", got " + threads);
        }
        if (rate < 1 || rate > MAX_RATE)
        {
            throw CliException.usage("--rate must be at least 1 and at most " + Format.count(MAX_RATE) +
                " appends per second, got " + Format.count(rate));
        }
        if (!(seconds > 0 && seconds <= MAX_SECONDS))
        {
            throw CliException.usage("--seconds must be more than 0 and at most " + Format.count((long)MAX_SECONDS) +
                ", got " + seconds);
        }
        if (seconds * rate < 1)
        {
            throw CliException.usage("--seconds " + seconds + " at --rate " + Format.count(rate) + " measures no " +
                "append: their product must be at least 1");
        }
        if (!(warmupSeconds >= 0 && warmupSeconds <= MAX_SECONDS))
        {
            throw CliException.usage("--warmup must be at least 0 and at most " + Format.count((long)MAX_SECONDS) +
                ", got " + warmupSeconds);
        }
        final int largest = largestPayload(directory.toAbsolutePath().normalize());
        if (payloadLength < 0 || payloadLength > largest)
        {
            throw CliException.usage("--payload must be at least 0 and at most " + Format.count(largest) +
                " bytes (this store's largest event), got " + Format.count(payloadLength));
        }
        if (subscriber && payloadLength < Long.BYTES)
        {
            throw CliException.usage("--subscriber carries the send time in the payload: --payload must be >= " +
                Long.BYTES + ", got " + payloadLength);
        }
        if (histogramFile != null && Files.isDirectory(histogramFile))
        {
            throw CliException.usage("--histogram " + histogramFile + " is a directory; give a file name");
        }
        if (plotFile != null && !plotFile.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(".png"))
        {
            throw CliException.usage("--plot writes a PNG; give a file name ending in .png, got " + plotFile);
        }
        if (plotFile != null && Files.isDirectory(plotFile))
        {
            throw CliException.usage("--plot " + plotFile + " is a directory; give a file name");
        }
        if (plotFile != null && histogramFile != null &&
            plotFile.toAbsolutePath().normalize().equals(histogramFile.toAbsolutePath().normalize()))
        {
            throw CliException.usage("--histogram and --plot name the same file, " + plotFile);
        }
        checkCanCreate("--histogram", histogramFile);
        checkCanCreate("--plot", plotFile);
    }

    /**
     * Refuse an output file whose directory cannot be made because part of its path is a file, before the run
     * spends its time measuring.
     */
    private static void checkCanCreate(final String option, final Path file)
    {
        if (file == null)
        {
            return;
        }
        for (Path parent = file.toAbsolutePath().getParent(); parent != null; parent = parent.getParent())
        {
            if (Files.exists(parent))
            {
                if (!Files.isDirectory(parent))
                {
                    throw CliException.usage(option + " " + file + ": " + parent + " is not a directory");
                }
                return;
            }
        }
    }

    /**
     * The largest payload the run can append: the store is opened with the defaults, so a new store gets the
     * default segment size and largest event, and an existing one keeps its own segment size, which may lower it.
     */
    private static int largestPayload(final Path dir)
    {
        int largest = VarveConfig.builder(dir).build().maxEventSize();
        if (Files.isRegularFile(dir.resolve(MetaDescriptor.FILE_NAME)))
        {
            final int segmentLength = Stores.readMeta(dir).segmentLength();
            // an impossible one is the open's to refuse, with its own message
            if (Integer.bitCount(segmentLength) == 1 && segmentLength >= Log.MIN_SEGMENT_LENGTH &&
                segmentLength <= Log.MAX_SEGMENT_LENGTH)
            {
                largest = Math.min(largest, VarveConfig.maxPayloadFor(segmentLength));
            }
        }
        return largest;
    }

    private void report(
        final PrintWriter out, final Histogram corrected, final Histogram service, final DeliveryProbe probe,
        final long sent)
    {
        final double achieved = sent / seconds;
        out.printf(Locale.ROOT, "%nsent %s appends in the measured %s: %s/s (target %s/s)%n", Format.count(sent),
            Format.seconds(seconds), Format.count((long)achieved), Format.count(rate));
        out.println("               corrected (from intended send time)   service time (call alone)" +
            (probe != null ? "   append to delivery (subscriber)" : ""));
        for (final double percentile : PERCENTILES)
        {
            out.printf(Locale.ROOT, "  p%-8s   %14s                        %14s%s%n", label(percentile),
                Format.nanos(corrected.getValueAtPercentile(percentile)),
                Format.nanos(service.getValueAtPercentile(percentile)),
                probe != null ? String.format(Locale.ROOT, "   %14s", Format.nanos(
                    probe.delivery.getValueAtPercentile(percentile))) : "");
        }
        out.printf(Locale.ROOT, "  %-9s   %14s                        %14s%s%n", "max",
            Format.nanos(corrected.getMaxValue()), Format.nanos(service.getMaxValue()),
            probe != null ? String.format(Locale.ROOT, "   %14s", Format.nanos(probe.delivery.getMaxValue())) : "");
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
        final PrintWriter out, final Histogram corrected, final Histogram service, final DeliveryProbe probe,
        final String machine)
        throws IOException
    {
        if (histogramFile != null)
        {
            createParent(histogramFile);
            save(histogramFile, corrected);
            out.println("histogram (microseconds, HdrHistogram percentile format): " + histogramFile);
            if (probe != null)
            {
                final Path deliveryFile = deliveryFile(histogramFile);
                save(deliveryFile, probe.delivery);
                out.println("append-to-delivery histogram (same format): " + deliveryFile);
            }
        }
        if (plotFile != null)
        {
            createParent(plotFile);
            final String title = String.format(Locale.ROOT,
                "VarveDB append%s latency: %s appends/s for %s, %d-byte payloads, %d thread(s), %s%s",
                probe != null ? " and delivery" : "", Format.count(rate), Format.seconds(seconds), payloadLength,
                threads, durability, awaitDurable ? " + awaitDurable" : "");
            LatencyChart.draw(plotFile, title, machine, corrected, service, probe != null ? probe.delivery : null);
            out.println("chart: " + plotFile);
        }
    }

    private static void save(final Path file, final Histogram histogram) throws IOException
    {
        try (PrintStream stream = new PrintStream(Files.newOutputStream(file), false, "UTF-8"))
        {
            histogram.outputPercentileDistribution(stream, OUTPUT_SCALE_MICROS);
        }
    }

    /**
     * @param histogramFile where the append histogram goes, e.g. {@code run.hgrm}.
     * @return where the append-to-delivery histogram goes beside it: {@code run-delivery.hgrm}.
     */
    static Path deliveryFile(final Path histogramFile)
    {
        final String name = histogramFile.getFileName().toString();
        final int dot = name.lastIndexOf('.');
        final String deliveryName = dot > 0 ? name.substring(0, dot) + "-delivery" + name.substring(dot) :
            name + "-delivery";
        return histogramFile.resolveSibling(deliveryName);
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
        private final boolean stamp;
        private long sent;
        private long appended;
        private volatile Exception failure;

        Sender(
            final VarveDB db,
            final long streamId,
            final int length,
            final long intervalNanos,
            final CyclicBarrier ready,
            final boolean awaitDurable,
            final boolean stamp)
        {
            this.stamp = stamp;
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
                    if (stamp)
                    {
                        payload.putLong(STAMP_OFFSET, intended);
                    }
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
                    appended++;
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

    /**
     * The subscriber's handler: reads each event's intended send time and records how long ago that was. Runs on
     * the subscription's thread only; its histogram is read after that thread has been joined.
     */
    private static final class DeliveryProbe implements EventHandler
    {
        private final Histogram delivery = new Histogram(HIGHEST_TRACKABLE_NANOS, SIGNIFICANT_DIGITS);
        private volatile long measureFrom = Long.MAX_VALUE;
        private volatile long measureTo = Long.MIN_VALUE;
        private long received;

        void window(final long from, final long to)
        {
            measureTo = to;
            measureFrom = from;
        }

        long measured()
        {
            return delivery.getTotalCount();
        }

        @Override
        public void onEvent(final RecordedEvent event)
        {
            final long now = System.nanoTime();
            received++;
            final long intended = event.payload().getLong(STAMP_OFFSET);
            if (intended >= measureFrom && intended < measureTo)
            {
                delivery.recordValue(Math.min(Math.max(0, now - intended), HIGHEST_TRACKABLE_NANOS));
            }
        }
    }
}
