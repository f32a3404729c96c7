package io.varvedb.kafka;

import java.nio.file.Path;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import io.varvedb.Appender;
import io.varvedb.VarveDB;
import io.varvedb.kafka.broker.EmbeddedKafka;
import io.varvedb.kafka.broker.SharedKafka;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.errors.InvalidTxnStateException;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A producer that Kafka leaves in its fatal state in the middle of publishing, and that therefore cannot abort its
 * transaction: the broker refused a commit with {@code INVALID_TXN_STATE}, which {@link KafkaKillTest} met twice in
 * some 250 child publishers (a transactions-v2 race between a commit and the markers of the transaction before it).
 * Nothing was lost or doubled, but a started publisher stopped for good. A new producer is what a restarted process
 * would make: it fences the old one, aborts what it left open, and goes on from the topic's end; the publisher does
 * that itself now, on its thread as on the next {@link KafkaPublisher#publish()} call.
 */
class PublisherRecoveryTest
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
    void aStartedPublisherGoesOnWithANewProducerWhenItsProducerCannotAbort() throws Exception
    {
        final String topic = "recovery-start";
        kafka.createTopic(topic, 3);
        try (VarveDB primary = VarveDB.open(dir); Appender appender = primary.appender())
        {
            new Workload(7, 20).run(primary, appender, 400);
            final StoreImage image = StoreImage.of(primary);
            final AtomicInteger made = new AtomicInteger();
            try (KafkaPublisher publisher = KafkaPublisher.builder(primary, kafka.bootstrap(), topic)
                .maxEventsPerTransaction(50)
                .producers((props) -> made.getAndIncrement() == 0 ? new FailsItsThirdCommit(props) :
                    new KafkaProducer<>(props))
                .build().start())
            {
                final long last = image.positions.get(image.positions.size() - 1);
                final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
                while (publisher.publishedPosition() < last && publisher.failure() == null)
                {
                    assertTrue(System.nanoTime() < deadline, "stuck at " + publisher.publishedPosition());
                    Thread.sleep(5);
                }
                assertNull(publisher.failure(), "the publisher stopped");
                assertTrue(publisher.isRunning());
                assertEquals(2, made.get(), "a second producer took over");
                assertEquals(1, publisher.aborts());
            }
            final TopicCheck check = TopicCheck.read(kafka.bootstrap(), topic);
            check.assertEqualsLog(image);
            // 50, and the rest of a batch its 50th event was in
            assertTrue(check.abortedRecords() >= 50, "the first producer's open transaction was aborted: " +
                check.abortedRecords());
        }
    }

    @Test
    void publishAfterAProducerThatCannotAbortSendsTheEventsAgainWithANewOne() throws Exception
    {
        final String topic = "recovery-publish";
        kafka.createTopic(topic, 1);
        try (VarveDB primary = VarveDB.open(dir); Appender appender = primary.appender())
        {
            new Workload(8, 20).run(primary, appender, 400);
            final StoreImage image = StoreImage.of(primary);
            final AtomicInteger made = new AtomicInteger();
            try (KafkaPublisher publisher = KafkaPublisher.builder(primary, kafka.bootstrap(), topic)
                .maxEventsPerTransaction(50)
                .producers((props) -> made.getAndIncrement() == 0 ? new FailsItsThirdCommit(props) :
                    new KafkaProducer<>(props))
                .build())
            {
                // 50 a transaction, and the rest of a batch the 50th is in (a transaction never ends inside one)
                assertTrue(publisher.publish() >= 50);
                assertTrue(publisher.publish() >= 50);
                final KafkaStreamingException refused = assertThrows(KafkaStreamingException.class, publisher::publish);
                assertTrue(refused.getMessage().contains("go out again"), refused.getMessage());
                KafkaReplicationTest.publishAll(publisher, primary);
                assertEquals(2, made.get());
            }
            final TopicCheck check = TopicCheck.read(kafka.bootstrap(), topic);
            check.assertEqualsLog(image);
            assertTrue(check.abortedRecords() >= 50, "the third transaction's records aborted: " +
                check.abortedRecords());
        }
    }

    /**
     * A real producer whose third commit is refused the way the broker refused {@link KafkaKillTest}'s: its records
     * are on the broker in an open transaction, the producer is in its fatal state and cannot abort.
     */
    private static final class FailsItsThirdCommit extends KafkaProducer<byte[], byte[]>
    {
        private int commits;
        private boolean fatal;

        FailsItsThirdCommit(final Properties props)
        {
            super(props);
        }

        @Override
        public void commitTransaction()
        {
            if (++commits == 3)
            {
                flush();
                fatal = true;
                throw new InvalidTxnStateException("injected: The producer attempted a transactional operation in an " +
                    "invalid state.");
            }
            super.commitTransaction();
        }

        @Override
        public void abortTransaction()
        {
            if (fatal)
            {
                throw new KafkaException("Cannot execute transactional method because we are in an error state",
                    new InvalidTxnStateException("injected"));
            }
            super.abortTransaction();
        }
    }
}
