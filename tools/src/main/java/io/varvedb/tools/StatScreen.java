package io.varvedb.tools;

import io.varvedb.counters.AppendLatency;
import io.varvedb.counters.Counter;
import io.varvedb.counters.CounterType;
import io.varvedb.counters.CountersSnapshot;
import io.varvedb.counters.ProcessCounters;
import io.varvedb.counters.ProcessState;
import org.HdrHistogram.Histogram;

import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.zip.DataFormatException;

/**
 * One screen of {@code varve stat}: the counters of a snapshot of {@code varve.counters}, summed by type, with
 * rates per second against the previous snapshot; what both the text and the JSON output print.
 * <p>
 * Rates: a count's rate is its increase since the previous snapshot over the time between the two. An instance
 * that was not in the previous snapshot opened since, so its counts all fall in the interval (from 0); so does a
 * counter new to its instance. A count never goes down while its instance is open (a finished appender's counters
 * pass, counts and all, to the next one); should one still, the rate shows 0, never a negative one. Levels
 * (gauges) have no rate.
 */
final class StatScreen
{
    /** Types listed per subscription or processor (by label), not summed into the table of types. */
    static final Set<CounterType> PER_LABEL = EnumSet.of(
        CounterType.SUBSCRIPTION_POSITION, CounterType.SUBSCRIPTION_LAG, CounterType.PROCESSOR_POSITION,
        CounterType.PROCESSOR_LAG, CounterType.PROCESSOR_CHECKPOINTS);

    private static final double NANOS_PER_SECOND = 1e9;
    private static final String ERROR_PREFIX = "errors: ";
    private static final String[] POSITION_SUFFIXES = {" position", " lag", " checkpoints"};

    /** The store's directory. */
    final Path directory;
    /** When the snapshot was taken, epoch milliseconds. */
    final long takenAtMillis;
    /** Seconds since the previous snapshot; null on the first, which has no rates. */
    final Double seconds;
    /** True if an instance has the store open now. */
    final boolean anyRunning;
    /** True if every instance is shown (none running, or --all); else only the running ones. */
    final boolean allShown;
    /** Every instance in the file, in region order. */
    final List<ProcessView> processes;
    /** The instances shown with their counters: the running ones, or all of them (see {@link #allShown}). */
    final List<ProcessView> shown;
    /** The sum over {@link #shown}. */
    final Totals total;

    private StatScreen(
        final Path directory, final long takenAtMillis, final Double seconds, final boolean anyRunning,
        final boolean allShown, final List<ProcessView> processes, final List<ProcessView> shown, final Totals total)
    {
        this.directory = directory;
        this.takenAtMillis = takenAtMillis;
        this.seconds = seconds;
        this.anyRunning = anyRunning;
        this.allShown = allShown;
        this.processes = processes;
        this.shown = shown;
        this.total = total;
    }

    /**
     * @param directory the store's directory.
     * @param now       the snapshot to show.
     * @param previous  the snapshot before, for rates; null for none.
     * @param all       show every instance, not only the running ones.
     * @return the screen.
     */
    static StatScreen of(
        final Path directory, final CountersSnapshot now, final CountersSnapshot previous, final boolean all)
    {
        final Double seconds = previous == null ? null :
            Math.max(1, now.takenAtNanos() - previous.takenAtNanos()) / NANOS_PER_SECOND;
        final Map<ProcessKey, ProcessCounters> before = new HashMap<>();
        if (previous != null)
        {
            for (final ProcessCounters process : previous.processes())
            {
                before.put(ProcessKey.of(process), process);
            }
        }
        final boolean anyRunning = now.anyRunning();
        final boolean allShown = all || !anyRunning;
        final List<ProcessView> processes = new ArrayList<>();
        final List<ProcessView> shown = new ArrayList<>();
        for (final ProcessCounters process : now.processes())
        {
            final ProcessView view = new ProcessView(process, before.get(ProcessKey.of(process)), seconds);
            processes.add(view);
            if (allShown || process.state() == ProcessState.RUNNING)
            {
                shown.add(view);
            }
        }
        return new StatScreen(directory, now.takenAtMillis(), seconds, anyRunning, allShown, processes, shown,
            new Totals(shown));
    }

    /**
     * @param before the value in the previous snapshot; null if unknown (no previous snapshot).
     * @return the rate per second, or null if there is none to give.
     */
    private static Double rate(final Long before, final long now, final Double seconds, final boolean gauge)
    {
        if (gauge || seconds == null || before == null)
        {
            return null;
        }
        return Math.max(0, now - before) / seconds;
    }

    private static Double sum(final Double a, final Double b)
    {
        if (a == null)
        {
            return b;
        }
        return b == null ? a : Double.valueOf(a + b);
    }

    /**
     * Identifies one instance across snapshots: the region it holds, its pid and its open time (a region is
     * reused by later instances).
     */
    private record ProcessKey(int region, long pid, long openedAtMillis)
    {
        static ProcessKey of(final ProcessCounters process)
        {
            return new ProcessKey(process.region(), process.pid(), process.openedAtMillis());
        }
    }

    /**
     * Identifies one counter of an instance across snapshots (an id is reused once its counter is freed).
     */
    private record CounterKey(int id, int typeId, String label)
    {
        static CounterKey of(final Counter counter)
        {
            return new CounterKey(counter.id(), counter.typeId(), counter.label());
        }
    }

    /**
     * One row of a table: a type's sum, or one counter by label.
     *
     * @param name  the type's metric name, or the label.
     * @param unit  what it counts in.
     * @param value its value.
     * @param rate  per second; null on the first screen, and for levels.
     * @param gauge true for a level (no rate).
     */
    record Row(String name, String unit, long value, Double rate, boolean gauge)
    {
    }

    /**
     * One counter as stored, for the JSON.
     *
     * @param type   its type, or null for a type this build does not know.
     * @param typeId its type id.
     * @param label  its label.
     * @param value  its value.
     * @param rate   per second, or null.
     */
    record CounterView(CounterType type, int typeId, String label, long value, Double rate)
    {
    }

    /**
     * A subscription or a processor: its position, lag and (a processor) checkpoints.
     *
     * @param name            {@code subscription 1 (all)}, {@code subscription 2 (stream 7)}, {@code processor billing}.
     * @param processor       true for a processor.
     * @param position        its position (log position, or a stream subscription's next version).
     * @param lag             how far behind it is (log bytes, or events of its stream).
     * @param checkpoints     a processor's checkpoints; null for a subscription.
     * @param checkpointRate  checkpoints per second, or null.
     */
    record PositionRow(String name, boolean processor, Long position, Long lag, Long checkpoints,
        Double checkpointRate)
    {
    }

    /**
     * Append latency percentiles, in nanoseconds.
     *
     * @param count             appends recorded.
     * @param p50               median.
     * @param p90               90th percentile.
     * @param p99               99th percentile.
     * @param p999              99.9th percentile.
     * @param max               the longest.
     * @param mean              the mean.
     * @param publishedAtMillis when the instance published it (0 for a sum over instances).
     */
    record Latency(long count, long p50, long p90, long p99, long p999, long max, double mean,
        long publishedAtMillis)
    {
        static Latency of(final Histogram histogram, final long publishedAtMillis)
        {
            return new Latency(histogram.getTotalCount(), histogram.getValueAtPercentile(50),
                histogram.getValueAtPercentile(90), histogram.getValueAtPercentile(99),
                histogram.getValueAtPercentile(99.9), histogram.getMaxValue(), histogram.getMean(),
                publishedAtMillis);
        }
    }

    /**
     * @return the histogram, or null if there is none or it cannot be decoded.
     */
    private static Histogram decode(final AppendLatency latency)
    {
        if (latency == null)
        {
            return null;
        }
        try
        {
            return Histogram.decodeFromCompressedByteBuffer(ByteBuffer.wrap(latency.encoded()), 0);
        }
        catch (final DataFormatException | RuntimeException ex)
        {
            return null;
        }
    }

    private static Latency latency(final Histogram histogram, final long publishedAtMillis)
    {
        return histogram == null ? null : Latency.of(histogram, publishedAtMillis);
    }

    /**
     * One instance's counters as shown.
     */
    static final class ProcessView
    {
        /** What was read. */
        final ProcessCounters process;
        /** One row per type, its counters summed, in the order of {@link CounterType}; not {@link #PER_LABEL}. */
        final List<Row> types = new ArrayList<>();
        /** Each type's sum and rate, by type (every type it has counters of, {@link #PER_LABEL} too). */
        final Map<CounterType, Row> byType = new LinkedHashMap<>();
        /** Subscriptions and processors, one row each. */
        final List<PositionRow> positions = new ArrayList<>();
        /** Errors, one row per kind. */
        final List<Row> errors = new ArrayList<>();
        /** Counters of types this build does not know, by label. */
        final List<Row> unknown = new ArrayList<>();
        /** Every counter as stored. */
        final List<CounterView> counters = new ArrayList<>();
        /** Append latency since it opened, or null. */
        final Latency latency;
        /** Append latency over its last publication period (about a second), or null. */
        final Latency intervalLatency;
        final Histogram latencyHistogram;
        final Histogram intervalHistogram;

        ProcessView(final ProcessCounters process, final ProcessCounters before, final Double seconds)
        {
            this.process = process;
            // an instance missing from the previous snapshot opened since: its counts started at 0 in between
            final boolean known = seconds != null;
            final Map<CounterKey, Long> previous = new HashMap<>();
            if (before != null)
            {
                for (final Counter counter : before.counters())
                {
                    previous.put(CounterKey.of(counter), counter.value());
                }
            }
            for (final Counter counter : process.counters())
            {
                final CounterType type = counter.type();
                final Long was = known ? previous.getOrDefault(CounterKey.of(counter), 0L) : null;
                final Double rate = rate(was, counter.value(), seconds, type != null && type.isGauge());
                counters.add(new CounterView(type, counter.typeId(), counter.label(), counter.value(), rate));
                if (type == null)
                {
                    unknown.add(new Row(counter.label() + " (type " + counter.typeId() + ")", "", counter.value(),
                        rate, false));
                }
                else if (type == CounterType.ERRORS)
                {
                    final String label = counter.label();
                    errors.add(new Row(label.startsWith(ERROR_PREFIX) ? label.substring(ERROR_PREFIX.length()) :
                        label, type.unit(), counter.value(), rate, false));
                }
            }
            for (final CounterType type : CounterType.values())
            {
                if (process.counters(type).isEmpty())
                {
                    continue;
                }
                final Long was = known ? (before == null ? 0L : before.total(type)) : null;
                final Row row = new Row(type.metricName(), type.unit(), process.total(type),
                    rate(was, process.total(type), seconds, type.isGauge()), type.isGauge());
                byType.put(type, row);
                if (!PER_LABEL.contains(type))
                {
                    types.add(row);
                }
            }
            positions(process, previous, known, seconds);
            latencyHistogram = decode(process.appendLatency());
            intervalHistogram = decode(process.intervalAppendLatency());
            latency = latency(latencyHistogram,
                process.appendLatency() == null ? 0 : process.appendLatency().publishedAtMillis());
            intervalLatency = latency(intervalHistogram,
                process.intervalAppendLatency() == null ? 0 : process.intervalAppendLatency().publishedAtMillis());
        }

        /**
         * Pair each subscription's and processor's counters by their label, less the suffix that says which of
         * its counters it is ({@code "subscription 1 (all) position"}).
         */
        private void positions(
            final ProcessCounters process, final Map<CounterKey, Long> previous, final boolean known,
            final Double seconds)
        {
            final Map<String, long[]> values = new LinkedHashMap<>();
            final Map<String, Boolean> processors = new HashMap<>();
            final Map<String, Double> checkpointRates = new HashMap<>();
            for (final Counter counter : process.counters())
            {
                final CounterType type = counter.type();
                if (type == null || !PER_LABEL.contains(type))
                {
                    continue;
                }
                final int slot = type == CounterType.SUBSCRIPTION_POSITION || type == CounterType.PROCESSOR_POSITION ?
                    0 : type == CounterType.PROCESSOR_CHECKPOINTS ? 2 : 1;
                String name = counter.label();
                if (name.endsWith(POSITION_SUFFIXES[slot]))
                {
                    name = name.substring(0, name.length() - POSITION_SUFFIXES[slot].length());
                }
                // a second one of the same name (two processors named alike): a row of its own
                String key = name;
                for (int n = 2; values.containsKey(key) && values.get(key)[slot] != Long.MIN_VALUE; n++)
                {
                    key = name + " #" + n;
                }
                final long[] slots = values.computeIfAbsent(key,
                    (k) -> new long[] {Long.MIN_VALUE, Long.MIN_VALUE, Long.MIN_VALUE});
                slots[slot] = counter.value();
                processors.merge(key, type == CounterType.PROCESSOR_POSITION || type == CounterType.PROCESSOR_LAG ||
                    type == CounterType.PROCESSOR_CHECKPOINTS, Boolean::logicalOr);
                if (slot == 2)
                {
                    checkpointRates.put(key, rate(known ? previous.getOrDefault(CounterKey.of(counter), 0L) : null,
                        counter.value(), seconds, false));
                }
            }
            values.forEach((name, slots) -> positions.add(new PositionRow(name, processors.get(name),
                slots[0] == Long.MIN_VALUE ? null : slots[0], slots[1] == Long.MIN_VALUE ? null : slots[1],
                slots[2] == Long.MIN_VALUE ? null : slots[2], checkpointRates.get(name))));
        }
    }

    /**
     * The sums over the instances shown: counts added up (their rates too), levels (gauges) the largest, errors
     * by kind, and the append latency histograms merged.
     */
    static final class Totals
    {
        /** Instances summed. */
        final int processes;
        /** One row per type, not {@link #PER_LABEL}. */
        final List<Row> types = new ArrayList<>();
        /** Each type's sum and rate, {@link #PER_LABEL} ones too (their sum is of little use: see the processes). */
        final Map<CounterType, Row> byType = new LinkedHashMap<>();
        /** Errors by kind. */
        final List<Row> errors = new ArrayList<>();
        /** Append latency since open, merged over the instances that record it; null if none does. */
        final Latency latency;
        /** Over the instances' last publication periods, merged; null if none. */
        final Latency intervalLatency;

        Totals(final List<ProcessView> shown)
        {
            processes = shown.size();
            for (final CounterType type : CounterType.values())
            {
                Row sum = null;
                for (final ProcessView view : shown)
                {
                    final Row row = view.byType.get(type);
                    if (row == null)
                    {
                        continue;
                    }
                    sum = sum == null ? row : new Row(row.name(), row.unit(),
                        type.isGauge() ? Math.max(sum.value(), row.value()) : sum.value() + row.value(),
                        StatScreen.sum(sum.rate(), row.rate()), row.gauge());
                }
                if (sum != null)
                {
                    byType.put(type, sum);
                    if (!PER_LABEL.contains(type))
                    {
                        types.add(sum);
                    }
                }
            }
            final Map<String, Row> byKind = new LinkedHashMap<>();
            for (final ProcessView view : shown)
            {
                for (final Row row : view.errors)
                {
                    byKind.merge(row.name(), row, (a, b) -> new Row(a.name(), a.unit(), a.value() + b.value(),
                        StatScreen.sum(a.rate(), b.rate()), false));
                }
            }
            errors.addAll(byKind.values());
            latency = merged(shown, false);
            intervalLatency = merged(shown, true);
        }

        private static Latency merged(final List<ProcessView> shown, final boolean interval)
        {
            Histogram merged = null;
            for (final ProcessView view : shown)
            {
                final Histogram histogram = interval ? view.intervalHistogram : view.latencyHistogram;
                if (histogram == null)
                {
                    continue;
                }
                if (merged == null)
                {
                    // auto-resizing: another instance's histogram may reach higher values
                    merged = new Histogram(histogram.getNumberOfSignificantValueDigits());
                }
                merged.add(histogram);
            }
            return latency(merged, 0);
        }
    }
}
