package io.varvedb.tools;

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
import io.varvedb.kafka.broker.EmbeddedKafka;
import io.varvedb.kafka.broker.SharedKafka;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Properties;
import java.util.Random;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code varve publish} and {@code varve replicate} against a real broker (kafka/'s in-process KRaft broker, one
 * per test JVM, a topic per test): the topic holds the store's log once, the replica equals the primary, a
 * promoted replica continues the versions, live runs in other JVMs follow a writer and stop cleanly on a signal
 * (a running replica refusing promotion meanwhile), and each failure is one line with its exit status.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class KafkaCommandsTest
{
    private static final String AGRONA_FLAG = "--add-exports=java.base/jdk.internal.misc=ALL-UNNAMED";
    private static final long WAIT_SECONDS = 60;
    private static EmbeddedKafka kafka;

    @TempDir
    Path dir;

    @BeforeAll
    static void broker() throws Exception
    {
        kafka = SharedKafka.get();
    }

    @Test
    void publishOncePublishesTheWholeLogOnceAndGoesOnFromTheTopicsEnd() throws Exception
    {
        final String topic = "cli-publish";
        kafka.createTopic(topic, 1);
        final Path primary = dir.resolve("primary");
        final Random random = new Random(7);
        try (VarveDB db = VarveDB.open(primary); Appender appender = db.appender())
        {
            workload(db, appender, random, 400);
        }
        final Image before = Image.of(primary);
        assertTrue(before.events.size() > 400, "workload: " + before.events.size());

        final Cli.Result first = Cli.run("publish", primary.toString(), "--bootstrap", kafka.bootstrap(), "--topic",
            topic, "--once", "--max-events-per-transaction", "100");
        assertEquals(ExitCode.OK, first.exit(), first::toString);
        assertTrue(first.err().isEmpty(), first::toString);
        assertTrue(first.out().startsWith("publishing " + primary.toAbsolutePath().normalize() + " to topic " + topic +
            " at " + kafka.bootstrap() + " (transactional id varve-publisher-" + topic + "): the topic is empty"),
            first::toString);
        assertTrue(first.out().contains("\npublished " + Format.count(before.events.size()) + " events in "),
            first::toString);
        assertTrue(first.out().contains("holds the log up to @" + Format.count(before.last().position())),
            first::toString);
        assertTrue(first.out().contains("  lag           0 events, 0 B of log not published"), first::toString);
        assertTopicEqualsLog(topic, before);

        // nothing new: the second run finds the topic's end and publishes nothing
        final Cli.Result again = Cli.run("publish", primary.toString(), "--bootstrap", kafka.bootstrap(), "--topic",
            topic, "--once");
        assertEquals(ExitCode.OK, again.exit(), again::toString);
        assertTrue(again.out().contains("the topic holds the log up to @" + Format.count(before.last().position())),
            again::toString);
        assertTrue(again.out().contains("published 0 events: nothing new to publish"), again::toString);
        assertTopicEqualsLog(topic, before);

        // more, published while the writer has the store open in this JVM: it goes on after the topic's end
        try (VarveDB db = VarveDB.open(primary); Appender appender = db.appender())
        {
            workload(db, appender, random, 150);
            final Image after = Image.of(primary);
            final Cli.Result more = Cli.run("publish", primary.toString(), "--bootstrap", kafka.bootstrap(),
                "--topic", topic, "--once");
            assertEquals(ExitCode.OK, more.exit(), more::toString);
            assertTrue(more.out().contains("\npublished " + Format.count(after.events.size() -
                before.events.size()) + " events in "), more::toString);
            assertTopicEqualsLog(topic, after);
        }
    }

    @Test
    void replicateOnceCopiesThePrimaryAndAPromotedReplicaContinuesItsVersions() throws Exception
    {
        final String topic = "cli-replicate";
        kafka.createTopic(topic, 3);
        final Path primary = dir.resolve("primary");
        final Path replica = dir.resolve("replica");
        try (VarveDB db = VarveDB.open(primary); Appender appender = db.appender())
        {
            workload(db, appender, new Random(11), 500);
        }
        final Image image = Image.of(primary);
        final Cli.Result published = Cli.run("publish", primary.toString(), "--bootstrap", kafka.bootstrap(),
            "--topic", topic, "--once", "--max-events-per-transaction", "150");
        assertEquals(ExitCode.OK, published.exit(), published::toString);
        // replicate --once follows what the topic shows committed when it starts: let the commit show first
        assertTopicEqualsLog(topic, image);

        assertFalse(Files.exists(replica));
        final Cli.Result replicated = Cli.run("replicate", "--bootstrap", kafka.bootstrap(), "--topic", topic,
            replica.toString(), "--once", "--segment-size", "131072", "--name-capacity", "4096");
        assertEquals(ExitCode.OK, replicated.exit(), replicated::toString);
        try (io.varvedb.VarveDB created = io.varvedb.VarveDB.openReadOnly(replica))
        {
            assertEquals(131072, created.config().segmentSize(), "the replica store's shape as asked");
        }
        assertTrue(replicated.err().isEmpty(), replicated::toString);
        assertTrue(replicated.out().contains("(3 partitions)"), replicated::toString);
        assertTrue(replicated.out().contains("\napplied " + Format.count(image.events.size()) + " events of topic " +
            topic), replicated::toString);
        assertTrue(replicated.out().contains("  position      @" + Format.count(image.last().position()) +
            " of the primary applied"), replicated::toString);
        assertTrue(replicated.out().contains("  behind        0 records"), replicated::toString);
        assertSameStore(image, Image.of(replica));

        // again: nothing new, and the replica still equals the primary
        final Cli.Result again = Cli.run("replicate", "--bootstrap", kafka.bootstrap(), "--topic", topic,
            replica.toString(), "--once");
        assertEquals(ExitCode.OK, again.exit(), again::toString);
        assertTrue(again.out().contains("applied 0 events: nothing new in topic " + topic), again::toString);
        assertSameStore(image, Image.of(replica));

        // a replica refuses ordinary writers until promoted; promotion of another topic's replica is refused
        assertThrows(ReplicaStoreException.class, () -> VarveDB.open(replica).close());
        final Cli.Result wrongTopic = Cli.run("replicate", "--promote", replica.toString(), "--topic", "other");
        assertEquals(ExitCode.STORE, wrongTopic.exit(), wrongTopic::toString);
        assertEquals(KafkaReplica.source(topic), VarveDB.replicaSource(replica));

        final Cli.Result promoted = Cli.run("replicate", "--promote", replica.toString());
        assertEquals(ExitCode.OK, promoted.exit(), promoted::toString);
        assertTrue(promoted.out().startsWith("promoted " + replica.toAbsolutePath().normalize() + ": it followed " +
            KafkaReplica.source(topic) + ", and is a primary now"), promoted::toString);
        assertNull(VarveDB.replicaSource(replica));

        try (VarveDB db = VarveDB.open(replica); Appender appender = db.appender();
            VarveDB original = VarveDB.openReadOnly(primary))
        {
            final long stream = liveStream(original, "");
            final long version = db.streamVersion(stream);
            assertEquals(original.streamVersion(stream), version);
            assertEquals(version + 1, appender.append(stream, ExpectedVersion.exact(version), 1, new byte[] {1}));
            final long written = stream;
            assertThrows(ConcurrencyConflictException.class,
                () -> appender.append(written, ExpectedVersion.exact(version), 1, new byte[] {2}));
            // a named stream too, by its name (its id may differ: names take ids in the order a store makes them)
            final String name = original.streamName(liveStream(original, "order-"));
            final long named = appender.streamId(name);
            final long namedVersion = db.streamVersion(named);
            assertEquals(original.streamVersion(original.findStreamId(name)), namedVersion);
            assertEquals(namedVersion + 1, appender.append(named, ExpectedVersion.exact(namedVersion), 1,
                new byte[] {3}));
        }
        // a primary now: following into it again is refused, and it is left as it was
        final Cli.Result refused = Cli.run("replicate", "--bootstrap", kafka.bootstrap(), "--topic", topic,
            replica.toString(), "--once");
        assertEquals(ExitCode.STORE, refused.exit(), refused::toString);
        assertTrue(refused.err().contains("holds events of its own"), refused::toString);
        assertNull(VarveDB.replicaSource(replica));
    }

    @Test
    void anEncryptedPrimaryIsPublishedWithItsKeyIntoAReplicaEncryptedWithAnother() throws Exception
    {
        final String topic = "cli-encrypted";
        kafka.createTopic(topic, 2);
        final byte[] primaryKey = new byte[StoreKey.KEY_LENGTH];
        final byte[] replicaKey = new byte[StoreKey.KEY_LENGTH];
        final Random random = new Random(13);
        random.nextBytes(primaryKey);
        random.nextBytes(replicaKey);
        final Path primaryKeyFile = Files.writeString(dir.resolve("primary.key"),
            java.util.HexFormat.of().formatHex(primaryKey) + "\n");
        final Path replicaKeyFile = Files.write(dir.resolve("replica.key"), replicaKey);
        final Path primary = dir.resolve("primary");
        final Path replica = dir.resolve("replica");
        try (VarveDB db = VarveDB.open(VarveConfig.builder(primary).encryption(primaryKey).build());
            Appender appender = db.appender())
        {
            workload(db, appender, random, 300);
        }
        final Image image = Image.of(primary, primaryKey);

        // never cipher text into a topic: without the key nothing is published
        final Cli.Result withoutKey = Cli.run("publish", primary.toString(), "--bootstrap", kafka.bootstrap(),
            "--topic", topic, "--once");
        assertOneLine(withoutKey, ExitCode.STORE, "varve publish: ");
        assertTrue(withoutKey.err().contains("--key-file"), withoutKey::toString);
        final Cli.Result published = Cli.run("publish", primary.toString(), "--bootstrap", kafka.bootstrap(),
            "--topic", topic, "--once", "--key-file", primaryKeyFile.toString());
        assertEquals(ExitCode.OK, published.exit(), published::toString);
        // the topic holds the clear payloads, as for a clear store
        assertTopicEqualsLog(topic, image);

        final Cli.Result replicated = Cli.run("replicate", "--bootstrap", kafka.bootstrap(), "--topic", topic,
            replica.toString(), "--once", "--key-file", replicaKeyFile.toString());
        assertEquals(ExitCode.OK, replicated.exit(), replicated::toString);
        assertTrue(replicated.out().contains(" into " + replica.toAbsolutePath().normalize() + ": "),
            replicated::toString);
        assertTrue(Stores.isEncrypted(replica), "a replica created with --key-file is encrypted");
        assertSameStore(image, Image.of(replica, replicaKey));

        // the replica's own key, not the primary's, and none at all, are refused; nothing applied meanwhile
        final Cli.Result primarysKey = Cli.run("replicate", "--bootstrap", kafka.bootstrap(), "--topic", topic,
            replica.toString(), "--once", "--key-file", primaryKeyFile.toString());
        assertOneLine(primarysKey, ExitCode.STORE, "varve replicate: --key-file " + primaryKeyFile + ": ");
        final Cli.Result noKey = Cli.run("replicate", "--bootstrap", kafka.bootstrap(), "--topic", topic,
            replica.toString(), "--once");
        assertOneLine(noKey, ExitCode.STORE, "varve replicate: ");
        assertTrue(noKey.err().contains("--key-file"), noKey::toString);
        assertSameStore(image, Image.of(replica, replicaKey));

        // promoted without the key: it only counts
        final Cli.Result promoted = Cli.run("replicate", "--promote", replica.toString());
        assertEquals(ExitCode.OK, promoted.exit(), promoted::toString);
        assertTrue(promoted.out().contains("is a primary now"), promoted::toString);
    }

    @Test
    void replicateOnceStopsBeforeABatchTheTopicHoldsOnlyPartOf() throws Exception
    {
        final String topic = "cli-half-batch";
        kafka.createTopic(topic, 1);
        final Path primary = dir.resolve("primary");
        final Path replica = dir.resolve("replica");
        final long single;
        try (VarveDB db = VarveDB.open(primary); Appender appender = db.appender())
        {
            appender.append(1, ExpectedVersion.NO_STREAM, 1, "single".getBytes(StandardCharsets.UTF_8));
            final EventBatch batch = new EventBatch();
            for (int i = 1; i <= 4; i++)
            {
                batch.add(2, ("batched " + i).getBytes(StandardCharsets.UTF_8));
            }
            appender.appendBatch(2, ExpectedVersion.NO_STREAM, batch);
        }
        final Image image = Image.of(primary);
        single = image.events().get(0).position();
        // a publisher never ends a transaction inside a batch (a transaction of at most 3 takes the whole batch)...
        final String whole = topic + "-whole";
        kafka.createTopic(whole, 1);
        try (VarveDB db = VarveDB.openReadOnly(primary); KafkaPublisher publisher = KafkaPublisher.builder(db,
            kafka.bootstrap(), whole).maxEventsPerTransaction(3).build())
        {
            assertEquals(5, publisher.publish());
        }
        // ...but a topic may still end inside one (a publisher of an older release, one that waited a second in
        // vain for the rest): its first 3 records copied as they are
        final List<org.apache.kafka.clients.consumer.ConsumerRecord<byte[], byte[]>> records =
            readCommitted(whole, 5);
        try (org.apache.kafka.clients.producer.KafkaProducer<byte[], byte[]> producer =
            new org.apache.kafka.clients.producer.KafkaProducer<>(java.util.Map.of("bootstrap.servers",
                kafka.bootstrap()), new org.apache.kafka.common.serialization.ByteArraySerializer(),
                new org.apache.kafka.common.serialization.ByteArraySerializer()))
        {
            for (int i = 0; i < 3; i++)
            {
                final var r = records.get(i);
                producer.send(new org.apache.kafka.clients.producer.ProducerRecord<>(topic, null, r.timestamp(),
                    r.key(), r.value(), r.headers())).get();
            }
        }
        assertEquals(3, readCommitted(topic, 3).size());

        // the replica cannot append half a batch: --once ends after the event before it, rather than wait
        final Cli.Result first = Cli.run("replicate", "--bootstrap", kafka.bootstrap(), "--topic", topic,
            replica.toString(), "--once");
        assertEquals(ExitCode.OK, first.exit(), first::toString);
        assertTrue(first.out().contains("the topic holds events up to @" + Format.count(single) +
            " and part of a batch after it"), first::toString);
        assertTrue(first.out().contains("\napplied 1 event of topic " + topic), first::toString);
        assertEquals(List.of(image.events().get(0)).toString(), Image.of(replica).events().toString());

        // the rest published: the batch arrives whole
        final Cli.Result rest = Cli.run("publish", primary.toString(), "--bootstrap", kafka.bootstrap(), "--topic",
            topic, "--once");
        assertTrue(rest.out().contains("\npublished 2 events in 1 transaction, "), rest::toString);
        assertTopicEqualsLog(topic, image);
        final Cli.Result second = Cli.run("replicate", "--bootstrap", kafka.bootstrap(), "--topic", topic,
            replica.toString(), "--once");
        assertEquals(ExitCode.OK, second.exit(), second::toString);
        assertTrue(second.out().contains("\napplied 4 events of topic " + topic), second::toString);
        assertSameStore(image, Image.of(replica));
    }

    @Test
    void liveRunsInOtherJvmsFollowTheWriterHoldTheReplicaAndStopCleanlyOnASignal() throws Exception
    {
        final String topic = "cli-live";
        kafka.createTopic(topic, 1);
        final Path primary = dir.resolve("primary");
        final Path replica = dir.resolve("replica");
        final Random random = new Random(23);
        Process publisher = null;
        Process follower = null;
        try (VarveDB db = VarveDB.open(primary); Appender appender = db.appender())
        {
            workload(db, appender, random, 200);
            publisher = varve("publish", primary.toString(), "--bootstrap", kafka.bootstrap(), "--topic", topic,
                "--interval", "200ms");
            follower = varve("replicate", "--bootstrap", kafka.bootstrap(), "--topic", topic, replica.toString(),
                "--interval", "200ms");
            final Lines published = new Lines(publisher.getInputStream());
            final Lines followed = new Lines(follower.getInputStream());
            published.await((line) -> line.startsWith("every 200ms, Ctrl-C to stop"), publisher);
            followed.await((line) -> line.startsWith("every 200ms, Ctrl-C to stop"), follower);

            // appended while both run
            workload(db, appender, random, 300);
            final Image image = Image.of(primary);
            final String end = "@" + Format.count(image.last().position());
            published.await((line) -> line.contains("published " + Format.count(image.events.size()) + " events") &&
                line.contains(end + " of tail") && line.endsWith("lag 0 events, 0 B"), publisher);
            followed.await((line) -> line.contains("applied " + Format.count(image.events.size()) + " events") &&
                line.contains(end + "  behind 0 records"), follower);

            // the replica has its store open for writing: no promotion under it
            final Cli.Result refused = Cli.run("replicate", "--promote", replica.toString());
            assertEquals(ExitCode.STORE, refused.exit(), refused::toString);
            assertEquals("varve replicate: cannot promote " + replica.toAbsolutePath().normalize() + ": it is open " +
                "for writing by process " + follower.pid() + " ('varve replicate' still following into it?): stop " +
                "it first; nothing changed", refused.err().strip(), refused::toString);

            // a signal (SIGTERM; Ctrl-C's SIGINT runs the same hook): each closes what it opened and prints its
            // summary. Through the handle: Process.destroy() would also close the pipes the summary comes through
            assertTrue(publisher.toHandle().destroy());
            assertTrue(follower.toHandle().destroy());
            assertTrue(publisher.waitFor(WAIT_SECONDS, TimeUnit.SECONDS), "publish did not stop");
            assertTrue(follower.waitFor(WAIT_SECONDS, TimeUnit.SECONDS), "replicate did not stop");
            final List<String> publishOut = published.all();
            final List<String> followOut = followed.all();
            assertTrue(publishOut.stream().anyMatch((l) -> l.startsWith("stopped after publishing " +
                Format.count(image.events.size()) + " events in ")), () -> String.join("\n", publishOut));
            assertTrue(publishOut.contains("  lag           0 events, 0 B of log not published"),
                () -> String.join("\n", publishOut));
            assertTrue(followOut.stream().anyMatch((l) -> l.startsWith("stopped after applying " +
                Format.count(image.events.size()) + " events of topic " + topic)), () -> String.join("\n", followOut));
            // the hook closed the replica's store: cleanly, not left for recovery
            assertTrue(Stores.readMeta(replica).closedCleanly(), () -> String.join("\n", followOut));
            assertSameStore(image, Image.of(replica));
            assertTopicEqualsLog(topic, image);
        }
        finally
        {
            stop(publisher);
            stop(follower);
        }
        final Cli.Result promoted = Cli.run("replicate", "--promote", replica.toString(), "--topic", topic);
        assertEquals(ExitCode.OK, promoted.exit(), promoted::toString);
    }

    @Test
    void failuresAreOneLineWithTheirExitStatus() throws Exception
    {
        final Path primary = dir.resolve("primary");
        try (VarveDB db = VarveDB.open(primary); Appender appender = db.appender())
        {
            workload(db, appender, new Random(3), 30);
        }

        // no topic: nothing opened, and a replica's directory not even created
        final Cli.Result noTopic = Cli.run("publish", primary.toString(), "--bootstrap", kafka.bootstrap(),
            "--topic", "cli-missing", "--once");
        assertOneLine(noTopic, ExitCode.KAFKA, "varve publish: topic cli-missing does not exist at " +
            kafka.bootstrap() + ": create it first");
        final Path replica = dir.resolve("replica");
        final Cli.Result noTopicToFollow = Cli.run("replicate", "--bootstrap", kafka.bootstrap(), "--topic",
            "cli-missing", replica.toString(), "--once");
        assertOneLine(noTopicToFollow, ExitCode.KAFKA, "varve replicate: topic cli-missing does not exist at ");
        assertFalse(Files.exists(replica), "no replica store created for a missing topic");

        // no store
        final Cli.Result noStore = Cli.run("publish", dir.resolve("nothing").toString(), "--bootstrap",
            kafka.bootstrap(), "--topic", "cli-missing", "--once");
        assertOneLine(noStore, ExitCode.STORE, "varve publish: no such directory: ");
        final Cli.Result noReplica = Cli.run("replicate", "--promote", dir.resolve("nothing").toString());
        assertOneLine(noReplica, ExitCode.STORE, "varve replicate: no such directory: ");

        // no broker answers: a short --timeout bounds the wait
        final String nobody = "localhost:" + freePort();
        final long began = System.nanoTime();
        final Cli.Result noBroker = Cli.run("publish", primary.toString(), "--bootstrap", nobody, "--topic",
            "cli-missing", "--once", "--timeout", "1s");
        assertOneLine(noBroker, ExitCode.KAFKA, "varve publish: no answer from Kafka at " + nobody + " within 1s");
        assertTrue(System.nanoTime() - began < TimeUnit.SECONDS.toNanos(20), "bounded by --timeout");
        final Cli.Result noBrokerToFollow = Cli.run("replicate", "--bootstrap", nobody, "--topic", "cli-missing",
            replica.toString(), "--timeout", "1s");
        assertOneLine(noBrokerToFollow, ExitCode.KAFKA, "varve replicate: no answer from Kafka at " + nobody);
        assertFalse(Files.exists(replica));

        // a topic that holds another store's log: refused before the publisher starts (and fences anyone)
        final String topic = "cli-foreign";
        kafka.createTopic(topic, 1);
        final Path other = dir.resolve("other");
        try (VarveDB db = VarveDB.open(other); Appender appender = db.appender())
        {
            workload(db, appender, new Random(5), 120);
        }
        assertEquals(ExitCode.OK, Cli.run("publish", other.toString(), "--bootstrap", kafka.bootstrap(), "--topic",
            topic, "--once").exit());
        final List<ConsumerRecord<byte[], byte[]>> published = readCommitted(topic,
            Image.of(other).events().size());
        final Cli.Result foreign = Cli.run("publish", primary.toString(), "--bootstrap", kafka.bootstrap(),
            "--topic", topic, "--once");
        assertOneLine(foreign, ExitCode.KAFKA, "varve publish: topic " + topic + " ends with ");
        assertTrue(foreign.err().contains("it holds another store's log; nothing published"), foreign::toString);
        assertEquals(published.size(), readCommitted(topic).size(), "nothing published");

        // bad arguments
        final Cli.Result noBootstrap = Cli.run("replicate", "--topic", topic, replica.toString());
        assertOneLine(noBootstrap, ExitCode.USAGE, "varve replicate: --bootstrap and --topic are needed");
        final Cli.Result badInterval = Cli.run("publish", primary.toString(), "--bootstrap", kafka.bootstrap(),
            "--topic", topic, "--interval", "soon");
        assertOneLine(badInterval, ExitCode.USAGE, "varve publish: Invalid value for option '--interval'");
        final Cli.Result badBootstrap = Cli.run("publish", primary.toString(), "--bootstrap", "localhost",
            "--topic", topic, "--once");
        assertOneLine(badBootstrap, ExitCode.USAGE, "varve publish: --bootstrap localhost: ");
        assertFalse(Files.exists(replica));
    }

    // ------------------------------------------------------------------ the workload and what it left

    /**
     * Numeric and named streams, single appends with exact expected versions, event ids, batches, metadata,
     * soft deletes and tombstones: what a replica must reproduce.
     */
    private static void workload(final VarveDB db, final Appender appender, final Random random, final int steps)
    {
        final EventBatch batch = new EventBatch();
        for (int i = 0; i < steps; i++)
        {
            final int pick = random.nextInt(100);
            final int s = 1 + random.nextInt(12);
            final long id = random.nextInt(4) == 0 ? appender.streamId("order-" + s) : s;
            final long version;
            try
            {
                version = db.streamVersion(id);
            }
            catch (final StreamDeletedException ex)
            {
                continue;
            }
            final byte[] payload = ("event " + id + "/" + (version + 1) + " " + "x".repeat(random.nextInt(40)))
                .getBytes(StandardCharsets.UTF_8);
            try
            {
                if (pick < 55)
                {
                    appender.append(id, ExpectedVersion.exact(version), 1 + random.nextInt(3), payload);
                }
                else if (pick < 67)
                {
                    appender.append(id, ExpectedVersion.exact(version), 7,
                        new UUID(random.nextLong(), random.nextLong() | 1), payload);
                }
                else if (pick < 85)
                {
                    batch.clear();
                    for (int b = 0; b < 2 + random.nextInt(3); b++)
                    {
                        batch.add(10 + b, payload);
                    }
                    appender.appendBatch(id, ExpectedVersion.exact(version), batch);
                }
                else if (pick < 93)
                {
                    db.setStreamMetadata(id, StreamMetadata.NONE.withMaxCount(5 + random.nextInt(20)));
                }
                else if (pick < 98)
                {
                    if (version > 0)
                    {
                        db.deleteStream(id, ExpectedVersion.exact(version));
                    }
                }
                else if (version > 2)
                {
                    db.tombstoneStream(id, ExpectedVersion.exact(version));
                }
            }
            catch (final ConcurrencyConflictException ex)
            {
                throw new AssertionError("one writer, exact versions: no conflict expected", ex);
            }
        }
    }

    /** @return a stream of the workload (numeric, or named with this prefix) with events, neither deleted nor tombstoned. */
    private static long liveStream(final VarveDB db, final String namePrefix)
    {
        for (int s = 1; s <= 12; s++)
        {
            final long id = namePrefix.isEmpty() ? s : db.findStreamId(namePrefix + s);
            if (id != 0 && !db.isTombstoned(id) && !db.isDeleted(id) && db.streamVersion(id) > 0)
            {
                return id;
            }
        }
        throw new AssertionError("the workload left no live stream named '" + namePrefix + "N'");
    }

    /** One event as both sides of a replication must agree on it: a named stream by its name. */
    record Event(long position, String stream, long version, int type, long timestamp, String eventId,
        boolean tombstone, boolean inBatch, byte[] payload)
    {
        /** Equal as a replica must reproduce it: everything but the position, which is each store's own. */
        boolean sameAs(final Event e)
        {
            return stream.equals(e.stream) && version == e.version && type == e.type && timestamp == e.timestamp &&
                Objects.equals(eventId, e.eventId) && tombstone == e.tombstone && inBatch == e.inBatch &&
                Arrays.equals(payload, e.payload);
        }

        @Override
        public String toString()
        {
            return "@" + position + " " + stream + " v" + version + " type " + type + " ts " + timestamp + " id " +
                eventId + (tombstone ? " tombstone" : "") + (inBatch ? " batch" : "") + " " +
                new String(payload, StandardCharsets.ISO_8859_1);
        }
    }

    /** A store's whole global log, in order. */
    record Image(List<Event> events)
    {
        static Image of(final Path store)
        {
            return of(store, null);
        }

        static Image of(final Path store, final byte[] key)
        {
            try (VarveDB db = VarveDB.openReadOnly(Stores.lookOnly(store).encryption(key).build()))
            {
                final List<Event> events = new ArrayList<>();
                final long[] next = {VarveDB.START_POSITION};
                while (db.readAll(next[0], 1024, (event) ->
                {
                    events.add(toEvent(db, event));
                    next[0] = event.nextPosition();
                }) > 0)
                {
                    // read on
                }
                return new Image(events);
            }
        }

        private static Event toEvent(final VarveDB db, final RecordedEvent event)
        {
            byte[] payload = new byte[event.payloadLength()];
            event.payload().getBytes(0, payload);
            if (event.isStreamMetadata())
            {
                // its target is a local id for a named stream: compare what it says
                payload = StreamMetadata.decode(event.payload(), 0, event.payloadLength()).toString()
                    .getBytes(StandardCharsets.UTF_8);
            }
            final String stream = event.streamId() < 0 ? db.streamName(event.streamId()) :
                Long.toString(event.streamId());
            return new Event(event.position(), stream, event.version(), event.eventType(), event.timestamp(),
                event.hasEventId() ? event.eventId().toString() : null, event.isTombstone(), event.isInBatch(),
                payload);
        }

        Event last()
        {
            return events.get(events.size() - 1);
        }
    }

    private static void assertSameStore(final Image primary, final Image replica)
    {
        for (int i = 0; i < Math.min(primary.events.size(), replica.events.size()); i++)
        {
            final Event expected = primary.events.get(i);
            final Event actual = replica.events.get(i);
            assertTrue(expected.sameAs(actual), "event " + i + " of the global log: " + expected + " but " + actual);
        }
        assertEquals(primary.events.size(), replica.events.size(), "events in the global log");
    }

    /** The topic, read committed and put in position order, is the log: each event once, chained, same fields. */
    private static void assertTopicEqualsLog(final String topic, final Image image) throws InterruptedException
    {
        final List<ConsumerRecord<byte[], byte[]>> records = new ArrayList<>(readCommitted(topic,
            image.events.size()));
        assertEquals(image.events.size(), records.size(), "one record per event, none twice");
        records.sort(Comparator.comparingLong((r) -> KafkaRecordFormat.longHeader(r.headers(),
            KafkaRecordFormat.POSITION)));
        long previous = KafkaRecordFormat.NONE;
        for (int i = 0; i < records.size(); i++)
        {
            final ConsumerRecord<byte[], byte[]> record = records.get(i);
            final Event event = image.events.get(i);
            assertEquals(event.position(), KafkaRecordFormat.longHeader(record.headers(), KafkaRecordFormat.POSITION),
                "position of event " + i);
            assertEquals(previous, KafkaRecordFormat.longHeader(record.headers(), KafkaRecordFormat.PREVIOUS));
            assertEquals(event.version(), KafkaRecordFormat.longHeader(record.headers(), KafkaRecordFormat.VERSION));
            assertEquals(event.timestamp(), KafkaRecordFormat.longHeader(record.headers(),
                KafkaRecordFormat.TIMESTAMP));
            final String name = KafkaRecordFormat.streamName(record.headers());
            assertEquals(event.stream(), name != null ? name : Long.toString(KafkaRecordFormat.longHeader(
                record.headers(), KafkaRecordFormat.STREAM)), "stream of event " + i);
            if ((KafkaRecordFormat.flags(record.headers()) & KafkaRecordFormat.FLAG_METADATA) == 0)
            {
                assertArrayEquals(event.payload(), record.value() == null ? new byte[0] : record.value(),
                    "payload of event " + i);
            }
            previous = event.position();
        }
    }

    /**
     * The topic once it shows at least {@code expected} records committed, or as it is after a while: Kafka writes a
     * transaction's commit markers after the commit returns, and a read-committed consumer sees the records only
     * then.
     */
    private static List<ConsumerRecord<byte[], byte[]>> readCommitted(final String topic, final int expected)
        throws InterruptedException
    {
        final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        List<ConsumerRecord<byte[], byte[]>> records = readCommitted(topic);
        while (records.size() < expected && System.nanoTime() < deadline)
        {
            Thread.sleep(50);
            records = readCommitted(topic);
        }
        return records;
    }

    private static List<ConsumerRecord<byte[], byte[]>> readCommitted(final String topic)
    {
        final Properties props = new Properties();
        props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrap());
        props.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        props.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        props.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
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
            final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(WAIT_SECONDS);
            while (partitions.stream().anyMatch((p) -> consumer.position(p) < ends.get(p)))
            {
                consumer.poll(Duration.ofMillis(200)).forEach(all::add);
                assertTrue(System.nanoTime() < deadline, "reading " + topic + " took too long");
            }
        }
        return all;
    }

    private static void assertOneLine(final Cli.Result result, final int exit, final String start)
    {
        assertEquals(exit, result.exit(), result::toString);
        assertTrue(result.err().startsWith(start), result::toString);
        assertEquals(1, result.err().lines().count(), result::toString);
        assertTrue(result.out().isEmpty(), result::toString);
    }

    private static int freePort() throws IOException
    {
        try (ServerSocket socket = new ServerSocket(0))
        {
            return socket.getLocalPort();
        }
    }

    // ------------------------------------------------------------------ the command line in another JVM

    private static Process varve(final String... args) throws IOException
    {
        final String javaBin = ProcessHandle.current().info().command()
            .orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        final List<String> command = new ArrayList<>(List.of(javaBin, AGRONA_FLAG, "-Xmx256m",
            "-cp", System.getProperty("java.class.path"), VarveCli.class.getName()));
        command.addAll(List.of(args));
        return new ProcessBuilder(command).redirectErrorStream(true).start();
    }

    private static void stop(final Process process) throws InterruptedException
    {
        if (process != null && process.isAlive())
        {
            process.destroyForcibly();
            process.waitFor(WAIT_SECONDS, TimeUnit.SECONDS);
        }
    }

    /** A child's output, line by line, read as it comes. */
    private static final class Lines
    {
        private final List<String> lines = Collections.synchronizedList(new ArrayList<>());
        private final Thread reader;

        Lines(final InputStream stream)
        {
            reader = new Thread(() ->
            {
                try (BufferedReader in = new BufferedReader(new InputStreamReader(stream, StandardCharsets.UTF_8)))
                {
                    String line;
                    while ((line = in.readLine()) != null)
                    {
                        lines.add(line);
                    }
                }
                catch (final IOException ex)
                {
                    lines.add("read failed: " + ex);
                }
            }, "child-output");
            reader.setDaemon(true);
            reader.start();
        }

        /** Wait until a line matches (failing if the child exits first or it takes too long). */
        void await(final Predicate<String> match, final Process process) throws InterruptedException
        {
            final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(WAIT_SECONDS);
            while (true)
            {
                synchronized (lines)
                {
                    if (lines.stream().anyMatch(match))
                    {
                        return;
                    }
                }
                if (!process.isAlive() || System.nanoTime() > deadline)
                {
                    reader.join(1000);
                    throw new AssertionError((process.isAlive() ? "timed out" : "exited " + process.exitValue()) +
                        " waiting for a line; it printed:\n" + String.join("\n", snapshot()));
                }
                Thread.sleep(50);
            }
        }

        /** @return everything, once the child has exited. */
        List<String> all() throws InterruptedException
        {
            reader.join(TimeUnit.SECONDS.toMillis(WAIT_SECONDS));
            return snapshot();
        }

        private List<String> snapshot()
        {
            synchronized (lines)
            {
                return new ArrayList<>(lines);
            }
        }
    }
}
