package io.varvedb.kafka.attack;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Properties;
import java.util.Random;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

import io.varvedb.Appender;
import io.varvedb.ConcurrencyConflictException;
import io.varvedb.EventBatch;
import io.varvedb.ExpectedVersion;
import io.varvedb.RecordedEvent;
import io.varvedb.ReplicaStoreException;
import io.varvedb.StreamDeletedException;
import io.varvedb.StreamMetadata;
import io.varvedb.VarveConfig;
import io.varvedb.VarveDB;
import io.varvedb.kafka.KafkaPublisher;
import io.varvedb.kafka.KafkaRecordFormat;
import io.varvedb.kafka.KafkaReplica;
import io.varvedb.kafka.KafkaStreamingException;
import io.varvedb.kafka.broker.EmbeddedKafka;
import io.varvedb.kafka.broker.SharedKafka;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewPartitions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.RecordsToDelete;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Attacks on "Beyond one machine" (KafkaPublisher, KafkaReplica) from the contract only: README, Javadoc, public
 * API. A test that fails here is a defect report; one that passes is a probe that held.
 */
class KafkaAttackTest
{
    private static final String HINT = "kafka-replica.offsets";
    private static final AtomicInteger TOPICS = new AtomicInteger();
    private static EmbeddedKafka kafka;

    @TempDir
    Path dir;

    @BeforeAll
    static void broker() throws Exception
    {
        kafka = SharedKafka.get();
    }

    // ------------------------------------------------------------------------------------------------------------
    // batches

    // Contract: "Batches are appended as batches"; a read-only reader of a following replica sees whole batches.
    // Did: a 6-event batch published by a publisher limited to 2 events per transaction; replica polls in between.
    @Test
    void aBatchSplitAcrossTransactionsIsNeverAppliedInPart() throws Exception
    {
        final String topic = newTopic("split", 1);
        final Path primaryDir = dir.resolve("p");
        final Path replicaDir = dir.resolve("r");
        try (VarveDB primary = VarveDB.open(primaryDir); Appender appender = primary.appender())
        {
            appender.append(2, ExpectedVersion.NO_STREAM, 1, bytes("single"));
            final EventBatch batch = new EventBatch();
            for (int i = 0; i < 6; i++)
            {
                batch.add(20 + i, bytes("b" + i));
            }
            appender.appendBatch(1, ExpectedVersion.NO_STREAM, batch);
            final Image image = Image.of(primary);
            try (KafkaPublisher publisher = KafkaPublisher.builder(primary, kafka.bootstrap(), topic)
                .maxEventsPerTransaction(2).build();
                KafkaReplica replica = KafkaReplica.builder(replicaDir, kafka.bootstrap(), topic).build())
            {
                int published = 0;
                while (published < image.log.size())
                {
                    published += publisher.publish();
                    for (int i = 0; i < 5; i++)
                    {
                        replica.poll(Duration.ofMillis(100));
                    }
                    try (VarveDB reader = VarveDB.openReadOnly(replicaDir))
                    {
                        final long[] seen = {-1};
                        final boolean[] last = {true};
                        reader.readAll(VarveDB.START_POSITION, 1000, (e) ->
                        {
                            if (e.streamId() == 1)
                            {
                                seen[0] = e.version();
                                last[0] = e.isLastInBatch();
                            }
                        });
                        assertTrue(seen[0] == -1 || (seen[0] == 6 && last[0]),
                            "after " + published + " events published the replica shows batch member " + seen[0] +
                            " of 6 (lastInBatch " + last[0] + ")");
                    }
                }
                follow(replica, image.lastPosition());
            }
            assertSameStore(image, replicaDir);
        }
    }

    // ------------------------------------------------------------------------------------------------------------
    // publisher resumes on a store whose own disk changed (scavenge, retention)

    // Contract: scavenge keeps positions and "a position of a dropped event reads on from the next kept one"; the
    // publisher "goes on right after the highest position" in the topic. Did: published up to stream 1's last event,
    // soft-deleted stream 1 and appended more, scavenged (drops the published events), then a new publisher.
    @Test
    void aPublisherGoesOnAfterAScavengeDroppedTheLastEventItPublished() throws Exception
    {
        final String topic = newTopic("scav", 1);
        final Path primaryDir = dir.resolve("p");
        final VarveConfig config = VarveConfig.builder(primaryDir).segmentSize(64 * 1024).build();
        final Set<Long> published = new HashSet<>();
        try (VarveDB primary = VarveDB.open(config))
        {
            fill(primary, 1, 3, "doomed-");
            try (KafkaPublisher publisher = KafkaPublisher.builder(primary, kafka.bootstrap(), topic).build())
            {
                publishAll(publisher, primary);
            }
            published.addAll(Image.of(primary).positions);
            primary.deleteStream(1, ExpectedVersion.exact(3));
            final byte[] big = new byte[8000];
            try (Appender appender = primary.appender())
            {
                for (int i = 0; i < 20; i++)
                {
                    appender.append(2, ExpectedVersion.exact(i), 1, big);
                }
            }
        }
        try (VarveDB primary = VarveDB.open(config))
        {
            final var result = primary.scavenge();
            assertTrue(result.eventsDropped() >= 3, "the scavenge dropped the published events: " + result);
            final Image image = Image.of(primary);
            assertFalse(image.positions.containsAll(published), "the published events are gone from the log");
            try (KafkaPublisher publisher = KafkaPublisher.builder(primary, kafka.bootstrap(), topic).build())
            {
                publishAll(publisher, primary);
            }
            final Set<Long> expected = new HashSet<>(published);
            expected.addAll(image.positions);
            assertEquals(sorted(expected), positionsInTopic(topic), "every event once, the soft delete included");
        }
    }

    // Contract: scavenging "is not replicated", and a topic begun after a scavenge lacks what it dropped (documented
    // limitation): the replica stops at the gap with a clear error, never papers over it. Did:
    // the README's forget path on a store not yet published (soft-delete a customer's stream, scavenge; the stream's
    // numbering goes on with a later append), then a publisher to a new topic and a replica of it.
    @Test
    void aStoreScavengedBeforeItsFirstPublishIsReplicated() throws Exception
    {
        final String topic = newTopic("scav-new", 1);
        final VarveConfig config = VarveConfig.builder(dir.resolve("p")).segmentSize(64 * 1024).build();
        try (VarveDB primary = VarveDB.open(config))
        {
            fill(primary, 1, 5, "customer-");
            primary.deleteStream(1, ExpectedVersion.exact(5));
            final byte[] big = new byte[8000];
            try (Appender appender = primary.appender())
            {
                for (int i = 0; i < 20; i++)
                {
                    appender.append(2, ExpectedVersion.exact(i), 1, big);
                }
            }
        }
        try (VarveDB primary = VarveDB.open(config))
        {
            assertTrue(primary.scavenge().eventsDropped() >= 5);
            fill(primary, 1, 1, "customer-again-");
            final Image image = Image.of(primary);
            try (KafkaPublisher publisher = KafkaPublisher.builder(primary, kafka.bootstrap(), topic).build())
            {
                publishAll(publisher, primary);
            }
            // a documented limitation (README, "What it does not do"): the topic lacks the versions the scavenge
            // dropped, so a replica built from it stops at the gap, says so, and papers over nothing
            try (KafkaReplica replica = KafkaReplica.builder(dir.resolve("r"), kafka.bootstrap(), topic).build())
            {
                final KafkaStreamingException gap = assertThrows(KafkaStreamingException.class,
                    () -> follow(replica, image.lastPosition(), Duration.ofSeconds(10)));
                assertTrue(gap.getMessage().contains("version 0") && gap.getMessage().contains("version 6"),
                    gap.getMessage());
            }
            try (VarveDB replica = VarveDB.openReadOnly(dir.resolve("r")))
            {
                assertEquals(0, replica.streamVersion(1));
                assertEquals(primary.streamVersion(2), replica.streamVersion(2));
            }
        }
    }

    // Contract: retention is the store's own business ("not replicated"); the publisher goes on right after what the
    // topic holds; it refuses to when the store no longer holds the topic's last event, unless skipTruncated(true). Did: published exactly the first segment, then truncated the log before the second segment
    // (the last published event is now below the log start, every unpublished one above it), new publisher.
    @Test
    void aPublisherGoesOnWhenRetentionDroppedOnlyWhatItHadPublished() throws Exception
    {
        final String topic = newTopic("retain", 1);
        final Path primaryDir = dir.resolve("p");
        final VarveConfig config = VarveConfig.builder(primaryDir).segmentSize(64 * 1024).build();
        final int firstSegment;
        long secondSegmentStart = -1;
        try (VarveDB primary = VarveDB.open(config); Appender appender = primary.appender())
        {
            int inFirst = 0;
            for (int i = 0; i < 150; i++)
            {
                appender.append(1, ExpectedVersion.exact(i), 1, new byte[1500]);
                if (appender.lastPosition() < 64 * 1024)
                {
                    inFirst++;
                }
                else if (secondSegmentStart < 0)
                {
                    secondSegmentStart = appender.lastPosition();
                }
            }
            firstSegment = inFirst;
            try (KafkaPublisher publisher = KafkaPublisher.builder(primary, kafka.bootstrap(), topic)
                .maxEventsPerTransaction(firstSegment).build())
            {
                assertEquals(firstSegment, publisher.publish());
            }
        }
        try (VarveDB primary = VarveDB.open(config))
        {
            final long start = primary.truncateLogBefore(secondSegmentStart);
            assertTrue(start > 0, "retention moved the log start to " + start);
            final Image image = Image.of(primary);
            // the publisher cannot tell what retention dropped from what it had published: refused by default,
            // with a message naming the way on; skipTruncated(true) goes on from the log start
            try (KafkaPublisher publisher = KafkaPublisher.builder(primary, kafka.bootstrap(), topic).build())
            {
                final KafkaStreamingException refused = assertThrows(KafkaStreamingException.class,
                    () -> publishAll(publisher, primary));
                assertTrue(refused.getMessage().contains("skipTruncated"), refused.getMessage());
            }
            try (KafkaPublisher publisher = KafkaPublisher.builder(primary, kafka.bootstrap(), topic)
                .skipTruncated(true).build())
            {
                publishAll(publisher, primary);
            }
            assertEquals(firstSegment + image.log.size(), positionsInTopic(topic).size(),
                "each event once: the first segment before, the rest after the truncation");
        }
    }

    // ------------------------------------------------------------------------------------------------------------
    // publisher vs. a topic it did not write (another store, an older copy of its own store, other producers)

    // Contract: "a publisher refuses a topic that ends with another store's event". Did: two stores of one
    // application (say two tenants) with the same stream ids and event sizes but other payloads and timestamps;
    // published A to its topic, then pointed B's publisher at A's topic by mistake.
    @Test
    void aPublisherRefusesAnotherStoreThatLooksTheSame() throws Exception
    {
        final String topic = newTopic("twin", 1);
        try (VarveDB a = VarveDB.open(dir.resolve("a")); VarveDB b = VarveDB.open(dir.resolve("b")))
        {
            fill(a, 1, 10, "tenant-a-");
            fill(b, 1, 15, "tenant-b-");
            try (KafkaPublisher publisher = KafkaPublisher.builder(a, kafka.bootstrap(), topic).build())
            {
                publishAll(publisher, a);
            }
            try (KafkaPublisher publisher = KafkaPublisher.builder(b, kafka.bootstrap(), topic)
                .timeout(Duration.ofSeconds(10)).build())
            {
                assertThrows(KafkaStreamingException.class, () -> publishAll(publisher, b),
                    "B's events appended after A's in A's topic");
            }
        }
    }

    // Contract: "a publisher refuses a topic that ends with another store's event"; "No event is missing and none
    // comes twice". Did: the primary restored from a backup taken at 5 events (the topic holds 10), then it appends
    // 10 events of a new history, of other sizes than the lost ones; its publisher.
    @Test
    void aPublisherRefusesARestoredStoreBehindTheTopic() throws Exception
    {
        restoredFromBackup("new-history-");
    }

    // Contract: as above. Did: the same, but the new history's events have the sizes of the lost ones (fixed-size
    // events, as a binary codec makes them), so the positions line up.
    @Test
    void aPublisherRefusesARestoredStoreWhoseNewEventsHaveTheOldSizes() throws Exception
    {
        restoredFromBackup("newer-");
    }

    private void restoredFromBackup(final String newText) throws Exception
    {
        final String topic = newTopic("behind", 1);
        final Path primaryDir = dir.resolve("p");
        final Path backup = dir.resolve("backup");
        try (VarveDB primary = VarveDB.open(primaryDir))
        {
            fill(primary, 1, 5, "older-");
        }
        copyTree(primaryDir, backup);
        try (VarveDB primary = VarveDB.open(primaryDir))
        {
            fill(primary, 1, 5, "lost--");
            try (KafkaPublisher publisher = KafkaPublisher.builder(primary, kafka.bootstrap(), topic).build())
            {
                publishAll(publisher, primary);
            }
        }
        try (VarveDB restored = VarveDB.open(backup))
        {
            fill(restored, 1, 10, newText);
            final Image image = Image.of(restored);
            try (KafkaPublisher publisher = KafkaPublisher.builder(restored, kafka.bootstrap(), topic).build())
            {
                publishAll(publisher, restored);
            }
            catch (final KafkaStreamingException ex)
            {
                System.out.println("restored store refused: " + ex.getMessage());
                return;
            }
            // not refused: then the topic must be the restored store's log, each event once
            final List<String> wrong = new ArrayList<>();
            final List<ConsumerRecord<byte[], byte[]>> records = readCommitted(topic);
            for (final ConsumerRecord<byte[], byte[]> record : records)
            {
                final long position = KafkaRecordFormat.longHeader(record.headers(), KafkaRecordFormat.POSITION);
                final int i = image.positions.indexOf(position);
                final String said = new String(record.value(), StandardCharsets.UTF_8);
                if (i < 0 || !Arrays.equals(image.log.get(i).payload(), record.value()))
                {
                    wrong.add("topic has " + said + " at " + position + ", the store " +
                        (i < 0 ? "nothing" : new String(image.log.get(i).payload(), StandardCharsets.UTF_8)));
                }
            }
            assertEquals(List.of(), wrong, "the restored store's publisher accepted the topic; " + records.size() +
                " records for its " + image.log.size() + " events");
        }
    }

    // Contract: records are read by any consumer; KafkaRecordFormat.isVarveRecord tells VarveDB's records apart; the
    // publisher goes on right after the highest position and the replica follows. Did: a plain producer wrote a
    // record without headers at the end of the partition; a new publisher, then a replica.
    @Test
    void aForeignRecordAtTheEndOfTheTopicNeitherDuplicatesNorStopsAnything() throws Exception
    {
        final String topic = newTopic("foreign", 1);
        try (VarveDB primary = VarveDB.open(dir.resolve("p")))
        {
            fill(primary, 1, 5, "x");
            try (KafkaPublisher publisher = KafkaPublisher.builder(primary, kafka.bootstrap(), topic).build())
            {
                publishAll(publisher, primary);
            }
            final Properties props = new Properties();
            props.put("bootstrap.servers", kafka.bootstrap());
            props.put("key.serializer", "org.apache.kafka.common.serialization.ByteArraySerializer");
            props.put("value.serializer", "org.apache.kafka.common.serialization.ByteArraySerializer");
            try (KafkaProducer<byte[], byte[]> other = new KafkaProducer<>(props))
            {
                other.send(new ProducerRecord<>(topic, bytes("1"), bytes("not a varve event"))).get();
            }
            fill(primary, 1, 5, "y");
            final Image image = Image.of(primary);
            try (KafkaPublisher publisher = KafkaPublisher.builder(primary, kafka.bootstrap(), topic).build())
            {
                publishAll(publisher, primary);
            }
            assertEquals(image.positions, positionsInTopic(topic), "each event once");
            // the replica may follow, or refuse the topic clearly ("A topic holds one store's log"); never diverge
            try (KafkaReplica replica = KafkaReplica.builder(dir.resolve("r"), kafka.bootstrap(), topic).build())
            {
                follow(replica, image.lastPosition());
                assertSameStore(image, dir.resolve("r"));
            }
            catch (final KafkaStreamingException ex)
            {
                assertTrue(ex.getMessage().contains("not published by VarveDB"), ex.getMessage());
            }
        }
    }

    // Contract: after an aborted transaction "the next one settles what the commit did before reading the end
    // again"; open() returns "the position of the last event the topic holds". Did: 5 events committed, then a
    // transaction of ~3000 events that the broker refuses at its last event (topic max.message.bytes) is aborted
    // after most of its records landed; a new publisher's open().
    @Test
    void aPublisherFindsItsPositionBehindALongAbortedTransaction() throws Exception
    {
        final String topic = "aborted-long-" + TOPICS.incrementAndGet();
        try (Admin admin = kafka.admin())
        {
            admin.createTopics(List.of(new NewTopic(topic, 1, (short)1).configs(Map.of("max.message.bytes",
                "4096")))).all().get(30, TimeUnit.SECONDS);
        }
        try (VarveDB primary = VarveDB.open(dir.resolve("p")))
        {
            fill(primary, 1, 5, "committed-");
            final long fifth = Image.of(primary).lastPosition();
            try (KafkaPublisher publisher = KafkaPublisher.builder(primary, kafka.bootstrap(), topic).build())
            {
                publishAll(publisher, primary);
                assertEquals(fifth, publisher.publishedPosition());
            }
            fill(primary, 2, 3000, "small-");
            try (Appender appender = primary.appender())
            {
                appender.append(3, ExpectedVersion.NO_STREAM, 1, new byte[8000]);
            }
            try (KafkaPublisher publisher = KafkaPublisher.builder(primary, kafka.bootstrap(), topic)
                .maxTransactionTime(Duration.ofSeconds(30)).producerProperty("batch.size", 2000)
                .producerProperty("linger.ms", 0).build())
            {
                int sent = -1;
                try
                {
                    sent = publisher.publish();
                }
                catch (final KafkaStreamingException ex)
                {
                    System.out.println("aborted: " + ex);
                }
                System.out.println("publish() returned " + sent + ", aborts " + publisher.aborts() +
                    ", publishedPosition " + publisher.publishedPosition() + ", events " + publisher.publishedEvents());
                assertEquals(fifth, publisher.publishedPosition(), "nothing committed");
                assertEquals(0, publisher.publishedEvents());
            }
            try (KafkaPublisher publisher = KafkaPublisher.builder(primary, kafka.bootstrap(), topic).build())
            {
                assertEquals(fifth, publisher.open(), "the topic ends at the fifth event");
            }
            assertEquals(5, positionsInTopic(topic).size());
        }
    }

    // ------------------------------------------------------------------------------------------------------------
    // names, metadata, deletes, ids through the replica

    // Contract: "a named stream is the same name on both sides"; names are 1..112 bytes of UTF-8; the replica goes
    // on after a restart from its hint (which names the last event's stream). Did: names that look like ids, like the
    // hint's own syntax, unicode, a newline; the last event before the restart in the newline stream.
    @Test
    void oddStreamNamesReplicateAndSurviveARestart() throws Exception
    {
        final String topic = newTopic("names", 3);
        final Path replicaDir = dir.resolve("r");
        final String[] names = {"42", "7", "id:7", "name:x", "ünïcødé-😀", " spaced ", "tab\tname", "x".repeat(112),
            "line\nbreak"};
        try (VarveDB primary = VarveDB.open(dir.resolve("p")); Appender appender = primary.appender())
        {
            assertThrows(IllegalArgumentException.class, () -> appender.streamId("$$$7"), "a '$' name");
            assertThrows(IllegalArgumentException.class, () -> primary.streamId("$x"), "a '$' name");
            fill(primary, Long.MAX_VALUE, 2, "max-");
            fill(primary, 42, 3, "numeric-42-");
            fill(primary, 7, 2, "numeric-7-");
            for (final String name : names)
            {
                final long id = primary.streamId(name);
                for (int v = 0; v < 3; v++)
                {
                    appender.append(id, ExpectedVersion.exact(v), 5, bytes(name + "#" + v));
                }
            }
            primary.setStreamMetadata("42", StreamMetadata.NONE.withMaxCount(1));
            primary.setStreamMetadata(42, StreamMetadata.NONE.withMaxCount(2));
            primary.deleteStream("7", ExpectedVersion.exact(3));
            appender.append(primary.streamId("line\nbreak"), ExpectedVersion.exact(3), 5, bytes("last"));
            Image image = Image.of(primary);
            try (KafkaPublisher publisher = KafkaPublisher.builder(primary, kafka.bootstrap(), topic).build())
            {
                publishAll(publisher, primary);
                try (KafkaReplica replica = KafkaReplica.builder(replicaDir, kafka.bootstrap(), topic).build())
                {
                    follow(replica, image.lastPosition());
                }
                assertSameStore(image, replicaDir);
                for (final String name : names)
                {
                    appender.append(primary.streamId(name), ExpectedVersion.ANY, 6, bytes(name + " after"));
                }
                image = Image.of(primary);
                publishAll(publisher, primary);
            }
            try (KafkaReplica replica = KafkaReplica.builder(replicaDir, kafka.bootstrap(), topic).build())
            {
                follow(replica, image.lastPosition());
            }
            assertSameStore(image, replicaDir);
            try (VarveDB replica = VarveDB.openReadOnly(replicaDir))
            {
                assertEquals(primary.streamMetadata("42"), replica.streamMetadata("42"));
                assertEquals(primary.streamMetadata(42), replica.streamMetadata(42));
                assertEquals(primary.isDeleted(primary.findStreamId("7")), replica.isDeleted(replica.findStreamId("7")));
                assertFalse(replica.isDeleted(7));
                assertEquals(primary.firstVisibleVersion(42), replica.firstVisibleVersion(42));
                assertEquals(primary.firstVisibleVersion(primary.findStreamId("42")),
                    replica.firstVisibleVersion(replica.findStreamId("42")));
            }
        }
    }

    // Contract: "stream metadata (soft deletes, limits) as metadata", "tombstones as tombstones"; what metadata says
    // is the same on both sides. Did: metadata and deletes on streams that have no event yet (numeric and named),
    // a tombstone of an empty stream, a maxAge limit; compared what each stream shows.
    @Test
    void lifecycleOfEmptyStreamsReplicates() throws Exception
    {
        final String topic = newTopic("lifecycle", 2);
        final Path replicaDir = dir.resolve("r");
        try (VarveDB primary = VarveDB.open(dir.resolve("p")); Appender appender = primary.appender())
        {
            primary.setStreamMetadata(70, StreamMetadata.NONE.withMaxCount(2));
            primary.setStreamMetadata("fresh", StreamMetadata.NONE.withTruncateBefore(3));
            primary.tombstoneStream(71, ExpectedVersion.ANY);
            primary.deleteStream(72, ExpectedVersion.ANY);
            fill(primary, 70, 4, "seventy-");
            appender.append("fresh", ExpectedVersion.NO_STREAM, 1, bytes("f1"));
            appender.append("fresh", ExpectedVersion.exact(1), 1, bytes("f2"));
            appender.append("fresh", ExpectedVersion.exact(2), 1, bytes("f3"));
            fill(primary, 72, 2, "after-delete-");
            fill(primary, 73, 3, "aged-");
            primary.setStreamMetadata(73, StreamMetadata.NONE.withMaxAge(Duration.ofMillis(300)));
            Thread.sleep(400);
            fill(primary, 73, 1, "young-");
            final Image image = Image.of(primary);
            try (KafkaPublisher publisher = KafkaPublisher.builder(primary, kafka.bootstrap(), topic).build())
            {
                publishAll(publisher, primary);
            }
            try (KafkaReplica replica = KafkaReplica.builder(replicaDir, kafka.bootstrap(), topic).build())
            {
                follow(replica, image.lastPosition());
            }
            assertSameStore(image, replicaDir);
            try (VarveDB replica = VarveDB.openReadOnly(replicaDir))
            {
                for (final long id : new long[] {70, 72, 73})
                {
                    assertEquals(visible(primary, id), visible(replica, id), "stream " + id + " shows");
                    assertEquals(primary.streamMetadata(id), replica.streamMetadata(id), "metadata of " + id);
                    assertEquals(primary.isDeleted(id), replica.isDeleted(id));
                }
                assertTrue(replica.isTombstoned(71));
                assertEquals(visible(primary, primary.findStreamId("fresh")),
                    visible(replica, replica.findStreamId("fresh")));
                assertEquals(primary.streamMetadata("fresh"), replica.streamMetadata("fresh"));
            }
        }
    }

    // Contract: promote, "open it as usual: appends go on from the versions it holds"; a retry of an id the store
    // holds is answered, not repeated; tombstones hold. Did: ids (singles and an id batch) replicated, promoted, then
    // retried the primary's appends on the promoted store.
    @Test
    void eventIdsVersionsAndTombstonesHoldAfterPromotion() throws Exception
    {
        final String topic = newTopic("promote", 2);
        final Path replicaDir = dir.resolve("r");
        final UUID single = UUID.randomUUID();
        final UUID[] ids = {UUID.randomUUID(), UUID.randomUUID(), UUID.randomUUID()};
        final EventBatch batch = new EventBatch();
        for (final UUID id : ids)
        {
            batch.add(9, id, bytes("batched " + id));
        }
        final Image image;
        try (VarveDB primary = VarveDB.open(dir.resolve("p")); Appender appender = primary.appender())
        {
            appender.append(1, ExpectedVersion.NO_STREAM, 3, single, bytes("single"));
            appender.appendBatch(2, ExpectedVersion.NO_STREAM, batch);
            fill(primary, 3, 2, "t");
            primary.tombstoneStream(3, ExpectedVersion.exact(2));
            appender.append("named", ExpectedVersion.NO_STREAM, 1, bytes("n1"));
            image = Image.of(primary);
            try (KafkaPublisher publisher = KafkaPublisher.builder(primary, kafka.bootstrap(), topic).build())
            {
                publishAll(publisher, primary);
            }
        }
        try (KafkaReplica replica = KafkaReplica.builder(replicaDir, kafka.bootstrap(), topic).build())
        {
            follow(replica, image.lastPosition());
        }
        assertEquals(KafkaReplica.source(topic), KafkaReplica.promote(replicaDir));
        try (VarveDB promoted = VarveDB.open(replicaDir); Appender appender = promoted.appender())
        {
            assertEquals(1, appender.append(1, ExpectedVersion.NO_STREAM, 3, single, bytes("single")));
            assertTrue(appender.lastWasDuplicate(), "a retry of the primary's id is answered");
            assertEquals(3, appender.appendBatch(2, ExpectedVersion.NO_STREAM, batch));
            assertTrue(appender.lastWasDuplicate(), "a retry of the primary's batch is answered");
            assertTrue(promoted.readEvent(ids[1], (e) -> assertEquals(2, e.version())));
            assertThrows(StreamDeletedException.class,
                () -> appender.append(3, ExpectedVersion.ANY, 1, bytes("after tombstone")));
            assertEquals(2, appender.append("named", ExpectedVersion.exact(1), 1, bytes("n2")));
            assertThrows(ConcurrencyConflictException.class,
                () -> appender.append(1, ExpectedVersion.NO_STREAM, 1, bytes("stale")));
        }
    }

    // Contract: build() "throws ReplicaStoreException if the directory holds a store that is no replica of this
    // topic"; "A store with events of its own never becomes a replica". Did: promoted a replica, appended to it,
    // then started a replica on it again; and a replica of topic A started on topic B's replica directory.
    @Test
    void aPromotedStoreOrAReplicaOfAnotherTopicIsRefused() throws Exception
    {
        final String topic = newTopic("repromote", 1);
        final String other = newTopic("repromote-other", 1);
        final Path replicaDir = dir.resolve("r");
        final Image image;
        try (VarveDB primary = VarveDB.open(dir.resolve("p")))
        {
            fill(primary, 1, 3, "a");
            image = Image.of(primary);
            try (KafkaPublisher publisher = KafkaPublisher.builder(primary, kafka.bootstrap(), topic).build())
            {
                publishAll(publisher, primary);
            }
            try (KafkaPublisher publisher = KafkaPublisher.builder(primary, kafka.bootstrap(), other).build())
            {
                publishAll(publisher, primary);
            }
        }
        try (KafkaReplica replica = KafkaReplica.builder(replicaDir, kafka.bootstrap(), topic).build())
        {
            follow(replica, image.lastPosition());
        }
        assertThrows(ReplicaStoreException.class,
            () -> KafkaReplica.builder(replicaDir, kafka.bootstrap(), other).build().close(), "another topic");
        assertEquals(KafkaReplica.source(topic), VarveDB.replicaSource(replicaDir));
        KafkaReplica.promote(replicaDir);
        try (VarveDB promoted = VarveDB.open(replicaDir))
        {
            fill(promoted, 1, 1, "own");
        }
        assertThrows(ReplicaStoreException.class,
            () -> KafkaReplica.builder(replicaDir, kafka.bootstrap(), topic).build().close(), "a promoted primary");
        assertNull(VarveDB.replicaSource(replicaDir), "it was left a primary");
        try (VarveDB promoted = VarveDB.open(replicaDir))
        {
            assertEquals(4, promoted.streamVersion(1));
        }
    }

    // Contract: replica.store(): "appends are refused as long as it is a replica"; "nothing but the follower writes
    // there". Did: appends, metadata, deletes, a tombstone and a new name through the following replica's own store;
    // then the primary appended the real version 3 of stream 1 and the replica followed.
    @Test
    void theReplicasOwnStoreRefusesWrites() throws Exception
    {
        final String topic = newTopic("ownstore", 1);
        final Path replicaDir = dir.resolve("r");
        try (VarveDB primary = VarveDB.open(dir.resolve("p")))
        {
            for (int s = 1; s <= 4; s++)
            {
                fill(primary, s, 2, "real-" + s + "-");
            }
            try (KafkaPublisher publisher = KafkaPublisher.builder(primary, kafka.bootstrap(), topic).build();
                KafkaReplica replica = KafkaReplica.builder(replicaDir, kafka.bootstrap(), topic).build())
            {
                publishAll(publisher, primary);
                follow(replica, Image.of(primary).lastPosition());
                final VarveDB store = replica.store();
                final List<String> accepted = new ArrayList<>();
                attempt(accepted, "append", () ->
                {
                    try (Appender appender = store.appender())
                    {
                        appender.append(1, ExpectedVersion.exact(2), 1, bytes("forged"));
                    }
                });
                attempt(accepted, "setStreamMetadata", () -> store.setStreamMetadata(2, StreamMetadata.NONE
                    .withMaxCount(1)));
                attempt(accepted, "deleteStream", () -> store.deleteStream(3, ExpectedVersion.ANY));
                attempt(accepted, "tombstoneStream", () -> store.tombstoneStream(4, ExpectedVersion.ANY));
                attempt(accepted, "streamId", () -> store.streamId("forged-name"));
                // the primary goes on: its version 3 of stream 1 meets the forged one
                fill(primary, 1, 2, "real-1-after-");
                publishAll(publisher, primary);
                String after;
                try
                {
                    follow(replica, Image.of(primary).lastPosition(), Duration.ofSeconds(5));
                    after = "replica followed";
                }
                catch (final Throwable ex)
                {
                    after = "replica: " + ex.getMessage();
                }
                final List<String> replicaStream1 = visible(store, 1);
                assertEquals(List.of(), accepted, "writes the replica's store accepted; then " + after +
                    "; stream 1 on the primary " + visible(primary, 1) + ", on the replica " + replicaStream1);
            }
        }
    }

    // Contract: one topic per store, replicas "idempotent: an event whose stream already holds that version is
    // skipped". Did: two publishers of one store with different transactional ids (nothing fences either, the
    // README says one publisher per topic) both published the log; a replica of that topic.
    @Test
    void aReplicaOfATopicWithDuplicateRecordsStaysEqualOrSaysWhy() throws Exception
    {
        final String topic = newTopic("dups", 2);
        try (VarveDB primary = VarveDB.open(dir.resolve("p")))
        {
            fill(primary, 1, 10, "a");
            fill(primary, 2, 10, "b");
            final Image image = Image.of(primary);
            try (KafkaPublisher one = KafkaPublisher.builder(primary, kafka.bootstrap(), topic)
                .transactionalId("one").build();
                KafkaPublisher two = KafkaPublisher.builder(primary, kafka.bootstrap(), topic)
                .transactionalId("two").build())
            {
                one.open();
                two.open();
                publishAll(one, primary);
                publishAll(two, primary);
            }
            System.out.println("records for " + image.log.size() + " events: " + positionsInTopic(topic).size());
            try (KafkaReplica replica = KafkaReplica.builder(dir.resolve("r"), kafka.bootstrap(), topic).build())
            {
                follow(replica, image.lastPosition(), Duration.ofSeconds(10));
                for (int i = 0; i < 5; i++)
                {
                    replica.poll(Duration.ofMillis(100));
                }
            }
            catch (final KafkaStreamingException ex)
            {
                System.out.println("replica refused duplicates: " + ex.getMessage());
            }
            try (VarveDB replica = VarveDB.openReadOnly(dir.resolve("r")))
            {
                final Image copy = Image.of(replica);
                for (int i = 0; i < copy.log.size(); i++)
                {
                    assertEquals(image.log.get(i), copy.log.get(i), "what the replica holds is the primary's log");
                }
            }
        }
    }

    // Contract: "No event is missing"; retention is the store's own; a gap is never papered over. Did: published
    // 10 events of the first segment, truncated the log before the second (unpublished events dropped), new publisher.
    @Test
    void aPublisherNeverSkipsEventsRetentionDroppedBeforeItPublishedThem() throws Exception
    {
        final String topic = newTopic("retain-lost", 1);
        final VarveConfig config = VarveConfig.builder(dir.resolve("p")).segmentSize(64 * 1024).build();
        long secondSegmentStart = -1;
        try (VarveDB primary = VarveDB.open(config); Appender appender = primary.appender())
        {
            for (int i = 0; i < 100; i++)
            {
                appender.append(1, ExpectedVersion.exact(i), 1, new byte[1500]);
                if (secondSegmentStart < 0 && appender.lastPosition() >= 64 * 1024)
                {
                    secondSegmentStart = appender.lastPosition();
                }
            }
            try (KafkaPublisher publisher = KafkaPublisher.builder(primary, kafka.bootstrap(), topic)
                .maxEventsPerTransaction(10).build())
            {
                assertEquals(10, publisher.publish());
            }
        }
        try (VarveDB primary = VarveDB.open(config))
        {
            primary.truncateLogBefore(secondSegmentStart);
            try (KafkaPublisher publisher = KafkaPublisher.builder(primary, kafka.bootstrap(), topic).build())
            {
                final KafkaStreamingException ex = assertThrows(KafkaStreamingException.class,
                    () -> publishAll(publisher, primary));
                System.out.println("lagging publisher: " + ex.getMessage());
            }
            assertEquals(10, positionsInTopic(topic).size(), "nothing published over the hole");
        }
    }

    // Contract: the publisher keeps no checkpoint (a lost topic is published again from the log); the replica
    // "believes the hint only if the store holds the event the hint names" and follows the topic. Did: a replica
    // followed half of a topic published one event per transaction; the topic was deleted and created again, the
    // whole log published again in one transaction (other offsets); the replica restarted on its directory.
    @Test
    void aReplicaFollowsATopicThatWasCreatedAgain() throws Exception
    {
        final String topic = newTopic("recreated", 1);
        final Path replicaDir = dir.resolve("r");
        try (VarveDB primary = VarveDB.open(dir.resolve("p")))
        {
            fill(primary, 1, 20, "first-");
            try (KafkaPublisher publisher = KafkaPublisher.builder(primary, kafka.bootstrap(), topic)
                .maxEventsPerTransaction(1).build())
            {
                publishAll(publisher, primary);
            }
            try (KafkaReplica replica = KafkaReplica.builder(replicaDir, kafka.bootstrap(), topic).build())
            {
                follow(replica, Image.of(primary).lastPosition());
            }
            fill(primary, 2, 20, "second-");
            System.out.println("hint before the topic was created again:\n" +
                Files.readString(replicaDir.resolve(HINT)));
            try (Admin admin = kafka.admin())
            {
                admin.deleteTopics(List.of(topic)).all().get(30, TimeUnit.SECONDS);
                final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
                while (true)
                {
                    try
                    {
                        admin.createTopics(List.of(new NewTopic(topic, 1, (short)1))).all().get(30, TimeUnit.SECONDS);
                        break;
                    }
                    catch (final Exception ex)
                    {
                        assertTrue(System.nanoTime() < deadline, "topic not created again: " + ex);
                        Thread.sleep(200);
                    }
                }
            }
            final Image image = Image.of(primary);
            try (KafkaPublisher publisher = KafkaPublisher.builder(primary, kafka.bootstrap(), topic).build())
            {
                assertEquals(KafkaRecordFormat.NONE, publisher.open());
                publishAll(publisher, primary);
            }
            waitFor(() -> positionsInTopic(topic).equals(image.positions), Duration.ofSeconds(10),
                "the new topic to show the whole log");
            String first = null;
            try (KafkaReplica replica = KafkaReplica.builder(replicaDir, kafka.bootstrap(), topic).build())
            {
                follow(replica, image.lastPosition(), Duration.ofSeconds(10));
            }
            catch (final Throwable ex)
            {
                first = ex.getMessage();
            }
            if (first != null)
            {
                String second = "a restarted replica caught up";
                try (KafkaReplica replica = KafkaReplica.builder(replicaDir, kafka.bootstrap(), topic).build())
                {
                    follow(replica, image.lastPosition(), Duration.ofSeconds(5));
                }
                catch (final Throwable ex)
                {
                    second = "restarted: " + ex.getMessage();
                }
                fail("the topic holds the whole log, the replica says: " + first + "; " + second);
            }
            assertSameStore(image, replicaDir);
        }
    }

    // Contract: a follower "can be opened read-only while it follows" and sees batches whole; appliedPosition never
    // claims more than the store holds. Did: an empty primary and topic, publisher and replica on their threads,
    // then 2 s of batches and singles; a read-only reader of the replica checked every pass.
    @Test
    void liveFollowingFromEmptyShowsOnlyWholeBatchesAndTrueProgress() throws Exception
    {
        final String topic = newTopic("live", 2);
        final Path replicaDir = dir.resolve("r");
        try (VarveDB primary = VarveDB.open(dir.resolve("p")))
        {
            final List<String> problems = new java.util.concurrent.CopyOnWriteArrayList<>();
            try (KafkaPublisher publisher = KafkaPublisher.builder(primary, kafka.bootstrap(), topic)
                .maxEventsPerTransaction(10).maxTransactionTime(Duration.ofMillis(20)).build();
                KafkaReplica replica = KafkaReplica.builder(replicaDir, kafka.bootstrap(), topic).build())
            {
                assertEquals(KafkaRecordFormat.NONE, publisher.open());
                assertEquals(0, publisher.publish());
                publisher.start();
                replica.start();
                final AtomicBoolean stop = new AtomicBoolean();
                final Map<Long, Integer> primaryIndex = new HashMap<>();
                final List<long[]> samples = new java.util.concurrent.CopyOnWriteArrayList<>();
                final Thread reader = new Thread(() ->
                {
                    try (VarveDB view = VarveDB.openReadOnly(replicaDir))
                    {
                        while (!stop.get())
                        {
                            final long claimed = replica.appliedPosition();
                            final Map<Long, RecordedEventView> last = new HashMap<>();
                            final int[] count = {0};
                            view.readAll(VarveDB.START_POSITION, 100_000, (e) ->
                            {
                                last.put(e.streamId(), new RecordedEventView(e.version(), e.isInBatch(),
                                    e.isLastInBatch()));
                                count[0]++;
                            });
                            for (final Map.Entry<Long, RecordedEventView> entry : last.entrySet())
                            {
                                if (entry.getValue().inBatch() && !entry.getValue().lastInBatch())
                                {
                                    problems.add("stream " + entry.getKey() + " ends inside a batch at version " +
                                        entry.getValue().version());
                                }
                            }
                            samples.add(new long[] {claimed, count[0]});
                        }
                    }
                });
                reader.start();
                final long end = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(700);
                final Random random = new Random(3);
                int i = 0;
                try (Appender appender = primary.appender())
                {
                    final EventBatch batch = new EventBatch();
                    while (System.nanoTime() < end)
                    {
                        final long stream = 1 + random.nextInt(5);
                        final long version = primary.streamVersion(stream);
                        if (random.nextBoolean())
                        {
                            batch.clear();
                            for (int b = 0; b < 4; b++)
                            {
                                batch.add(2, bytes("batch " + i + "/" + b));
                            }
                            appender.appendBatch(stream, ExpectedVersion.exact(version), batch);
                        }
                        else
                        {
                            appender.append(stream, ExpectedVersion.exact(version), 1, bytes("single " + i));
                        }
                        i++;
                        Thread.sleep(1);
                    }
                }
                final Image image = Image.of(primary);
                for (int k = 0; k < image.positions.size(); k++)
                {
                    primaryIndex.putIfAbsent(image.positions.get(k), k);
                }
                waitFor(() -> replica.appliedPosition() == image.lastPosition() || replica.failure() != null ||
                    publisher.failure() != null, Duration.ofSeconds(30), "the replica to catch up");
                stop.set(true);
                reader.join();
                assertNull(publisher.failure());
                assertNull(replica.failure());
                assertEquals(image.lastPosition(), publisher.publishedPosition());
                for (final long[] sample : samples)
                {
                    final Integer index = primaryIndex.get(sample[0]);
                    if (sample[0] != KafkaRecordFormat.NONE && (index == null || sample[1] < index + 1))
                    {
                        problems.add("appliedPosition " + sample[0] + " claims " + index + " events, the store held " +
                            sample[1]);
                    }
                }
                System.out.println("live: " + image.log.size() + " events, " + samples.size() + " reader passes");
                assertEquals(List.of(), problems.subList(0, Math.min(5, problems.size())));
            }
            assertSameStore(Image.of(primary), replicaDir);
        }
    }

    private record RecordedEventView(long version, boolean inBatch, boolean lastInBatch)
    {
    }

    // ------------------------------------------------------------------------------------------------------------
    // the replica's offsets hint

    // Contract: the replica "believes the hint only if the store holds the event the hint names, else it reads the
    // topic again". Did: damaged hints (garbage, empty, truncated, offsets far beyond the end, offsets of the start)
    // in a caught-up replica; more events published; replica restarted each time.
    @Test
    void aDamagedOffsetsHintNeverLosesOrStopsAnything() throws Exception
    {
        final String topic = newTopic("hint", 2);
        final Path replicaDir = dir.resolve("r");
        try (VarveDB primary = VarveDB.open(dir.resolve("p"));
            KafkaPublisher publisher = KafkaPublisher.builder(primary, kafka.bootstrap(), topic).build())
        {
            fill(primary, 1, 20, "a");
            fill(primary, 2, 20, "b");
            publishAll(publisher, primary);
            try (KafkaReplica replica = KafkaReplica.builder(replicaDir, kafka.bootstrap(), topic).build())
            {
                follow(replica, Image.of(primary).lastPosition());
            }
            final String good = Files.readString(replicaDir.resolve(HINT));
            System.out.println("hint file:\n" + good);
            final List<String> damaged = new ArrayList<>(List.of("", "garbage\u0000\u0000",
                good.substring(0, good.length() / 2), good.replaceAll("=\\d+", "=999999999"),
                good.replaceAll("(\\d+)(\\s*)$", "99999$2")));
            final List<String> failures = new ArrayList<>();
            int round = 0;
            for (final String hint : damaged)
            {
                Files.writeString(replicaDir.resolve(HINT), hint);
                fill(primary, 1 + round % 3, 3, "round" + round + "-");
                round++;
                publishAll(publisher, primary);
                final Image image = Image.of(primary);
                try (KafkaReplica replica = KafkaReplica.builder(replicaDir, kafka.bootstrap(), topic).build())
                {
                    follow(replica, image.lastPosition(), Duration.ofSeconds(10));
                    assertSameStore(image, replicaDir);
                }
                catch (final Throwable ex)
                {
                    failures.add("hint " + escape(hint) + ": " + ex);
                }
            }
            assertEquals(List.of(), failures);
        }
    }

    // ------------------------------------------------------------------------------------------------------------
    // topics that change under the replica

    // Contract: "It cannot mistake a slow partition for an empty one"; records keyed by stream; recordsBehind is
    // Kafka's lag. Did: replica following a 2-partition topic; partitions added (6); a new publisher publishes events
    // of many streams (some now in the new partitions).
    @Test
    void aReplicaFollowsPartitionsAddedToTheTopic() throws Exception
    {
        final String topic = newTopic("grow", 2);
        try (VarveDB primary = VarveDB.open(dir.resolve("p")))
        {
            for (int s = 1; s <= 10; s++)
            {
                fill(primary, s, 2, "before-");
            }
            try (KafkaPublisher publisher = KafkaPublisher.builder(primary, kafka.bootstrap(), topic).build())
            {
                publishAll(publisher, primary);
            }
            try (KafkaReplica replica = KafkaReplica.builder(dir.resolve("r"), kafka.bootstrap(), topic).build()
                .start())
            {
                waitFor(() -> replica.appliedPosition() == Image.of(primary).lastPosition(), Duration.ofSeconds(20),
                    "first part");
                try (Admin admin = kafka.admin())
                {
                    admin.createPartitions(Map.of(topic, NewPartitions.increaseTo(6))).all().get(30,
                        TimeUnit.SECONDS);
                }
                for (int s = 1; s <= 30; s++)
                {
                    fill(primary, s, 2, "after-");
                }
                final Image image = Image.of(primary);
                try (KafkaPublisher publisher = KafkaPublisher.builder(primary, kafka.bootstrap(), topic).build())
                {
                    publishAll(publisher, primary);
                }
                assertTrue(readCommitted(topic).stream().anyMatch((r) -> r.partition() >= 2),
                    "some events went to the new partitions");
                final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
                while (replica.appliedPosition() < image.lastPosition() && System.nanoTime() < deadline &&
                    replica.failure() == null)
                {
                    Thread.sleep(50);
                }
                final String live = "live replica: applied " + replica.appliedPosition() + " of " +
                    image.lastPosition() + ", recordsBehind " + replica.recordsBehind() + ", failure " +
                    replica.failure();
                replica.close();
                String restarted;
                try (KafkaReplica again = KafkaReplica.builder(dir.resolve("r"), kafka.bootstrap(), topic).build())
                {
                    follow(again, image.lastPosition(), Duration.ofSeconds(10));
                    restarted = "a restarted replica caught up";
                }
                catch (final Throwable ex)
                {
                    restarted = "a restarted replica failed too: " + ex;
                }
                assertTrue(replica.failure() == null && replica.appliedPosition() == image.lastPosition(),
                    live + "; " + restarted);
            }
        }
    }

    // Contract: KafkaStreamingException "if the topic lacks records the replica needs"; a gap is "reported and never
    // papered over". Did: deleted the first 10 records of the topic (what retention does), then a new replica.
    @Test
    void aReplicaOfATopicThatLostItsHeadFailsClearly() throws Exception
    {
        final String topic = newTopic("headless", 1);
        try (VarveDB primary = VarveDB.open(dir.resolve("p")))
        {
            for (int s = 1; s <= 30; s++)
            {
                fill(primary, s, 1, "only-");
            }
            try (KafkaPublisher publisher = KafkaPublisher.builder(primary, kafka.bootstrap(), topic)
                .maxEventsPerTransaction(1).build())
            {
                publishAll(publisher, primary);
            }
        }
        try (Admin admin = kafka.admin())
        {
            admin.deleteRecords(Map.of(new TopicPartition(topic, 0), RecordsToDelete.beforeOffset(10))).all()
                .get(30, TimeUnit.SECONDS);
        }
        try (KafkaReplica replica = KafkaReplica.builder(dir.resolve("r"), kafka.bootstrap(), topic).build())
        {
            final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            KafkaStreamingException failed = null;
            while (failed == null && System.nanoTime() < deadline)
            {
                try
                {
                    replica.poll(Duration.ofMillis(100));
                }
                catch (final KafkaStreamingException ex)
                {
                    failed = ex;
                }
            }
            assertNotNull(failed, "no report within 10 s; applied " + replica.appliedEvents() + ", behind " +
                replica.recordsBehind());
            assertEquals(0, replica.store().streamCount(), "nothing papered over");
        }
    }

    // ------------------------------------------------------------------------------------------------------------
    // progress reports

    // Contract: appliedPosition is "the primary position of the last event applied"; lastAppliedTimestamp "the
    // primary timestamp of the last event applied"; recordsBehind is what is not applied yet. Did: caught up, then
    // checked all three; restarted with nothing new and checked again.
    @Test
    void progressReportsTellTheTruth() throws Exception
    {
        final String topic = newTopic("progress", 2);
        final Path replicaDir = dir.resolve("r");
        try (VarveDB primary = VarveDB.open(dir.resolve("p")))
        {
            fill(primary, 1, 30, "a");
            fill(primary, 2, 30, "b");
            final Image image = Image.of(primary);
            try (KafkaPublisher publisher = KafkaPublisher.builder(primary, kafka.bootstrap(), topic)
                .maxEventsPerTransaction(7).build())
            {
                publishAll(publisher, primary);
                assertEquals(image.lastPosition(), publisher.publishedPosition());
                assertEquals(60, publisher.publishedEvents());
            }
            try (KafkaReplica replica = KafkaReplica.builder(replicaDir, kafka.bootstrap(), topic).build())
            {
                follow(replica, image.lastPosition());
                for (int i = 0; i < 3; i++)
                {
                    replica.poll(Duration.ofMillis(100));
                }
                assertEquals(image.lastPosition(), replica.appliedPosition());
                assertEquals(image.log.get(image.log.size() - 1).timestamp(), replica.lastAppliedTimestamp());
                assertEquals(0, replica.recordsBehind(), "caught up");
            }
            try (KafkaReplica replica = KafkaReplica.builder(replicaDir, kafka.bootstrap(), topic).build())
            {
                for (int i = 0; i < 5; i++)
                {
                    replica.poll(Duration.ofMillis(100));
                }
                assertEquals(0, replica.recordsBehind(), "caught up after a restart");
                assertEquals(image.lastPosition(), replica.appliedPosition(),
                    "a restarted, caught-up replica reports the position it holds");
                assertEquals(image.log.get(image.log.size() - 1).timestamp(), replica.lastAppliedTimestamp(),
                    "and the timestamp of the last event it holds");
            }
        }
    }

    // ------------------------------------------------------------------------------------------------------------
    // size limits

    // Contract: "An event larger than Kafka allows (1 MiB by default...) fails its transaction until you raise both".
    // Did: an event just under 1 MiB (publishes), one just over (fails with KafkaStreamingException, position kept),
    // then both limits raised: it publishes and replicates.
    @Test
    void eventsAroundKafkasSizeLimit() throws Exception
    {
        final String topic = newTopic("size", 1);
        try (VarveDB primary = VarveDB.open(dir.resolve("p")); Appender appender = primary.appender())
        {
            final Random random = new Random(1);
            final byte[] under = new byte[1_000_000];
            random.nextBytes(under);
            appender.append(1, ExpectedVersion.NO_STREAM, 1, under);
            final long first = appender.lastPosition();
            try (KafkaPublisher publisher = KafkaPublisher.builder(primary, kafka.bootstrap(), topic).build())
            {
                publishAll(publisher, primary);
                final byte[] over = new byte[1_100_000];
                random.nextBytes(over);
                appender.append(1, ExpectedVersion.exact(1), 1, over);
                final KafkaStreamingException ex = assertThrows(KafkaStreamingException.class, publisher::publish);
                System.out.println("over the limit: " + ex);
                assertEquals(first, publisher.publishedPosition());
            }
            try (Admin admin = kafka.admin())
            {
                admin.incrementalAlterConfigs(Map.of(new org.apache.kafka.common.config.ConfigResource(
                    org.apache.kafka.common.config.ConfigResource.Type.TOPIC, topic), List.of(
                    new org.apache.kafka.clients.admin.AlterConfigOp(new org.apache.kafka.clients.admin.ConfigEntry(
                    "max.message.bytes", "4000000"), org.apache.kafka.clients.admin.AlterConfigOp.OpType.SET))))
                    .all().get(30, TimeUnit.SECONDS);
            }
            try (KafkaPublisher publisher = KafkaPublisher.builder(primary, kafka.bootstrap(), topic)
                .producerProperty("max.request.size", 4_000_000).build())
            {
                publishAll(publisher, primary);
            }
            final Image image = Image.of(primary);
            try (KafkaReplica replica = KafkaReplica.builder(dir.resolve("r"), kafka.bootstrap(), topic).build())
            {
                follow(replica, image.lastPosition());
            }
            assertSameStore(image, dir.resolve("r"));
        }
    }

    // ------------------------------------------------------------------------------------------------------------
    // starting and stopping

    // Contract: timeout is "for Kafka's answers when starting (default 30 s)"; failures are KafkaStreamingException.
    // Did: a publisher's open() against a port where no broker listens, timeout 2 s; waited 8 s.
    @Test
    void aPublisherHonoursItsTimeoutAgainstADeadBroker() throws Exception
    {
        final String dead = "localhost:" + freePort();
        final VarveDB primary = VarveDB.open(dir.resolve("p"));
        fill(primary, 1, 1, "a");
        final KafkaPublisher publisher = KafkaPublisher.builder(primary, dead, "t")
            .timeout(Duration.ofSeconds(2)).build();
        final AtomicReference<Throwable> thrown = new AtomicReference<>();
        final Thread opener = new Thread(() ->
        {
            try
            {
                publisher.open();
            }
            catch (final Throwable ex)
            {
                thrown.set(ex);
            }
            finally
            {
                publisher.close();
                primary.close();
            }
        }, "attack-dead-broker-open");
        opener.setDaemon(true);
        opener.start();
        opener.join(6_000);
        assertFalse(opener.isAlive(), "publisher.open() still blocked after 6 s with timeout(2 s)");
        assertTrue(thrown.get() instanceof KafkaStreamingException, "publisher: " + thrown.get());
    }

    // Contract: build() throws KafkaStreamingException when it cannot connect ("Kafka refused for good"), and a
    // failed start lets its store go. Did: a replica's build() against a port where no broker listens, timeout 2 s.
    @Test
    void aReplicaReportsADeadBrokerAsKafkaStreamingException() throws Exception
    {
        final String dead = "localhost:" + freePort();
        final Throwable thrown = assertThrows(Throwable.class, () -> assertTimeoutPreemptively(Duration.ofSeconds(10),
            () -> KafkaReplica.builder(dir.resolve("r"), dead, "t").timeout(Duration.ofSeconds(2)).build().close()));
        assertThrows(ReplicaStoreException.class, () -> VarveDB.open(dir.resolve("r")).close(),
            "the failed replica let its store go");
        assertTrue(thrown instanceof KafkaStreamingException, "replica build() threw " + thrown);
    }

    // Contract: a missing topic is a KafkaStreamingException naming it, within the start timeout. Did: a publisher on
    // a missing topic with timeout 3 s and no producer settings of its own.
    @Test
    void aMissingTopicIsReportedWithinTheTimeout() throws Exception
    {
        try (VarveDB primary = VarveDB.open(dir.resolve("p")))
        {
            fill(primary, 1, 1, "a");
            final String topic = "missing-" + TOPICS.incrementAndGet();
            try (KafkaPublisher publisher = KafkaPublisher.builder(primary, kafka.bootstrap(), topic)
                .timeout(Duration.ofSeconds(3)).build())
            {
                final KafkaStreamingException ex = assertTimeoutPreemptively(Duration.ofSeconds(10), () ->
                    assertThrows(KafkaStreamingException.class, publisher::open));
                assertTrue(ex.getMessage().contains(topic), ex.getMessage());
            }
        }
    }

    // Contract: close() "Stop publishing: the thread (if started) finishes its transaction, and the producer is
    // closed". Did: start() against a port where no broker listens, close() 300 ms later; waited 5 s.
    @Test
    void closeOfAPublisherStillConnectingReturnsPromptly() throws Exception
    {
        final VarveDB primary = VarveDB.open(dir.resolve("p"));
        fill(primary, 1, 1, "a");
        final KafkaPublisher publisher = KafkaPublisher.builder(primary, "localhost:" + freePort(), "t")
            .timeout(Duration.ofSeconds(2)).build().start();
        Thread.sleep(300);
        final Thread closer = new Thread(() ->
        {
            publisher.close();
            primary.close();
        }, "attack-closer");
        closer.setDaemon(true);
        final long start = System.nanoTime();
        closer.start();
        closer.join(4_000);
        assertFalse(closer.isAlive(), "close() still blocked after 4 s (timeout 2 s); isRunning " +
            publisher.isRunning());
    }

    // Contract: close() stops the thread and closes the producer (publisher) / consumer and store (replica). Did:
    // start() then close() at once, three times each, on a live broker; counted client threads after.
    @Test
    void closeRightAfterStartLeavesNothingRunning() throws Exception
    {
        final String topic = newTopic("closing", 1);
        final Set<Thread> before = kafkaThreads();
        try (VarveDB primary = VarveDB.open(dir.resolve("p")))
        {
            fill(primary, 1, 50, "a");
            for (int i = 0; i < 3; i++)
            {
                final KafkaPublisher publisher = KafkaPublisher.builder(primary, kafka.bootstrap(), topic).build()
                    .start();
                assertTimeoutPreemptively(Duration.ofSeconds(10), publisher::close, "close() during start");
                assertFalse(publisher.isRunning());
                final KafkaReplica replica = KafkaReplica.builder(dir.resolve("r"), kafka.bootstrap(), topic)
                    .build().start();
                assertTimeoutPreemptively(Duration.ofSeconds(10), replica::close, "replica close() during start");
                assertFalse(replica.isRunning());
                assertThrows(ReplicaStoreException.class, () -> VarveDB.open(dir.resolve("r")).close(),
                    "the replica let its store go");
            }
        }
        final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        Set<Thread> leaked = new HashSet<>();
        while (System.nanoTime() < deadline)
        {
            leaked = kafkaThreads();
            leaked.removeAll(before);
            if (leaked.isEmpty())
            {
                break;
            }
            Thread.sleep(100);
        }
        assertEquals(Set.of(), names(leaked), "threads left running after close()");
    }

    // ------------------------------------------------------------------------------------------------------------
    // crashes (child JVMs killed with SIGKILL)

    // Contract: "however it dies (SIGKILL mid-transaction, or between Kafka's commit and anything else), a
    // read_committed consumer sees each event once". Did: a publisher in a child JVM on the store (read-only) while
    // the parent appends; SIGKILL at random moments, some during its start; then a last publisher in process.
    @Test
    void aPublisherKilledAtRandomMomentsLeavesEachEventOnce() throws Exception
    {
        final String topic = newTopic("killpub", 3);
        final Path primaryDir = dir.resolve("p");
        final Random random = new Random(7);
        try (VarveDB primary = VarveDB.open(primaryDir); Appender appender = primary.appender())
        {
            final Workload workload = new Workload(11, 30);
            workload.run(primary, appender, 500);
            final AtomicBoolean stop = new AtomicBoolean();
            final Thread writer = new Thread(() ->
            {
                final Workload more = new Workload(12, 30);
                try (Appender a = primary.appender())
                {
                    while (!stop.get())
                    {
                        more.run(primary, a, 10);
                        try
                        {
                            Thread.sleep(5);
                        }
                        catch (final InterruptedException ex)
                        {
                            return;
                        }
                    }
                }
            });
            writer.start();
            // the first dies during its start; the others once they have committed, a random moment later
            final int[] kills = {0, 1, 2};
            for (final int k : kills)
            {
                final Path log = dir.resolve("pub-" + k + ".log");
                final Process child = spawn(PublisherChild.class, log, primaryDir.toString(), kafka.bootstrap(), topic);
                if (k == 0)
                {
                    Thread.sleep(600);
                }
                else
                {
                    waitForProgress(log, child);
                    Thread.sleep(random.nextInt(400));
                }
                child.destroyForcibly().waitFor();
            }
            stop.set(true);
            writer.join();
            final int byChildren = positionsInTopic(topic).size();
            assertTrue(byChildren > 0, "the killed publishers published something: " + childLogs("pub-"));
            final Image image = Image.of(primary);
            try (KafkaPublisher publisher = KafkaPublisher.builder(primary, kafka.bootstrap(), topic).build())
            {
                publishAll(publisher, primary);
            }
            assertTopicIsTheLog(topic, image);
            System.out.println("publisher kills: " + image.log.size() + " events, " + byChildren +
                " published by the killed children");
        }
    }

    // Contract: "It survives its own crashes": the replica goes on from its hint and skips what it has; equal in
    // the end. Did: a replica in a child JVM following a 3-partition topic, SIGKILLed at random moments (some during
    // its start), restarted; the last in process.
    @Test
    void aReplicaKilledAtRandomMomentsEndsEqual() throws Exception
    {
        final String topic = newTopic("killrep", 3);
        final Path replicaDir = dir.resolve("r");
        final Random random = new Random(8);
        try (VarveDB primary = VarveDB.open(dir.resolve("p")); Appender appender = primary.appender())
        {
            final Workload workload = new Workload(13, 40);
            workload.run(primary, appender, 1500);
            try (KafkaPublisher publisher = KafkaPublisher.builder(primary, kafka.bootstrap(), topic)
                .maxEventsPerTransaction(100).build())
            {
                publishAll(publisher, primary);
                final int[] kills = {0, 1, 2};
                for (final int k : kills)
                {
                    final Path log = dir.resolve("rep-" + k + ".log");
                    final Process child = spawn(ReplicaChild.class, log, replicaDir.toString(), kafka.bootstrap(),
                        topic);
                    if (k == 0)
                    {
                        Thread.sleep(700);
                    }
                    else
                    {
                        waitForProgress(log, child);
                        Thread.sleep(random.nextInt(150));
                    }
                    child.destroyForcibly().waitFor();
                    workload.run(primary, appender, 300);
                    publishAll(publisher, primary);
                }
            }
            final Image image = Image.of(primary);
            final int byChildren;
            try (VarveDB partial = VarveDB.openReadOnly(replicaDir))
            {
                byChildren = Image.of(partial).log.size();
            }
            assertTrue(byChildren > 0, "the killed replicas applied something: " + childLogs("rep-"));
            try (KafkaReplica replica = KafkaReplica.builder(replicaDir, kafka.bootstrap(), topic).build())
            {
                follow(replica, image.lastPosition());
                System.out.println("replica kills: applied by the children " + byChildren);
                System.out.println("replica kills: " + image.log.size() + " events, skipped after restarts " +
                    replica.skippedEvents());
            }
            assertSameStore(image, replicaDir);
        }
    }

    /** A publisher in a JVM of its own: store dir, bootstrap, topic. */
    public static final class PublisherChild
    {
        public static void main(final String[] args) throws Exception
        {
            final VarveDB db = VarveDB.openReadOnly(Path.of(args[0]));
            final KafkaPublisher publisher = KafkaPublisher.builder(db, args[1], args[2])
                .maxEventsPerTransaction(50).build().start();
            System.out.println("started");
            long reported = 0;
            while (true)
            {
                Thread.sleep(10);
                if (publisher.publishedEvents() != reported)
                {
                    reported = publisher.publishedEvents();
                    System.out.println("progress " + reported);
                }
                if (publisher.failure() != null)
                {
                    publisher.failure().printStackTrace();
                    Thread.sleep(1000);
                }
            }
        }
    }

    /** A replica in a JVM of its own: replica dir, bootstrap, topic. */
    public static final class ReplicaChild
    {
        public static void main(final String[] args) throws Exception
        {
            final KafkaReplica replica = KafkaReplica.builder(Path.of(args[0]), args[1], args[2]).build().start();
            System.out.println("started");
            long reported = 0;
            while (true)
            {
                Thread.sleep(10);
                if (replica.appliedEvents() != reported)
                {
                    reported = replica.appliedEvents();
                    System.out.println("progress " + reported);
                }
                if (replica.failure() != null)
                {
                    replica.failure().printStackTrace();
                    Thread.sleep(1000);
                }
            }
        }
    }

    // ------------------------------------------------------------------------------------------------------------
    // helpers

    private static String newTopic(final String base, final int partitions) throws Exception
    {
        final String topic = "atk-" + base + "-" + TOPICS.incrementAndGet();
        kafka.createTopic(topic, partitions);
        return topic;
    }

    private static byte[] bytes(final String s)
    {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    private static String escape(final String s)
    {
        return "\"" + s.replace("\n", "\\n").replace("\u0000", "\\0") + "\"";
    }

    private static void fill(final VarveDB db, final long stream, final int events, final String text)
    {
        try (Appender appender = db.appender())
        {
            for (int i = 0; i < events; i++)
            {
                appender.append(stream, ExpectedVersion.exact(db.streamVersion(stream)), 1, bytes(text + i));
            }
        }
    }

    private interface Action
    {
        void run() throws Exception;
    }

    private static void attempt(final List<String> accepted, final String what, final Action action)
    {
        try
        {
            action.run();
            accepted.add(what);
        }
        catch (final Exception ex)
        {
            // refused: what we want
        }
    }

    private static List<String> visible(final VarveDB db, final long stream)
    {
        final List<String> events = new ArrayList<>();
        db.readStream(stream, 1, 1000, (e) -> events.add(e.version() + ":" + Image.payloadOf(e)));
        return events;
    }

    private static void publishAll(final KafkaPublisher publisher, final VarveDB primary)
    {
        final long last = Image.of(primary).lastPosition();
        final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (publisher.publishedPosition() < last)
        {
            publisher.publish();
            assertTrue(System.nanoTime() < deadline, "publisher stuck at " + publisher.publishedPosition());
        }
    }

    private static void follow(final KafkaReplica replica, final long last)
    {
        follow(replica, last, Duration.ofSeconds(30));
    }

    private static void follow(final KafkaReplica replica, final long last, final Duration limit)
    {
        final long deadline = System.nanoTime() + limit.toNanos();
        while (replica.appliedPosition() < last)
        {
            replica.poll(Duration.ofMillis(100));
            assertTrue(System.nanoTime() < deadline, "replica stuck at " + replica.appliedPosition() + " of " + last +
                ", behind " + replica.recordsBehind());
        }
    }

    private interface Condition
    {
        boolean holds() throws Exception;
    }

    private static void waitFor(final Condition condition, final Duration limit, final String what) throws Exception
    {
        final long deadline = System.nanoTime() + limit.toNanos();
        while (!condition.holds())
        {
            assertTrue(System.nanoTime() < deadline, "timed out waiting for " + what);
            Thread.sleep(20);
        }
    }

    private static List<Long> sorted(final Set<Long> positions)
    {
        final List<Long> list = new ArrayList<>(positions);
        list.sort(null);
        return list;
    }

    /** Positions of the VarveDB records in the topic, sorted; a duplicate shows twice. */
    private static List<Long> positionsInTopic(final String topic)
    {
        final List<Long> positions = new ArrayList<>();
        for (final ConsumerRecord<byte[], byte[]> record : readCommitted(topic))
        {
            if (KafkaRecordFormat.isVarveRecord(record.headers()))
            {
                positions.add(KafkaRecordFormat.longHeader(record.headers(), KafkaRecordFormat.POSITION));
            }
        }
        positions.sort(null);
        return positions;
    }

    /** Each event of the log once, with its payload and the chain of previous positions. */
    private static void assertTopicIsTheLog(final String topic, final Image image)
    {
        final List<ConsumerRecord<byte[], byte[]>> records = new ArrayList<>(readCommitted(topic));
        records.sort((a, b) -> Long.compare(KafkaRecordFormat.longHeader(a.headers(), KafkaRecordFormat.POSITION),
            KafkaRecordFormat.longHeader(b.headers(), KafkaRecordFormat.POSITION)));
        final List<Long> positions = new ArrayList<>();
        for (final ConsumerRecord<byte[], byte[]> record : records)
        {
            positions.add(KafkaRecordFormat.longHeader(record.headers(), KafkaRecordFormat.POSITION));
        }
        assertEquals(image.positions, positions, "each event once");
        long previous = KafkaRecordFormat.NONE;
        for (int i = 0; i < records.size(); i++)
        {
            assertEquals(previous, KafkaRecordFormat.longHeader(records.get(i).headers(), KafkaRecordFormat.PREVIOUS),
                "chain at record " + i);
            if ((KafkaRecordFormat.flags(records.get(i).headers()) & KafkaRecordFormat.FLAG_METADATA) == 0)
            {
                assertArrayEquals(image.log.get(i).payload(), records.get(i).value(), "payload " + i);
            }
            final String stream = image.log.get(i).stream();
            final String key = stream.startsWith("$$$") ? stream.substring(3) :
                stream.startsWith("$$") ? stream.substring(2) : stream;
            assertEquals(key, new String(records.get(i).key(), StandardCharsets.UTF_8), "key of record " + i);
            assertEquals(image.log.get(i).timestamp() / 1_000_000, records.get(i).timestamp(), "timestamp " + i);
            previous = positions.get(i);
        }
    }

    private static List<ConsumerRecord<byte[], byte[]>> readCommitted(final String topic)
    {
        final Properties props = new Properties();
        props.put("bootstrap.servers", kafka.bootstrap());
        props.put("isolation.level", "read_committed");
        props.put("enable.auto.commit", "false");
        props.put("key.deserializer", "org.apache.kafka.common.serialization.ByteArrayDeserializer");
        props.put("value.deserializer", "org.apache.kafka.common.serialization.ByteArrayDeserializer");
        final List<ConsumerRecord<byte[], byte[]>> all = new ArrayList<>();
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(props))
        {
            final List<TopicPartition> partitions = new ArrayList<>();
            for (final PartitionInfo info : consumer.partitionsFor(topic, Duration.ofSeconds(30)))
            {
                partitions.add(new TopicPartition(topic, info.partition()));
            }
            consumer.assign(partitions);
            consumer.seekToBeginning(partitions);
            final Map<TopicPartition, Long> ends = consumer.endOffsets(partitions);
            final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            for (final TopicPartition partition : partitions)
            {
                consumer.assign(List.of(partition));
                consumer.seekToBeginning(List.of(partition));
                while (consumer.position(partition) < ends.get(partition))
                {
                    assertTrue(System.nanoTime() < deadline, "reading " + topic);
                    for (final ConsumerRecord<byte[], byte[]> record : consumer.poll(Duration.ofMillis(200)))
                    {
                        all.add(record);
                    }
                }
            }
        }
        return all;
    }

    private static Set<Thread> kafkaThreads()
    {
        final Set<Thread> threads = new HashSet<>();
        for (final Thread t : Thread.getAllStackTraces().keySet())
        {
            final String name = t.getName().toLowerCase();
            if (t.isAlive() && (name.contains("kafka-producer") || name.contains("consumer") ||
                name.contains("varve") || name.contains("publisher") || name.contains("replica")) &&
                !name.contains("broker") && !name.contains("controller"))
            {
                threads.add(t);
            }
        }
        return threads;
    }

    private static Set<String> names(final Set<Thread> threads)
    {
        final Set<String> names = new HashSet<>();
        threads.forEach((t) -> names.add(t.getName()));
        return names;
    }

    private static int freePort() throws Exception
    {
        try (java.net.ServerSocket socket = new java.net.ServerSocket(0))
        {
            return socket.getLocalPort();
        }
    }

    private static void waitForProgress(final Path log, final Process child) throws Exception
    {
        final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (!(Files.exists(log) && Files.readString(log).contains("progress")))
        {
            assertTrue(child.isAlive(), "child died: " + Files.readString(log));
            assertTrue(System.nanoTime() < deadline, "child made no progress in 20 s: " + Files.readString(log));
            Thread.sleep(10);
        }
    }

    private String childLogs(final String prefix) throws Exception
    {
        final StringBuilder logs = new StringBuilder();
        try (var files = Files.list(dir))
        {
            for (final Path log : (Iterable<Path>)files::iterator)
            {
                if (log.getFileName().toString().startsWith(prefix))
                {
                    final String text = Files.readString(log);
                    logs.append("\n").append(log.getFileName()).append(": ")
                        .append(text.substring(Math.max(0, text.length() - 600)));
                }
            }
        }
        return logs.toString();
    }

    private static Process spawn(final Class<?> main, final Path log, final String... args) throws Exception
    {
        final List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        command.add("--add-exports=java.base/jdk.internal.misc=ALL-UNNAMED");
        command.add("-XX:TieredStopAtLevel=1");
        command.add("-Xmx256m");
        command.add("-cp");
        command.add(System.getProperty("java.class.path"));
        command.add(main.getName());
        command.addAll(Arrays.asList(args));
        return new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile()).start();
    }

    private static void copyTree(final Path from, final Path to) throws Exception
    {
        try (var files = Files.walk(from))
        {
            for (final Path p : (Iterable<Path>)files::iterator)
            {
                final Path target = to.resolve(from.relativize(p).toString());
                if (Files.isDirectory(p))
                {
                    Files.createDirectories(target);
                }
                else if (!p.getFileName().toString().equals("varve.lock"))
                {
                    Files.copy(p, target);
                }
            }
        }
    }

    /** Stream by stream and in global order, the replica holds what the primary's image holds. */
    private static void assertSameStore(final Image primary, final Path replicaDir)
    {
        try (VarveDB replica = VarveDB.openReadOnly(replicaDir))
        {
            final Image copy = Image.of(replica);
            final Map<String, List<Image.Event>> expected = primary.streams();
            final Map<String, List<Image.Event>> actual = copy.streams();
            assertEquals(expected.keySet(), actual.keySet(), "streams");
            for (final Map.Entry<String, List<Image.Event>> stream : expected.entrySet())
            {
                assertEquals(stream.getValue(), actual.get(stream.getKey()), "stream " + escape(stream.getKey()));
            }
            for (int i = 0; i < Math.min(primary.log.size(), copy.log.size()); i++)
            {
                assertEquals(primary.log.get(i), copy.log.get(i), "event " + i + " of the global log");
            }
            assertEquals(primary.log.size(), copy.log.size(), "events in the global log");
        }
    }

    /** The global log, each stream named the way both sides agree on (copied from the module's StoreImage). */
    static final class Image
    {
        record Event(String stream, long version, int type, long timestamp, String eventId, boolean tombstone,
            boolean inBatch, boolean lastInBatch, byte[] payload)
        {
            @Override
            public boolean equals(final Object o)
            {
                return o instanceof Event e && stream.equals(e.stream) && version == e.version && type == e.type &&
                    timestamp == e.timestamp && Objects.equals(eventId, e.eventId) && tombstone == e.tombstone &&
                    inBatch == e.inBatch && lastInBatch == e.lastInBatch && Arrays.equals(payload, e.payload);
            }

            @Override
            public int hashCode()
            {
                return Objects.hash(stream, version);
            }

            @Override
            public String toString()
            {
                return escape(stream) + "@" + version + " type " + type + " ts " + timestamp + " id " + eventId +
                    (tombstone ? " tombstone" : "") + (inBatch ? " batch" : "") + (lastInBatch ? " last" : "") +
                    " " + (payload.length > 60 ? payload.length + " bytes" :
                    new String(payload, StandardCharsets.ISO_8859_1));
            }
        }

        final List<Event> log = new ArrayList<>();
        final List<Long> positions = new ArrayList<>();

        long lastPosition()
        {
            return positions.isEmpty() ? KafkaRecordFormat.NONE : positions.get(positions.size() - 1);
        }

        static Image of(final VarveDB db)
        {
            final Image image = new Image();
            final long[] next = {VarveDB.START_POSITION};
            while (true)
            {
                final int read = db.readAll(next[0], 4096, (event) ->
                {
                    image.log.add(toEvent(db, event));
                    image.positions.add(event.position());
                    next[0] = event.nextPosition();
                });
                if (read == 0)
                {
                    return image;
                }
            }
        }

        static String payloadOf(final RecordedEvent event)
        {
            final byte[] payload = new byte[event.payloadLength()];
            event.payload().getBytes(0, payload);
            return new String(payload, StandardCharsets.ISO_8859_1);
        }

        static Event toEvent(final VarveDB db, final RecordedEvent event)
        {
            byte[] payload = new byte[event.payloadLength()];
            event.payload().getBytes(0, payload);
            if (event.isStreamMetadata())
            {
                payload = StreamMetadata.decode(event.payload(), 0, event.payloadLength()).toString()
                    .getBytes(StandardCharsets.UTF_8);
            }
            final String stream = event.streamId() < 0 ? db.streamName(event.streamId()) :
                Long.toString(event.streamId());
            return new Event(stream, event.version(), event.eventType(), event.timestamp(),
                event.hasEventId() ? event.eventId().toString() : null, event.isTombstone(), event.isInBatch(),
                event.isLastInBatch(), payload);
        }

        Map<String, List<Event>> streams()
        {
            final Map<String, List<Event>> streams = new LinkedHashMap<>();
            for (final Event event : log)
            {
                streams.computeIfAbsent(event.stream(), (k) -> new ArrayList<>()).add(event);
            }
            return streams;
        }
    }

    /** The module's Workload, copied: numeric and named streams, batches, ids, metadata, deletes, tombstones. */
    static final class Workload
    {
        private final Random random;
        private final int streams;

        Workload(final long seed, final int streams)
        {
            this.random = new Random(seed);
            this.streams = streams;
        }

        int run(final VarveDB db, final Appender appender, final int steps)
        {
            int events = 0;
            final EventBatch batch = new EventBatch();
            for (int i = 0; i < steps; i++)
            {
                final int pick = random.nextInt(100);
                final boolean named = random.nextInt(4) == 0;
                final int s = 1 + random.nextInt(streams);
                final long id = named ? appender.streamId("order-" + s) : s;
                final long version;
                try
                {
                    version = db.streamVersion(id);
                }
                catch (final StreamDeletedException ex)
                {
                    continue;
                }
                final byte[] payload = bytes("event " + id + "/" + (version + 1));
                try
                {
                    if (pick < 55)
                    {
                        appender.append(id, ExpectedVersion.exact(version), 1 + random.nextInt(5), payload);
                        events++;
                    }
                    else if (pick < 65)
                    {
                        final UUID eventId = new UUID(random.nextLong(), random.nextLong() | 1);
                        appender.append(id, ExpectedVersion.exact(version), 7, eventId, payload);
                        events++;
                    }
                    else if (pick < 85)
                    {
                        batch.clear();
                        final int size = 2 + random.nextInt(4);
                        final boolean ids = random.nextBoolean();
                        for (int b = 0; b < size; b++)
                        {
                            if (ids)
                            {
                                batch.add(10 + b, new UUID(random.nextLong(), random.nextLong() | 1),
                                    bytes("batch " + id + "/" + (version + 1 + b)));
                            }
                            else
                            {
                                batch.add(10 + b, bytes("batch " + id + "/" + (version + 1 + b)));
                            }
                        }
                        appender.appendBatch(id, ExpectedVersion.exact(version), batch);
                        events += size;
                    }
                    else if (pick < 94)
                    {
                        db.setStreamMetadata(id, StreamMetadata.NONE.withMaxCount(5 + random.nextInt(20)));
                        events++;
                    }
                    else if (pick < 99)
                    {
                        if (version > 0)
                        {
                            db.deleteStream(id, ExpectedVersion.exact(version));
                            events++;
                        }
                    }
                    else if (version > 2 && random.nextBoolean())
                    {
                        db.tombstoneStream(id, ExpectedVersion.exact(version));
                        events++;
                    }
                }
                catch (final ConcurrencyConflictException ex)
                {
                    // another writer (the parent's thread) raced us
                }
            }
            return events;
        }
    }
}
