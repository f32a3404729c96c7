package io.varvedb.kafka;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

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

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What the publisher and the replica refuse, and how they recover, against a real broker.
 */
class KafkaFailureTest
{
    private static EmbeddedKafka kafka;

    @TempDir
    Path dir;

    @BeforeAll
    static void broker() throws Exception
    {
        kafka = SharedKafka.get();
    }

    private static void fill(final VarveDB db, final long stream, final int events, final String text)
    {
        try (Appender appender = db.appender())
        {
            for (int i = 0; i < events; i++)
            {
                appender.append(stream, ExpectedVersion.exact(db.streamVersion(stream)), 1,
                    (text + i).getBytes(java.nio.charset.StandardCharsets.UTF_8));
            }
        }
    }

    @Test
    void aMissingTopicIsNamed()
    {
        try (VarveDB db = VarveDB.open(dir.resolve("a"));
            KafkaPublisher publisher = KafkaPublisher.builder(db, kafka.bootstrap(), "no-such-topic")
                .timeout(Duration.ofSeconds(5)).producerProperty("max.block.ms", 5000).build())
        {
            final KafkaStreamingException ex = assertThrows(KafkaStreamingException.class, publisher::open);
            assertTrue(ex.getMessage().contains("no-such-topic"), ex.getMessage());
        }
        final KafkaStreamingException ex = assertThrows(KafkaStreamingException.class,
            () -> KafkaReplica.builder(dir.resolve("r"), kafka.bootstrap(), "no-such-topic")
                .timeout(Duration.ofSeconds(5)).build());
        assertTrue(ex.getMessage().contains("no-such-topic"), ex.getMessage());
        // the replica's store was closed again: a writer may open it (it is a replica, so the right refusal)
        assertThrows(ReplicaStoreException.class, () -> VarveDB.open(dir.resolve("r")).close());
    }

    @Test
    void anEncryptedStoreIsPublishedInClearAndGoesOnAfterTheTopicsLastStreamIsShredded() throws Exception
    {
        kafka.createTopic("shredded", 1);
        final byte[] key = new byte[32];
        key[3] = 3;
        try (VarveDB db = VarveDB.open(io.varvedb.VarveConfig.builder(dir.resolve("e")).encryption(key).build()))
        {
            fill(db, 1, 5, "kept");
            fill(db, 2, 5, "forgotten");
            try (KafkaPublisher publisher = KafkaPublisher.builder(db, kafka.bootstrap(), "shredded").build())
            {
                KafkaReplicationTest.publishAll(publisher, db);
            }
            assertEquals("forgotten4", new String(KafkaTopics.readCommitted(kafka.bootstrap(), "shredded", 10)
                .get(9).value(), java.nio.charset.StandardCharsets.UTF_8), "the topic holds clear payloads");
            // the topic ends with an event of stream 2; shredded, the store cannot show it any more
            db.shredStream(2);
            try (KafkaPublisher publisher = KafkaPublisher.builder(db, kafka.bootstrap(), "shredded").build())
            {
                // nothing after it in the log: the check at open finds no event there to compare
                publisher.open();
                fill(db, 1, 3, "more");
                assertEquals(3, publisher.publish(), "a shredded last event is no sign of another store");
            }
            assertEquals(13, KafkaTopics.readCommitted(kafka.bootstrap(), "shredded", 13).size());
        }
    }

    @Test
    void aTopicOfAnotherStoreIsRefusedForGood() throws Exception
    {
        kafka.createTopic("foreign", 1);
        try (VarveDB a = VarveDB.open(dir.resolve("a")); VarveDB b = VarveDB.open(dir.resolve("b"));
            VarveDB c = VarveDB.open(dir.resolve("c")))
        {
            fill(a, 1, 10, "a");
            fill(b, 2, 10, "b");
            // c's log ends exactly where the topic's last event starts: it has nothing there to compare
            fill(c, 1, 9, "a");
            try (KafkaPublisher publisher = KafkaPublisher.builder(a, kafka.bootstrap(), "foreign").build())
            {
                KafkaReplicationTest.publishAll(publisher, a);
                for (final VarveDB other : new VarveDB[] {b, c})
                {
                    // the same transactional id: refused before it fences a's own publisher
                    try (KafkaPublisher wrong = KafkaPublisher.builder(other, kafka.bootstrap(), "foreign").build())
                    {
                        final KafkaStreamingException ex = assertThrows(KafkaStreamingException.class, wrong::publish);
                        assertTrue(ex.getMessage().contains("another store"), ex.getMessage());
                        assertThrows(KafkaStreamingException.class, wrong::publish, "and stays refused");
                    }
                }
                // a's publisher was not fenced: it goes on
                fill(a, 1, 3, "more");
                assertEquals(3, publisher.publish());
            }
            assertEquals(13, KafkaTopics.readCommitted(kafka.bootstrap(), "foreign", 13).size());
        }
    }

    @Test
    void aSecondPublisherFencesTheFirstAndTheTopicStaysExactlyOnce() throws Exception
    {
        kafka.createTopic("fenced", 2);
        try (VarveDB db = VarveDB.open(dir.resolve("a")))
        {
            fill(db, 1, 50, "x");
            try (KafkaPublisher first = KafkaPublisher.builder(db, kafka.bootstrap(), "fenced")
                .maxEventsPerTransaction(20).build())
            {
                assertEquals(20, first.publish());
                try (KafkaPublisher second = KafkaPublisher.builder(db, kafka.bootstrap(), "fenced").build())
                {
                    // the second fences the first and goes on right after its 20 committed events
                    assertEquals(30, second.publish());
                    fill(db, 2, 5, "y");
                    final KafkaStreamingException ex = assertThrows(KafkaStreamingException.class, first::publish);
                    assertTrue(ex.getMessage().contains("stopped"), ex.getMessage());
                    assertThrows(KafkaStreamingException.class, first::publish, "a fenced publisher stays stopped");
                    assertEquals(5, second.publish());
                }
            }
            final List<ConsumerRecord<byte[], byte[]>> records = KafkaTopics.readCommitted(kafka.bootstrap(),
                "fenced", 55);
            assertEquals(55, records.size());
            assertEquals(55, records.stream().map((r) -> KafkaRecordFormat.longHeader(r.headers(),
                KafkaRecordFormat.POSITION)).distinct().count());
        }
    }

    @Test
    void anAbortedTransactionIsSentAgainAndNeverSeenTwice() throws Exception
    {
        kafka.createTopic("aborted", 1);
        try (VarveDB db = VarveDB.open(dir.resolve("a")))
        {
            fill(db, 1, 30, "x");
            // a publisher whose transactions cannot commit: records larger than its producer may send fail it
            try (KafkaPublisher small = KafkaPublisher.builder(db, kafka.bootstrap(), "aborted")
                .producerProperty("max.request.size", 200).build())
            {
                fill(db, 3, 1, "y".repeat(400));
                assertThrows(KafkaStreamingException.class, () -> KafkaReplicationTest.publishAll(small, db));
            }
            try (KafkaPublisher publisher = KafkaPublisher.builder(db, kafka.bootstrap(), "aborted").build())
            {
                KafkaReplicationTest.publishAll(publisher, db);
            }
            final StoreImage image = StoreImage.of(db);
            KafkaReplicationTest.assertTopicEqualsLog("aborted", image, 1);
        }
    }

    @Test
    void aReplicaIsRefusedIntoAStoreOfItsOwnAndRereadsTheTopicWhenItsStoreLostEvents() throws Exception
    {
        kafka.createTopic("lost", 2);
        final Path primaryDir = dir.resolve("primary");
        final Path replicaDir = dir.resolve("replica");
        try (VarveDB primary = VarveDB.open(primaryDir))
        {
            fill(primary, 1, 40, "x");
            fill(primary, 2, 40, "y");
            try (KafkaPublisher publisher = KafkaPublisher.builder(primary, kafka.bootstrap(), "lost").build())
            {
                KafkaReplicationTest.publishAll(publisher, primary);
            }
        }
        // a store with events of its own is no place for a replica
        try (VarveDB own = VarveDB.open(dir.resolve("own")))
        {
            fill(own, 9, 1, "mine");
        }
        assertThrows(ReplicaStoreException.class,
            () -> KafkaReplica.builder(dir.resolve("own"), kafka.bootstrap(), "lost").build());

        final StoreImage half;
        try (VarveDB primary = VarveDB.openReadOnly(primaryDir))
        {
            half = StoreImage.of(primary);
        }
        try (KafkaReplica replica = KafkaReplica.builder(replicaDir, kafka.bootstrap(), "lost").build())
        {
            KafkaReplicationTest.follow(replica, half);
        }
        final Path older = dir.resolve("older");
        copyTree(replicaDir, older);
        final StoreImage image;
        try (VarveDB primary = VarveDB.open(primaryDir))
        {
            fill(primary, 1, 30, "z");
            fill(primary, 3, 30, "w");
            try (KafkaPublisher publisher = KafkaPublisher.builder(primary, kafka.bootstrap(), "lost").build())
            {
                KafkaReplicationTest.publishAll(publisher, primary);
            }
            image = StoreImage.of(primary);
        }
        try (KafkaReplica replica = KafkaReplica.builder(replicaDir, kafka.bootstrap(), "lost").build())
        {
            KafkaReplicationTest.follow(replica, image);
        }
        // the store goes back to its older state but keeps the newer offsets hint (a power cut lost the store's
        // last pages, not the hint's): the replica finds the version gap, reads the topic again from its start,
        // skips what the store has, and ends equal
        final byte[] hint = Files.readAllBytes(replicaDir.resolve(ReplicaOffsets.FILE_NAME));
        deleteTree(replicaDir);
        copyTree(older, replicaDir);
        Files.write(replicaDir.resolve(ReplicaOffsets.FILE_NAME), hint);
        try (KafkaReplica replica = KafkaReplica.builder(replicaDir, kafka.bootstrap(), "lost").build())
        {
            KafkaReplicationTest.follow(replica, image);
            assertTrue(replica.skippedEvents() >= half.log.size(), "read again from the start: " +
                replica.skippedEvents());
        }
        KafkaReplicationTest.assertSameStore(image, replicaDir);
        assertFalse(Files.exists(replicaDir.resolve(ReplicaOffsets.FILE_NAME + ".tmp")));
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
                else
                {
                    Files.copy(p, target);
                }
            }
        }
    }

    private static void deleteTree(final Path dir) throws Exception
    {
        try (var files = Files.walk(dir))
        {
            files.sorted(java.util.Comparator.reverseOrder()).forEach((p) -> p.toFile().delete());
        }
    }
}
