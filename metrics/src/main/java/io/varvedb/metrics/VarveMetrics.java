package io.varvedb.metrics;

import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tag;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.TimeGauge;
import io.micrometer.core.instrument.binder.BaseUnits;
import io.micrometer.core.instrument.binder.MeterBinder;
import io.varvedb.VarveDB;
import io.varvedb.counters.AppendLatency;
import io.varvedb.counters.Counter;
import io.varvedb.counters.CounterType;
import io.varvedb.counters.ProcessCounters;

import java.nio.file.Path;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantLock;

/**
 * A store's live counters ({@code varve.counters}) as Micrometer meters. One line in a service:
 * <pre>{@code
 * new VarveMetrics(db).bindTo(registry);
 * }</pre>
 * Each {@link CounterType} becomes a meter named {@code varve.} and its {@link CounterType#metricName()} with dots
 * ({@code varve.appends}, {@code varve.durable.lag}, ...): a {@link FunctionCounter} for a count, a {@link Gauge} for
 * a level ({@link CounterType#isGauge()}), with the type's description, and the tags given here plus {@code store}
 * (the store directory's name). A type counted several times in a process (one counter per appender, say) reads
 * their sum. Base units where there is one: bytes ({@code varve.appended.bytes}, {@code varve.durable.lag},
 * {@code varve.processor.lag}) and time ({@code varve.force.time} in seconds, {@code varve.open.time} and the append
 * latencies as {@link TimeGauge}s); the rest are plain counts.
 * <p>
 * Counters that belong to something that comes and goes carry a tag that names it: {@code varve.subscription.position}
 * and {@code varve.subscription.lag} ({@code subscription}, as the store labels it: its number in this instance and
 * what it follows, {@code 3 (all)} or {@code 4 (stream 7)}), {@code varve.processor.position}, {@code .lag} and
 * {@code .checkpoints} ({@code processor}, its name) and {@code varve.errors} ({@code kind}, the exception's simple
 * name). They are registered when a refresh first sees them and removed when a refresh no longer does, so
 * subscriptions and processors made after {@code bindTo}, and new kinds of error, show up.
 * <p>
 * Append latency, when the store records it ({@code VarveConfig.Builder.recordAppendLatency}): the time gauge
 * {@code varve.append.latency} with a {@code quantile} tag ({@code 0.5}, {@code 0.99}, {@code 0.999}), and
 * {@code varve.append.latency.max}, over every append since the store was opened, as of the store's last
 * publication of its histogram (about once a second). It appears a second or so after the first append.
 * <p>
 * Reading: every meter reads one snapshot of the counters ({@code VarveDB.counters()}), shared by the meters of a
 * scrape: a meter read takes a new snapshot when the current one is older than 100 ms or has already answered that
 * meter (the next scrape has begun), so a scrape costs one snapshot, not one per meter. That new snapshot is also
 * when tagged meters are added and removed: with a registry of your own, a subscription made after {@code bindTo}
 * shows from the scrape after the one that first saw it (call {@link #refresh()} before a scrape to have it in that
 * one; {@link VarvePrometheus} does).
 * <p>
 * With counters off ({@code VarveConfig.Builder.counters(false)}, or a store that could not make its counters file)
 * {@link #bindTo} registers nothing, and does not fail. Once the store is closed, the next refresh removes its meters.
 * {@link #close()} removes them at once from every registry this was bound to.
 * <p>
 * {@link #ofStore(Path, Iterable)} reads a store that other processes have open, from its counters file, every
 * running instance with the tags {@code pid} and {@code role}.
 * <p>
 * Thread-safe. Meters never block on each other: one that finds a refresh under way reads the snapshot before it.
 */
public final class VarveMetrics implements MeterBinder, AutoCloseable
{
    /** The prefix of every meter's name. */
    public static final String PREFIX = "varve.";
    /** A snapshot older than this is replaced on the next read of a meter. */
    static final long MAX_AGE_NANOS = TimeUnit.MILLISECONDS.toNanos(100);

    private static final double[] QUANTILES = { 0.5, 0.99, 0.999 };

    private final CounterSource source;
    private final Tags tags;
    private final List<Binding> bindings = new CopyOnWriteArrayList<>();
    private final ReentrantLock refreshLock = new ReentrantLock();
    private volatile Reading current;
    private boolean closed;

    /**
     * Meters for a store open in this process, tagged with {@code store} (its directory's name).
     *
     * @param db the store.
     */
    public VarveMetrics(final VarveDB db)
    {
        this(db, Tags.empty());
    }

    /**
     * Meters for a store open in this process.
     *
     * @param db   the store.
     * @param tags tags for every meter, besides {@code store} (the directory's name; a {@code store} tag here wins).
     */
    public VarveMetrics(final VarveDB db, final Iterable<Tag> tags)
    {
        this(new CounterSource.InProcess(db), storeTags(db.directory(), tags));
    }

    private VarveMetrics(final CounterSource source, final Tags tags)
    {
        this.source = source;
        this.tags = tags;
    }

    /**
     * Meters for a store that other processes have open, read from its counters file ({@code VarveCounters}):
     * each running instance's counters, tagged with its {@code pid} and {@code role} ({@code writer},
     * {@code shared-writer} or {@code reader}). Instances that closed or died are left out. The gauge
     * {@code varve.processes} counts the running instances; it is there even while none is, so a registry of your
     * own sees an instance that starts later. The file is mapped on the first refresh that finds it; close this to
     * unmap it.
     *
     * @param directory the store's directory.
     * @param tags      tags for every meter, besides {@code store} (the directory's name).
     * @return the binder.
     */
    public static VarveMetrics ofStore(final Path directory, final Iterable<Tag> tags)
    {
        return new VarveMetrics(new CounterSource.CountersFile(directory), storeTags(directory, tags));
    }

    /**
     * {@link #ofStore(Path, Iterable)} without tags of your own.
     *
     * @param directory the store's directory.
     * @return the binder.
     */
    public static VarveMetrics ofStore(final Path directory)
    {
        return ofStore(directory, Tags.empty());
    }

    private static Tags storeTags(final Path directory, final Iterable<Tag> tags)
    {
        final Path absolute = directory.toAbsolutePath().normalize();
        final Path name = absolute.getFileName();
        return Tags.of("store", name == null ? absolute.toString() : name.toString()).and(tags);
    }

    /**
     * Register this store's meters with a registry (more than one registry is fine).
     *
     * @param registry the registry.
     */
    @Override
    public void bindTo(final MeterRegistry registry)
    {
        refreshLock.lock();
        try
        {
            if (closed)
            {
                throw new IllegalStateException("closed: " + this);
            }
            if (!source.available())
            {
                // counters off: nothing to show, and nothing will be
                return;
            }
            final Binding binding = new Binding(registry);
            bindings.add(binding);
            if (source.anchored())
            {
                binding.anchor = Gauge.builder(PREFIX + "processes", this, (ignored) -> processes())
                    .description("store instances running with counters").tags(tags).strongReference(true)
                    .register(registry);
            }
            final Reading reading = read();
            binding.sync(reading.values);
            // not kept as the current snapshot: the first read after binding reads the counters as they are then
        }
        finally
        {
            refreshLock.unlock();
        }
    }

    /**
     * Remove this store's meters from one registry, and stop keeping them there.
     *
     * @param registry a registry it was bound to.
     */
    void unbind(final MeterRegistry registry)
    {
        refreshLock.lock();
        try
        {
            for (final Binding binding : bindings)
            {
                if (binding.registry == registry)
                {
                    binding.removeAll();
                    bindings.remove(binding);
                }
            }
        }
        finally
        {
            refreshLock.unlock();
        }
    }

    /**
     * Read the counters now: the snapshot the next reads of the meters answer from (up to 100 ms, once each), and
     * the tagged meters registered and removed to match it. {@link VarvePrometheus} calls it before each scrape.
     */
    public void refresh()
    {
        refreshLock.lock();
        try
        {
            if (!closed && !bindings.isEmpty())
            {
                install(read());
            }
        }
        finally
        {
            refreshLock.unlock();
        }
    }

    /**
     * Remove every meter this registered, from every registry, and let go of the counters file (for
     * {@link #ofStore}). The store itself is not touched.
     */
    @Override
    public void close()
    {
        refreshLock.lock();
        try
        {
            if (closed)
            {
                return;
            }
            closed = true;
            for (final Binding binding : bindings)
            {
                binding.removeAll();
            }
            bindings.clear();
            current = null;
            source.close();
        }
        finally
        {
            refreshLock.unlock();
        }
    }

    /**
     * @return the tags every meter has.
     */
    public Tags tags()
    {
        return tags;
    }

    @Override
    public String toString()
    {
        return "VarveMetrics{" + source + ", " + tags + "}";
    }

    // ------------------------------------------------------------------------------------------------- reading

    /** A meter's value: from the current snapshot, or a new one if that one is stale or has answered it already. */
    private double value(final Key key)
    {
        Reading reading = current;
        if (reading == null || System.nanoTime() - reading.takenAtNanos > MAX_AGE_NANOS || !reading.answer(key))
        {
            final Reading fresh = tryRefresh(reading);
            if (fresh != reading)
            {
                reading = fresh;
                reading.answer(key);
            }
        }
        if (reading == null)
        {
            return Double.NaN;
        }
        final Sample sample = reading.values.get(key);
        return sample == null ? Double.NaN : sample.value;
    }

    private double processes()
    {
        value(Key.PROCESSES);
        final Reading reading = current;
        return reading == null ? Double.NaN : reading.processes;
    }

    /** A new snapshot, unless another thread is taking one: then the one there is (never waits, so never deadlocks). */
    private Reading tryRefresh(final Reading seen)
    {
        if (!refreshLock.tryLock())
        {
            return current;
        }
        try
        {
            if (closed)
            {
                return seen;
            }
            if (current != seen)
            {
                return current;
            }
            return install(read());
        }
        finally
        {
            refreshLock.unlock();
        }
    }

    private Reading install(final Reading reading)
    {
        if (reading.unchanged)
        {
            return current;
        }
        current = reading;
        for (final Binding binding : bindings)
        {
            binding.sync(reading.values);
        }
        return reading;
    }

    /** Read the counters, into one sample per meter. Under the refresh lock. */
    private Reading read()
    {
        final List<ProcessCounters> processes = source.read();
        if (processes == null)
        {
            // a torn read of our own region: keep what we had
            final Reading previous = current;
            return previous != null ? previous.keep() : new Reading(new LinkedHashMap<>(), 0);
        }
        final Map<Key, Sample> values = new LinkedHashMap<>();
        for (final ProcessCounters process : processes)
        {
            final Tags processTags = source.tagsProcesses() ?
                tags.and("pid", Long.toString(process.pid()), "role", process.role()) : tags;
            sample(process, processTags, values);
        }
        return new Reading(values, processes.size());
    }

    private static void sample(final ProcessCounters process, final Tags processTags, final Map<Key, Sample> values)
    {
        final Map<CounterType, Double> totals = new HashMap<>();
        for (final Counter counter : process.counters())
        {
            final CounterType type = counter.type();
            if (type == null)
            {
                // a type a newer build wrote
                continue;
            }
            final String tagName = tagName(type);
            if (tagName == null)
            {
                totals.merge(type, (double)counter.value(), Double::sum);
            }
            else
            {
                final Key key = new Key(name(type), processTags.and(tagName, tagValue(type, counter.label())));
                values.merge(key, new Sample(Spec.of(type), counter.value()), Sample::plus);
            }
        }
        // every type that is not tagged: a meter each, present from the start (zero until counted)
        for (final CounterType type : CounterType.values())
        {
            if (tagName(type) == null)
            {
                values.put(new Key(name(type), processTags),
                    new Sample(Spec.of(type), totals.getOrDefault(type, 0.0)));
            }
        }
        final AppendLatency latency = process.appendLatency();
        if (latency != null)
        {
            final Map<Key, Sample> latencies = new LinkedHashMap<>();
            try
            {
                for (final double quantile : QUANTILES)
                {
                    latencies.put(new Key(PREFIX + "append.latency",
                        processTags.and("quantile", Double.toString(quantile))),
                        new Sample(Spec.LATENCY, latency.valueAtPercentile(quantile * 100)));
                }
                latencies.put(new Key(PREFIX + "append.latency.max", processTags),
                    new Sample(Spec.LATENCY_MAX, latency.max()));
                values.putAll(latencies);
            }
            catch (final RuntimeException | LinkageError ex)
            {
                // a histogram that cannot be decoded (damaged, or another process's and no HdrHistogram here): left out
            }
        }
    }

    /**
     * @param type a type.
     * @return the meter's name: {@code varve.} and the metric name with dots.
     */
    static String name(final CounterType type)
    {
        return PREFIX + type.metricName().replace('_', '.');
    }

    /** The tag that names what a counter of this type belongs to; null for a type summed over the process. */
    static String tagName(final CounterType type)
    {
        switch (type)
        {
            case SUBSCRIPTION_POSITION:
            case SUBSCRIPTION_LAG:
                return "subscription";
            case PROCESSOR_POSITION:
            case PROCESSOR_LAG:
            case PROCESSOR_CHECKPOINTS:
                return "processor";
            case ERRORS:
                return "kind";
            default:
                return null;
        }
    }

    /**
     * The tag's value from a counter's label ({@code subscription 3 (all) position}, {@code processor billing lag},
     * {@code errors: EventTooLargeException}): without the words that the meter's name says already. A label of
     * another shape is taken whole.
     */
    static String tagValue(final CounterType type, final String label)
    {
        String value = label;
        final String prefix;
        final String suffix;
        switch (type)
        {
            case SUBSCRIPTION_POSITION:
                prefix = "subscription ";
                suffix = " position";
                break;
            case SUBSCRIPTION_LAG:
                prefix = "subscription ";
                suffix = " lag";
                break;
            case PROCESSOR_POSITION:
                prefix = "processor ";
                suffix = " position";
                break;
            case PROCESSOR_LAG:
                prefix = "processor ";
                suffix = " lag";
                break;
            case PROCESSOR_CHECKPOINTS:
                prefix = "processor ";
                suffix = " checkpoints";
                break;
            case ERRORS:
                prefix = "errors: ";
                suffix = "";
                break;
            default:
                return label;
        }
        if (value.startsWith(prefix) && value.length() > prefix.length() + suffix.length())
        {
            value = value.substring(prefix.length());
        }
        if (!suffix.isEmpty() && value.endsWith(suffix) && value.length() > suffix.length())
        {
            value = value.substring(0, value.length() - suffix.length());
        }
        return value;
    }

    // ------------------------------------------------------------------------------------------------- model

    /** A meter: its name and all its tags. */
    static final class Key
    {
        static final Key PROCESSES = new Key(PREFIX + "processes", Tags.empty());

        final String name;
        final Tags tags;

        Key(final String name, final Tags tags)
        {
            this.name = name;
            this.tags = tags;
        }

        @Override
        public boolean equals(final Object other)
        {
            return other instanceof Key && ((Key)other).name.equals(name) && ((Key)other).tags.equals(tags);
        }

        @Override
        public int hashCode()
        {
            return name.hashCode() * 31 + tags.hashCode();
        }

        @Override
        public String toString()
        {
            return name + tags;
        }
    }

    /** How a meter is made, and how its counter's value becomes the meter's. */
    enum Kind
    {
        COUNTER, GAUGE, TIME_GAUGE
    }

    static final class Spec
    {
        static final Spec LATENCY = new Spec(Kind.TIME_GAUGE, "append latency since the store was opened, at a quantile",
            null, TimeUnit.NANOSECONDS, 1);
        static final Spec LATENCY_MAX = new Spec(Kind.TIME_GAUGE, "longest append since the store was opened", null,
            TimeUnit.NANOSECONDS, 1);
        private static final Map<CounterType, Spec> BY_TYPE = new HashMap<>();

        static
        {
            for (final CounterType type : CounterType.values())
            {
                BY_TYPE.put(type, make(type));
            }
        }

        final Kind kind;
        final String description;
        final String baseUnit;
        final TimeUnit timeUnit;
        final double scale;

        private Spec(final Kind kind, final String description, final String baseUnit, final TimeUnit timeUnit,
            final double scale)
        {
            this.kind = kind;
            this.description = description;
            this.baseUnit = baseUnit;
            this.timeUnit = timeUnit;
            this.scale = scale;
        }

        static Spec of(final CounterType type)
        {
            return BY_TYPE.get(type);
        }

        private static Spec make(final CounterType type)
        {
            final Kind kind = type.isGauge() ? Kind.GAUGE : Kind.COUNTER;
            switch (type)
            {
                case FORCE_NANOS:
                    // a count of time: seconds, Prometheus's base unit (a FunctionCounter has no time unit of its own)
                    return new Spec(kind, type.description(), "seconds", null, 1e-9);
                case OPEN_MILLIS:
                    return new Spec(Kind.TIME_GAUGE, type.description(), null, TimeUnit.MILLISECONDS, 1);
                default:
                    return new Spec(kind, type.description(), "bytes".equals(type.unit()) ? BaseUnits.BYTES : null,
                        null, 1);
            }
        }
    }

    /** A meter's value in one snapshot. */
    static final class Sample
    {
        final Spec spec;
        final double value;

        /**
         * @param spec  the meter's.
         * @param value the counter's value, in the counter's unit (scaled here to the meter's).
         */
        Sample(final Spec spec, final double value)
        {
            this.spec = spec;
            this.value = value * spec.scale;
        }

        /** Two counters of one meter (two processors of one name, say): their sum. */
        Sample plus(final Sample other)
        {
            return new Sample(spec, (value + other.value) / spec.scale);
        }
    }

    /** One snapshot of the counters, as samples, and which meters it has answered. */
    static final class Reading
    {
        final Map<Key, Sample> values;
        final int processes;
        final long takenAtNanos = System.nanoTime();
        final boolean unchanged;
        private final Set<Key> answered = ConcurrentHashMap.newKeySet();

        Reading(final Map<Key, Sample> values, final int processes)
        {
            this(values, processes, false);
        }

        private Reading(final Map<Key, Sample> values, final int processes, final boolean unchanged)
        {
            this.values = values;
            this.processes = processes;
            this.unchanged = unchanged;
        }

        /** The same values, for a refresh that could not read (nothing to register or remove). */
        Reading keep()
        {
            return new Reading(values, processes, true);
        }

        /** @return false if it answered this meter already. */
        boolean answer(final Key key)
        {
            return answered.add(key);
        }
    }

    /** The meters registered with one registry. Changed under the refresh lock only. */
    private final class Binding
    {
        private final MeterRegistry registry;
        private final Map<Key, Meter> meters = new HashMap<>();
        private Meter anchor;

        Binding(final MeterRegistry registry)
        {
            this.registry = registry;
        }

        void sync(final Map<Key, Sample> values)
        {
            for (final Iterator<Map.Entry<Key, Meter>> it = meters.entrySet().iterator(); it.hasNext(); )
            {
                final Map.Entry<Key, Meter> entry = it.next();
                if (!values.containsKey(entry.getKey()))
                {
                    registry.remove(entry.getValue());
                    it.remove();
                }
            }
            for (final Map.Entry<Key, Sample> entry : values.entrySet())
            {
                if (!meters.containsKey(entry.getKey()))
                {
                    meters.put(entry.getKey(), register(entry.getKey(), entry.getValue().spec));
                }
            }
        }

        /**
         * The value functions capture this VarveMetrics: Micrometer holds a function counter's object weakly, and
         * its function strongly, so the binder lives as long as a registry has its meters.
         */
        private Meter register(final Key key, final Spec spec)
        {
            final VarveMetrics metrics = VarveMetrics.this;
            switch (spec.kind)
            {
                case COUNTER:
                    return FunctionCounter.builder(key.name, metrics, (ignored) -> metrics.value(key))
                        .tags(key.tags).description(spec.description).baseUnit(spec.baseUnit).register(registry);
                case GAUGE:
                    return Gauge.builder(key.name, metrics, (ignored) -> metrics.value(key))
                        .tags(key.tags).description(spec.description).baseUnit(spec.baseUnit).strongReference(true)
                        .register(registry);
                default:
                    return TimeGauge.builder(key.name, metrics, spec.timeUnit, (ignored) -> metrics.value(key))
                        .tags(key.tags).description(spec.description).strongReference(true).register(registry);
            }
        }

        void removeAll()
        {
            for (final Meter meter : meters.values())
            {
                registry.remove(meter);
            }
            meters.clear();
            if (anchor != null)
            {
                registry.remove(anchor);
                anchor = null;
            }
        }
    }
}
