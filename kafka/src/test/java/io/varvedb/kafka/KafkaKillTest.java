package io.varvedb.kafka;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

import io.varvedb.Appender;
import io.varvedb.NoStoreException;
import io.varvedb.VarveConfig;
import io.varvedb.VarveDB;
import io.varvedb.kafka.broker.EmbeddedKafka;
import io.varvedb.kafka.broker.SharedKafka;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.CleanupMode;
import org.junit.jupiter.api.io.TempDir;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Exactly once across SIGKILLs, against the real broker. A primary store in this JVM appends a mixed workload
 * ({@link Workload}) throughout, while child JVMs ({@link KillChild}) publish it, or follow the topics into replicas,
 * and are killed at random moments (50 ms to 1.5 s after the process started or after it connected: in JVM start,
 * in store open or recovery, in {@code initTransactions}, mid-transaction, mid-commit, mid-append) and replaced.
 * Each child works on a 1-partition and a 3-partition topic at once, so every kill hits both.
 * <p>
 * {@code -Dvarve.kafka.publisherKills=N} and {@code -Dvarve.kafka.replicaKills=N} set the kills (24 each by
 * default), {@code -Dvarve.kafka.killSeed=S} replays a run's random choices (the children's timing is not
 * replayable), {@code -Dvarve.kafka.killLog=true} prints a line per kill, and {@code -Dvarve.kafka.childJvmArgs=...}
 * passes flags to the children. Each test prints what its kills hit: transactions left open at a kill (and aborted by
 * the next publisher), records aborted, restarts of a replica that found events the offsets hint did not name yet.
 */
class KafkaKillTest
{
    private static final int PUBLISHER_KILLS = Integer.getInteger("varve.kafka.publisherKills", 24);
    private static final int REPLICA_KILLS = Integer.getInteger("varve.kafka.replicaKills", 24);
    private static final long MIN_DELAY_MS = 50;
    private static final long MAX_DELAY_MS = 1500;
    private static final int[] MAX_EVENTS_PER_TRANSACTION = {2, 10, 50, 300};
    /** {@code -Dvarve.kafka.killLog=true}: a line per kill. */
    private static final boolean KILL_LOG = Boolean.getBoolean("varve.kafka.killLog");

    private static EmbeddedKafka kafka;

    // kept when a test fails: the stores, and each child's stderr
    @TempDir(cleanup = CleanupMode.ON_SUCCESS)
    Path dir;

    private final List<ChildJvm> children = new ArrayList<>();

    @BeforeAll
    static void broker() throws Exception
    {
        kafka = SharedKafka.get();
    }

    @AfterEach
    void killLeftovers() throws InterruptedException
    {
        for (final ChildJvm child : children)
        {
            child.close();
        }
    }

    @Test
    void killedPublishersLeaveEachTopicEqualToTheLogEventForEvent() throws Exception
    {
        final long began = System.nanoTime();
        final long seed = Long.getLong("varve.kafka.killSeed", System.nanoTime());
        final Random random = new Random(seed);
        System.out.println("publisher kills: seed " + seed + ", in " + dir);
        final String suffix = Long.toString(seed & 0xffffff, 36);
        final String[] topics = {"pub-kill-1-" + suffix, "pub-kill-3-" + suffix};
        final int[] partitions = {1, 3};
        kafka.createTopic(topics[0], 1);
        kafka.createTopic(topics[1], 3);
        final Path primaryDir = dir.resolve("primary");

        int openedBeforeKill = 0;
        final long[] childTransactions = new long[2];
        final long[] childEvents = new long[2];
        // transactions a child's publisher aborted and sent again after Kafka refused them (see PublisherRecoveryTest)
        final long[] brokerErrors = new long[2];
        final List<OpenAtKill> openAtKill = new ArrayList<>();
        final List<Map<Integer, long[]>> lastOpen = new ArrayList<>(List.of(Map.of(), Map.of()));
        long killsBeforeOpen = 0;
        try (VarveDB primary = open(primaryDir); Appending appending = new Appending(primary, seed);
            EndOffsets ends = new EndOffsets(kafka.bootstrap()))
        {
            appending.await(200);
            for (int kill = 0; kill < PUBLISHER_KILLS; kill++)
            {
                final int maxEvents = MAX_EVENTS_PER_TRANSACTION[random.nextInt(MAX_EVENTS_PER_TRANSACTION.length)];
                final ChildJvm child = start(kill, "publish", kafka.bootstrap(), primaryDir.toString(), topics[0],
                    topics[1], Integer.toString(maxEvents));
                final String timing = sleepRandomly(child, random);
                child.assertHealthy();
                appending.assertHealthy();
                child.kill();
                child.assertSaidNoFailure();

                if (child.lines("opened").isEmpty())
                {
                    killsBeforeOpen++;
                }
                else
                {
                    openedBeforeKill++;
                }
                for (final String line : child.lines("a"))
                {
                    final String[] parts = line.split(" ");
                    if (parts.length == 3)
                    {
                        childTransactions[0]++;
                        childEvents[0] += Long.parseLong(parts[2]);
                    }
                }
                final String lastB = child.last("b");
                if (lastB != null && lastB.split(" ").length == 5)
                {
                    childTransactions[1] += Long.parseLong(lastB.split(" ")[2]);
                    childEvents[1] += Long.parseLong(lastB.split(" ")[3]);
                    brokerErrors[1] += Long.parseLong(lastB.split(" ")[4]);
                }
                brokerErrors[0] += child.lines("retry").size();
                // a transaction the child left open, with records on the broker: the next publisher aborts it
                // (or, if the kill came during the commit, the coordinator completes it)
                for (int t = 0; t < topics.length; t++)
                {
                    final Map<Integer, long[]> open = ends.openRanges(topics[t]);
                    // the same as at the last kill: this child never got as far as aborting it
                    if (!open.isEmpty() && !sameRanges(open, lastOpen.get(t)))
                    {
                        openAtKill.add(new OpenAtKill(kill, t, open));
                    }
                    lastOpen.set(t, open);
                    if (KILL_LOG)
                    {
                        System.out.printf("publisher kill %d: %s, max %d events per transaction, opened after %d ms " +
                                "(%s), %s commits to %s, open transaction at the kill: %s%n", kill, timing, maxEvents,
                            child.msUntil("opened"), child.last("opened"), child.lines(t == 0 ? "a" : "b").size(),
                            topics[t],
                            open.isEmpty() ? "no" : describe(open));
                    }
                }
            }
        }

        // the store stopped appending; a last publisher (in this JVM) catches up
        final long[] lastPublisher = new long[2];
        final long[] resumedFrom = new long[2];
        final StoreImage image;
        try (VarveDB primary = open(primaryDir))
        {
            image = StoreImage.of(primary);
            for (int t = 0; t < topics.length; t++)
            {
                try (KafkaPublisher publisher = KafkaPublisher.builder(primary, kafka.bootstrap(), topics[t])
                    .maxEventsPerTransaction(5000).build())
                {
                    resumedFrom[t] = publisher.open();
                    KafkaReplicationTest.publishAll(publisher, primary);
                    lastPublisher[t] = publisher.publishedEvents();
                }
            }
        }

        final StringBuilder report = new StringBuilder();
        report.append(String.format("publisher kills: %d (%d after the child connected, %d before), log %d " +
            "events, seed %d%n", PUBLISHER_KILLS, openedBeforeKill, killsBeforeOpen, image.log.size(), seed));
        for (int t = 0; t < topics.length; t++)
        {
            final TopicCheck check = TopicCheck.read(kafka.bootstrap(), topics[t]);
            check.assertEqualsLog(image);
            int aborted = 0;
            int completed = 0;
            for (final OpenAtKill open : openAtKill)
            {
                if (open.topic == t)
                {
                    if (open.anyCommitted(check))
                    {
                        completed++;
                    }
                    else
                    {
                        aborted++;
                    }
                }
            }
            report.append(String.format("  %d-partition topic (%s): children committed %d transactions (%d events), " +
                    "killed with a transaction open %d times (%d aborted by the next publisher, %d killed mid-commit " +
                    "and completed), %d aborted records in the topic, %d transactions refused by Kafka and sent again; " +
                    "the last publisher resumed after %d and published %d%n", partitions[t],
                t == 0 ? "publish() loop" : "start()", childTransactions[t], childEvents[t], aborted + completed,
                aborted, completed, check.abortedRecords(), brokerErrors[t], resumedFrom[t], lastPublisher[t]));
            // the children did a good part of the publishing, not just the last one (how much depends on the
            // transaction sizes drawn: children of 2 events per transaction fall behind the writer)
            assertTrue(resumedFrom[t] > KafkaRecordFormat.NONE, "no child ever committed to " + topics[t]);
            if (PUBLISHER_KILLS >= 10)
            {
                assertTrue(check.committed.size() - lastPublisher[t] > image.log.size() / 10, report.toString());
            }
        }
        report.append(String.format("  took %.1f s", (System.nanoTime() - began) / 1e9));
        System.out.println(report);
        if (PUBLISHER_KILLS >= 10)
        {
            assertTrue(!openAtKill.isEmpty(), "no kill landed mid-transaction: " + report);
        }
    }

    @Test
    void killedReplicasCatchUpToEqualCopiesAndNeverHoldLessThanAPrefix() throws Exception
    {
        final long began = System.nanoTime();
        final long seed = Long.getLong("varve.kafka.killSeed", System.nanoTime());
        final Random random = new Random(seed);
        System.out.println("replica kills: seed " + seed + ", in " + dir);
        final String suffix = Long.toString(seed & 0xffffff, 36);
        final String[] topics = {"replica-kill-1-" + suffix, "replica-kill-3-" + suffix};
        final int[] partitions = {1, 3};
        kafka.createTopic(topics[0], 1);
        kafka.createTopic(topics[1], 3);
        final Path primaryDir = dir.resolve("primary");
        final Path[] replicaDirs = {dir.resolve("replica-1"), dir.resolve("replica-3")};

        int killsBeforeOpen = 0;
        int liveChecks = 0;
        final long[] skipped = new long[2];
        final int[] restartsThatSkipped = new int[2];
        final long[] childApplied = new long[2];
        final int[] heldAtEnd = new int[2];
        final long[] finalSkipped = new long[2];
        final long[] finalApplied = new long[2];
        final StoreImage image;
        try (VarveDB primary = open(primaryDir); Appending appending = new Appending(primary, seed))
        {
            final KafkaPublisher[] publishers = new KafkaPublisher[2];
            try
            {
                for (int t = 0; t < topics.length; t++)
                {
                    publishers[t] = KafkaPublisher.builder(primary, kafka.bootstrap(), topics[t])
                        .maxEventsPerTransaction(200).build().start();
                }
                appending.await(200);
                for (int kill = 0; kill < REPLICA_KILLS; kill++)
                {
                    final ChildJvm child = start(kill, "replica", kafka.bootstrap(), topics[0],
                        replicaDirs[0].toString(), topics[1], replicaDirs[1].toString());
                    final String timing = sleepRandomly(child, random);
                    if (!child.lines("opened").isEmpty() && kill % 2 == 1)
                    {
                        // read-only, from this JVM, while the child appends
                        for (final Path replica : replicaDirs)
                        {
                            assertPrefix(replica, primary);
                        }
                        liveChecks++;
                    }
                    child.assertHealthy();
                    appending.assertHealthy();
                    for (final KafkaPublisher publisher : publishers)
                    {
                        assertNull(publisher.failure(), "a publisher failed");
                    }
                    child.kill();
                    child.assertSaidNoFailure();
                    if (child.lines("opened").isEmpty())
                    {
                        killsBeforeOpen++;
                    }
                    for (int t = 0; t < 2; t++)
                    {
                        final String last = child.last(t == 0 ? "a" : "b");
                        if (last != null)
                        {
                            final String[] parts = last.split(" ");
                            if (parts.length == 4)
                            {
                                childApplied[t] += Long.parseLong(parts[2]);
                                final long s = Long.parseLong(parts[3]);
                                skipped[t] += s;
                                restartsThatSkipped[t] += s > 0 ? 1 : 0;
                            }
                        }
                        // killed, it holds a prefix of the log, whole batches, dense versions
                        heldAtEnd[t] = assertPrefix(replicaDirs[t], primary);
                        if (KILL_LOG)
                        {
                            System.out.printf("replica kill %d: %s, opened after %d ms, last said %s, holds %d%n",
                                kill, timing, child.msUntil("opened"), child.last(t == 0 ? "a" : "b"),
                                heldAtEnd[t]);
                        }
                    }
                }
                appending.close();
                image = StoreImage.of(primary);
                final long last = image.positions.get(image.positions.size() - 1);
                final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
                for (final KafkaPublisher publisher : publishers)
                {
                    while (publisher.publishedPosition() < last)
                    {
                        assertNull(publisher.failure(), "a publisher failed");
                        assertTrue(System.nanoTime() < deadline, "publisher stuck at " + publisher.publishedPosition());
                        Thread.sleep(5);
                    }
                }
            }
            finally
            {
                for (final KafkaPublisher publisher : publishers)
                {
                    if (publisher != null)
                    {
                        publisher.close();
                    }
                }
            }
        }

        final StringBuilder report = new StringBuilder();
        report.append(String.format("replica kills: %d (%d before the child's replicas were open), %d checks " +
            "while a child followed, log %d events, seed %d%n", REPLICA_KILLS, killsBeforeOpen, liveChecks,
            image.log.size(), seed));
        for (int t = 0; t < topics.length; t++)
        {
            // a last replica (in this JVM) catches up
            try (KafkaReplica replica = KafkaReplica.builder(replicaDirs[t], kafka.bootstrap(), topics[t])
                .store(KillChild::small).build())
            {
                KafkaReplicationTest.follow(replica, image);
                finalSkipped[t] = replica.skippedEvents();
                finalApplied[t] = replica.appliedEvents();
            }
            KafkaReplicationTest.assertSameStore(image, replicaDirs[t]);
            TopicCheck.read(kafka.bootstrap(), topics[t]).assertEqualsLog(image);
            report.append(String.format("  %d-partition topic: children appended %d events, and skipped %d they " +
                    "found in the store already (%d of the restarts found some: the kill before came between appends " +
                    "and the offsets hint that names them); the replica held %d events when the last child was " +
                    "killed; the last replica appended %d more (skipping %d)%n", partitions[t],
                childApplied[t] - skipped[t], skipped[t], restartsThatSkipped[t], heldAtEnd[t],
                finalApplied[t] - finalSkipped[t], finalSkipped[t]));
            if (REPLICA_KILLS >= 10)
            {
                // the children did the following, not just the last one
                assertTrue(heldAtEnd[t] > image.log.size() / 2, report.toString());
            }
        }
        report.append(String.format("  took %.1f s", (System.nanoTime() - began) / 1e9));
        System.out.println(report);
        if (REPLICA_KILLS >= 10)
        {
            assertTrue(restartsThatSkipped[0] + restartsThatSkipped[1] > 0, "no kill landed between appends and the " +
                "hint that names them: " + report);
        }
    }

    private static VarveDB open(final Path primaryDir)
    {
        return VarveDB.open(KillChild.small(VarveConfig.builder(primaryDir)).build());
    }

    private ChildJvm start(final int kill, final String... args) throws java.io.IOException
    {
        final ChildJvm child = ChildJvm.start(dir.resolve(args[0] + "-" + kill + ".err"), KillChild.class, args);
        children.add(child);
        return child;
    }

    /**
     * Sleep 50 ms to 1.5 s, counted from the child's start (a third of the time: kills in JVM start and in
     * connecting) or from its saying {@code opened} (kills while it works).
     *
     * @return when it is killed, for the kill log.
     */
    private static String sleepRandomly(final ChildJvm child, final Random random) throws InterruptedException
    {
        final long delayNs = TimeUnit.MILLISECONDS.toNanos(MIN_DELAY_MS +
            random.nextInt((int)(MAX_DELAY_MS - MIN_DELAY_MS + 1)));
        final long from;
        final boolean fromStart = random.nextInt(3) == 0;
        if (fromStart)
        {
            from = child.startedNs;
        }
        else
        {
            assertTrue(child.await("opened", 60_000), "child never opened: " + child.describe());
            from = System.nanoTime();
        }
        final long until = from + delayNs;
        for (long now = System.nanoTime(); now < until; now = System.nanoTime())
        {
            LockSupport.parkNanos(until - now);
        }
        return TimeUnit.NANOSECONDS.toMillis(delayNs) + " ms after " + (fromStart ? "its start" : "it opened");
    }

    private static boolean sameRanges(final Map<Integer, long[]> a, final Map<Integer, long[]> b)
    {
        if (!a.keySet().equals(b.keySet()))
        {
            return false;
        }
        for (final Map.Entry<Integer, long[]> range : a.entrySet())
        {
            if (!java.util.Arrays.equals(range.getValue(), b.get(range.getKey())))
            {
                return false;
            }
        }
        return true;
    }

    private static String describe(final Map<Integer, long[]> ranges)
    {
        final StringBuilder text = new StringBuilder();
        ranges.forEach((p, r) -> text.append(" partition ").append(p).append(" offsets ").append(r[0]).append("..")
            .append(r[1]));
        return text.toString().trim();
    }

    /**
     * A replica, read-only from this JVM, holds a prefix of the primary's log: the same events in the same order
     * (streams, versions, payloads...), each stream's versions dense from 1, and no batch in part.
     *
     * @return events it holds.
     */
    private static int assertPrefix(final Path replicaDir, final VarveDB primary)
    {
        final StoreImage copy;
        try (VarveDB replica = VarveDB.openReadOnly(replicaDir))
        {
            copy = StoreImage.of(replica);
        }
        catch (final NoStoreException ex)
        {
            // the first child was killed before it made the store
            return 0;
        }
        // the primary only grows: read after the replica, it holds all the replica does
        final StoreImage original = StoreImage.of(primary);
        final Map<String, Long> versions = new HashMap<>();
        for (int i = 0; i < copy.log.size(); i++)
        {
            final StoreImage.Event event = copy.log.get(i);
            assertTrue(i < original.log.size(), replicaDir + " holds more than the primary: " + event);
            assertEquals(original.log.get(i), event, replicaDir + ": event " + i + " of the log");
            final long before = versions.getOrDefault(event.stream(), 0L);
            assertEquals(before + 1, event.version(), replicaDir + ": stream " + event.stream() + " not dense");
            versions.put(event.stream(), event.version());
        }
        final int held = copy.log.size();
        if (held > 0 && original.log.get(held - 1).inBatch() && !original.lastInBatch.get(held - 1))
        {
            fail(replicaDir + " holds part of a batch: it ends with " + copy.log.get(held - 1) + ", the primary " +
                "goes on with " + original.log.get(held));
        }
        return held;
    }

    /** Where a kill left a transaction open: per partition, [last stable offset, high watermark). */
    private record OpenAtKill(int kill, int topic, Map<Integer, long[]> ranges)
    {
        boolean anyCommitted(final TopicCheck check)
        {
            for (final Map.Entry<Integer, long[]> range : ranges.entrySet())
            {
                if (check.anyCommitted(range.getKey(), range.getValue()[0], range.getValue()[1]))
                {
                    return true;
                }
            }
            return false;
        }
    }

    /** End offsets as read committed (the last stable offset) and read uncommitted (the high watermark) see them. */
    private static final class EndOffsets implements AutoCloseable
    {
        private final KafkaConsumer<byte[], byte[]> committed;
        private final KafkaConsumer<byte[], byte[]> uncommitted;

        EndOffsets(final String bootstrap)
        {
            committed = new KafkaConsumer<>(TopicTail.consumerProperties(bootstrap, Map.of()));
            uncommitted = new KafkaConsumer<>(TopicTail.consumerProperties(bootstrap,
                Map.of(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_uncommitted")));
        }

        /** @return the partitions whose high watermark is past their last stable offset, with both. */
        Map<Integer, long[]> openRanges(final String topic)
        {
            final List<TopicPartition> partitions = TopicTail.partitions(committed, topic, Duration.ofSeconds(30));
            final Map<TopicPartition, Long> stable = committed.endOffsets(partitions);
            final Map<TopicPartition, Long> high = uncommitted.endOffsets(partitions);
            final Map<Integer, long[]> open = new HashMap<>();
            for (final TopicPartition partition : partitions)
            {
                if (high.get(partition) > stable.get(partition))
                {
                    open.put(partition.partition(), new long[] {stable.get(partition), high.get(partition)});
                }
            }
            return open;
        }

        @Override
        public void close()
        {
            committed.close();
            uncommitted.close();
        }
    }

    /** The primary's writer: the mixed workload, paced, on a thread of its own, moving on to fresh streams. */
    private static final class Appending implements AutoCloseable
    {
        private final Thread thread;
        private volatile boolean stop;
        private volatile Throwable failure;
        private volatile long events;

        Appending(final VarveDB db, final long seed)
        {
            thread = new Thread(() ->
            {
                final Workload workload = new Workload(seed, 40);
                try (Appender appender = db.appender())
                {
                    long steps = 0;
                    while (!stop)
                    {
                        events += workload.from((int)(steps / 2000) * 10).run(db, appender, 10);
                        steps += 10;
                        LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(10));
                    }
                }
                catch (final Throwable ex)
                {
                    failure = ex;
                }
            }, "appending");
            thread.setDaemon(true);
            thread.start();
        }

        void await(final long atLeast) throws InterruptedException
        {
            while (events < atLeast)
            {
                assertHealthy();
                Thread.sleep(5);
            }
        }

        void assertHealthy()
        {
            if (failure != null)
            {
                throw new AssertionError("the primary's writer failed", failure);
            }
        }

        @Override
        public void close() throws InterruptedException
        {
            stop = true;
            thread.join(TimeUnit.SECONDS.toMillis(30));
            assertHealthy();
        }
    }
}
