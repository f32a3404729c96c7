package io.varvedb.tools;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * Ctrl-C (or a kill) for a command that runs until stopped: a shutdown hook asks the command's own thread to stop,
 * and waits (a bounded time) until that thread has closed what it opened and printed its summary. Only the
 * command's thread closes anything, so nothing is closed under it. {@link #close()} removes the hook: in a test
 * JVM, commands come and go.
 */
final class StopSignal implements AutoCloseable
{
    private final CountDownLatch requested = new CountDownLatch(1);
    private final CountDownLatch finished = new CountDownLatch(1);
    private final Thread hook;

    /**
     * @param grace longest time the hook waits for the command to finish, once asked.
     */
    StopSignal(final long graceMillis)
    {
        hook = new Thread(() ->
        {
            requested.countDown();
            try
            {
                finished.await(graceMillis, TimeUnit.MILLISECONDS);
            }
            catch (final InterruptedException ex)
            {
                Thread.currentThread().interrupt();
            }
        }, "varve-stop");
        Runtime.getRuntime().addShutdownHook(hook);
    }

    /** @return true once a stop was asked for. */
    boolean requested()
    {
        return requested.getCount() == 0;
    }

    /**
     * Wait until {@code deadline} ({@link System#nanoTime()}) or a stop, whichever comes first.
     *
     * @param deadline when to wake up.
     * @return true if a stop was asked for.
     */
    boolean awaitUntil(final long deadline)
    {
        try
        {
            return requested.await(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
        }
        catch (final InterruptedException ex)
        {
            Thread.currentThread().interrupt();
            return true;
        }
    }

    /** The command is done: let a waiting hook go, and take the hook away if the JVM is not exiting. */
    @Override
    public void close()
    {
        finished.countDown();
        try
        {
            Runtime.getRuntime().removeShutdownHook(hook);
        }
        catch (final IllegalStateException ex)
        {
            // the JVM is shutting down (the hook ran): nothing to remove
        }
    }
}
