package io.varvedb.kafka;

import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

import io.varvedb.VarveConfig;
import io.varvedb.VarveDB;
import org.apache.kafka.common.errors.ProducerFencedException;

/**
 * Main class of the child JVMs {@link KafkaKillTest} SIGKILLs. Each mode runs until killed (or its stdin closes),
 * printing one line per fact the parent counts; a failure prints {@code failed ...} (stack trace on stderr) and
 * exits 3.
 * <ul>
 *   <li>{@code publish <bootstrap> <store> <topicA> <topicB> <maxEventsPerTransaction>}: opens the store
 *   read-only and publishes it to topic A from a {@link KafkaPublisher#publish()} loop on the main thread, and to
 *   topic B with {@link KafkaPublisher#start()}. Prints {@code opened <a> <b>} (the positions they go on from),
 *   {@code a <position> <events>} after each commit to A (and {@code retry a <why>} when publish() threw and is
 *   called again, as its contract says), {@code b <position> <transactions> <events> <aborts>} when B's published
 *   position or aborts move (its counts so far).</li>
 *   <li>{@code replica <bootstrap> <topicA> <dirA> <topicB> <dirB>}: follows topic A into replica A from a
 *   {@link KafkaReplica#poll} loop, and topic B into replica B with {@link KafkaReplica#start()}. Prints
 *   {@code opened}, then {@code a|b <appliedPosition> <appliedEvents> <skippedEvents>} when they move.</li>
 * </ul>
 */
public final class KillChild
{
    private KillChild()
    {
    }

    public static void main(final String[] args)
    {
        exitWithParent();
        try
        {
            switch (args[0])
            {
                case "publish" -> publish(args[1], Path.of(args[2]), args[3], args[4], Integer.parseInt(args[5]));
                case "replica" -> replica(args[1], args[2], Path.of(args[3]), args[4], Path.of(args[5]));
                default -> throw new IllegalArgumentException(args[0]);
            }
        }
        catch (final Throwable ex)
        {
            ex.printStackTrace();
            say("failed " + ex);
            System.exit(3);
        }
    }

    /**
     * The stores of the crash tests, primary and replicas alike: small files (the defaults preallocate some
     * 140 MB of index per store), with room for a long run.
     */
    static VarveConfig.Builder small(final VarveConfig.Builder store)
    {
        return store.segmentSize(8 << 20).indexCapacity(1 << 15).nameCapacity(1 << 14).eventIdCapacity(1 << 17);
    }

    private static void publish(final String bootstrap, final Path store, final String topicA, final String topicB,
        final int maxEvents)
    {
        try (VarveDB db = VarveDB.openReadOnly(store);
            KafkaPublisher a = publisher(db, bootstrap, topicA, maxEvents);
            KafkaPublisher b = publisher(db, bootstrap, topicB, maxEvents))
        {
            final long t0 = System.nanoTime();
            final long fromA = a.open();
            final long t1 = System.nanoTime();
            final long fromB = b.open();
            final long t2 = System.nanoTime();
            say("opened " + fromA + " " + fromB + " jvm " + (java.lang.management.ManagementFactory.getRuntimeMXBean()
                .getUptime()) + " ms, a " + (t1 - t0) / 1_000_000 + " ms, b " + (t2 - t1) / 1_000_000 + " ms");
            b.start();
            long lastB = fromB;
            long abortsB = 0;
            int retries = 0;
            while (true)
            {
                try
                {
                    final int events = a.publish();
                    retries = 0;
                    if (events > 0)
                    {
                        say("a " + a.publishedPosition() + " " + events);
                    }
                    else
                    {
                        LockSupport.parkNanos(TimeUnit.MICROSECONDS.toNanos(200));
                    }
                }
                catch (final KafkaStreamingException ex)
                {
                    // publish()'s contract: a transaction that failed was aborted (by a new producer, if Kafka left
                    // this one unable to), and the next call sends its events again. Fenced is no such failure:
                    // nothing else publishes to this topic
                    if (ex.getCause() instanceof ProducerFencedException || ++retries > 10)
                    {
                        throw ex;
                    }
                    ex.printStackTrace();
                    say("retry a " + ex.getMessage().replace('\n', ' '));
                    LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(100L * retries));
                }
                if (b.failure() != null)
                {
                    throw new AssertionError("publisher of " + topicB + " failed", b.failure());
                }
                final long publishedB = b.publishedPosition();
                if (publishedB != lastB || b.aborts() != abortsB)
                {
                    lastB = publishedB;
                    abortsB = b.aborts();
                    say("b " + publishedB + " " + b.transactions() + " " + b.publishedEvents() + " " + abortsB);
                }
            }
        }
    }

    private static KafkaPublisher publisher(final VarveDB db, final String bootstrap, final String topic,
        final int maxEvents)
    {
        return KafkaPublisher.builder(db, bootstrap, topic).maxEventsPerTransaction(maxEvents)
            .maxTransactionTime(Duration.ofMillis(50))
            // the consumer that finds the topic's end reads its partitions one after the other, and each waits out
            // the fetch the consumer left pending on the last (fetch.max.wait.ms, 500 ms by default): 1.5 s of a
            // 3-partition publisher's start. Shorter, more of the kills land while it publishes
            .consumerProperty("fetch.max.wait.ms", 10)
            .build();
    }

    private static void replica(final String bootstrap, final String topicA, final Path dirA, final String topicB,
        final Path dirB)
    {
        try (KafkaReplica a = KafkaReplica.builder(dirA, bootstrap, topicA).store(KillChild::small).build();
            KafkaReplica b = KafkaReplica.builder(dirB, bootstrap, topicB).store(KillChild::small).build())
        {
            say("opened");
            b.start();
            long lastA = a.appliedEvents() - 1;
            long lastB = b.appliedEvents() - 1;
            while (true)
            {
                a.poll(Duration.ofMillis(20));
                if (a.appliedEvents() != lastA)
                {
                    lastA = a.appliedEvents();
                    say("a " + a.appliedPosition() + " " + lastA + " " + a.skippedEvents());
                }
                if (b.failure() != null)
                {
                    throw new AssertionError("replica of " + topicB + " failed", b.failure());
                }
                if (b.appliedEvents() != lastB)
                {
                    lastB = b.appliedEvents();
                    say("b " + b.appliedPosition() + " " + lastB + " " + b.skippedEvents());
                }
            }
        }
    }

    private static synchronized void say(final String line)
    {
        System.out.println(line);
        System.out.flush();
    }

    /** Exit when the parent closes our stdin (or dies): no child outlives its test JVM. */
    private static void exitWithParent()
    {
        final Thread watcher = new Thread(() ->
        {
            try
            {
                while (System.in.read() >= 0)
                {
                    // nothing is ever sent
                }
            }
            catch (final java.io.IOException ignore)
            {
                // gone
            }
            Runtime.getRuntime().halt(4);
        }, "parent-watcher");
        watcher.setDaemon(true);
        watcher.start();
    }
}
