package io.varvedb.kafka;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;

/** Reads a whole topic the way a downstream consumer would: read committed. */
final class KafkaTopics
{
    private KafkaTopics()
    {
    }

    /**
     * A commit is visible to read-committed consumers a moment after {@code commitTransaction} returns (the markers
     * are written after): read until at least {@code atLeast} records are there, or 30 s.
     *
     * @return every committed record of every partition, partition by partition, in offset order.
     */
    static List<ConsumerRecord<byte[], byte[]>> readCommitted(final String bootstrap, final String topic,
        final int atLeast)
    {
        final long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        List<ConsumerRecord<byte[], byte[]>> all = readCommitted(bootstrap, topic);
        while (all.size() < atLeast && System.nanoTime() < deadline)
        {
            java.util.concurrent.locks.LockSupport.parkNanos(Duration.ofMillis(50).toNanos());
            all = readCommitted(bootstrap, topic);
        }
        return all;
    }

    /** @return every committed record of every partition, partition by partition, in offset order. */
    static List<ConsumerRecord<byte[], byte[]>> readCommitted(final String bootstrap, final String topic)
    {
        final List<ConsumerRecord<byte[], byte[]>> all = new ArrayList<>();
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(TopicTail.consumerProperties(bootstrap,
            Map.of())))
        {
            final List<TopicPartition> partitions = TopicTail.partitions(consumer, topic, Duration.ofSeconds(30));
            consumer.assign(partitions);
            consumer.seekToBeginning(partitions);
            final Map<TopicPartition, Long> ends = consumer.endOffsets(partitions);
            for (final TopicPartition partition : partitions)
            {
                consumer.assign(List.of(partition));
                consumer.seekToBeginning(List.of(partition));
                final long end = ends.get(partition);
                while (consumer.position(partition) < end)
                {
                    for (final ConsumerRecord<byte[], byte[]> record : consumer.poll(Duration.ofMillis(200)))
                    {
                        all.add(record);
                    }
                }
            }
        }
        return all;
    }
}
