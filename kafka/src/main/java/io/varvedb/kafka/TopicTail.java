package io.varvedb.kafka;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * Finds the last event a topic holds committed: where a publisher goes on. Each partition is read backwards from its
 * last stable offset in growing windows (transaction markers and aborted records take offsets too) until a
 * committed VarveDB record is found; the highest position over all partitions is the last one published, since one
 * publisher publishes in log order and a transaction commits whole.
 */
final class TopicTail
{
    /** The last published record and its position; {@link KafkaRecordFormat#NONE} and null if there is none. */
    record Last(long position, ConsumerRecord<byte[], byte[]> record)
    {
    }

    private static final int FIRST_WINDOW = 64;
    private static final int DEFAULT_REQUEST_MS = 30_000;
    private static final int FETCH_WAIT_MS = 10;
    private static final Duration POLL = Duration.ofMillis(200);
    private static final long METADATA_RETRY_NS = java.util.concurrent.TimeUnit.MILLISECONDS.toNanos(200);

    private TopicTail()
    {
    }

    /**
     * A client's timeouts for a wait of at most {@code timeout}: its API calls' default, and its requests' (which
     * Kafka wants no longer than the former; 30 s by default).
     */
    static Map<String, Object> timeouts(final Duration timeout)
    {
        final int millis = (int)Math.max(1, Math.min(Integer.MAX_VALUE, timeout.toMillis()));
        return Map.of("default.api.timeout.ms", millis, "request.timeout.ms", Math.min(millis, DEFAULT_REQUEST_MS));
    }

    static Properties consumerProperties(final String bootstrap, final Map<String, Object> extra)
    {
        final Properties props = new Properties();
        props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        props.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        props.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        props.putAll(extra);
        return props;
    }

    static List<TopicPartition> partitions(final KafkaConsumer<byte[], byte[]> consumer, final String topic,
        final Duration timeout)
    {
        // a topic created a moment ago may not be in every broker's metadata yet: asked again until the timeout
        final long deadline = System.nanoTime() + timeout.toNanos();
        List<PartitionInfo> infos = consumer.partitionsFor(topic, timeout);
        while ((infos == null || infos.isEmpty()) && System.nanoTime() < deadline)
        {
            java.util.concurrent.locks.LockSupport.parkNanos(METADATA_RETRY_NS);
            infos = consumer.partitionsFor(topic, timeout);
        }
        if (infos == null || infos.isEmpty())
        {
            throw new KafkaStreamingException("topic " + topic + " does not exist (create it first; see the README)");
        }
        final List<TopicPartition> partitions = new ArrayList<>(infos.size());
        for (final PartitionInfo info : infos)
        {
            partitions.add(new TopicPartition(topic, info.partition()));
        }
        partitions.sort((a, b) -> Integer.compare(a.partition(), b.partition()));
        return partitions;
    }

    static Last find(final String bootstrap, final String topic, final Map<String, Object> extra,
        final Duration timeout)
    {
        final Properties props = consumerProperties(bootstrap, extra);
        // it reads partition after partition to their ends: a fetch left waiting for more (500 ms by default) would
        // hold up the next partition's read for nothing
        props.putIfAbsent("fetch.max.wait.ms", FETCH_WAIT_MS);
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(props))
        {
            Last best = new Last(KafkaRecordFormat.NONE, null);
            for (final TopicPartition partition : partitions(consumer, topic, timeout))
            {
                final Last last = lastIn(consumer, partition, timeout);
                if (last.position() > best.position())
                {
                    best = last;
                }
            }
            return best;
        }
    }

    private static Last lastIn(final KafkaConsumer<byte[], byte[]> consumer, final TopicPartition partition,
        final Duration timeout)
    {
        consumer.assign(List.of(partition));
        // read_committed: the end offsets are the last stable offsets, past which nothing is committed yet
        final long begin = consumer.beginningOffsets(List.of(partition), timeout).get(partition);
        long end = consumer.endOffsets(List.of(partition), timeout).get(partition);
        long window = FIRST_WINDOW;
        while (end > begin)
        {
            final long from = Math.max(begin, end - window);
            consumer.seek(partition, from);
            ConsumerRecord<byte[], byte[]> last = null;
            final long deadline = System.nanoTime() + timeout.toNanos();
            while (consumer.position(partition, timeout) < end)
            {
                for (final ConsumerRecord<byte[], byte[]> record : consumer.poll(POLL).records(partition))
                {
                    if (record.offset() < end && KafkaRecordFormat.isVarveRecord(record.headers()))
                    {
                        last = record;
                    }
                }
                if (System.nanoTime() > deadline)
                {
                    throw new KafkaStreamingException("timed out reading the end of " + partition);
                }
            }
            if (last != null)
            {
                return new Last(KafkaRecordFormat.longHeader(last.headers(), KafkaRecordFormat.POSITION), last);
            }
            end = from;
            window *= 8;
        }
        return new Last(KafkaRecordFormat.NONE, null);
    }
}
