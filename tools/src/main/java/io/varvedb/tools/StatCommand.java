package io.varvedb.tools;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.varvedb.NoStoreException;
import io.varvedb.StoreFormatException;
import io.varvedb.counters.CounterType;
import io.varvedb.counters.CountersSnapshot;
import io.varvedb.counters.ProcessCounters;
import io.varvedb.counters.ProcessState;
import io.varvedb.counters.VarveCounters;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;

/**
 * {@code varve stat DIR}: the live counters of a store, read from {@code varve.counters} beside the processes that
 * have it open (as Aeron's {@code AeronStat} reads Aeron's), refreshed every interval: one table per instance, the
 * counts with their rates per second, subscriptions and processors, errors by kind, append latency.
 * <p>
 * It never opens the store: it maps the counters file read-only, so it neither takes a region of its own nor
 * disturbs the instances it reads, and it works on a store nobody has open (their last values).
 */
@Command(
    name = "stat",
    mixinStandardHelpOptions = true,
    header = "Show a store's live counters (appends, conflicts, forces, lag, errors, latency) with rates, refreshed.",
    description = {
        "Reads varve.counters, which every process with the store open keeps up to date: read-only, beside " +
            "any writer, and on a store nobody has open (each instance's last values). Refreshes every " +
            "--interval until Ctrl-C (on a terminal, in place; otherwise one block per refresh, separated by a " +
            "blank line). One table per running instance (and a TOTAL when there are several): each counter " +
            "type summed over the instance's counters, with its rate per second since the last refresh (counts " +
            "only; levels have none), then its subscriptions and processors, errors by kind, and append " +
            "latency if it records it (VarveConfig recordAppendLatency). When none is running, every " +
            "instance's last values are shown.",
        "",
        "  varve stat DIR                  refresh every second until Ctrl-C",
        "  varve stat DIR --once           one screen, values only",
        "  varve stat DIR --once --rates   one screen with rates (waits one --interval)",
        "  varve stat DIR --json --count 10 --interval 5   ten JSON lines, 5 s apart",
        ""
    })
public final class StatCommand implements Callable<Integer>
{
    private static final double MIN_INTERVAL = 0.01;
    private static final double MAX_INTERVAL = 3600;
    private static final double NANOS_PER_SECOND = 1e9;
    private static final double NANOS_PER_MICRO = 1e3;
    private static final double RATE_INTEGRAL = 100;
    private static final double MICROS_WHOLE = 1000;
    private static final double RATE_ONE_DECIMAL = 10;
    /** Moves the cursor home and clears the terminal. */
    private static final String CLEAR = "\033[H\033[2J";
    private static final DateTimeFormatter TIME =
        DateTimeFormatter.ofPattern("uuuu-MM-dd'T'HH:mm:ss.SSS'Z'", Locale.ROOT).withZone(ZoneOffset.UTC);
    private static final String STATE_GONE = "GONE: exited without closing";

    @Spec
    private CommandSpec spec;

    @Parameters(index = "0", paramLabel = "DIR", description = "The store's directory.")
    private Path directory;

    @Option(names = "--interval", paramLabel = "SECONDS", defaultValue = "1",
        description = "Time between refreshes, and the period of the rates (default: ${DEFAULT-VALUE}).")
    private double interval;

    @Option(names = "--once", description = "Print one screen and exit. Its counts have no rates, unless --rates.")
    private boolean once;

    @Option(names = "--rates", description = "Read the counters one --interval before the first screen, so " +
        "that it has rates too (with --once: one screen with rates).")
    private boolean rates;

    @Option(names = "--count", paramLabel = "N", description = "Exit after N screens (default: until Ctrl-C).")
    private Integer count;

    @Option(names = "--all", description = "Show the counters of every instance in the file: also the closed " +
        "and gone ones' while another is running (by default only the running ones'; the header lists all).")
    private boolean all;

    @Option(names = "--json", description = "One JSON object per screen, one per line (JSON Lines); with " +
        "--once, one JSON document.")
    private boolean json;

    @Override
    public Integer call()
    {
        if (!(interval >= MIN_INTERVAL && interval <= MAX_INTERVAL))
        {
            throw CliException.usage("--interval must be between " + MIN_INTERVAL + " and " + (long)MAX_INTERVAL +
                " seconds, got " + interval);
        }
        if (count != null && count < 1)
        {
            throw CliException.usage("--count must be at least 1, got " + count);
        }
        if (once && count != null && count != 1)
        {
            throw CliException.usage("--once prints one screen; it goes with no --count other than 1");
        }
        final int screens = once ? 1 : count == null ? Integer.MAX_VALUE : count;
        final long intervalNanos = (long)(interval * NANOS_PER_SECOND);
        final Path dir = Stores.requireStore(directory);
        final PrintWriter out = spec.commandLine().getOut();
        // in place on a terminal only: piped or redirected, the escape codes would be noise
        final boolean terminal = !json && !once && System.console() != null;

        try (VarveCounters counters = open(dir))
        {
            long next = System.nanoTime();
            CountersSnapshot previous = null;
            if (rates)
            {
                previous = counters.snapshot();
                next += intervalNanos;
                if (!sleepUntil(next))
                {
                    return ExitCode.OK;
                }
            }
            for (int screen = 0; screen < screens; screen++)
            {
                final CountersSnapshot now = counters.snapshot();
                final StatScreen view = StatScreen.of(dir, now, previous, all);
                if (json)
                {
                    out.println(toJson(view));
                }
                else
                {
                    if (terminal)
                    {
                        out.print(CLEAR);
                    }
                    else if (screen > 0)
                    {
                        out.println();
                    }
                    print(out, view, screens > 1);
                }
                out.flush();
                previous = now;
                if (screen + 1 < screens)
                {
                    next += intervalNanos;
                    if (!sleepUntil(next))
                    {
                        break;
                    }
                }
            }
        }
        return ExitCode.OK;
    }

    private static VarveCounters open(final Path dir)
    {
        try
        {
            return VarveCounters.open(dir);
        }
        catch (final NoStoreException ex)
        {
            throw CliException.store("no counters in " + dir + ": it has no varve.counters (no process has " +
                "opened the store with counters on since they came in; VarveConfig counters(false) turns them off)");
        }
        catch (final StoreFormatException ex)
        {
            throw CliException.store(ex.getMessage());
        }
    }

    /**
     * @return false if interrupted (then the command ends).
     */
    private static boolean sleepUntil(final long deadline)
    {
        long left;
        while ((left = deadline - System.nanoTime()) > 0)
        {
            try
            {
                TimeUnit.NANOSECONDS.sleep(left);
            }
            catch (final InterruptedException ex)
            {
                Thread.currentThread().interrupt();
                return false;
            }
        }
        return true;
    }

    // ------------------------------------------------------------------ text

    private void print(final PrintWriter out, final StatScreen view, final boolean live)
    {
        out.printf(Locale.ROOT, "varve stat %s  %s%s%n", view.directory, time(view.takenAtMillis),
            live ? "  every " + new java.math.BigDecimal(Double.toString(interval)).stripTrailingZeros().toPlainString() + " s" +
                (count == null ? ", Ctrl-C to stop" : "") : "");
        if (view.processes.isEmpty())
        {
            out.println("no instance has counters in varve.counters (none took a region of it)");
            return;
        }
        if (!view.anyRunning)
        {
            out.println("store not open: last values");
        }
        for (final StatScreen.ProcessView process : view.processes)
        {
            final ProcessCounters p = process.process;
            line(out, "  pid %-8d %-14s %-36s opened %s", p.pid(), p.role(), state(p),
                time(p.openedAtMillis()));
        }
        if (view.shown.size() < view.processes.size())
        {
            out.printf(Locale.ROOT, "  (below: the running instance%s; --all adds the last values of the others)%n",
                view.shown.size() == 1 ? "" : "s");
        }
        out.println(view.seconds == null ?
            (once && !rates ? "rates: none with --once (add --rates for them)" : "rates: from the next screen on") :
            String.format(Locale.ROOT, "rates: per second over the last %.2f s", view.seconds));
        for (final StatScreen.ProcessView process : view.shown)
        {
            final ProcessCounters p = process.process;
            out.println();
            out.printf(Locale.ROOT, "pid %d  %s  %s  (region %d)%n", p.pid(), p.role(), state(p), p.region());
            printTypes(out, process.types);
            printPositions(out, process.positions);
            printErrors(out, process.errors);
            if (!process.unknown.isEmpty())
            {
                line(out, "  %-24s %16s %-12s %12s", "counters of a newer build", "value", "",
                    "rate/s");
                printRows(out, process.unknown, false);
            }
            printLatency(out, process.latency, process.intervalLatency);
        }
        if (view.shown.size() > 1)
        {
            final StatScreen.Totals total = view.total;
            out.println();
            out.printf(Locale.ROOT, "TOTAL over %d %sinstances (counts added up, levels the largest)%n",
                total.processes, view.allShown ? "" : "running ");
            printTypes(out, total.types);
            printErrors(out, total.errors);
            printLatency(out, total.latency, total.intervalLatency);
        }
    }

    private static void printTypes(final PrintWriter out, final List<StatScreen.Row> rows)
    {
        line(out, "  %-24s %16s %-12s %12s", "counter", "value", "unit", "rate/s");
        printRows(out, rows, true);
    }

    private static void printRows(final PrintWriter out, final List<StatScreen.Row> rows, final boolean units)
    {
        for (final StatScreen.Row row : rows)
        {
            line(out, "  %-24s %16s %-12s %12s", row.name(), Format.count(row.value()),
                units ? row.unit() : "", row.gauge() ? "" : rate(row.rate()));
        }
    }

    private static void printPositions(final PrintWriter out, final List<StatScreen.PositionRow> rows)
    {
        if (rows.isEmpty())
        {
            return;
        }
        line(out, "  %-24s %16s %14s %11s %8s", "subscriptions, processors", "position", "lag",
            "checkpoints", "rate/s");
        for (final StatScreen.PositionRow row : rows)
        {
            line(out, "  %-24s %16s %14s %11s %8s", row.name(), count(row.position()),
                count(row.lag()), count(row.checkpoints()), row.checkpoints() == null ? "" : rate(row.checkpointRate()));
        }
    }

    private static void printErrors(final PrintWriter out, final List<StatScreen.Row> rows)
    {
        if (rows.isEmpty())
        {
            return;
        }
        line(out, "  %-24s %16s %-12s %12s", "errors by kind", "count", "", "rate/s");
        printRows(out, rows, false);
    }

    private static void printLatency(
        final PrintWriter out, final StatScreen.Latency latency, final StatScreen.Latency interval)
    {
        if (latency == null)
        {
            return;
        }
        line(out, "  %-18s %13s %8s %8s %8s %8s %8s", "append latency (us)", "count", "p50",
            "p90", "p99", "p99.9", "max");
        latencyRow(out, "since open", latency);
        if (interval != null)
        {
            latencyRow(out, "last second", interval);
        }
    }

    private static void latencyRow(final PrintWriter out, final String name, final StatScreen.Latency latency)
    {
        line(out, "  %-18s %13s %8s %8s %8s %8s %8s", name, Format.count(latency.count()),
            micros(latency.p50()), micros(latency.p90()), micros(latency.p99()), micros(latency.p999()),
            micros(latency.max()));
    }

    /**
     * Print one line of a table, without the blanks an empty last column leaves.
     */
    private static void line(final PrintWriter out, final String format, final Object... args)
    {
        out.println(String.format(Locale.ROOT, format, args).stripTrailing());
    }

    /**
     * @return nanoseconds in microseconds: three significant digits, whole with separators from 1,000 on.
     */
    static String micros(final long nanos)
    {
        final double micros = nanos / NANOS_PER_MICRO;
        return micros >= MICROS_WHOLE ? String.format(Locale.ROOT, "%,.0f", micros) : Format.significant(micros);
    }

    private static String count(final Long value)
    {
        return value == null ? "" : Format.count(value);
    }

    /**
     * @return a rate per second: whole above 100, else with one or two decimals; blank if there is none yet.
     */
    static String rate(final Double rate)
    {
        if (rate == null)
        {
            return "";
        }
        if (rate == 0)
        {
            return "0";
        }
        if (rate >= RATE_INTEGRAL)
        {
            return String.format(Locale.ROOT, "%,.0f", rate);
        }
        return String.format(Locale.ROOT, rate >= RATE_ONE_DECIMAL ? "%.1f" : "%.2f", rate);
    }

    private static String state(final ProcessCounters process)
    {
        if (process.state() == ProcessState.CLOSED)
        {
            return "CLOSED at " + time(process.closedAtMillis());
        }
        return process.state() == ProcessState.GONE ? STATE_GONE : process.state().name();
    }

    private static String time(final long epochMillis)
    {
        return TIME.format(Instant.ofEpochMilli(epochMillis));
    }

    // ------------------------------------------------------------------ JSON

    /**
     * @return the screen as one JSON object on one line: every instance with every counter (type, label, value,
     * rate) and its sums by type, and the sums over the instances shown (the running ones, or all).
     */
    static String toJson(final StatScreen view)
    {
        final ObjectMapper mapper = new ObjectMapper().disable(SerializationFeature.INDENT_OUTPUT);
        final ObjectNode root = mapper.createObjectNode()
            .put("store", view.directory.toString())
            .put("at", time(view.takenAtMillis))
            .put("atMillis", view.takenAtMillis)
            .put("running", view.anyRunning);
        putNumber(root, "intervalSeconds", view.seconds);
        final ArrayNode processes = root.putArray("processes");
        for (final StatScreen.ProcessView process : view.processes)
        {
            final ProcessCounters p = process.process;
            final ObjectNode node = processes.addObject()
                .put("pid", p.pid())
                .put("region", p.region())
                .put("role", p.role())
                .put("state", p.state().name())
                .put("openedAt", time(p.openedAtMillis()))
                .put("openedAtMillis", p.openedAtMillis());
            if (p.state() == ProcessState.CLOSED)
            {
                node.put("closedAt", time(p.closedAtMillis())).put("closedAtMillis", p.closedAtMillis());
            }
            else
            {
                node.putNull("closedAt").putNull("closedAtMillis");
            }
            node.put("shown", view.shown.contains(process));
            final ArrayNode counters = node.putArray("counters");
            for (final StatScreen.CounterView counter : process.counters)
            {
                final ObjectNode c = counters.addObject();
                if (counter.type() == null)
                {
                    c.putNull("type");
                }
                else
                {
                    c.put("type", counter.type().metricName());
                }
                c.put("typeId", counter.typeId()).put("label", counter.label()).put("value", counter.value());
                putNumber(c, "rate", counter.rate());
            }
            putTotals(node.putObject("totals"), process.byType);
            putErrors(node.putObject("errors"), process.errors);
            putLatency(node, "appendLatency", process.latency);
            putLatency(node, "intervalAppendLatency", process.intervalLatency);
        }
        final ObjectNode total = root.putObject("total")
            .put("over", view.allShown ? "all" : "running")
            .put("processes", view.total.processes);
        putTotals(total.putObject("totals"), view.total.byType);
        putErrors(total.putObject("errors"), view.total.errors);
        putLatency(total, "appendLatency", view.total.latency);
        putLatency(total, "intervalAppendLatency", view.total.intervalLatency);
        try
        {
            return mapper.writeValueAsString(root);
        }
        catch (final JsonProcessingException ex)
        {
            throw new IllegalStateException("cannot write the counters as JSON", ex);
        }
    }

    private static void putTotals(final ObjectNode node, final Map<CounterType, StatScreen.Row> byType)
    {
        byType.forEach((type, row) ->
        {
            final ObjectNode t = node.putObject(type.metricName())
                .put("value", row.value())
                .put("unit", type.unit())
                .put("gauge", type.isGauge());
            putNumber(t, "rate", row.rate());
        });
    }

    private static void putErrors(final ObjectNode node, final List<StatScreen.Row> errors)
    {
        for (final StatScreen.Row row : errors)
        {
            putNumber(node.putObject(row.name()).put("value", row.value()), "rate", row.rate());
        }
    }

    private static void putLatency(final ObjectNode node, final String name, final StatScreen.Latency latency)
    {
        if (latency == null)
        {
            node.putNull(name);
            return;
        }
        final ObjectNode l = node.putObject(name)
            .put("unit", "ns")
            .put("count", latency.count())
            .put("p50", latency.p50())
            .put("p90", latency.p90())
            .put("p99", latency.p99())
            .put("p99_9", latency.p999())
            .put("max", latency.max())
            .put("mean", latency.mean());
        if (latency.publishedAtMillis() != 0)
        {
            l.put("publishedAt", time(latency.publishedAtMillis()));
        }
    }

    private static void putNumber(final ObjectNode node, final String name, final Double value)
    {
        if (value == null)
        {
            node.putNull(name);
        }
        else
        {
            node.put(name, value.doubleValue());
        }
    }
}
