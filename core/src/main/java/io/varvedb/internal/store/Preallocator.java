package io.varvedb.internal.store;

import io.varvedb.internal.index.StreamIndex;
import io.varvedb.internal.log.Log;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * Background thread that creates the next log segment and index chunk before appenders reach them, so an
 * appender crossing into a new segment finds it allocated, zero-filled and its pages already faulted in (see
 * shared FACTS: first touches of a sparse mapping cost microseconds each; here they cost the appender nothing).
 * <p>
 * If the file system refuses (a full disk), the error is kept for diagnostics and retried; an appender that then
 * needs the missing file tries to create it itself and gets the error as a clear exception.
 */
public final class Preallocator implements Runnable
{
    private static final long IDLE_PARK_NS = TimeUnit.MILLISECONDS.toNanos(5);
    private static final long ERROR_PARK_NS = TimeUnit.MILLISECONDS.toNanos(100);

    private final Log log;
    private final StreamIndex index;
    private final Thread thread;
    private volatile boolean running = true;
    private volatile Throwable lastError;

    /**
     * @param log   to keep ahead of.
     * @param index to keep ahead of.
     * @param name  of the thread.
     */
    public Preallocator(final Log log, final StreamIndex index, final String name)
    {
        this.log = log;
        this.index = index;
        this.thread = new Thread(this, name);
        this.thread.setDaemon(true);
    }

    /**
     * Start the thread.
     */
    public void start()
    {
        thread.start();
    }

    /**
     * Ask for a check now; allocation-free, safe from any thread.
     */
    public void wake()
    {
        LockSupport.unpark(thread);
    }

    @Override
    public void run()
    {
        while (running)
        {
            long park = IDLE_PARK_NS;
            try
            {
                log.preallocate();
                index.preallocate();
                lastError = null;
            }
            catch (final RuntimeException ex)
            {
                lastError = ex;
                park = ERROR_PARK_NS;
            }
            LockSupport.parkNanos(this, park);
        }
    }

    /**
     * @return the last failure to pre-allocate, or null if the last attempt succeeded.
     */
    public Throwable lastError()
    {
        return lastError;
    }

    /**
     * Stop the thread and wait for it.
     */
    public void close()
    {
        running = false;
        LockSupport.unpark(thread);
        try
        {
            thread.join(TimeUnit.SECONDS.toMillis(10));
        }
        catch (final InterruptedException ex)
        {
            Thread.currentThread().interrupt();
        }
    }
}
