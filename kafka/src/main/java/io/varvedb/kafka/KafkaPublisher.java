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
    /** Failed attempts in a row a started publisher makes before it stops. */
    private static final int MAX_RETRIES = 50;
    private static final Duration CLOSE_TIMEOUT = Duration.ofSeconds(10);
    private static final long IDLE_PARK_NS = TimeUnit.MICROSECONDS.toNanos(200);
    /** Longest wait for the rest of a batch a transaction reached (it is written at once: microseconds). */
    private static final long BATCH_WAIT_NS = TimeUnit.SECONDS.toNanos(1);

    private final VarveDB db;
    private final String topic;
    private final String bootstrap;
    private final Properties producerProperties;
    private final Function<Properties, KafkaProducer<byte[], byte[]>> producers;
    private final Map<String, Object> consumerOverrides;
    private final int maxEventsPerTransaction;
    private final long maxTransactionNanos;
    private final Duration timeout;
    private final boolean skipTruncated;
    private final Long2ObjectHashMap<byte[]> keys = new Long2ObjectHashMap<>();
    private final Long2ObjectHashMap<byte[]> names = new Long2ObjectHashMap<>();
    private final Handler handler = new Handler();

    /** Volatile: {@link #close()} may close it from another thread to cut a blocked connect short. */
    private volatile KafkaProducer<byte[], byte[]> producer;
    private volatile boolean connecting;
    /** Position the next read starts at, and the last event sent (in the open transaction, if any). */
    private long next;
    private long previous;
    /** The same, as of the last commit: where an aborted transaction goes back to. */
    private long committedNext;
    private long committedPrevious;
    private boolean inTransaction;
    /** The last event sent is in a batch whose last event is not sent yet. */
    private boolean midBatch;
    private int inThisTransaction;

    private volatile long publishedPosition = KafkaRecordFormat.NONE;
    private volatile long publishedEvents;
    private volatile long transactions;
    private volatile long aborts;
    private volatile boolean running;
    private volatile Throwable failure;
    private volatile Thread thread;
    private boolean opened;
    /** Why publishing stopped for good (fenced by another publisher...), or null. */
    private RuntimeException stopped;

    private KafkaPublisher(final Builder builder)
    {
        this.db = builder.db;
        this.topic = builder.topic;
        this.bootstrap = builder.bootstrap;
        this.maxEventsPerTransaction = builder.maxEventsPerTransaction;
        this.maxTransactionNanos = builder.maxTransactionTime.toNanos();
        this.timeout = builder.timeout;
        this.skipTruncated = builder.skipTruncated;
        this.consumerOverrides = new HashMap<>();
        consumerOverrides.putAll(TopicTail.timeouts(builder.timeout));
        consumerOverrides.putAll(builder.consumerOverrides);
        this.producers = builder.producers;
        final Properties props = new Properties();
        props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, builder.transactionalId);
        props.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
        props.put(ProducerConfig.ACKS_CONFIG, "all");
        props.put(ProducerConfig.LINGER_MS_CONFIG, "5");
        props.put(ProducerConfig.BATCH_SIZE_CONFIG, Integer.toString(256 * 1024));
        props.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, "none");
        // initTransactions, metadata waits and a full buffer block no longer than the timeout asked for
        props.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, Long.toString(builder.timeout.toMillis()));
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
        if (stopped != null)
        {
            throw new KafkaStreamingException("publishing to " + topic + " stopped for good: " + stopped, stopped);
        }
        if (opened)
        {
            return publishedPosition;
        }
        producer = producers.apply(producerProperties);
        connecting = true;
        try
        {
            // first, what the topic holds committed now must be this store's: a publisher pointed at another
            // store's topic must not fence (and so stop) that store's own publisher
            verify(TopicTail.find(bootstrap, topic, consumerOverrides, timeout));
            // fences every earlier producer of this transactional id and aborts what it left open: from here on,
            // the topic's committed records are all there will be of theirs
            producer.initTransactions();
            final TopicTail.Last last = TopicTail.find(bootstrap, topic, consumerOverrides, timeout);
            resumeAfter(last);
            opened = true;
            return publishedPosition;
        }
        catch (final RuntimeException ex)
        {
            closeProducer();
            if (!running && thread != null)
            {
                throw new KafkaStreamingException("closed while connecting to " + topic, ex);
            }
            throw ex instanceof KafkaStreamingException ? ex :
                new KafkaStreamingException("cannot start publishing to " + topic + ": " + ex.getMessage(), ex);
        }
        finally
        {
            connecting = false;
        }
    }

    private void resumeAfter(final TopicTail.Last last)
    {
        next = verify(last);
        previous = last.position();
        committedNext = next;
        committedPrevious = previous;
        publishedPosition = previous;
    }

    /**
     * Check that the topic ends with this store's own event, and say where to go on reading the log.
     *
     * @return the position to read on from: the topic's last event (skipped when read again), the start of the
     * log for an empty topic, or the log start past a retention that dropped the topic's last event (only with
     * {@link Builder#skipTruncated}).
     */
    private long verify(final TopicTail.Last last)
    {
        if (last.position() == KafkaRecordFormat.NONE)
        {
            return VarveDB.START_POSITION;
        }
        else
        {
            // the event the topic ends with must be the store's own at that position, the same in every field and
            // byte (timestamps in nanoseconds tell two look-alike stores, or a store and its restored backup, apart):
            // else publishing on would interleave two histories in one topic
            final String mismatch;
            try
            {
                mismatch = compare(last);
            }
            catch (final io.varvedb.LogTruncatedException ex)
            {
                if (!skipTruncated)
                {
                    throw new KafkaStreamingException("topic " + topic + " ends with position " + last.position() +
                        ", which the store at " + db.directory() + " no longer holds: its log starts at " +
                        ex.logStart() + " (retention). Events between may have been dropped before they were " +
                        "published; to go on from the log start anyway, build the publisher with " +
                        "skipTruncated(true) (varve publish --skip-truncated)", ex);
                }
                // what the topic lacks between its end and the log start is gone: said, and accepted
                return ex.logStart();
            }
            catch (final IllegalArgumentException ex)
            {
                throw foreign("topic " + topic + " ends with position " + last.position() + ", which is no " +
                    "event of the store at " + db.directory() + ": published from another store, or the store " +
                    "is an older copy (a restored backup) of the one that published it", ex);
            }
            if (mismatch != null)
            {
                throw foreign("topic " + topic + " ends with an event at position " + last.position() + " that " +
                    "differs from the store's there (" + mismatch + "): published from another store, or the store " +
                    "at " + db.directory() + " is a restored backup whose new events took the old positions", null);
            }
            // from that event on, skipping it (a scavenge may have dropped it; positions never change)
            return last.position();
        }
    }

    /** @return what differs between the topic's last record and the store's event at its position; null if none. */
    private String compare(final TopicTail.Last last)
    {
        final org.apache.kafka.common.header.Headers headers = last.record().headers();
        final String[] mismatch = {null};
        final int read = db.readAll(last.position(), 1, (event) ->
        {
            if (event.position() != last.position())
            {
                // a scavenge dropped it (positions never change): nothing to compare
                return;
            }
            if (event.streamId() != KafkaRecordFormat.longHeader(headers, KafkaRecordFormat.STREAM) ||
                event.version() != KafkaRecordFormat.longHeader(headers, KafkaRecordFormat.VERSION))
            {
                mismatch[0] = "stream " + KafkaRecordFormat.longHeader(headers, KafkaRecordFormat.STREAM) + " version " +
                    KafkaRecordFormat.longHeader(headers, KafkaRecordFormat.VERSION) + " in the topic, stream " +
                    event.streamId() + " version " + event.version() + " in the store";
                return;
            }
            final String differs = KafkaRecordFormat.difference(event, last.record());
            if (differs != null)
            {
                mismatch[0] = differs + " of stream " + event.streamId() + " version " + event.version();
            }
        });
        if (read == 0)
        {
            final long stream = KafkaRecordFormat.longHeader(headers, KafkaRecordFormat.STREAM);
            if (db.isEncrypted() && last.position() < db.tailPosition() && db.isShredded(stream))
            {
                // the topic's last event is of a stream shredded since (readAll skips it): nothing to compare
                return null;
            }
            // the store's log ends there: the topic holds more than this store ever did
            return "the store's log ends at " + last.position() + ", the topic holds an event there";
        }
        return mismatch[0];
    }

    private KafkaStreamingException foreign(final String message, final Throwable cause)
    {
        // for good: publishing after another store's events would interleave two logs in one topic
        final KafkaStreamingException ex = new KafkaStreamingException(message, cause);
        stopped = ex;
        return ex;
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
            finishBatch();
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
            // fatal for this publisher: another one of the same transactional id took over, or Kafka refuses for
            // good; publishing again would fence the other one, so it stays stopped
            stopped = ex;
            abort();
            throw new KafkaStreamingException("publishing to " + topic + " stopped: " + ex, ex);
        }
        catch (final KafkaException ex)
        {
            final int lost = inThisTransaction;
            abort();
            throw new KafkaStreamingException("transaction to " + topic + " failed; its " + lost + " events go out " +
                "again after the next publish() reads where the topic ends: " + ex, ex);
        }
    }

    /**
     * Give up the open transaction and the producer. The next {@link #publish()} starts a new producer, whose
     * {@code initTransactions} finishes or aborts whatever this one left (a commit that timed out may have
     * succeeded), and reads where the topic ends: so it never sends an event the topic holds committed.
     */
    private void abort()
    {
        aborts++;
        if (inTransaction && producer != null)
        {
            try
            {
                producer.abortTransaction();
            }
            catch (final KafkaException ignored)
            {
                // the new producer's initTransactions settles it
            }
        }
        inTransaction = false;
        midBatch = false;
        next = committedNext;
        previous = committedPrevious;
        closeProducer();
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

    /**
     * A transaction never ends inside a batch: a read-committed consumer sees a batch whole or not at all, as the
     * store's readers do. The limits of a transaction give way for the rest of the batch it reached.
     */
    private void finishBatch()
    {
        final long deadline = System.nanoTime() + BATCH_WAIT_NS;
        while (midBatch)
        {
            if (db.readAll(next, 1, handler) == 0)
            {
                if (System.nanoTime() > deadline)
                {
                    // not readable yet after all this while: the rest goes in the next transaction, as before
                    return;
                }
                java.util.concurrent.locks.LockSupport.parkNanos(IDLE_PARK_NS);
            }
        }
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
            midBatch = event.isInBatch() && !event.isLastInBatch();
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
                if (stopped == null && ++retries < MAX_RETRIES)
                {
                    // not fatal (a broker away, a timeout): again after a growing pause, from where the topic ends
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
        // never waits for this object's lock first: open() holds it while it connects
        final Thread t = thread;
        if (t != null && t != Thread.currentThread())
        {
            final KafkaProducer<byte[], byte[]> connectingProducer = producer;
            if (connecting && connectingProducer != null)
            {
                // still connecting (a broker away): cut it short rather than wait out the timeout
                connectingProducer.close(Duration.ZERO);
            }
            try
            {
                // a thread in a transaction finishes it: at most maxTransactionTime and a commit
                t.join(CLOSE_TIMEOUT.toMillis());
            }
            catch (final InterruptedException ex)
            {
                Thread.currentThread().interrupt();
            }
        }
        synchronized (this)
        {
            if (inTransaction)
            {
                abort();
            }
            final KafkaProducer<byte[], byte[]> p = producer;
            if (p != null)
            {
                producer = null;
                p.close(CLOSE_TIMEOUT);
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
        private boolean skipTruncated;
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
         * @param timeout longest wait for Kafka when connecting, fencing and finding the topic's end, and for any
         *                blocking call of the producer (its {@code max.block.ms}); default 30 s.
         * @return this builder.
         */
        public Builder timeout(final Duration timeout)
        {
            if (timeout.isNegative() || timeout.isZero())
            {
                throw new IllegalArgumentException("timeout must be > 0, got " + timeout);
            }
            this.timeout = timeout;
            return this;
        }

        /**
         * When the topic ends with an event the store no longer holds (retention dropped it, see
         * {@link VarveDB#truncateLogBefore}), go on from the store's log start instead of refusing. The publisher
         * cannot tell whether retention also dropped events it had not published yet: with this set, such events
         * are missing from the topic for good. Default false: refused, with a message that says so.
         *
         * @param skip true to go on from the log start.
         * @return this builder.
         */
        public Builder skipTruncated(final boolean skip)
        {
            this.skipTruncated = skip;
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
