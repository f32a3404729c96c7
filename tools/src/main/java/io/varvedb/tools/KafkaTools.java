package io.varvedb.tools;

import io.varvedb.VarveException;
import io.varvedb.kafka.KafkaRecordFormat;
import io.varvedb.kafka.KafkaStreamingException;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigException;
import org.apache.kafka.common.errors.TimeoutException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

import java.time.Duration;
import java.util.List;
import java.util.Properties;

/**
 * What {@code publish} and {@code replicate} share: a look at the topic before anything is opened (is there a
 * broker, is there the topic, where does it end), and Kafka's failures as one line and {@link ExitCode#KAFKA}.
 */
final class KafkaTools
{
    /** Records read back from a partition's end at first, as the publisher does, growing while none is an event. */
    private static final int FIRST_WINDOW = 64;
    private static final Duration POLL = Duration.ofMillis(200);
    /** How often {@code --once} looks whether it is done, between two progress lines. */
    private static final long ONCE_CHECK_NANOS = java.util.concurrent.TimeUnit.MILLISECONDS.toNanos(20);

    private KafkaTools()
    {
    }

    /**
     * The end of a topic as a publisher left it.
     *
     * @param partitions   its partitions.
     * @param lastPosition the primary position of the last event it holds committed, {@link KafkaRecordFormat#NONE}
     *                     if none.
     * @param streamId     that event's stream id on the primary.
     * @param version      its version.
     * @param lastWhole    the position of the last event a replica can apply: {@code lastPosition}, unless the topic
     *                     ends inside a batch (a transaction may end in one, and the publisher stop after it), whose
     *                     events a replica appends only once it has the batch's last one: then the last event
     *                     before that batch ({@link KafkaRecordFormat#NONE} if none).
     */
    record TopicEnd(int partitions, long lastPosition, long streamId, long version, long lastWhole)
    {
    }

    /** The last event of a partition (its position, stream and version), and its last one not inside a batch. */
    private record Last(long position, long streamId, long version, long whole)
    {
        static final Last NONE = new Last(KafkaRecordFormat.NONE, 0, 0, KafkaRecordFormat.NONE);
    }

    /**
     * Look at the topic with a consumer of its own (read committed), before a store is opened or created: a broker
     * that does not answer within {@code timeout}, or a missing topic, ends the command here.
     *
     * @param bootstrap the brokers.
     * @param topic     the topic.
     * @param timeout   longest wait for an answer.
     * @return its partitions and the last event it holds.
     */
    static TopicEnd topicEnd(final String bootstrap, final String topic, final Duration timeout)
    {
        try (KafkaConsumer<byte[], byte[]> consumer = consumer(bootstrap, timeout))
        {
            final List<PartitionInfo> infos = consumer.partitionsFor(topic, timeout);
            if (infos == null || infos.isEmpty())
            {
                throw new CliException(ExitCode.KAFKA, "topic " + topic + " does not exist at " + bootstrap +
                    ": create it first (kafka-topics.sh --create --topic " + topic + ")");
            }
            Last last = Last.NONE;
            long whole = KafkaRecordFormat.NONE;
            for (final PartitionInfo info : infos)
            {
                final Last inPartition = last(consumer, new TopicPartition(topic, info.partition()), timeout);
                if (inPartition.position() > last.position())
                {
                    last = inPartition;
                }
                // a batch lies in one partition (its events share the key) and nothing else is published after
                // its start until its end: the largest whole one of any partition comes before that batch
                whole = Math.max(whole, inPartition.whole());
            }
            return new TopicEnd(infos.size(), last.position(), last.streamId(), last.version(), whole);
        }
        catch (final KafkaException ex)
        {
            throw failure("cannot read topic " + topic, ex, bootstrap, timeout);
        }
    }

    /**
     * Read back from the partition's last stable offset until a committed VarveDB record shows that does not end
     * inside a batch (the last record of all is noted on the way).
     */
    private static Last last(final KafkaConsumer<byte[], byte[]> consumer, final TopicPartition partition,
        final Duration timeout)
    {
        consumer.assign(List.of(partition));
        final long begin = consumer.beginningOffsets(List.of(partition), timeout).get(partition);
        long end = consumer.endOffsets(List.of(partition), timeout).get(partition);
        long window = FIRST_WINDOW;
        ConsumerRecord<byte[], byte[]> last = null;
        ConsumerRecord<byte[], byte[]> whole = null;
        while (end > begin && whole == null)
        {
            final long from = Math.max(begin, end - window);
            consumer.seek(partition, from);
            final long deadline = System.nanoTime() + timeout.toNanos();
            while (consumer.position(partition, timeout) < end)
            {
                for (final ConsumerRecord<byte[], byte[]> record : consumer.poll(POLL).records(partition))
                {
                    if (record.offset() < end && KafkaRecordFormat.isVarveRecord(record.headers()))
                    {
                        // the windows go backwards: the first one with a record has the last of all
                        if (last == null || record.offset() > last.offset())
                        {
                            last = record;
                        }
                        final int flags = KafkaRecordFormat.flags(record.headers());
                        if ((flags & KafkaRecordFormat.FLAG_IN_BATCH) == 0 ||
                            (flags & KafkaRecordFormat.FLAG_LAST_IN_BATCH) != 0)
                        {
                            whole = record;
                        }
                    }
                }
                if (System.nanoTime() > deadline)
                {
                    throw new TimeoutException("reading the end of " + partition + " took longer than " +
                        DurationConverter.format(timeout));
                }
            }
            end = from;
            window *= 8;
        }
        if (last == null)
        {
            return Last.NONE;
        }
        return new Last(KafkaRecordFormat.longHeader(last.headers(), KafkaRecordFormat.POSITION),
            KafkaRecordFormat.longHeader(last.headers(), KafkaRecordFormat.STREAM),
            KafkaRecordFormat.longHeader(last.headers(), KafkaRecordFormat.VERSION),
            whole == null ? KafkaRecordFormat.NONE :
                KafkaRecordFormat.longHeader(whole.headers(), KafkaRecordFormat.POSITION));
    }

    private static KafkaConsumer<byte[], byte[]> consumer(final String bootstrap, final Duration timeout)
    {
        final Properties props = new Properties();
        props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        props.put(ConsumerConfig.CLIENT_ID_CONFIG, "varve-topic-end");
        props.put(ConsumerConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, Long.toString(Math.max(1, timeout.toMillis())));
        props.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        props.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        return new KafkaConsumer<>(props);
    }

    /**
     * Wait while {@code going} holds, showing {@code progress} every {@code interval} from {@code startNanos}
     * (with {@code once}, only on a terminal, and looking at {@code going} more often), until a stop signal.
     *
     * @return true if a stop signal ended the wait.
     */
    static boolean follow(final StopSignal stop, final LiveLine line, final boolean once, final boolean terminal,
        final Duration interval, final long startNanos, final java.util.function.BooleanSupplier going,
        final java.util.function.Supplier<String> progress)
    {
        long next = startNanos + interval.toNanos();
        while (going.getAsBoolean())
        {
            final long wake = once ? Math.min(next, System.nanoTime() + ONCE_CHECK_NANOS) : next;
            if (stop.awaitUntil(wake))
            {
                return true;
            }
            if (System.nanoTime() - next >= 0)
            {
                if (!once || terminal)
                {
                    line.show(progress.get());
                }
                next += interval.toNanos();
            }
        }
        return false;
    }

    /**
     * A failure of Kafka or of the publisher or replica, as the line the user sees.
     *
     * @param doing     what failed, e.g. {@code cannot publish to orders}.
     * @param ex        the failure.
     * @param bootstrap the brokers asked.
     * @param timeout   how long they were waited for.
     * @return a {@link CliException} to throw: {@link ExitCode#USAGE} for a {@code --bootstrap} Kafka cannot use,
     * {@link ExitCode#KAFKA} for Kafka's failures and the publisher's and replica's own
     * ({@link KafkaStreamingException}), {@link ExitCode#STORE} for the store's.
     */
    static CliException failure(final String doing, final Throwable ex, final String bootstrap,
        final Duration timeout)
    {
        if (ex instanceof CliException cli)
        {
            return cli;
        }
        final ConfigException config = cause(ex, ConfigException.class);
        if (config != null)
        {
            return CliException.usage("--bootstrap " + bootstrap + ": " + config.getMessage());
        }
        final TimeoutException timedOut = cause(ex, TimeoutException.class);
        if (timedOut != null)
        {
            return new CliException(ExitCode.KAFKA, "no answer from Kafka at " + bootstrap + " within " +
                DurationConverter.format(timeout) + " (" + timedOut.getMessage() + "): is the broker running, " +
                "and --bootstrap right? (--timeout waits longer)");
        }
        if (ex instanceof KafkaStreamingException)
        {
            // the publisher's and replica's own lines say what and where; a Kafka cause is in them already
            return new CliException(ExitCode.KAFKA, ex.getMessage());
        }
        if (ex instanceof VarveException)
        {
            return CliException.store(ex.getMessage());
        }
        if (ex instanceof KafkaException)
        {
            return new CliException(ExitCode.KAFKA, doing + ": " + ex.getMessage() +
                (ex.getCause() != null && ex.getCause().getMessage() != null ? " (" + ex.getCause().getMessage() +
                ")" : ""));
        }
        if (ex instanceof RuntimeException runtime)
        {
            throw runtime;
        }
        if (ex instanceof Error error)
        {
            throw error;
        }
        return new CliException(ExitCode.INTERNAL, doing + ": " + ex);
    }

    private static <T extends Throwable> T cause(final Throwable ex, final Class<T> type)
    {
        for (Throwable t = ex; t != null; t = t.getCause() == t ? null : t.getCause())
        {
            if (type.isInstance(t))
            {
                return type.cast(t);
            }
        }
        return null;
    }
}
