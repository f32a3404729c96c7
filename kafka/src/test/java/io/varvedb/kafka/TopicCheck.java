package io.varvedb.kafka;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.BitSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import io.varvedb.StreamMetadata;
import org.agrona.concurrent.UnsafeBuffer;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Headers;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * A whole topic as a downstream consumer reads it (read committed), kept compact (a long run holds hundreds of
 * thousands of records), and the check that it is a store's log event for event. Also counts what
 * read uncommitted sees besides: the records of aborted transactions.
 */
final class TopicCheck
{
    /** One committed record: what the check compares. */
    record Rec(int partition, long offset, String key, long position, long previous, String stream, long version,
        int type, long timestamp, int flags, String eventId, byte[] value)
    {
    }

    final String topic;
    final List<Rec> committed = new ArrayList<>();
    /** Committed offsets of each partition. */
    final Map<Integer, BitSet> committedOffsets = new HashMap<>();
    /** Records read uncommitted sees: the committed ones and those of aborted transactions. */
    long uncommittedRecords;

    private TopicCheck(final String topic)
    {
        this.topic = topic;
    }

    static TopicCheck read(final String bootstrap, final String topic)
    {
        final TopicCheck check = new TopicCheck(topic);
        each(bootstrap, topic, "read_committed", (record) ->
        {
            check.committed.add(compact(record));
            check.committedOffsets.computeIfAbsent(record.partition(), (p) -> new BitSet())
                .set(Math.toIntExact(record.offset()));
        });
        final long[] all = {0};
        each(bootstrap, topic, "read_uncommitted", (record) -> all[0]++);
        check.uncommittedRecords = all[0];
        return check;
    }

    /** @return records of aborted transactions the topic holds. */
    long abortedRecords()
    {
        return uncommittedRecords - committed.size();
    }

    /** @return true if any offset of {@code [from, to)} of the partition holds a committed record. */
    boolean anyCommitted(final int partition, final long from, final long to)
    {
        final BitSet offsets = committedOffsets.get(partition);
        if (offsets == null || from >= to)
        {
            return false;
        }
        final int next = offsets.nextSetBit(Math.toIntExact(from));
        return next >= 0 && next < to;
    }

    private static void each(final String bootstrap, final String topic, final String isolation,
        final java.util.function.Consumer<ConsumerRecord<byte[], byte[]>> sink)
    {
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(TopicTail.consumerProperties(bootstrap,
            Map.of(ConsumerConfig.ISOLATION_LEVEL_CONFIG, isolation, ConsumerConfig.MAX_POLL_RECORDS_CONFIG, 5000))))
        {
            final List<TopicPartition> partitions = TopicTail.partitions(consumer, topic, Duration.ofSeconds(30));
            final Map<TopicPartition, Long> ends = consumer.endOffsets(partitions);
            for (final TopicPartition partition : partitions)
            {
                consumer.assign(List.of(partition));
                consumer.seekToBeginning(List.of(partition));
                final long end = ends.get(partition);
                final long deadline = System.nanoTime() + Duration.ofMinutes(2).toNanos();
                while (consumer.position(partition) < end)
                {
                    for (final ConsumerRecord<byte[], byte[]> record : consumer.poll(Duration.ofMillis(200)))
                    {
                        sink.accept(record);
                    }
                    assertTrue(System.nanoTime() < deadline, "reading " + partition + " " + isolation);
                }
            }
        }
    }

    private static Rec compact(final ConsumerRecord<byte[], byte[]> record)
    {
        final Headers headers = record.headers();
        final String name = KafkaRecordFormat.streamName(headers);
        final long streamId = KafkaRecordFormat.longHeader(headers, KafkaRecordFormat.STREAM);
        final int flags = KafkaRecordFormat.flags(headers);
        final byte[] id = KafkaRecordFormat.eventId(headers);
        String eventId = null;
        if (id != null)
        {
            final java.nio.ByteBuffer ids = java.nio.ByteBuffer.wrap(id);
            eventId = new java.util.UUID(ids.getLong(), ids.getLong()).toString();
        }
        byte[] value = record.value() == null ? new byte[0] : record.value();
        if ((flags & KafkaRecordFormat.FLAG_METADATA) != 0)
        {
            // compared as StoreImage does: what it says, not the local ids it names a stream by
            value = StreamMetadata.decode(new UnsafeBuffer(value), 0, value.length).toString()
                .getBytes(StandardCharsets.UTF_8);
        }
        return new Rec(record.partition(), record.offset(),
            record.key() == null ? null : new String(record.key(), StandardCharsets.UTF_8),
            KafkaRecordFormat.longHeader(headers, KafkaRecordFormat.POSITION),
            KafkaRecordFormat.longHeader(headers, KafkaRecordFormat.PREVIOUS),
            name != null ? name : Long.toString(streamId),
            KafkaRecordFormat.longHeader(headers, KafkaRecordFormat.VERSION),
            KafkaRecordFormat.intHeader(headers, KafkaRecordFormat.EVENT_TYPE),
            KafkaRecordFormat.longHeader(headers, KafkaRecordFormat.TIMESTAMP), flags, eventId, value);
    }

    /**
     * The committed records are the log, event for event: as many; each position once; in position order the
     * positions, streams, versions, types, timestamps, ids, flags and payloads of the log in its order; the
     * {@link KafkaRecordFormat#PREVIOUS} chain unbroken from {@link KafkaRecordFormat#NONE}; within each partition
     * positions rise with offsets; and every record of a key is in one partition.
     */
    void assertEqualsLog(final StoreImage image)
    {
        final Map<Integer, Long> lastInPartition = new HashMap<>();
        final Map<String, Integer> partitionOfKey = new HashMap<>();
        for (final Rec rec : committed)
        {
            final Long before = lastInPartition.put(rec.partition(), rec.position());
            if (before != null && before >= rec.position())
            {
                fail(topic + ": partition " + rec.partition() + " offset " + rec.offset() + " holds position " +
                    rec.position() + " after position " + before + ": reordered or duplicated");
            }
            final Integer partition = partitionOfKey.putIfAbsent(rec.key(), rec.partition());
            if (partition != null && partition != rec.partition())
            {
                fail(topic + ": key " + rec.key() + " in partitions " + partition + " and " + rec.partition());
            }
        }
        final List<Rec> byPosition = new ArrayList<>(committed);
        byPosition.sort((x, y) -> Long.compare(x.position(), y.position()));
        for (int i = 1; i < byPosition.size(); i++)
        {
            if (byPosition.get(i).position() == byPosition.get(i - 1).position())
            {
                fail(topic + ": position " + byPosition.get(i).position() + " twice: " + byPosition.get(i - 1) +
                    " and " + byPosition.get(i));
            }
        }
        for (int i = 0; i < Math.min(byPosition.size(), image.log.size()); i++)
        {
            final Rec rec = byPosition.get(i);
            final StoreImage.Event event = image.log.get(i);
            final String where = topic + ": event " + i + " of the log (" + event + ") vs " + rec.partition() + "@" +
                rec.offset();
            assertEquals(image.positions.get(i), rec.position(), where + ": position (a lost event?)");
            assertEquals(i == 0 ? KafkaRecordFormat.NONE : image.positions.get(i - 1), rec.previous(),
                where + ": previous");
            assertEquals(event.stream(), rec.stream(), where + ": stream");
            assertEquals(event.version(), rec.version(), where + ": version");
            assertEquals(event.type(), rec.type(), where + ": type");
            assertEquals(event.timestamp(), rec.timestamp(), where + ": timestamp");
            assertEquals(event.eventId(), rec.eventId(), where + ": event id");
            assertEquals(event.tombstone(), (rec.flags() & KafkaRecordFormat.FLAG_TOMBSTONE) != 0, where);
            assertEquals(event.inBatch(), (rec.flags() & KafkaRecordFormat.FLAG_IN_BATCH) != 0, where);
            assertEquals(image.lastInBatch.get(i), (rec.flags() & KafkaRecordFormat.FLAG_LAST_IN_BATCH) != 0, where);
            assertArrayEquals(event.payload(), rec.value(), where + ": payload");
        }
        assertEquals(image.log.size(), byPosition.size(), topic + ": one committed record per event of the log");
    }

    @Override
    public String toString()
    {
        return topic + ": " + committed.size() + " committed records, " + abortedRecords() + " aborted, partitions " +
            Arrays.toString(committedOffsets.keySet().toArray());
    }
}
