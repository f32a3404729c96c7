package io.varvedb.kafka;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import io.varvedb.Appender;
import io.varvedb.ExpectedVersion;
import io.varvedb.ReplicaStoreException;
import io.varvedb.VarveDB;
import io.varvedb.kafka.broker.EmbeddedKafka;
import io.varvedb.kafka.broker.SharedKafka;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Publisher and replica against a real broker: the topic equals the log event for event, and the replica equals
 * the primary stream by stream and in global order, with one partition and with several.
 */
class KafkaReplicationTest
{
    private static EmbeddedKafka kafka;

    @TempDir
    Path dir;

    @BeforeAll
    static void broker() throws Exception
    {
        kafka = SharedKafka.get();
    }

    @Test
    void oneTopicPartitionHoldsTheLogOnceAndTheReplicaEqualsThePrimary() throws Exception
    {
        replicate("mixed-1", 1);
    }

    @Test
    void partitionsAreMergedBackIntoTheGlobalOrder() throws Exception
    {
        replicate("mixed-3", 3);
    }

    private void replicate(final String topic, final int partitions) throws Exception
    {
        kafka.createTopic(topic, partitions);
        final Path primaryDir = dir.resolve("primary");
        final Path replicaDir = dir.resolve("replica");
        try (VarveDB primary = VarveDB.open(primaryDir); Appender appender = primary.appender())
        {
            final Workload workload = new Workload(42 + partitions, 40);
            workload.run(primary, appender, 1500);
            assertTrue(workload.conflicts() > 10, "the workload raced stale writers");
            try (KafkaPublisher publisher = KafkaPublisher.builder(primary, kafka.bootstrap(), topic)
                .maxEventsPerTransaction(300).build())
            {
                assertEquals(KafkaRecordFormat.NONE, publisher.open());
                publishAll(publisher, primary);
                // more, after a first part was published
                workload.run(primary, appender, 700);
                publishAll(publisher, primary);
                assertTrue(publisher.transactions() > 3, "several transactions: " + publisher.transactions());
            }
            final StoreImage image = StoreImage.of(primary);
            assertTopicEqualsLog(topic, image, partitions);

            try (KafkaReplica replica = KafkaReplica.builder(replicaDir, kafka.bootstrap(), topic).build())
            {
                follow(replica, image);
                // read-only while it follows
                try (VarveDB reader = VarveDB.openReadOnly(replicaDir))
                {
                    assertSameLog(image.log, StoreImage.of(reader).log);
                }
                // a writer while it follows: the replica holds the store
                assertThrows(io.varvedb.StoreLockedException.class, () -> VarveDB.open(replicaDir).close());
                assertThrows(io.varvedb.StoreLockedException.class, () -> KafkaReplica.promote(replicaDir));
            }
            assertSameStore(image, replicaDir);

            // more on the primary, a second publisher (the first is gone), the replica reopened: it goes on
            workload.run(primary, appender, 500);
            try (KafkaPublisher publisher = KafkaPublisher.builder(primary, kafka.bootstrap(), topic).build())
            {
                assertEquals(image.positions.get(image.positions.size() - 1), publisher.open());
                publishAll(publisher, primary);
            }
            final StoreImage after = StoreImage.of(primary);
            assertTopicEqualsLog(topic, after, partitions);
            try (KafkaReplica replica = KafkaReplica.builder(replicaDir, kafka.bootstrap(), topic).build())
            {
                follow(replica, after);
                assertEquals(0, replica.skippedEvents(), "it went on from where it stopped");
            }
            assertSameStore(after, replicaDir);

            // promotion: refused while a replica, then a primary that continues the versions
            assertThrows(ReplicaStoreException.class, () -> VarveDB.open(replicaDir).close());
            assertEquals(KafkaReplica.source(topic), KafkaReplica.promote(replicaDir));
            try (VarveDB promoted = VarveDB.open(replicaDir); Appender writer = promoted.appender())
            {
                long stream = 1;
                while (primary.isTombstoned(stream))
                {
                    stream++;
                }
                final long version = promoted.streamVersion(stream);
                assertEquals(primary.streamVersion(stream), version);
                assertEquals(version + 1, writer.append(stream, ExpectedVersion.exact(version), 1, new byte[] {1}));
                final long written = stream;
                assertThrows(io.varvedb.ConcurrencyConflictException.class,
                    () -> writer.append(written, ExpectedVersion.NO_STREAM, 1, new byte[] {1}));
            }
            assertNull(VarveDB.replicaSource(replicaDir));
        }
    }

    @Test
    void aTransactionNeverEndsInsideABatch() throws Exception
    {
        kafka.createTopic("batches", 2);
        try (VarveDB db = VarveDB.open(dir.resolve("p")); Appender appender = db.appender())
        {
            final io.varvedb.EventBatch batch = new io.varvedb.EventBatch();
            for (int i = 0; i < 8; i++)
            {
                batch.clear();
                for (int b = 0; b < 5; b++)
                {
                    batch.add(1, new byte[] {(byte)i, (byte)b});
                }
                appender.appendBatch(1 + i % 3, ExpectedVersion.ANY, batch);
                appender.append(10, ExpectedVersion.ANY, 2, new byte[] {(byte)i});
            }
            try (KafkaPublisher publisher = KafkaPublisher.builder(db, kafka.bootstrap(), "batches")
                .maxEventsPerTransaction(3).build())
            {
                int committed = 0;
                while (committed < 48)
                {
                    final int sent = publisher.publish();
                    committed += sent;
                    // what a read-committed consumer sees after each commit: only whole batches
                    final List<ConsumerRecord<byte[], byte[]>> records = KafkaTopics.readCommitted(
                        kafka.bootstrap(), "batches", committed);
                    assertEquals(committed, records.size());
                    final long open = records.stream().filter((r) ->
                        (KafkaRecordFormat.flags(r.headers()) & KafkaRecordFormat.FLAG_IN_BATCH) != 0).count() -
                        5 * records.stream().filter((r) ->
                        (KafkaRecordFormat.flags(r.headers()) & KafkaRecordFormat.FLAG_LAST_IN_BATCH) != 0).count();
                    assertEquals(0, open, "events of a batch seen without their batch's last, after " + committed);
                    assertTrue(sent == 1 || sent >= 3, "a transaction of " + sent);
                }
            }
        }
    }

    @Test
    void aReplicaThatReadsTheTopicAgainSkipsEveryEventItHoldsAndCountsThem() throws Exception
    {
        final String topic = "read-again";
        kafka.createTopic(topic, 3);
        final Path primaryDir = dir.resolve("primary");
        final Path replicaDir = dir.resolve("replica");
        try (VarveDB primary = VarveDB.open(primaryDir); Appender appender = primary.appender())
        {
            new Workload(9, 20).run(primary, appender, 600);
            final StoreImage image = StoreImage.of(primary);
            assertTrue(image.log.stream().filter(StoreImage.Event::inBatch).count() > 20, "batches");
            try (KafkaPublisher publisher = KafkaPublisher.builder(primary, kafka.bootstrap(), topic).build())
            {
                publishAll(publisher, primary);
            }
            try (KafkaReplica replica = KafkaReplica.builder(replicaDir, kafka.bootstrap(), topic).build())
            {
                follow(replica, image);
                assertEquals(image.log.size(), replica.appliedEvents());
                assertEquals(0, replica.skippedEvents());
            }
            // the hint gone (as after a power cut), it reads the whole topic again: every event is one it has
            java.nio.file.Files.delete(replicaDir.resolve(ReplicaOffsets.FILE_NAME));
            try (KafkaReplica replica = KafkaReplica.builder(replicaDir, kafka.bootstrap(), topic).build())
            {
                follow(replica, image);
                assertEquals(image.log.size(), replica.appliedEvents());
                assertEquals(image.log.size(), replica.skippedEvents(), "each event of a batch counts");
            }
            assertSameStore(image, replicaDir);
        }
    }

    static void publishAll(final KafkaPublisher publisher, final VarveDB primary)
    {
        final StoreImage image = StoreImage.of(primary);
        final long last = image.positions.isEmpty() ? KafkaRecordFormat.NONE :
            image.positions.get(image.positions.size() - 1);
        while (publisher.publishedPosition() < last)
        {
            publisher.publish();
        }
    }

    static void follow(final KafkaReplica replica, final StoreImage image)
    {
        final long last = image.positions.get(image.positions.size() - 1);
        final long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        while (replica.appliedPosition() < last)
        {
            replica.poll(Duration.ofMillis(100));
            assertTrue(System.nanoTime() < deadline, "replica stuck at " + replica.appliedPosition());
        }
    }

    static void assertSameStore(final StoreImage primary, final Path replicaDir)
    {
        try (VarveDB replica = VarveDB.openReadOnly(replicaDir))
        {
            final StoreImage copy = StoreImage.of(replica);
            // stream by stream: versions, types, timestamps, ids and payload bytes
            final Map<String, List<StoreImage.Event>> expected = primary.streams();
            final Map<String, List<StoreImage.Event>> actual = copy.streams();
            assertEquals(expected.keySet(), actual.keySet());
            for (final Map.Entry<String, List<StoreImage.Event>> stream : expected.entrySet())
            {
                assertEquals(stream.getValue(), actual.get(stream.getKey()), "stream " + stream.getKey());
            }
            // and the global order: the replica's readAll is the primary's
            assertSameLog(primary.log, copy.log);
            for (final String stream : expected.keySet())
            {
                if (!stream.startsWith("$"))
                {
                    final long id = stream.chars().allMatch(Character::isDigit) ? Long.parseLong(stream) :
                        replica.findStreamId(stream);
                    if (!replica.isTombstoned(id))
                    {
                        assertEquals(expected.get(stream).get(expected.get(stream).size() - 1).version(),
                            replica.streamVersion(id), stream);
                    }
                }
            }
        }
    }

    private static String bootstrap()
    {
        try
        {
            return SharedKafka.get().bootstrap();
        }
        catch (final Exception ex)
        {
            throw new IllegalStateException(ex);
        }
    }

    static void assertSameLog(final List<StoreImage.Event> expected, final List<StoreImage.Event> actual)
    {
        for (int i = 0; i < Math.min(expected.size(), actual.size()); i++)
        {
            assertEquals(expected.get(i), actual.get(i), "event " + i + " of the global log");
        }
        assertEquals(expected.size(), actual.size(), "events in the global log");
    }

    static void assertTopicEqualsLog(final String topic, final StoreImage image, final int partitions)
    {
        final List<ConsumerRecord<byte[], byte[]>> records = KafkaTopics.readCommitted(bootstrap(), topic,
            image.log.size());
        assertEquals(image.log.size(), records.size(), "one record per event, no duplicate");
        // merged back by position, the records are the log
        final List<ConsumerRecord<byte[], byte[]>> byPosition = new ArrayList<>(records);
        byPosition.sort((a, b) -> Long.compare(KafkaRecordFormat.longHeader(a.headers(), KafkaRecordFormat.POSITION),
            KafkaRecordFormat.longHeader(b.headers(), KafkaRecordFormat.POSITION)));
        long previous = KafkaRecordFormat.NONE;
        for (int i = 0; i < image.log.size(); i++)
        {
            final ConsumerRecord<byte[], byte[]> record = byPosition.get(i);
            final StoreImage.Event event = image.log.get(i);
            assertEquals(image.positions.get(i), KafkaRecordFormat.longHeader(record.headers(),
                KafkaRecordFormat.POSITION));
            assertEquals(previous, KafkaRecordFormat.longHeader(record.headers(), KafkaRecordFormat.PREVIOUS));
            assertEquals(event.version(), KafkaRecordFormat.longHeader(record.headers(), KafkaRecordFormat.VERSION));
            assertEquals(event.timestamp(), KafkaRecordFormat.longHeader(record.headers(),
                KafkaRecordFormat.TIMESTAMP));
            final byte[] value = (KafkaRecordFormat.flags(record.headers()) & KafkaRecordFormat.FLAG_METADATA) == 0 ?
                record.value() : io.varvedb.StreamMetadata.decode(new org.agrona.concurrent.UnsafeBuffer(
                record.value()), 0, record.value().length).toString().getBytes(
                java.nio.charset.StandardCharsets.UTF_8);
            assertArrayEquals(event.payload(), value, "payload of event " + i);
            previous = image.positions.get(i);
        }
        if (partitions > 1)
        {
            assertTrue(records.stream().map(ConsumerRecord::partition).distinct().count() > 1, "spread");
        }
    }
}
