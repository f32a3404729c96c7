package io.varvedb.internal.store;

import io.varvedb.internal.index.StreamIndex;
import io.varvedb.internal.log.Log;
import org.agrona.concurrent.Agent;

import java.util.concurrent.TimeUnit;

/**
 * Agent that creates the next log segments and index chunk before appenders reach them, so an appender crossing
 * into a new segment finds it allocated, zero-filled and its pages already faulted in (see shared FACTS: first
 * touches of a sparse mapping cost microseconds each; here they cost the appender nothing).
 * <p>
 * The store never waits for it: a store opens whatever the free space, and this agent makes the files afterwards.
 * If the file system refuses (a full disk), the duty cycle fails (its {@link Background} reports it) and is tried
 * again after a pause that doubles with each failure, from {@link #FIRST_RETRY_NS} to {@link #MAX_RETRY_NS}, or at
 * once when {@link #retryNow()} says an appender moved into a new segment (space may be back: that appender just
 * made or found its segment). An appender that needs a file this agent could not make tries to create it itself,
 * and gets the error as a clear exception if it cannot either.
 */
public final class Preallocator implements Agent
{
    /** The pause after the first failure of a run. */
    public static final long FIRST_RETRY_NS = TimeUnit.MILLISECONDS.toNanos(10);
    /** The longest pause between attempts while they keep failing. */
    public static final long MAX_RETRY_NS = TimeUnit.SECONDS.toNanos(10);

    private final Log log;
    private final StreamIndex index;
    private volatile boolean retryNow;
    private long pauseNs;
    private long retryAtNs;

    /**
     * @param log   to keep ahead of.
     * @param index to keep ahead of.
     */
    public Preallocator(final Log log, final StreamIndex index)
    {
        this.log = log;
        this.index = index;
    }

    /**
     * Try again on the next duty cycle, whatever the pause after a failure; call from any thread, then wake the
     * agent's thread.
     */
    public void retryNow()
    {
        retryNow = true;
    }

    @Override
    public int doWork()
    {
        final long now = System.nanoTime();
        if (pauseNs > 0 && now - retryAtNs < 0 && !retryNow)
        {
            return Background.PAUSED;
        }
        retryNow = false;
        try
        {
            log.preallocate();
            index.preallocate();
            pauseNs = 0;
            return 0;
        }
        catch (final RuntimeException ex)
        {
            pauseNs = pauseNs == 0 ? FIRST_RETRY_NS : Math.min(MAX_RETRY_NS, pauseNs * 2);
            retryAtNs = now + pauseNs;
            throw ex;
        }
    }

    @Override
    public String roleName()
    {
        return "varve-preallocator";
    }
}
