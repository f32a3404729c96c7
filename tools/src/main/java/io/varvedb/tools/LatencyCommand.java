package io.varvedb.tools;

import io.varvedb.Durability;
import io.varvedb.VarveConfig;
import io.varvedb.internal.log.Log;
import io.varvedb.internal.store.MetaDescriptor;
import org.HdrHistogram.Histogram;
import org.jfree.chart.JFreeChart;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.lang.management.ManagementFactory;
import java.math.BigDecimal;
import java.math.MathContext;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import java.util.function.ToLongFunction;
import java.util.stream.Stream;

/**
 * {@code varve latency [DIR]}: append at a fixed rate and measure each append from the moment it was meant to be
 * sent, not from when the sender got round to it, for VarveDB, Chronicle Queue, or both one after the other.
 * <p>
 * The pacing and the coordinated-omission correction are {@link FixedRateRun}'s; each system is a
 * {@link LatencyTarget} ({@link VarveTarget}, {@link ChronicleTarget}), so both are driven by the same sender, on
 * the same schedule, with the same payload. With several systems each runs on a fresh store of its own, in turn,
 * and a table puts their percentiles side by side.
 * <p>
 * With {@code --subscriber}, a busy-spinning subscription in the same process receives every VarveDB event; each
 * payload starts with its intended send time ({@link System#nanoTime()}, same clock, same process), so the
 * subscriber measures append-to-delivery latency from the same origin as the corrected append latency.
 */
@Command(
    name = "latency",
    mixinStandardHelpOptions = true,
    header = "Measure append latency at a fixed rate, corrected for coordinated omission, for VarveDB and " +
        "Chronicle Queue; chart to PNG.",
    description = {
        "Each append has an intended send time on a fixed schedule and its latency is measured from that time, so a stall counts against every append it delayed (coordinated-omission correction); the service time of the call alone is shown beside it. --system chronicle drives Chronicle Queue through the same sender, and --system varve,chronicle runs both in turn on the same schedule and compares them. Saves the histograms in HdrHistogram's percentile format (--histogram) and draws the percentile distributions, one curve per system, to a PNG (--plot).",
        "Without DIR each system runs on a fresh store in a temporary directory, deleted after the run. With DIR and one system, DIR is its store: a VarveDB store is created if missing and an existing one gets new streams of its own; a Chronicle Queue directory must be new, empty or a queue. With several systems, DIR gets one such store per system: DIR/varve, DIR/chronicle."
    })
public final class LatencyCommand implements Callable<Integer>
{
    /** The {@code --system} name of VarveDB. */
    static final String VARVE = "varve";
    /** The {@code --system} name of Chronicle Queue. */
    static final String CHRONICLE = "chronicle";
    private static final List<String> SYSTEMS = List.of(VARVE, CHRONICLE);
    private static final double OUTPUT_SCALE_MICROS = 1000.0;
    private static final double[] PERCENTILES = {50, 90, 99, 99.9, 99.99};
    /** Each sender has a thread, a stream and two histograms of a few hundred KiB: beyond this, memory runs out. */
    static final int MAX_THREADS = 256;
    /** One append per nanosecond: the schedule cannot space sends more finely. */
    static final long MAX_RATE = 1_000_000_000L;
    /** Longest run and warm-up, a day: far from where nanosecond deadlines overflow. */
    static final double MAX_SECONDS = TimeUnit.DAYS.toSeconds(1);
    private static final String CHRONICLE_FILE = ".cq4";
    private static final String CHRONICLE_TABLE = ".cq4t";
    private static final int SYSTEM_COLUMN = 12;
    private static final int RATIO_COLUMN = 17;
    private static final MathContext RATIO_DIGITS = new MathContext(3);

    @Spec
    private CommandSpec spec;

    @Parameters(index = "0", arity = "0..1", paramLabel = "DIR",
        description = "Where the stores go (see above); default: a temporary directory per system, deleted after.")
    private Path directory;

    @Option(names = "--system", paramLabel = "NAME[,NAME]", defaultValue = VARVE,
        description = "varve, chronicle, or both as varve,chronicle: each runs in turn on a fresh store, with the " +
            "same schedule, payload, warm-up and rate, and a table compares them (default: ${DEFAULT-VALUE}). " +
            "--durability other than OS, --await-durable and --subscriber are VarveDB's and refused with chronicle.")
    private String systemList;

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
        description = "Appending threads, each on its own stream (Chronicle: its own appender on the one queue), " +
            "1 to 256 (default: ${DEFAULT-VALUE}).")
    private int threads;

    @Option(names = "--histogram", paramLabel = "FILE",
        description = "Save the corrected histogram here in HdrHistogram's percentile format (microseconds); " +
            "not a directory. With several systems, one file per system beside it: --histogram run.hgrm writes " +
            "run-varve.hgrm and run-chronicle.hgrm (no extension: run-varve, run-chronicle).")
    private Path histogramFile;

    @Option(names = "--plot", paramLabel = "FILE.png",
        description = "Draw the percentile distributions to a PNG, one curve per system: a file name ending in " +
            ".png, not the --histogram file.")
    private Path plotFile;

    @Option(names = "--durability", paramLabel = "MODE", defaultValue = "OS",
        description = "OS, GROUP_COMMIT or SYNC: what an acknowledged VarveDB append survives " +
            "(default: ${DEFAULT-VALUE}).")
    private Durability durability;

    @Option(names = "--await-durable",
        description = "After each append, wait until it is forced to disk (appender.awaitDurable): the latency " +
            "of a durable acknowledgement in OS or GROUP_COMMIT mode. VarveDB only.")
    private boolean awaitDurable;

    @Option(names = "--subscriber",
        description = "Also run a busy-spinning subscription (from now) in this process and measure append-to-" +
            "delivery latency: from each event's intended send time, carried in its first 8 payload bytes, to its " +
            "delivery to the subscriber. VarveDB only; needs --payload >= 8. With --histogram, saved beside it as " +
            "NAME-delivery.hgrm; with --plot, drawn as a second curve. Busy-spinning takes a core.")
    private boolean subscriber;

    /** The chart the run drew, for tests to inspect; null before a run with --plot. */
    private JFreeChart chart;

    @Override
    public Integer call() throws Exception
    {
        final List<String> systems = systems();
        checkArguments(systems);
        final List<Path> stores = storeDirectories(systems);
        checkStoreDirectories(systems, stores);

        final PrintWriter out = spec.commandLine().getOut();
        out.printf(Locale.ROOT, "latency: %s appends/s for %s (after %s warm-up), %d-byte payloads, %d thread(s)%s%n",
            Format.count(rate), Format.seconds(seconds), Format.seconds(warmupSeconds), payloadLength, threads,
            systems.size() > 1 ? "; " + String.join(" then ", systems) + ", each on a fresh store" : "");
        out.flush();
        final List<Measured> runs = new ArrayList<>();
        for (int i = 0; i < systems.size(); i++)
        {
            if (systems.size() > 1)
            {
                out.println();
            }
            runs.add(measure(out, systems.get(i), stores.get(i)));
        }
        if (runs.size() > 1)
        {
            compare(out, runs);
        }
        final String machine = String.format(Locale.ROOT, "%d cores, load average %.1f at the end of the run",
            Runtime.getRuntime().availableProcessors(),
            ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage());
        out.println("machine: " + machine);
        writeOutputs(out, runs, machine);
        out.flush();
        return ExitCode.OK;
    }

    /**
     * @return the chart the last run drew with {@code --plot}, null if none: what the PNG shows, for tests.
     */
    JFreeChart chart()
    {
        return chart;
    }

    /**
     * One system's run: open its target on its store (a fresh temporary directory when {@code store} is null), run
     * the schedule, close, report.
     */
    private Measured measure(final PrintWriter out, final String system, final Path store) throws Exception
    {
        final boolean temporary = store == null;
        final Path dir = temporary ? Files.createTempDirectory("varve-latency-" + system + "-") :
            store.toAbsolutePath().normalize();
        final String where = dir + (temporary ? " (temporary, deleted after the run)" : "");
        final FixedRateRun run = new FixedRateRun(threads, rate, (long)(warmupSeconds * 1e9), (long)(seconds * 1e9));
        final FixedRateRun.Result result;
        VarveTarget.DeliveryProbe probe = null;
        try
        {
            if (VARVE.equals(system))
            {
                try (VarveTarget target = new VarveTarget(dir, durability, payloadLength, awaitDurable, subscriber))
                {
                    out.printf(Locale.ROOT, "varve: VarveDB store %s, streams %d..%d, durability %s%s%n", where,
                        target.firstStream(), target.firstStream() + threads - 1, durability,
                        awaitDurable ? ", each append awaits durability" : "");
                    if (subscriber)
                    {
                        out.println("subscriber: busy-spinning subscription to all, from now, in this process");
                    }
                    out.flush();
                    result = run.run(target);
                    if (subscriber)
                    {
                        probe = target.awaitDelivery(result.appended());
                    }
                }
            }
            else
            {
                try (ChronicleTarget target = new ChronicleTarget(dir, payload(payloadLength),
                    VarveTarget.EVENT_TYPE))
                {
                    out.printf(Locale.ROOT, "chronicle: Chronicle Queue in %s, one excerpt per append (stream id, " +
                        "version, type, length, timestamp, payload)%s%n", where,
                        threads > 1 ? ", " + threads + " appenders on the one queue" : "");
                    out.flush();
                    result = run.run(target);
                }
            }
        }
        finally
        {
            if (temporary)
            {
                deleteTree(dir);
            }
        }
        report(out, result, probe);
        return new Measured(system, result, probe);
    }

    /**
     * @return the payload VarveDB's writers carry ({@link VarveTarget}), for Chronicle to carry the same bytes.
     */
    private static byte[] payload(final int length)
    {
        final byte[] bytes = new byte[length];
        for (int i = 0; i < length; i++)
        {
            bytes[i] = (byte)('a' + i % 26);
        }
        return bytes;
    }

    /**
     * @return the systems of {@code --system}, in order, each once.
     */
    private List<String> systems()
    {
        final List<String> systems = new ArrayList<>();
        for (final String name : systemList.split(",", -1))
        {
            final String system = name.strip();
            if (!SYSTEMS.contains(system))
            {
                throw CliException.usage("unknown system '" + system + "' in --system " + systemList +
                    ": give varve, chronicle, or both as varve,chronicle");
            }
            if (systems.contains(system))
            {
                throw CliException.usage("--system " + systemList + " names " + system + " twice");
            }
            systems.add(system);
        }
        return systems;
    }

    /**
     * Every option against its bounds, before any store is opened or anything is allocated: a value out of
     * bounds would exhaust memory (threads), overflow the schedule's nanosecond deadlines and send nothing
     * (seconds, warm-up), or fail only after the whole run (output files); an option that means nothing for a
     * system would be silently ignored.
     */
    private void checkArguments(final List<String> systems)
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
        if (systems.contains(CHRONICLE))
        {
            checkChronicleOptions();
        }
        checkPayload(systems);
        if (subscriber && payloadLength < Long.BYTES)
        {
            throw CliException.usage("--subscriber carries the send time in the payload: --payload must be >= " +
                Long.BYTES + ", got " + payloadLength);
        }
        checkOutputFiles(systems);
    }

    /**
     * Chronicle Queue has no durability modes, no durable position to wait for and no subscription here: those
     * options would change only the VarveDB run, and the comparison would compare unlike things.
     */
    private void checkChronicleOptions()
    {
        final List<String> missing = ChronicleTarget.missingJvmFlags();
        if (!missing.isEmpty())
        {
            // refused before the VarveDB run, not as an initialiser's stack trace after it
            throw CliException.usage("Chronicle Queue needs JVM flags this JVM was started without: " +
                String.join(" ", missing) + " (the ./varve launcher passes them; they are varve.jvm.flags.chronicle " +
                "in the parent pom.xml)");
        }
        final String fix = ": drop it, or run --system varve alone";
        if (durability != Durability.OS)
        {
            throw CliException.usage("--durability " + durability + " is a VarveDB mode; Chronicle Queue has none " +
                "(its appends reach the page cache, as VarveDB's do in OS mode)" + fix);
        }
        if (awaitDurable)
        {
            throw CliException.usage("--await-durable waits for VarveDB's durable position; Chronicle Queue has " +
                "none to wait for" + fix);
        }
        if (subscriber)
        {
            throw CliException.usage("--subscriber runs a VarveDB subscription; there is no Chronicle " +
                "counterpart here" + fix);
        }
    }

    private void checkPayload(final List<String> systems)
    {
        final boolean varve = systems.contains(VARVE);
        // one bound for every system, so that a comparison runs the same payload on each
        final int largest = varve ? largestPayload(varveDirectory(systems)) :
            VarveConfig.DEFAULT_MAX_EVENT_SIZE;
        if (payloadLength < 0 || payloadLength > largest)
        {
            throw CliException.usage("--payload must be at least 0 and at most " + Format.count(largest) +
                " bytes (" + (varve ? "this store's largest event" : "a new VarveDB store's largest event, the " +
                "bound for every system") + "), got " + Format.count(payloadLength));
        }
    }

    private void checkOutputFiles(final List<String> systems)
    {
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
        if (histogramFile != null)
        {
            for (final String system : systems)
            {
                final Path file = histogramFile(systems, system);
                if (!file.equals(histogramFile) && Files.isDirectory(file))
                {
                    throw CliException.usage("--histogram " + histogramFile + " writes " + file + " for " + system +
                        ", which is a directory");
                }
                if (plotFile != null && same(plotFile, file))
                {
                    throw CliException.usage(file.equals(histogramFile) ?
                        "--histogram and --plot name the same file, " + plotFile :
                        "--histogram " + histogramFile + " writes " + file + " for " + system + ", the --plot file");
                }
            }
        }
        checkCanCreate("--histogram", histogramFile);
        checkCanCreate("--plot", plotFile);
    }

    private static boolean same(final Path a, final Path b)
    {
        return a.toAbsolutePath().normalize().equals(b.toAbsolutePath().normalize());
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
     * @return each system's store directory, in order: DIR itself for one system, DIR/NAME for several, null (a
     * fresh temporary directory) without DIR.
     */
    private List<Path> storeDirectories(final List<String> systems)
    {
        final List<Path> stores = new ArrayList<>();
        for (final String system : systems)
        {
            stores.add(directory == null ? null : systems.size() == 1 ? directory : directory.resolve(system));
        }
        return stores;
    }

    private Path varveDirectory(final List<String> systems)
    {
        return storeDirectories(systems).get(systems.indexOf(VARVE));
    }

    /**
     * Refuse, before any run, a directory that is someone else's: the runs would write into it (or fail after
     * the first system has spent its time).
     */
    private void checkStoreDirectories(final List<String> systems, final List<Path> stores)
    {
        if (directory != null && systems.size() > 1)
        {
            if (Files.exists(directory) && !Files.isDirectory(directory))
            {
                throw CliException.store(directory + " is a file; with several systems DIR is a directory that " +
                    "gets one store per system");
            }
            if (Files.isRegularFile(directory.resolve(MetaDescriptor.FILE_NAME)))
            {
                throw CliException.store(directory + " is a VarveDB store; with several systems DIR gets one " +
                    "store per system (DIR/varve, DIR/chronicle): give a directory that is not a store");
            }
        }
        for (int i = 0; i < systems.size(); i++)
        {
            final Path store = stores.get(i);
            if (store == null)
            {
                continue;
            }
            if (VARVE.equals(systems.get(i)))
            {
                Stores.refuseForeign(store);
            }
            else
            {
                refuseForeignQueue(store);
            }
        }
    }

    /**
     * Refuse a directory that holds anything but Chronicle Queue's own files (cycle files {@code *.cq4}, tables
     * {@code *.cq4t}): the queue would be created among someone's files.
     */
    private static void refuseForeignQueue(final Path dir)
    {
        if (!Files.exists(dir))
        {
            return;
        }
        if (!Files.isDirectory(dir))
        {
            throw CliException.store(dir + " is a file, not a Chronicle Queue directory");
        }
        try (Stream<Path> entries = Files.list(dir))
        {
            final Optional<String> foreign = entries.map((p) -> p.getFileName().toString())
                .filter((name) -> !name.endsWith(CHRONICLE_FILE) && !name.endsWith(CHRONICLE_TABLE))
                .sorted()
                .findFirst();
            if (foreign.isPresent())
            {
                throw CliException.store(dir + " is not a Chronicle Queue: it holds " + foreign.get() +
                    "; left untouched");
            }
        }
        catch (final IOException ex)
        {
            throw CliException.store("cannot list " + dir + ": " + ex.getMessage());
        }
    }

    /**
     * The largest payload the run can append: the store is opened with the defaults, so a new store gets the
     * default segment size and largest event, and an existing one keeps its own segment size, which may lower it.
     *
     * @param dir the VarveDB store, null for a fresh temporary one.
     */
    private static int largestPayload(final Path dir)
    {
        if (dir == null)
        {
            return VarveConfig.DEFAULT_MAX_EVENT_SIZE;
        }
        final Path absolute = dir.toAbsolutePath().normalize();
        int largest = VarveConfig.builder(absolute).build().maxEventSize();
        if (Files.isRegularFile(absolute.resolve(MetaDescriptor.FILE_NAME)))
        {
            final int segmentLength = Stores.readMeta(absolute).segmentLength();
            // an impossible one is the open's to refuse, with its own message
            if (Integer.bitCount(segmentLength) == 1 && segmentLength >= Log.MIN_SEGMENT_LENGTH &&
                segmentLength <= Log.MAX_SEGMENT_LENGTH)
            {
                largest = Math.min(largest, VarveConfig.maxPayloadFor(segmentLength));
            }
        }
        return largest;
    }

    private void report(final PrintWriter out, final FixedRateRun.Result result, final VarveTarget.DeliveryProbe probe)
    {
        final Histogram corrected = result.corrected();
        final Histogram service = result.service();
        final double achieved = result.sent() / seconds;
        out.printf(Locale.ROOT, "sent %s appends in the measured %s: %s/s (target %s/s)%n", Format.count(result.sent()),
            Format.seconds(seconds), Format.count((long)achieved), Format.count(rate));
        out.println("               corrected (from intended send time)   service time (call alone)" +
            (probe != null ? "   append to delivery (subscriber)" : ""));
        for (final double percentile : PERCENTILES)
        {
            out.printf(Locale.ROOT, "  p%-8s   %14s                        %14s%s%n", label(percentile),
                Format.nanos(corrected.getValueAtPercentile(percentile)),
                Format.nanos(service.getValueAtPercentile(percentile)),
                probe != null ? String.format(Locale.ROOT, "   %14s", Format.nanos(
                    probe.delivery().getValueAtPercentile(percentile))) : "");
        }
        out.printf(Locale.ROOT, "  %-9s   %14s                        %14s%s%n", "max",
            Format.nanos(corrected.getMaxValue()), Format.nanos(service.getMaxValue()),
            probe != null ? String.format(Locale.ROOT, "   %14s", Format.nanos(probe.delivery().getMaxValue())) : "");
        out.printf(Locale.ROOT, "  %-9s   %s: %s of %s scheduled appends sent%n", "kept up",
            result.keptUp() ? "yes" : "no", Format.count(result.sent()), Format.count(result.scheduled()));
        if (!result.keptUp())
        {
            out.println("note: the senders could not keep up with the target rate (a sender stops 1 s after the " +
                "schedule's end); the corrected latencies show the queueing that causes");
        }
        if (probe != null)
        {
            out.printf(Locale.ROOT, "subscriber received %s of %s events appended (warm-up included), %s of %s " +
                "measured%n", Format.count(probe.received()), Format.count(result.appended()),
                Format.count(probe.measured()), Format.count(result.sent()));
        }
        out.flush();
    }

    /**
     * The runs' percentiles side by side, and varve / chronicle for each: above 1, VarveDB is slower.
     */
    private static void compare(final PrintWriter out, final List<Measured> runs)
    {
        final Measured varve = find(runs, VARVE);
        final Measured chronicle = find(runs, CHRONICLE);
        final boolean ratio = varve != null && chronicle != null;
        out.printf(Locale.ROOT, "%ncomparison, the same schedule and payload for each%s%n",
            ratio ? " (varve/chronicle above 1: VarveDB is slower)" : "");
        final int block = SYSTEM_COLUMN * runs.size() + (ratio ? RATIO_COLUMN : 0);
        final StringBuilder titles = new StringBuilder(" ".repeat(11));
        titles.append(pad("  corrected (from intended send time)", block + 4, false));
        titles.append("  service time (call alone)");
        out.println(titles.toString().stripTrailing());
        final StringBuilder names = new StringBuilder(" ".repeat(11));
        for (int b = 0; b < 2; b++)
        {
            for (final Measured run : runs)
            {
                names.append(pad(run.system, SYSTEM_COLUMN, true));
            }
            if (ratio)
            {
                names.append(pad("varve/chronicle", RATIO_COLUMN, true));
            }
            names.append("    ");
        }
        out.println(names.toString().stripTrailing());
        for (final double percentile : PERCENTILES)
        {
            row(out, "p" + label(percentile), runs, varve, chronicle,
                (histogram) -> histogram.getValueAtPercentile(percentile));
        }
        row(out, "max", runs, varve, chronicle, Histogram::getMaxValue);
        final StringBuilder kept = new StringBuilder(String.format(Locale.ROOT, "  %-9s", "kept up"));
        for (final Measured run : runs)
        {
            kept.append(pad(run.result.keptUp() ? "yes" : "no", SYSTEM_COLUMN, true));
        }
        out.println(kept);
    }

    private static void row(
        final PrintWriter out, final String label, final List<Measured> runs, final Measured varve,
        final Measured chronicle, final ToLongFunction<Histogram> value)
    {
        final StringBuilder line = new StringBuilder(String.format(Locale.ROOT, "  %-9s", label));
        for (int b = 0; b < 2; b++)
        {
            final boolean corrected = b == 0;
            for (final Measured run : runs)
            {
                line.append(pad(Format.nanos(value.applyAsLong(run.histogram(corrected))), SYSTEM_COLUMN, true));
            }
            if (varve != null && chronicle != null)
            {
                line.append(pad(ratio(value.applyAsLong(varve.histogram(corrected)),
                    value.applyAsLong(chronicle.histogram(corrected))), RATIO_COLUMN, true));
            }
            line.append("    ");
        }
        out.println(line.toString().stripTrailing());
    }

    private static String ratio(final long numerator, final long denominator)
    {
        // three significant digits at any size: a ratio of 0.043 must not print as 0.04
        return denominator > 0 ? BigDecimal.valueOf(numerator / (double)denominator).round(RATIO_DIGITS)
            .toPlainString() + "x" : "-";
    }

    private static String pad(final String text, final int width, final boolean right)
    {
        final String padding = " ".repeat(Math.max(0, width - text.length()));
        return right ? padding + text : text + padding;
    }

    private static Measured find(final List<Measured> runs, final String system)
    {
        for (final Measured run : runs)
        {
            if (run.system.equals(system))
            {
                return run;
            }
        }
        return null;
    }

    private static String label(final double percentile)
    {
        return percentile == Math.rint(percentile) ? Long.toString((long)percentile) : Double.toString(percentile);
    }

    private void writeOutputs(final PrintWriter out, final List<Measured> runs, final String machine)
        throws IOException
    {
        final List<String> systems = runs.stream().map((run) -> run.system).toList();
        if (histogramFile != null)
        {
            createParent(histogramFile);
            for (final Measured run : runs)
            {
                final Path file = histogramFile(systems, run.system);
                save(file, run.result.corrected());
                out.println("histogram" + (runs.size() > 1 ? " of " + run.system : "") +
                    " (microseconds, HdrHistogram percentile format): " + file);
                if (run.probe != null)
                {
                    final Path deliveryFile = deliveryFile(histogramFile);
                    save(deliveryFile, run.probe.delivery());
                    out.println("append-to-delivery histogram (same format): " + deliveryFile);
                }
            }
        }
        if (plotFile != null)
        {
            createParent(plotFile);
            final Map<String, Histogram> curves = new LinkedHashMap<>();
            for (final Measured run : runs)
            {
                curves.put(run.system, run.result.corrected());
                if (run.probe != null)
                {
                    curves.put(run.system + " append-to-delivery (subscriber)", run.probe.delivery());
                }
            }
            final String title = String.format(Locale.ROOT,
                "Append latency from intended send time: %s appends/s, %d-byte payloads, %s%s%s%s",
                Format.count(rate), payloadLength, Format.seconds(seconds),
                threads > 1 ? ", " + threads + " threads" : "",
                durability != Durability.OS ? ", " + durability : "", awaitDurable ? " + awaitDurable" : "");
            chart = LatencyChart.chart(title, machine, curves);
            LatencyChart.write(plotFile, chart);
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
     * @return where a system's histogram goes: the --histogram file itself for one system, one beside it per
     * system for several.
     */
    private Path histogramFile(final List<String> systems, final String system)
    {
        return systems.size() == 1 ? histogramFile : beside(histogramFile, system);
    }

    /**
     * @param histogramFile where the append histogram goes, e.g. {@code run.hgrm}.
     * @return where the append-to-delivery histogram goes beside it: {@code run-delivery.hgrm}.
     */
    static Path deliveryFile(final Path histogramFile)
    {
        return beside(histogramFile, "delivery");
    }

    /**
     * @param file e.g. {@code run.hgrm}.
     * @param tag  e.g. {@code varve}.
     * @return the file beside it with the tag before the extension: {@code run-varve.hgrm} ({@code run-varve} for a
     * name without one).
     */
    static Path beside(final Path file, final String tag)
    {
        final String name = file.getFileName().toString();
        final int dot = name.lastIndexOf('.');
        final String tagged = dot > 0 ? name.substring(0, dot) + "-" + tag + name.substring(dot) : name + "-" + tag;
        return file.resolveSibling(tagged);
    }

    private static void createParent(final Path file) throws IOException
    {
        final Path parent = file.toAbsolutePath().getParent();
        if (parent != null)
        {
            Files.createDirectories(parent);
        }
    }

    private static void deleteTree(final Path dir)
    {
        try (Stream<Path> tree = Files.walk(dir))
        {
            for (final Path path : (Iterable<Path>)tree.sorted(Comparator.reverseOrder())::iterator)
            {
                Files.delete(path);
            }
        }
        catch (final IOException ex)
        {
            throw new UncheckedIOException("cannot delete the temporary store " + dir + ": " + ex.getMessage(), ex);
        }
    }

    /**
     * One system's run.
     */
    private record Measured(String system, FixedRateRun.Result result, VarveTarget.DeliveryProbe probe)
    {
        Histogram histogram(final boolean corrected)
        {
            return corrected ? result.corrected() : result.service();
        }
    }
}
