package io.varvedb;

import org.agrona.concurrent.IdleStrategy;

import java.util.concurrent.CountDownLatch;
import java.util.function.BooleanSupplier;
import java.util.function.IntSupplier;
import java.util.function.LongSupplier;

/**
 * What {@link RunningSubscription} and {@link Processor} threads share: the duty cycle, and how they end; and the
 * uninterruptible waits of the closes that end them.
 */
final class PollingThreads
{
    private PollingThreads()
    {
    }

    /**
     * Poll until stopped or failed. No thread of ours dies silently: whatever it throws, an {@link Error} included,
     * comes back as the failure to report.
     *
     * @param running  false once the consumer is closed.
     * @param poll     one poll; its result is the work done.
     * @param idle     between polls.
     * @param position where the consumer stands, for a failure not tied to an event.
     * @return the failure that stopped the thread, or null if it was closed (or the store was).
     */
    static SubscriptionException pollUntilStopped(
        final BooleanSupplier running, final IntSupplier poll, final IdleStrategy idle, final LongSupplier position)
    {
        try
        {
            while (running.getAsBoolean())
            {
                idle.idle(poll.getAsInt());
            }
            return null;
        }
        catch (final StoreClosedException ex)
        {
            return null;
        }
        catch (final SubscriptionException ex)
        {
            return ex;
        }
        catch (final Throwable ex)
        {
            // a damaged record, a bug or an Error stops the consumer where it is, reported
            return new SubscriptionException(position.getAsLong(), ex);
        }
    }

    /**
     * Wait for a consumer's thread to end, however long its handler takes: whoever closes a consumer must not
     * release what the handler still uses (a processor's name). An interrupt is kept for afterwards.
     *
     * @param thread the consumer's thread.
     */
    static void joinUninterruptibly(final Thread thread)
    {
        untilDone(() -> !thread.isAlive(), thread::join);
    }

    /**
     * Wait for a latch however long it takes (a second close() waiting for the first): an interrupt is kept for
     * afterwards.
     *
     * @param latch to wait for.
     */
    static void awaitUninterruptibly(final CountDownLatch latch)
    {
        untilDone(() -> latch.getCount() == 0, latch::await);
    }

    /** A blocking wait that an interrupt cuts short. */
    private interface Wait
    {
        void run() throws InterruptedException;
    }

    private static void untilDone(final BooleanSupplier done, final Wait wait)
    {
        boolean interrupted = false;
        while (!done.getAsBoolean())
        {
            try
            {
                wait.run();
            }
            catch (final InterruptedException ex)
            {
                interrupted = true;
            }
        }
        if (interrupted)
        {
            Thread.currentThread().interrupt();
        }
    }
}
