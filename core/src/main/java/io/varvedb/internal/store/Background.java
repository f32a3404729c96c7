package io.varvedb.internal.store;

import org.agrona.concurrent.Agent;
import org.agrona.concurrent.AgentRunner;
import org.agrona.concurrent.AgentTerminationException;
import org.agrona.concurrent.IdleStrategy;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Consumer;

/**
 * One of the store's background threads (the flusher, the pre-allocator): runs an {@link Agent} on a daemon
 * thread, sleeping between duty cycles, and reports duty cycles that fail.
 * <p>
 * A failed duty cycle (no disk for the next segment, say) is tried again on a later one; whoever needs what it
 * could not make gets the error themselves. The user's handler hears of the first failure of a run of them, then
 * at most once per {@link #REPEAT_REPORT_NS} while they go on, so a disk that stays full is not a flood of log
 * lines; {@link #failures()} counts every one.
 */
public final class Background implements IdleStrategy
{
    /** What a duty cycle returns when it did not try its work (it waits before trying again after a failure). */
    public static final int PAUSED = -1;
    /** While failures go on, the handler hears of one this often at most. */
    public static final long REPEAT_REPORT_NS = TimeUnit.MINUTES.toNanos(1);

    private final long idleNs;
    private final Consumer<? super Throwable> errorHandler;
    private final AgentRunner runner;
    private final Thread thread;
    private volatile boolean stopping;
    /** Written by the agent's thread only. */
    private volatile long failures;
    private boolean failing;
    private long lastReportNs;

    /**
     * Start the agent on a thread of its own, named after its role.
     *
     * @param agent        the work.
     * @param idleNs       how long to sleep after a duty cycle that did nothing, unless {@link #wake woken}.
     * @param errorHandler hears of failed duty cycles; what it throws is ignored.
     */
    public Background(final Agent agent, final long idleNs, final Consumer<? super Throwable> errorHandler)
    {
        this.idleNs = idleNs;
        this.errorHandler = errorHandler;
        this.runner = new AgentRunner(this, this::failed, null, new Agent()
        {
            @Override
            public int doWork()
            {
                if (stopping)
                {
                    // how a close() from this very thread (a handler of its failure) ends the runner's loop
                    throw new AgentTerminationException();
                }
                try
                {
                    final int work = agent.doWork();
                    if (work != PAUSED)
                    {
                        failing = false;
                    }
                    return work;
                }
                catch (final Throwable error)
                {
                    // caught here, not by the runner, which would retry at once: a failure idles like no work
                    failed(error);
                    return 0;
                }
            }

            @Override
            public String roleName()
            {
                return agent.roleName();
            }
        });
        this.thread = AgentRunner.startOnThread(runner, (runnable) ->
        {
            final Thread daemon = new Thread(runnable, agent.roleName());
            daemon.setDaemon(true);
            return daemon;
        });
    }

    private void failed(final Throwable error)
    {
        if (error instanceof AgentTerminationException)
        {
            return;
        }
        // single writer: the agent's thread
        failures = failures + 1;
        final long now = System.nanoTime();
        if (!failing || now - lastReportNs >= REPEAT_REPORT_NS)
        {
            failing = true;
            lastReportNs = now;
            try
            {
                errorHandler.accept(error);
            }
            catch (final RuntimeException ignore)
            {
                // a failing handler must not stop the work it reports on
            }
        }
    }

    /**
     * @return duty cycles that failed since the thread started.
     */
    public long failures()
    {
        return failures;
    }

    /**
     * End the sleep between duty cycles now.
     */
    public void wake()
    {
        LockSupport.unpark(thread);
    }

    /**
     * Stop the thread and wait until it has ended.
     */
    public void close()
    {
        // once stopping, never sleep: AgentRunner.close returns as soon as the current duty cycle ends
        stopping = true;
        if (Thread.currentThread() == thread)
        {
            // called from this thread (the error handler closed the store): it cannot wait for itself; it stops
            // when the duty cycle that called returns
            return;
        }
        wake();
        runner.close();
    }

    /**
     * @return the thread the agent runs on.
     */
    public Thread thread()
    {
        return thread;
    }

    @Override
    public void idle(final int workCount)
    {
        if (workCount <= 0)
        {
            idle();
        }
    }

    @Override
    public void idle()
    {
        if (!stopping)
        {
            LockSupport.parkNanos(this, idleNs);
        }
    }

    @Override
    public void reset()
    {
    }
}
