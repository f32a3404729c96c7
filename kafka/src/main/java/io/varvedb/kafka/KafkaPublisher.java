package io.varvedb.kafka;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.Objects;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;

import io.varvedb.EventHandler;
import io.varvedb.RecordedEvent;
import io.varvedb.VarveDB;
import org.agrona.collections.Long2ObjectHashMap;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.errors.AuthorizationException;
import org.apache.kafka.common.errors.InvalidProducerEpochException;
import org.apache.kafka.common.errors.OutOfOrderSequenceException;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.apache.kafka.common.errors.UnsupportedVersionException;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * Publishes a store's global log to a Kafka topic, <b>exactly once</b>: every event once, in log order, keyed by
 * its stream (see {@link KafkaRecordFormat}).
 * <p>
 * Events go out in Kafka transactions. The publisher keeps no checkpoint of its own: its position is the position
 * header of the last event in the topic, committed in the same transaction as the events. When it starts,
 * {@code initTransactions} fences any earlier publisher of the same transactional id and aborts what that one left
 * open, and the publisher reads the end of the topic (read committed) to learn where to go on. So a publisher killed
 * at any moment, even between Kafka's commit and anything it might have written locally, leaves a topic whose
 * committed records are a prefix of the log, each event once, and its successor continues right after that prefix.
 * <p>
 * One transaction holds what the log has when it begins, up to {@link Builder#maxEventsPerTransaction} events or
 * {@link Builder#maxTransactionTime}: when events come slowly each goes out at once; under load transactions grow
 * and their commits are shared by many events.
 * <p>
 * The store may be open read-only ({@link VarveDB#openReadOnly}), in another process than its writers: the
 * publisher reads the log as it grows. Run it with {@link #start()} (a thread of its own) or call {@link #publish()}
 * from your own loop; not both.
 */
public final class KafkaPublisher implements AutoCloseable
{
    /** Default most events in one transaction. */
    public static final int DEFAULT_MAX_EVENTS_PER_TRANSACTION = 20_000;
    /** Default longest time one transaction gathers events. */
    public static final Duration DEFAULT_MAX_TRANSACTION_TIME = Duration.ofMillis(100);
    private static final int READ_CHUNK = 1024;
    private static final Duration CLOSE_TIMEOUT = Duration.ofSeconds(10);
    private static final long IDLE_PARK_NS = TimeUnit.MICROSECONDS.toNanos(200);

    private final VarveDB db;
    private final String topic;
    private final String bootstrap;
    private final Properties producerProperties;
    private final Function<Properties, KafkaProducer<byte[], byte[]>> producers;
    private final Map<String, Object> consumerOverrides;
    private final int maxEventsPerTransaction;
    private final long maxTransactionNanos;
    private final Duration timeout;
    private final Long2ObjectHashMap<byte[]> keys = new Long2ObjectHashMap<>();
    private final Long2ObjectHashMap<byte[]> names = new Long2ObjectHashMap<>();
    private final Handler handler = new Handler();

    private KafkaProducer<byte[], byte[]> producer;
    /** Position the next read starts at, and the last event sent (in the open transaction, if any). */
    private long next;
    private long previous;
    /** The same, as of the last commit: where an aborted transaction goes back to. */
    private long committedNext;
    private long committedPrevious;
    private boolean inTransaction;
    private int inThisTransaction;
    /**
     * The producer failed in a transaction and could not abort it (Kafka had put it in its fatal state), so it was
     * closed: not fenced, and the next {@link #publish()} opens a new one.
     */
    private boolean abandoned;

    private volatile long publishedPosition = KafkaRecordFormat.NONE;
    private volatile long publishedEvents;
    private volatile long transactions;
    private volatile long aborts;
    private volatile boolean running;
    private volatile Throwable failure;
    private Thread thread;
    private boolean opened;

    private KafkaPublisher(final Builder builder)
    {
        this.db = builder.db;
        this.topic = builder.topic;
        this.bootstrap = builder.bootstrap;
        this.maxEventsPerTransaction = builder.maxEventsPerTransaction;
        this.maxTransactionNanos = builder.maxTransactionTime.toNanos();
        this.timeout = builder.timeout;
        this.consumerOverrides = new HashMap<>(builder.consumerOverrides);
        this.producers = builder.producers;
        final Properties props = new Properties();
        props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, builder.transactionalId);
        props.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
        props.put(ProducerConfig.ACKS_CONFIG, "all");
        props.put(ProducerConfig.LINGER_MS_CONFIG, "5");
        props.put(ProducerConfig.BATCH_SIZE_CONFIG, Integer.toString(256 * 1024));
        props.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, "none");
        props.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        props.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        props.putAll(builder.producerOverrides);
        this.producerProperties = props;
    }

    /**
     * @param db        the store whose log to publish (read-only is enough).
     * @param bootstrap Kafka's bootstrap servers, {@code host:port[,host:port...]}.
     * @param topic     the topic, which must exist.
     * @return a builder.
     */
    public static Builder builder(final VarveDB db, final String bootstrap, final String topic)
    {
        return new Builder(db, bootstrap, topic);
    }

    /**
     * Connect: fence earlier publishers of the same transactional id, and find where the topic ends. Called by
     * {@link #start()} and the first {@link #publish()}; call it yourself to learn the position first.
     *
     * @return the position of the last event the topic holds, {@link KafkaRecordFormat#NONE} if it holds none.
     * @throws KafkaStreamingException if the topic is missing, or holds events of another store.
     */
    public synchronized long open()
    {
        if (opened)
        {
            return publishedPosition;
        }
        producer = producers.apply(producerProperties);
        try
        {
            // fences every earlier producer of this transactional id and aborts what it left open: from here on,
            // the topic's committed records are all there will be of theirs
            producer.initTransactions();
            final TopicTail.Last last = TopicTail.find(bootstrap, topic, consumerOverrides, timeout);
            resumeAfter(last);
            opened = true;
            abandoned = false;
            return publishedPosition;
        }
        catch (final RuntimeException ex)
        {
            producer.close(Duration.ZERO);
            producer = null;
            throw ex instanceof KafkaStreamingException ? ex :
                new KafkaStreamingException("cannot start publishing to " + topic + ": " + ex.getMessage(), ex);
        }
    }

    private void resumeAfter(final TopicTail.Last last)
    {
        if (last.position() == KafkaRecordFormat.NONE)
        {
            next = VarveDB.START_POSITION;
            previous = KafkaRecordFormat.NONE;
        }
        else
        {
            // the event the topic ends with must be the store's at that position: else the topic is another store's
            final long[] found = {-1, 0, 0};
            try
            {
                db.readAll(last.position(), 1, (event) ->
                {
                    found[0] = event.position();
                    found[1] = event.streamId();
                    found[2] = event.version();
                });
            }
            catch (final IllegalArgumentException ex)
            {
                throw new KafkaStreamingException("topic " + topic + " ends with position " + last.position() +
                    ", which is no event of the store at " + db.directory() + ": published from another store?", ex);
            }
            if (found[0] == last.position() && (found[1] != last.streamId() || found[2] != last.version()))
            {
                throw new KafkaStreamingException("topic " + topic + " ends with stream " + last.streamId() +
                    " version " + last.version() + " at position " + last.position() + ", but the store at " +
                    db.directory() + " has stream " + found[1] + " version " + found[2] + " there: published " +
                    "from another store");
            }
            // from that event on, skipping it (a scavenge may have dropped it; positions never change)
            next = last.position();
            previous = last.position();
        }
        committedNext = next;
        committedPrevious = previous;
        publishedPosition = previous;
    }

    /**
     * Publish what the log holds beyond the topic's end, in one transaction (at most
     * {@link Builder#maxEventsPerTransaction} events), and commit it.
     *
     * @return events published; 0 if there was nothing new.
     * @throws KafkaStreamingException if publishing cannot go on (fenced by another publisher, refused by Kafka);
     *                                 a transaction that failed otherwise was aborted, and the next call sends its
     *                                 events again.
     */
    public int publish()
    {
        open();
        final long began = System.nanoTime();
        inThisTransaction = 0;
        try
        {
            while (inThisTransaction < maxEventsPerTransaction)
            {
                final int read = db.readAll(next, Math.min(READ_CHUNK, maxEventsPerTransaction - inThisTransaction),
                    handler);
                if (read == 0 || System.nanoTime() - began > maxTransactionNanos)
                {
                    break;
                }
            }
            if (!inTransaction)
            {
                return 0;
            }
            producer.commitTransaction();
            inTransaction = false;
            committedNext = next;
            committedPrevious = previous;
            publishedPosition = previous;
            publishedEvents += inThisTransaction;
            transactions++;
            return inThisTransaction;
        }
        catch (final ProducerFencedException | InvalidProducerEpochException | OutOfOrderSequenceException |
            AuthorizationException | UnsupportedVersionException ex)
        {
            // fatal for this producer: another publisher of the same id took over, or Kafka refuses for good
            inTransaction = false;
            closeProducer();
            throw new KafkaStreamingException("publishing to " + topic + " stopped: " + ex, ex);
        }
        catch (final KafkaException ex)
        {
            abort();
            throw new KafkaStreamingException("transaction to " + topic + " aborted, its " + inThisTransaction +
                " events will be sent again: " + ex, ex);
        }
    }

    private void abort()
    {
        aborts++;
        next = committedNext;
        previous = committedPrevious;
        if (inTransaction)
        {
            inTransaction = false;
            try
            {
                producer.abortTransaction();
            }
            catch (final KafkaException ex)
            {
                // a producer that cannot abort is done for: a new one fences it, and aborts for it
                closeProducer();
                abandoned = true;
            }
        }
    }

    private void closeProducer()
    {
        if (producer != null)
        {
            producer.close(Duration.ZERO);
            producer = null;
        }
        opened = false;
    }

    private final class Handler implements EventHandler
    {
        @Override
        public void onEvent(final RecordedEvent event)
        {
            if (event.position() <= previous)
            {
                // the last event the topic holds, read again to go on after it
                return;
            }
            if (!inTransaction)
            {
                producer.beginTransaction();
                inTransaction = true;
            }
            producer.send(toRecord(event));
            inThisTransaction++;
            previous = event.position();
            next = event.nextPosition();
        }
    }

    private ProducerRecord<byte[], byte[]> toRecord(final RecordedEvent event)
    {
        final long streamId = event.streamId();
        final RecordHeaders headers = new RecordHeaders();
        headers.add(KafkaRecordFormat.POSITION, KafkaRecordFormat.longBytes(event.position()));
        headers.add(KafkaRecordFormat.PREVIOUS, KafkaRecordFormat.longBytes(previous));
        headers.add(KafkaRecordFormat.STREAM, KafkaRecordFormat.longBytes(streamId));
        headers.add(KafkaRecordFormat.VERSION, KafkaRecordFormat.longBytes(event.version()));
        headers.add(KafkaRecordFormat.EVENT_TYPE, KafkaRecordFormat.intBytes(event.eventType()));
        headers.add(KafkaRecordFormat.TIMESTAMP, KafkaRecordFormat.longBytes(event.timestamp()));
        int flags = 0;
        if (event.isInBatch())
        {
            flags |= KafkaRecordFormat.FLAG_IN_BATCH;
        }
        if (event.isLastInBatch())
        {
            flags |= KafkaRecordFormat.FLAG_LAST_IN_BATCH;
        }
        if (event.isTombstone())
        {
            flags |= KafkaRecordFormat.FLAG_TOMBSTONE;
        }
        final boolean metadata = event.isStreamMetadata();
        if (metadata)
        {
            flags |= KafkaRecordFormat.FLAG_METADATA;
        }
        headers.add(KafkaRecordFormat.FLAGS, new byte[] {(byte)flags});
        if (event.hasEventId())
        {
            final byte[] id = new byte[2 * Long.BYTES];
            java.nio.ByteBuffer.wrap(id).putLong(event.eventIdHigh()).putLong(event.eventIdLow());
            headers.add(KafkaRecordFormat.EVENT_ID, id);
        }
        byte[] key;
        if (streamId < 0)
        {
            final byte[] name = nameOf(streamId);
            headers.add(KafkaRecordFormat.STREAM_NAME, name);
            key = metadata ? targetKey(new String(name, StandardCharsets.UTF_8)) : name;
        }
        else
        {
            key = keys.get(streamId);
            if (key == null)
            {
                key = Long.toString(streamId).getBytes(StandardCharsets.UTF_8);
                cache(keys, streamId, key);
            }
        }
        final byte[] value = new byte[event.payloadLength()];
        event.payload().getBytes(0, value);
        return new ProducerRecord<>(topic, null, event.timestamp() / 1_000_000L, key, value, headers);
    }

    /** The key of the stream a metadata stream ({@code "$$" + name}, {@code "$$$" + id}) is about. */
    private static byte[] targetKey(final String metadataStream)
    {
        final String target = metadataStream.startsWith("$$$") ? metadataStream.substring(3) :
            metadataStream.substring(2);
        return target.getBytes(StandardCharsets.UTF_8);
    }

    private byte[] nameOf(final long streamId)
    {
        byte[] name = names.get(streamId);
        if (name == null)
        {
            final String text = db.streamName(streamId);
            if (text == null)
            {
                throw new KafkaStreamingException("stream " + streamId + " has no name in " + db.directory());
            }
            name = text.getBytes(StandardCharsets.UTF_8);
            cache(names, streamId, name);
        }
        return name;
    }

    private static void cache(final Long2ObjectHashMap<byte[]> map, final long key, final byte[] value)
    {
        if (map.size() >= 65_536)
        {
            map.clear();
        }
        map.put(key, value);
    }

    /**
     * Publish on a thread of its own until {@link #close()}; a failure stops it, and {@link #failure()} says why.
     * A transaction that failed is tried again (up to 10 times in a row, after growing pauses): aborted, or, when Kafka
     * left the producer unable to abort, with a new producer, which fences the old one and aborts what it left open.
     * Being fenced by another publisher, or refused for good (authorization, versions), stops it.
     *
     * @return this publisher.
     */
    public synchronized KafkaPublisher start()
    {
        if (thread != null)
        {
            throw new IllegalStateException("already started");
        }
        running = true;
        thread = new Thread(this::run, "varve-kafka-publisher-" + topic);
        thread.setDaemon(true);
        thread.start();
        return this;
    }

    private void run()
    {
        int retries = 0;
        while (running)
        {
            try
            {
                if (publish() == 0)
                {
                    java.util.concurrent.locks.LockSupport.parkNanos(IDLE_PARK_NS);
                }
                retries = 0;
            }
            catch (final KafkaStreamingException ex)
            {
                if (!running)
                {
                    return;
                }
                if (ex.getCause() instanceof KafkaException && !(ex.getCause() instanceof ProducerFencedException) &&
                    (opened || abandoned) && ++retries < 10)
                {
                    // aborted, not fatal: the same events again after a pause. Or not aborted, by a producer Kafka
                    // left unable to (INVALID_TXN_STATE on a commit, say): publish() opens a new producer, which
                    // fences that one, aborts what it left open, and goes on from the topic's end, as a restarted
                    // process would
                    java.util.concurrent.locks.LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(100L * retries));
                    continue;
                }
                failure = ex;
                running = false;
            }
            catch (final RuntimeException | Error ex)
            {
                failure = ex;
                running = false;
                abort();
            }
        }
    }

    /** @return the position of the last event the topic holds committed, {@link KafkaRecordFormat#NONE} if none. */
    public long publishedPosition()
    {
        return publishedPosition;
    }

    /** @return events this publisher committed to the topic since it was built. */
    public long publishedEvents()
    {
        return publishedEvents;
    }

    /** @return transactions committed since it was built. */
    public long transactions()
    {
        return transactions;
    }

    /** @return transactions aborted (and tried again) since it was built. */
    public long aborts()
    {
        return aborts;
    }

    /** @return true while its thread publishes. */
    public boolean isRunning()
    {
        return running;
    }

    /** @return what stopped its thread, or null. */
    public Throwable failure()
    {
        return failure;
    }

    /**
     * Stop publishing: the thread (if started) finishes its transaction, and the producer is closed. The store is
     * not closed.
     */
    @Override
    public void close()
    {
        running = false;
        final Thread t;
        synchronized (this)
        {
            t = thread;
        }
        if (t != null)
        {
            try
            {
                t.join(CLOSE_TIMEOUT.toMillis());
            }
            catch (final InterruptedException ex)
            {
                Thread.currentThread().interrupt();
            }
        }
        synchronized (this)
        {
            if (producer != null)
            {
                if (inTransaction)
                {
                    abort();
                }
                if (producer != null)
                {
                    producer.close(CLOSE_TIMEOUT);
                    producer = null;
                }
            }
            opened = false;
        }
    }

    /**
     * Builder of {@link KafkaPublisher}.
     */
    public static final class Builder
    {
        private final VarveDB db;
        private final String bootstrap;
        private final String topic;
        private String transactionalId;
        private int maxEventsPerTransaction = DEFAULT_MAX_EVENTS_PER_TRANSACTION;
        private Duration maxTransactionTime = DEFAULT_MAX_TRANSACTION_TIME;
        private Duration timeout = Duration.ofSeconds(30);
        private final Map<String, Object> producerOverrides = new HashMap<>();
        private final Map<String, Object> consumerOverrides = new HashMap<>();
        private Function<Properties, KafkaProducer<byte[], byte[]>> producers = KafkaProducer::new;

        private Builder(final VarveDB db, final String bootstrap, final String topic)
        {
            this.db = Objects.requireNonNull(db, "db");
            this.bootstrap = requireText(bootstrap, "bootstrap");
            this.topic = requireText(topic, "topic");
            this.transactionalId = "varve-publisher-" + topic;
        }

        /**
         * The producer's transactional id: one publisher per id at a time (a new one fences the old). Default
         * {@code varve-publisher-<topic>}: one publisher per topic.
         *
         * @param id the id.
         * @return this builder.
         */
        public Builder transactionalId(final String id)
        {
            this.transactionalId = requireText(id, "transactionalId");
            return this;
        }

        /**
         * @param events most events in one transaction (default {@value #DEFAULT_MAX_EVENTS_PER_TRANSACTION}).
         * @return this builder.
         */
        public Builder maxEventsPerTransaction(final int events)
        {
            if (events < 1)
            {
                throw new IllegalArgumentException("maxEventsPerTransaction must be >= 1, got " + events);
            }
            this.maxEventsPerTransaction = events;
            return this;
        }

        /**
         * @param time longest time one transaction gathers events before its commit (default 100 ms).
         * @return this builder.
         */
        public Builder maxTransactionTime(final Duration time)
        {
            if (time.isNegative())
            {
                throw new IllegalArgumentException("maxTransactionTime must be >= 0, got " + time);
            }
            this.maxTransactionTime = time;
            return this;
        }

        /**
         * @param timeout for Kafka's answers when starting (default 30 s).
         * @return this builder.
         */
        public Builder timeout(final Duration timeout)
        {
            this.timeout = Objects.requireNonNull(timeout, "timeout");
            return this;
        }

        /**
         * A producer setting (security, client id...); the transactional, idempotence and serializer settings it
         * needs are its own unless overridden here, at your risk.
         *
         * @param name  of the setting.
         * @param value its value.
         * @return this builder.
         */
        public Builder producerProperty(final String name, final Object value)
        {
            producerOverrides.put(name, value);
            return this;
        }

        /**
         * A setting of the consumer that reads the topic's end at start (security settings, typically).
         *
         * @param name  of the setting.
         * @param value its value.
         * @return this builder.
         */
        public Builder consumerProperty(final String name, final Object value)
        {
            consumerOverrides.put(name, value);
            return this;
        }

        /**
         * For tests: what makes the publisher's producers from their settings (a test's may fail on purpose).
         *
         * @param factory makes a producer.
         * @return this builder.
         */
        Builder producers(final Function<Properties, KafkaProducer<byte[], byte[]>> factory)
        {
            this.producers = Objects.requireNonNull(factory, "factory");
            return this;
        }

        /** @return the publisher; {@link KafkaPublisher#start()} it or call {@link KafkaPublisher#publish()}. */
        public KafkaPublisher build()
        {
            return new KafkaPublisher(this);
        }
    }

    static String requireText(final String value, final String what)
    {
        if (value == null || value.isBlank())
        {
            throw new IllegalArgumentException(what + " must not be blank");
        }
        return value;
    }
}
