package io.varvedb;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Issue 19, item 6: no consumer thread dies silently. Whatever stops it, an {@link Error} included, ends in
 * {@code failure()}, in the error handler, and in {@code isRunning() == false}.
 */
class ConsumerErrorTest
{
    @TempDir
    Path dir;

    private static void append(final VarveDB db, final int count)
    {
        final Appender appender = db.appender();
        for (int i = 0; i < count; i++)
        {
            appender.append(1 + i % 3, ExpectedVersion.ANY, i, ("event " + i + " " + "z".repeat(300)).getBytes());
        }
    }

    @Test
    void anErrorThrownByAHandlerStopsTheConsumerAndIsReported() throws Exception
    {
        try (VarveDB db = VarveDB.open(TestStores.small(dir.resolve("store"))))
        {
            append(db, 20);
            final List<SubscriptionException> reported = new CopyOnWriteArrayList<>();
            final SubscriptionOptions options = SubscriptionOptions.defaults().errorHandler(reported::add);
            final AtomicInteger seen = new AtomicInteger();
            final EventHandler dying = (e) ->
            {
                if (seen.incrementAndGet() % 20 == 5)
                {
                    throw new StackOverflowError("handler overflowed at event " + e.position());
                }
            };

            try (RunningSubscription subscription = db.subscribeToAll(VarveDB.START_POSITION, dying, options))
            {
                SubscriptionTest.await(() -> !subscription.isRunning(), "the subscription stops");
                assertInstanceOf(StackOverflowError.class, subscription.failure().getCause());
                assertEquals(List.of(subscription.failure()), reported);
            }

            seen.set(20);
            reported.clear();
            final Processor processor = db.processor("dying", dying,
                ProcessorOptions.defaults().subscriptionOptions(options)).start();
            try
            {
                SubscriptionTest.await(() -> !processor.isRunning(), "the processor stops");
                assertInstanceOf(StackOverflowError.class, processor.failure().getCause());
                assertEquals(List.of(processor.failure()), reported);
                assertTrue(processor.checkpointedPosition() <= processor.failure().position(),
                    "the failing event is not checkpointed past");
            }
            finally
            {
                processor.close();
            }
        }
    }

    /**
     * Whoever waits for {@code isRunning() == false} must find the failure already reported, even when the error
     * handler takes its time (a CI run caught the handler being called after the flag dropped).
     */
    @Test
    void aStoppedConsumerHasAlreadyReportedItsFailure() throws Exception
    {
        try (VarveDB db = VarveDB.open(TestStores.small(dir.resolve("store"))))
        {
            append(db, 5);
            final List<SubscriptionException> reported = new CopyOnWriteArrayList<>();
            final SubscriptionOptions options = SubscriptionOptions.defaults().errorHandler((ex) ->
            {
                pause(200);
                reported.add(ex);
            });
            final EventHandler failing = (e) ->
            {
                throw new IllegalStateException("handler failed at " + e.position());
            };
            try (RunningSubscription subscription = db.subscribeToAll(VarveDB.START_POSITION, failing, options))
            {
                SubscriptionTest.await(() -> !subscription.isRunning(), "the subscription stops");
                assertEquals(List.of(subscription.failure()), reported);
            }
            reported.clear();
            try (Processor processor = db.processor("failing", failing,
                ProcessorOptions.defaults().subscriptionOptions(options)).start())
            {
                SubscriptionTest.await(() -> !processor.isRunning(), "the processor stops");
                assertEquals(List.of(processor.failure()), reported);
            }
        }
    }

    private static void pause(final long millis)
    {
        java.util.concurrent.locks.LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(millis));
    }

    /**
     * The case: a segment truncated under a read-only follower's mapping makes the next read of it fault
     * (SIGBUS), which the JVM raises as an {@link InternalError} in the subscription's thread.
     */
    @Test
    void aSegmentTruncatedUnderAFollowerEndsItsSubscriptionWithAReportedFailure() throws Exception
    {
        final Path store = dir.resolve("store");
        try (VarveDB db = VarveDB.open(TestStores.small(store)))
        {
            append(db, 400);
        }
        try (VarveDB follower = VarveDB.openReadOnly(store))
        {
            final List<SubscriptionException> reported = new CopyOnWriteArrayList<>();
            final CountDownLatch firstEvent = new CountDownLatch(1);
            final CountDownLatch truncated = new CountDownLatch(1);
            final AtomicInteger seen = new AtomicInteger();
            try (RunningSubscription subscription = follower.subscribeToAll(VarveDB.START_POSITION, (e) ->
            {
                seen.incrementAndGet();
                firstEvent.countDown();
                try
                {
                    assertTrue(truncated.await(10, TimeUnit.SECONDS));
                }
                catch (final InterruptedException ex)
                {
                    Thread.currentThread().interrupt();
                }
            }, SubscriptionOptions.defaults().errorHandler(reported::add)))
            {
                assertTrue(firstEvent.await(10, TimeUnit.SECONDS));
                // the follower has segment 0 mapped: cut it to its header and first page
                try (FileChannel channel = FileChannel.open(RecoveryTest.segmentFile(store, 0), StandardOpenOption.WRITE))
                {
                    channel.truncate(8192);
                }
                truncated.countDown();
                SubscriptionTest.await(() -> !subscription.isRunning(), "the subscription stops");
                assertNotNull(subscription.failure(), "a failure is reported, after " + seen.get() + " events");
                assertEquals(List.of(subscription.failure()), reported, "the error handler got it");
                assertTrue(seen.get() < 400, "it did not read on: " + seen.get());
            }
        }
    }
}
