package io.varvedb.kafka.bench;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import java.util.stream.Stream;

import io.varvedb.Appender;
import io.varvedb.ExpectedVersion;
import io.varvedb.VarveConfig;
import io.varvedb.VarveDB;
import io.varvedb.kafka.KafkaPublisher;
import io.varvedb.kafka.KafkaRecordFormat;
import io.varvedb.kafka.KafkaReplica;
import org.HdrHistogram.Histogram;
import org.agrona.concurrent.OffsetEpochNanoClock;
import org.apache.kafka.clients.producer.Callback;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.utils.internals.AppInfoParser;

/**
 * Measures, against one broker, in one run:
 * <ol>
 *   <li><b>publisher throughput</b>: {@link KafkaPublisher} draining a store pre-filled with N events, against a plain
 *   idempotent producer and a plain transactional producer sending records of the same key, value and header
 *   sizes with the same producer settings; rounds alternate the systems' order;</li>
 *   <li><b>end-to-end lag</b>: appends on a primary at fixed rates, the publisher and a {@link KafkaReplica}
 *   running, the replica's listener recording (now - the event's primary timestamp) in an HdrHistogram.</li>
 * </ol>
 * Prints Markdown tables (and writes them to {@code --out=FILE}). Options are {@code --name=value}; see
 * {@link Options}. Run it with {@code kafka/run-bench.sh}.
 */
public final class KafkaBench
{
    private static final int STREAMS = 1000;
    private static final long TRANSACTION_NANOS = KafkaPublisher.DEFAULT_MAX_TRANSACTION_TIME.toNanos();
    private static final long LAG_HIGHEST_NS = TimeUnit.SECONDS.toNanos(300);

    private final Options options;
    private final BenchBroker broker;
    private final Path workDir;
    private int topics;

    private KafkaBench(final Options options, final BenchBroker broker, final Path workDir)
    {
        this.options = options;
        this.broker = broker;
        this.workDir = workDir;
    }

    /**
     * @param args {@code --name=value} options, see {@link Options}.
     * @throws Exception if the bench fails.
     */
    public static void main(final String[] args) throws Exception
    {
        final Options options = Options.parse(args);
        final Report report = run(options);
        final String text = report.markdown();
        System.out.println();
        System.out.println(text);
        if (options.out != null)
        {
            Files.writeString(options.out, text, StandardCharsets.UTF_8);
            System.out.println("written to " + options.out.toAbsolutePath());
        }
    }

    /**
     * Run the whole bench.
     *
     * @param options what to measure.
     * @return the measurements.
     * @throws Exception if the bench fails.
     */
    public static Report run(final Options options) throws Exception
    {
        final Path workDir = Files.createTempDirectory("varve-kafka-bench-");
        final Report report = new Report(options);
        final long began = System.nanoTime();
        try (BenchBroker broker = BenchBroker.of(options.broker, options.brokerJvmArgs, workDir))
        {
            report.brokerSetup = broker.describe();
            progress("broker: " + report.brokerSetup + ", bootstrap " + broker.bootstrap());
            final KafkaBench bench = new KafkaBench(options, broker, workDir);
            if (options.sizes.length > 0)
            {
                bench.throughput(report);
            }
            if (options.rates.length > 0)
            {
                bench.lag(report);
            }
        }
        finally
        {
            deleteTree(workDir);
        }
        report.seconds = (System.nanoTime() - began) / 1e9;
        return report;
    }

    // ---------------------------------------------------------------------------------------------------------------
    // 1. throughput

    /** One system of the throughput table: sends {@code events} records to a fresh topic, returns what it did. */
    private interface Sender
    {
        String name();

        /** Sends; calls {@code meter.start()} and {@code stop()} around what is measured. */
        Run send(VarveDB store, int size, int events, String topic, Meter meter) throws Exception;
    }

    /** What one send did: events per second, transactions committed (0 for none), CPU per event. */
    record Run(double eventsPerSecond, long transactions, double cpuMicrosPerEvent, double brokerCpuMicrosPerEvent)
    {
        static Run of(final int events, final long transactions, final Meter.Span span)
        {
            return new Run(events * 1e9 / span.wallNanos(), transactions, span.cpuNanos() / 1e3 / events,
                span.brokerNanos() < 0 ? Double.NaN : span.brokerNanos() / 1e3 / events);
        }
    }

    private List<Sender> senders()
    {
        final List<Sender> senders = new ArrayList<>();
        for (final int txn : options.transactionSizes)
        {
            senders.add(new PublisherSender("KafkaPublisher, maxEventsPerTransaction " + txn, txn, Map.of()));
        }
        for (final Map.Entry<String, Map<String, String>> variant : options.variants.entrySet())
        {
            final Map<String, String> props = new LinkedHashMap<>(variant.getValue());
            final String txn = props.remove("maxEventsPerTransaction");
            final int max = txn == null ? KafkaPublisher.DEFAULT_MAX_EVENTS_PER_TRANSACTION : Integer.parseInt(txn);
            senders.add(new PublisherSender("KafkaPublisher, " + variant.getKey(), max, props));
        }
        senders.add(new PlainSender("plain idempotent producer", 0));
        for (final int txn : options.plainTransactionSizes != null ? options.plainTransactionSizes :
            options.transactionSizes)
        {
            senders.add(new PlainSender("plain transactional producer, " + txn + " per transaction", txn));
        }
        return senders;
    }

    private void throughput(final Report report) throws Exception
    {
        final List<Sender> senders = senders();
        report.senders = senders.stream().map(Sender::name).toList();
        if (options.warmupEvents > 0)
        {
            // the JIT's warm-up, of the tool and of the broker: one of each at the first size, not counted
            final int size = options.sizes[0];
            try (Prefilled store = prefill(size, options.warmupEvents))
            {
                for (final Sender sender : senders)
                {
                    final Run run = sendOnce(sender, store.db, size, options.warmupEvents);
                    progress(String.format(Locale.ROOT, "warm-up  %5d B  %-60s %,10.0f events/s", size,
                        sender.name(), run.eventsPerSecond));
                }
            }
        }
        for (int s = 0; s < options.sizes.length; s++)
        {
            final int size = options.sizes[s];
            final int events = options.events[Math.min(s, options.events.length - 1)];
            final SizeResult result = new SizeResult(size, events, senders.size(), options.rounds);
            result.loadBefore = loadAverage();
            try (Prefilled store = prefill(size, events))
            {
                for (int round = 0; round < options.rounds; round++)
                {
                    // each round starts with another system: none always runs first, or last
                    for (int k = 0; k < senders.size(); k++)
                    {
                        final int i = (k + round) % senders.size();
                        final Run run = sendOnce(senders.get(i), store.db, size, events);
                        result.runs[i][round] = run;
                        progress(String.format(Locale.ROOT, "round %d  %5d B  %-56s %,9.0f events/s  CPU %.2f + " +
                                "%s us/event%s", round + 1, size, senders.get(i).name(), run.eventsPerSecond,
                            run.cpuMicrosPerEvent, micros(run.brokerCpuMicrosPerEvent), run.transactions > 0 ?
                                String.format(Locale.ROOT, "  %,.0f events/transaction",
                                    events / (double)run.transactions) : ""));
                    }
                }
            }
            result.loadAfter = loadAverage();
            report.sizes.add(result);
        }
    }

    private Run sendOnce(final Sender sender, final VarveDB store, final int size, final int events) throws Exception
    {
        final String topic = "bench-" + (++topics);
        broker.createTopic(topic);
        try
        {
            final Run run = sender.send(store, size, events, topic, new Meter(broker.pid()));
            final long end = broker.endOffset(topic);
            if (end < events)
            {
                throw new IllegalStateException(sender.name() + " left " + end + " records in " + topic + ", not " +
                    events);
            }
            return run;
        }
        finally
        {
            broker.deleteTopic(topic);
        }
    }

    /** A store holding {@code events} events of {@code size} bytes, round robin over {@value #STREAMS} streams. */
    private Prefilled prefill(final int size, final int events) throws IOException
    {
        final Path dir = Files.createTempDirectory(workDir, "store-" + size + "-");
        final VarveDB db = VarveDB.open(dir);
        final byte[] payload = payload(size);
        try (Appender appender = db.appender())
        {
            for (int i = 0; i < events; i++)
            {
                appender.append(1 + i % STREAMS, ExpectedVersion.ANY, 1, payload);
            }
        }
        return new Prefilled(db, dir);
    }

    private record Prefilled(VarveDB db, Path dir) implements AutoCloseable
    {
        @Override
        public void close() throws IOException
        {
            db.close();
            deleteTree(dir);
        }
    }

    private final class PublisherSender implements Sender
    {
        private final String name;
        private final int maxEventsPerTransaction;
        private final Map<String, String> producerProperties;

        PublisherSender(final String name, final int maxEventsPerTransaction,
            final Map<String, String> producerProperties)
        {
            this.name = name;
            this.maxEventsPerTransaction = maxEventsPerTransaction;
            this.producerProperties = producerProperties;
        }

        @Override
        public String name()
        {
            return name;
        }

        @Override
        public Run send(final VarveDB store, final int size, final int events, final String topic,
            final Meter meter)
        {
            final KafkaPublisher.Builder builder = KafkaPublisher.builder(store, broker.bootstrap(), topic)
                .transactionalId("bench-" + topic)
                .maxEventsPerTransaction(maxEventsPerTransaction);
            producerProperties.forEach(builder::producerProperty);
            try (KafkaPublisher publisher = builder.build())
            {
                // connecting, fencing and finding the topic's end are not counted: a publisher does them once
                publisher.open();
                meter.start();
                while (publisher.publishedEvents() < events)
                {
                    publisher.publish();
                }
                return Run.of(events, publisher.transactions(), meter.stop());
            }
        }
    }

    /** The producer settings {@link KafkaPublisher} uses, without its transactional id. */
    static Properties producerProperties(final String bootstrap)
    {
        final Properties props = new Properties();
        props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
        props.put(ProducerConfig.ACKS_CONFIG, "all");
        props.put(ProducerConfig.LINGER_MS_CONFIG, "5");
        props.put(ProducerConfig.BATCH_SIZE_CONFIG, Integer.toString(256 * 1024));
        props.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, "none");
        props.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        props.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        return props;
    }

    /**
     * A plain producer sending what the publisher would send for the same events (key, value, the same headers of
     * the same sizes, timestamp), built from memory rather than read from a store.
     */
    private final class PlainSender implements Sender
    {
        private final String name;
        /** Events per transaction; 0 for none (idempotent only). */
        private final int transactionSize;

        PlainSender(final String name, final int transactionSize)
        {
            this.name = name;
            this.transactionSize = transactionSize;
        }

        @Override
        public String name()
        {
            return name;
        }

        @Override
        public Run send(final VarveDB store, final int size, final int events, final String topic,
            final Meter meter) throws Exception
        {
            final Properties props = producerProperties(broker.bootstrap());
            if (transactionSize > 0)
            {
                props.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, "bench-" + topic);
            }
            final byte[] payload = payload(size);
            final byte[][] keys = new byte[STREAMS + 1][];
            for (int s = 1; s <= STREAMS; s++)
            {
                keys[s] = Long.toString(s).getBytes(StandardCharsets.UTF_8);
            }
            final AtomicReference<Exception> failed = new AtomicReference<>();
            final Callback callback = (metadata, ex) ->
            {
                if (ex != null)
                {
                    failed.compareAndSet(null, ex);
                }
            };
            long transactions = 0;
            try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(props))
            {
                if (transactionSize > 0)
                {
                    producer.initTransactions();
                }
                producer.partitionsFor(topic);
                meter.start();
                long previous = KafkaRecordFormat.NONE;
                int i = 0;
                while (i < events)
                {
                    if (transactionSize > 0)
                    {
                        producer.beginTransaction();
                    }
                    final long began = System.nanoTime();
                    int inTransaction = 0;
                    while (i < events && (transactionSize == 0 || inTransaction < transactionSize))
                    {
                        final int stream = 1 + i % STREAMS;
                        final long position = 4096L + (long)i * (size + 64);
                        producer.send(record(topic, keys[stream], payload, position, previous, stream,
                            1 + i / STREAMS), callback);
                        previous = position;
                        i++;
                        inTransaction++;
                        // the publisher's rule: a transaction also ends after its time, looked at every 1,024 events
                        if (transactionSize > 0 && (inTransaction & 1023) == 0 &&
                            System.nanoTime() - began > TRANSACTION_NANOS)
                        {
                            break;
                        }
                    }
                    if (transactionSize > 0)
                    {
                        producer.commitTransaction();
                        transactions++;
                    }
                }
                producer.flush();
                final Meter.Span span = meter.stop();
                if (failed.get() != null)
                {
                    throw new IllegalStateException(name + " failed", failed.get());
                }
                return Run.of(events, transactions, span);
            }
        }

        private ProducerRecord<byte[], byte[]> record(final String topic, final byte[] key, final byte[] payload,
            final long position, final long previous, final long stream, final long version)
        {
            final long timestamp = System.currentTimeMillis() * 1_000_000L;
            final RecordHeaders headers = new RecordHeaders();
            headers.add(KafkaRecordFormat.POSITION, longBytes(position));
            headers.add(KafkaRecordFormat.PREVIOUS, longBytes(previous));
            headers.add(KafkaRecordFormat.STREAM, longBytes(stream));
            headers.add(KafkaRecordFormat.VERSION, longBytes(version));
            headers.add(KafkaRecordFormat.EVENT_TYPE, ByteBuffer.allocate(Integer.BYTES).putInt(1).array());
            headers.add(KafkaRecordFormat.TIMESTAMP, longBytes(timestamp));
            headers.add(KafkaRecordFormat.FLAGS, new byte[] {0});
            // a copy, as the publisher copies each payload out of the store
            return new ProducerRecord<>(topic, null, timestamp / 1_000_000L, key, payload.clone(), headers);
        }
    }

    private static byte[] longBytes(final long value)
    {
        return ByteBuffer.allocate(Long.BYTES).putLong(value).array();
    }

    private static byte[] payload(final int size)
    {
        final byte[] payload = new byte[size];
        new Random(size).nextBytes(payload);
        return payload;
    }

    // ---------------------------------------------------------------------------------------------------------------
    // 2. end-to-end lag

    private void lag(final Report report) throws Exception
    {
        final List<Map.Entry<String, Map<String, String>>> publishers = new ArrayList<>();
        publishers.add(Map.entry("", Map.of()));
        publishers.addAll(options.lagVariants.entrySet());
        for (final long rate : options.rates)
        {
            for (final Map.Entry<String, Map<String, String>> publisher : publishers)
            {
                report.lags.add(lagAt(rate, publisher.getKey(), publisher.getValue()));
            }
        }
    }

    private LagResult lagAt(final long rate, final String variant, final Map<String, String> settings)
        throws Exception
    {
        final LagResult result = new LagResult(rate, variant);
        result.loadBefore = loadAverage();
        final String topic = "lag-" + rate + "-" + (++topics);
        broker.createTopic(topic);
        final Path primaryDir = Files.createTempDirectory(workDir, "primary-");
        final Path replicaDir = Files.createTempDirectory(workDir, "replica-");
        // the primary stamps its events with this clock, and the listener reads "now" from it: one offset, no skew
        final OffsetEpochNanoClock clock = new OffsetEpochNanoClock();
        final Histogram lag = new Histogram(LAG_HIGHEST_NS, 3);
        final Histogram fromSchedule = new Histogram(LAG_HIGHEST_NS, 3);
        final Histogram slip = new Histogram(LAG_HIGHEST_NS, 3);
        final long warmupNanos = (long)(options.lagWarmupSeconds * 1e9);
        final long measureNanos = (long)(options.lagSeconds * 1e9);
        final double intervalNanos = 1e9 / rate;
        // epoch nanos of event 0's intended time; the measured window (epoch nanos); events the listener was told of
        final long[] schedule = new long[3];
        final long[] counts = new long[2];
        final KafkaReplica.Listener listener = (position, timestamp) ->
        {
            final long now = clock.nanoTime();
            // the replica applies every event once, in the primary's order, and only the bench appends: the k-th
            // event it is told of is the k-th appended, whose intended time is known
            final long intended = schedule[0] + (long)(counts[0]++ * intervalNanos);
            if (timestamp >= schedule[1] && timestamp < schedule[2])
            {
                lag.recordValue(Math.min(Math.max(0, now - timestamp), LAG_HIGHEST_NS));
                counts[1]++;
            }
            if (intended >= schedule[1] && intended < schedule[2])
            {
                fromSchedule.recordValue(Math.min(Math.max(0, now - intended), LAG_HIGHEST_NS));
            }
        };
        final byte[] payload = payload(options.lagPayload);
        final Map<String, String> producer = new LinkedHashMap<>(settings);
        final String maxEvents = producer.remove("maxEventsPerTransaction");
        try (VarveDB primary = VarveDB.open(VarveConfig.builder(primaryDir).clock(clock).build());
            Appender appender = primary.appender();
            KafkaPublisher publisher = publisher(primary, topic, maxEvents, producer);
            KafkaReplica replica = KafkaReplica.builder(replicaDir, broker.bootstrap(), topic).listener(listener)
                .build())
        {
            publisher.open();
            final long total = (long)((warmupNanos + measureNanos) / 1e9 * rate);
            final long startNs = System.nanoTime();
            schedule[0] = clock.nanoTime();
            schedule[1] = schedule[0] + warmupNanos;
            schedule[2] = schedule[1] + measureNanos;
            long transactionsAtWindow = -1;
            long publishedAtWindow = 0;
            final Meter meter = new Meter(broker.pid());
            // start() publishes schedule[] to the replica's thread
            publisher.start();
            replica.start();
            long i = 0;
            while (i < total)
            {
                final long due = startNs + (long)(i * intervalNanos);
                final long now = System.nanoTime();
                if (now < due)
                {
                    LockSupport.parkNanos(due - now);
                    continue;
                }
                appender.append(1 + i % STREAMS, ExpectedVersion.ANY, 1, payload);
                if (due - startNs >= warmupNanos)
                {
                    slip.recordValue(Math.min(now - due, LAG_HIGHEST_NS));
                    if (transactionsAtWindow < 0)
                    {
                        meter.start();
                        transactionsAtWindow = publisher.transactions();
                        publishedAtWindow = publisher.publishedEvents();
                    }
                }
                i++;
            }
            final long appendedNs = System.nanoTime();
            result.cpu = meter.stop();
            final long lastPosition = appender.lastPosition();
            result.publisherTransactions = publisher.transactions() - transactionsAtWindow;
            result.publisherEvents = publisher.publishedEvents() - publishedAtWindow;
            // every event replicated: their lags are all in the histograms
            final long deadline = appendedNs + TimeUnit.SECONDS.toNanos(120);
            while (replica.appliedPosition() < lastPosition)
            {
                if (!replica.isRunning() || !publisher.isRunning() || System.nanoTime() > deadline)
                {
                    throw new IllegalStateException("the replica did not catch up at " + rate + "/s: applied " +
                        replica.appliedPosition() + " of " + lastPosition + "; publisher " + publisher.failure() +
                        ", replica " + replica.failure());
                }
                Thread.sleep(1);
            }
            result.drainMillis = (System.nanoTime() - appendedNs) / 1e6;
        }
        finally
        {
            broker.deleteTopic(topic);
            deleteTree(primaryDir);
            deleteTree(replicaDir);
        }
        // the replica's thread has ended (close joins it): what it recorded is visible
        result.loadAfter = loadAverage();
        result.lag = lag;
        result.fromSchedule = fromSchedule;
        result.slip = slip;
        result.measured = counts[1];
        result.achievedRate = counts[1] / options.lagSeconds;
        progress(String.format(Locale.ROOT, "lag at %,d/s%s: %,.0f/s, p50 %s p99 %s p99.9 %s max %s; from the " +
                "schedule p99 %s max %s", rate, variant.isEmpty() ? "" : " (" + variant + ")", result.achievedRate,
            millis(lag.getValueAtPercentile(50)), millis(lag.getValueAtPercentile(99)),
            millis(lag.getValueAtPercentile(99.9)), millis(lag.getMaxValue()),
            millis(fromSchedule.getValueAtPercentile(99)), millis(fromSchedule.getMaxValue())));
        return result;
    }

    private KafkaPublisher publisher(final VarveDB primary, final String topic, final String maxEvents,
        final Map<String, String> producer)
    {
        final KafkaPublisher.Builder builder = KafkaPublisher.builder(primary, broker.bootstrap(), topic)
            .transactionalId("bench-" + topic);
        if (maxEvents != null)
        {
            builder.maxEventsPerTransaction(Integer.parseInt(maxEvents));
        }
        producer.forEach(builder::producerProperty);
        return builder.build();
    }


    // ---------------------------------------------------------------------------------------------------------------
    // results

    /** What one run measured. */
    public static final class Report
    {
        final Options options;
        final List<SizeResult> sizes = new ArrayList<>();
        final List<LagResult> lags = new ArrayList<>();
        final String started = ZonedDateTime.now(ZoneOffset.UTC).format(DateTimeFormatter.ISO_LOCAL_DATE_TIME)
            .substring(0, 16) + " UTC";
        List<String> senders = List.of();
        String brokerSetup;
        double seconds;

        Report(final Options options)
        {
            this.options = options;
        }

        /** @return the throughput results, one per event size. */
        public List<SizeResult> sizes()
        {
            return sizes;
        }

        /** @return the lag results, one per rate. */
        public List<LagResult> lags()
        {
            return lags;
        }

        /** @return the report as Markdown. */
        public String markdown()
        {
            final StringBuilder out = new StringBuilder();
            out.append("Run ").append(started).append(", ").append(String.format(Locale.ROOT, "%.0f s", seconds))
                .append(". Machine: ").append(cpu()).append(", ").append(Runtime.getRuntime().availableProcessors())
                .append(" cores. JDK ").append(System.getProperty("java.vm.version")).append(". Kafka ")
                .append(AppInfoParser.getVersion()).append(" (KRaft, one node, broker and controller).\n")
                .append("Broker: ").append(brokerSetup).append(". Bench JVM: `")
                .append(String.join(" ", ManagementFactory.getRuntimeMXBean().getInputArguments()))
                .append("`. Topics of 1 partition, replication factor 1.\n\n");
            for (final SizeResult size : sizes)
            {
                size.markdown(out, senders);
            }
            if (!lags.isEmpty())
            {
                out.append(String.format(Locale.ROOT, "End-to-end lag, append on the primary to applied on the " +
                    "replica (now - primary timestamp, in the replica's listener), events of %d B over %d " +
                    "streams, %.0f s measured after %.0f s of warm-up, KafkaPublisher and KafkaReplica at their " +
                    "defaults:\n\n", options.lagPayload, STREAMS, options.lagSeconds, options.lagWarmupSeconds));
                out.append("| target rate | achieved | p50 | p90 | p99 | p99.9 | max | from intended time: p99 / " +
                    "max | events measured | events/transaction | appender behind schedule p99 / max | " +
                    "CPU, % of a core: bench JVM + broker | load avg before / after |\n");
                out.append("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n");
                for (final LagResult lag : lags)
                {
                    lag.markdown(out);
                }
                out.append('\n');
            }
            return out.toString();
        }
    }

    /** Throughput at one event size: events/s of each sender in each round. */
    public static final class SizeResult
    {
        final int size;
        final int events;
        final Run[][] runs;
        String loadBefore;
        String loadAfter;

        SizeResult(final int size, final int events, final int senders, final int rounds)
        {
            this.size = size;
            this.events = events;
            this.runs = new Run[senders][rounds];
        }

        /**
         * @param sender index in the report's senders.
         * @return its median events per second.
         */
        public double median(final int sender)
        {
            return median(Arrays.stream(runs[sender]).mapToDouble(Run::eventsPerSecond).toArray());
        }

        void markdown(final StringBuilder out, final List<String> senders)
        {
            int idempotent = -1;
            for (int i = 0; i < senders.size(); i++)
            {
                if (senders.get(i).startsWith("plain idempotent"))
                {
                    idempotent = i;
                }
            }
            out.append(String.format(Locale.ROOT, "Throughput, %,d events of %d B (%d streams), %d rounds in " +
                "alternating order; load average before / after: %s / %s:\n\n", events, size, STREAMS,
                runs[0].length, loadBefore, loadAfter));
            out.append("| sender | events/s, median | min - max | / plain idempotent (median of rounds) | " +
                "events/transaction | CPU us/event: bench JVM + broker (medians) |\n");
            out.append("|---|---:|---:|---:|---:|---:|\n");
            for (int i = 0; i < senders.size(); i++)
            {
                final double[] rates = Arrays.stream(runs[i]).mapToDouble(Run::eventsPerSecond).toArray();
                final double[] ratios = new double[rates.length];
                for (int r = 0; r < rates.length; r++)
                {
                    ratios[r] = idempotent < 0 ? Double.NaN : rates[r] / runs[idempotent][r].eventsPerSecond;
                }
                final long transactions = Arrays.stream(runs[i]).mapToLong(Run::transactions).sum();
                out.append(String.format(Locale.ROOT, "| %s | %,.0f | %,.0f - %,.0f | %.2f | %s | %.2f + %s |\n",
                    senders.get(i), median(rates), Arrays.stream(rates).min().orElse(0),
                    Arrays.stream(rates).max().orElse(0), median(ratios), transactions == 0 ? "-" :
                        String.format(Locale.ROOT, "%,.0f", (double)events * runs[i].length / transactions),
                    median(Arrays.stream(runs[i]).mapToDouble(Run::cpuMicrosPerEvent).toArray()),
                    micros(median(Arrays.stream(runs[i]).mapToDouble(Run::brokerCpuMicrosPerEvent).toArray()))));
            }
            out.append('\n');
        }

        static double median(final double[] values)
        {
            final double[] sorted = values.clone();
            Arrays.sort(sorted);
            final int n = sorted.length;
            return n == 0 ? Double.NaN : n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
        }
    }

    /** End-to-end lag at one rate. */
    public static final class LagResult
    {
        final long rate;
        final String variant;
        Histogram lag;
        Histogram fromSchedule;
        Histogram slip;
        long measured;
        double achievedRate;
        double drainMillis;
        long publisherTransactions;
        long publisherEvents;
        Meter.Span cpu;
        String loadBefore;
        String loadAfter;

        LagResult(final long rate, final String variant)
        {
            this.rate = rate;
            this.variant = variant;
        }

        /** @return lags recorded (nanoseconds). */
        public Histogram lag()
        {
            return lag;
        }

        /** @return events per second appended and replicated in the measured window. */
        public double achievedRate()
        {
            return achievedRate;
        }

        void markdown(final StringBuilder out)
        {
            out.append(String.format(Locale.ROOT, "| %,d/s%s | %,.0f/s | %s | %s | %s | %s | %s | %s / %s | %,d | %s " +
                    "| %s / %s | %s + %s | %s / %s |\n", rate, variant.isEmpty() ? "" : ", " + variant, achievedRate,
                millis(lag.getValueAtPercentile(50)), millis(lag.getValueAtPercentile(90)),
                millis(lag.getValueAtPercentile(99)), millis(lag.getValueAtPercentile(99.9)),
                millis(lag.getMaxValue()), millis(fromSchedule.getValueAtPercentile(99)),
                millis(fromSchedule.getMaxValue()), measured,
                publisherTransactions > 0 ? String.format(Locale.ROOT, "%,.0f",
                    publisherEvents / (double)publisherTransactions) : "-",
                millis(slip.getValueAtPercentile(99)), millis(slip.getMaxValue()),
                percent(cpu.cpuNanos(), cpu.wallNanos()), percent(cpu.brokerNanos(), cpu.wallNanos()), loadBefore,
                loadAfter));
        }
    }

    static String micros(final double micros)
    {
        return Double.isNaN(micros) ? "n/a" : String.format(Locale.ROOT, "%.2f", micros);
    }

    static String percent(final long cpuNanos, final long wallNanos)
    {
        return cpuNanos < 0 ? "?" : String.format(Locale.ROOT, "%.0f%%", 100.0 * cpuNanos / wallNanos);
    }

    static String millis(final long nanos)
    {
        final double ms = nanos / 1e6;
        return ms >= 100 ? String.format(Locale.ROOT, "%.0f ms", ms) : ms >= 10 ?
            String.format(Locale.ROOT, "%.1f ms", ms) : String.format(Locale.ROOT, "%.2f ms", ms);
    }

    // ---------------------------------------------------------------------------------------------------------------
    // options and odds

    /** What to measure; {@code --name=value} on the command line. */
    public static final class Options
    {
        /** {@code --sizes=100,1024}: payload bytes of the throughput runs (none: no throughput runs). */
        public int[] sizes = {100, 1024};
        /** {@code --events=1000000,300000}: events per throughput run, per size (the last serves the rest). */
        public int[] events = {1_000_000, 300_000};
        /** {@code --rounds=5}: throughput rounds. */
        public int rounds = 5;
        /** {@code --warmup-events=50000}: one unmeasured run of each sender first (0: none). */
        public int warmupEvents = 50_000;
        /** {@code --txn=1000,20000}: the publisher's maxEventsPerTransaction, and the plain transactions' size. */
        public int[] transactionSizes = {1000, 20_000};
        /** {@code --plain-txn=1000,20000}: the plain transactional producer's sizes (default: those of --txn). */
        public int[] plainTransactionSizes;
        /**
         * {@code --variant=NAME:key=value,key=value} (repeatable): a publisher with producer settings of its own
         * ({@code maxEventsPerTransaction} is the builder's).
         */
        public Map<String, Map<String, String>> variants = new LinkedHashMap<>();
        /** {@code --rates=1000,10000,50000}: appends per second of the lag runs (none: no lag runs). */
        public long[] rates = {1000, 10_000, 50_000};
        /**
         * {@code --lag-variant=NAME:key=value,...} (repeatable): lag runs also with a publisher of these producer
         * settings ({@code maxEventsPerTransaction} is the builder's), alternating with the default one.
         */
        public Map<String, Map<String, String>> lagVariants = new LinkedHashMap<>();
        /** {@code --lag-warmup=5}: seconds appended before the lag is recorded. */
        public double lagWarmupSeconds = 5;
        /** {@code --lag-seconds=20}: seconds recorded. */
        public double lagSeconds = 20;
        /** {@code --lag-payload=100}: payload bytes of the lag runs. */
        public int lagPayload = 100;
        /** {@code --broker=fork|inprocess|host:port}: a broker JVM of its own, one in this JVM, or a running one. */
        public String broker = "fork";
        /** {@code --broker-jvm="-Xms1g -Xmx1g"}: the forked broker's JVM options. */
        public String brokerJvmArgs = "-Xms1g -Xmx1g";
        /** {@code --out=FILE}: also write the Markdown there. */
        public Path out;

        /**
         * @param args {@code --name=value} options.
         * @return the options.
         */
        public static Options parse(final String[] args)
        {
            final Options options = new Options();
            for (final String arg : args)
            {
                final int eq = arg.indexOf('=');
                if (!arg.startsWith("--") || eq < 0)
                {
                    throw new IllegalArgumentException("options are --name=value, got " + arg);
                }
                final String name = arg.substring(2, eq);
                final String value = arg.substring(eq + 1);
                switch (name)
                {
                    case "sizes" -> options.sizes = ints(value);
                    case "events" -> options.events = ints(value);
                    case "rounds" -> options.rounds = Integer.parseInt(value);
                    case "warmup-events" -> options.warmupEvents = Integer.parseInt(value);
                    case "txn" -> options.transactionSizes = ints(value);
                    case "plain-txn" -> options.plainTransactionSizes = ints(value);
                    case "lag-variant" -> variant(options.lagVariants, value);
                    case "variant" -> variant(options.variants, value);
                    case "rates" -> options.rates = Arrays.stream(ints(value)).asLongStream().toArray();
                    case "lag-warmup" -> options.lagWarmupSeconds = Double.parseDouble(value);
                    case "lag-seconds" -> options.lagSeconds = Double.parseDouble(value);
                    case "lag-payload" -> options.lagPayload = Integer.parseInt(value);
                    case "broker" -> options.broker = value;
                    case "broker-jvm" -> options.brokerJvmArgs = value;
                    case "out" -> options.out = Path.of(value);
                    default -> throw new IllegalArgumentException("unknown option --" + name);
                }
            }
            return options;
        }

        private static void variant(final Map<String, Map<String, String>> variants, final String value)
        {
            final int colon = value.indexOf(':');
            final Map<String, String> props = new LinkedHashMap<>();
            for (final String pair : value.substring(colon + 1).split(","))
            {
                final String[] kv = pair.split("=", 2);
                props.put(kv[0].trim(), kv[1].trim());
            }
            variants.put(value.substring(0, colon), props);
        }

        private static int[] ints(final String value)
        {
            return value.isBlank() ? new int[0] :
                Arrays.stream(value.split(",")).map(String::trim).mapToInt(Integer::parseInt).toArray();
        }
    }

    private static void progress(final String line)
    {
        System.out.println(String.format(Locale.ROOT, "[%tT] ", System.currentTimeMillis()) + line);
    }

    static String loadAverage()
    {
        try
        {
            final String[] fields = Files.readString(Path.of("/proc/loadavg")).trim().split("\\s+");
            return fields[0];
        }
        catch (final IOException | RuntimeException ex)
        {
            return "?";
        }
    }

    private static String cpu()
    {
        try (Stream<String> lines = Files.lines(Path.of("/proc/cpuinfo")))
        {
            return lines.filter((l) -> l.startsWith("model name")).findFirst()
                .map((l) -> l.substring(l.indexOf(':') + 1).trim()).orElse(System.getProperty("os.arch"));
        }
        catch (final IOException | RuntimeException ex)
        {
            return System.getProperty("os.arch");
        }
    }

    static void deleteTree(final Path dir) throws IOException
    {
        if (!Files.exists(dir))
        {
            return;
        }
        try (Stream<Path> files = Files.walk(dir))
        {
            files.sorted(Comparator.reverseOrder()).forEach((p) -> p.toFile().delete());
        }
    }

}
