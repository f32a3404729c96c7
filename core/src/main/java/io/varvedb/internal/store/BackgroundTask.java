package io.varvedb.internal.store;

import org.agrona.concurrent.Agent;

import java.util.function.Consumer;

/**
 * One background task of a store (the flusher, the pre-allocator, the repairer) with its own cadence and its own
 * failure reports, whatever thread runs it.
 * <p>
 * <b>The cadence belongs to the task, not to the thread.</b> A task that did no work is due again
 * {@code periodNs} after that cycle ended, or at once when {@link #wake woken}; one that did work is due again at
 * once, as a dedicated thread does not idle after work. So a task keeps the pace it had on a thread of its own
 * when it shares a thread, or when the application calls it from a busy-spinning duty cycle: the flusher still
 * forces once per flush interval, not once per call.
 * <p>
 * A duty cycle that throws is caught here, counted and reported, and idles like a cycle without work: an
 * AgentRunner would retry at once, and a failure must never leave the thread that runs it, whose owner may be the
 * application.
 */
public final class BackgroundTask
{
    private final Agent agent;
    private final long periodNs;
    private final FailureReporter failures;
    private volatile boolean woken;
    /** Read and written by whoever runs the task's duty cycles, one at a time. */
    private long dueNs;

    /**
     * @param agent        the work.
     * @param periodNs     how long after a duty cycle that did no work the task is due again, unless woken.
     * @param errorHandler hears of failed duty cycles (see {@link FailureReporter}); what it throws is ignored.
     */
    public BackgroundTask(final Agent agent, final long periodNs, final Consumer<? super Throwable> errorHandler)
    {
        this.agent = agent;
        this.periodNs = periodNs;
        this.failures = new FailureReporter(errorHandler);
        // due at once: the first cycle makes what the open could not (a pre-allocation on a full disk)
        this.dueNs = System.nanoTime();
    }

    /**
     * Run the task if it is due.
     *
     * @param nowNs {@link System#nanoTime()} at the start of the duty cycle.
     * @return the work done; 0 if not due, paused or failed. Never throws.
     */
    int doWork(final long nowNs)
    {
        if (nowNs - dueNs < 0 && !woken)
        {
            return 0;
        }
        // cleared before the work, so a wake during it is seen by the next cycle; one before it is covered by it
        woken = false;
        final int work;
        try
        {
            work = agent.doWork();
        }
        catch (final Throwable error)
        {
            failures.failed(error);
            dueNs = System.nanoTime() + periodNs;
            return 0;
        }
        if (work != Background.PAUSED)
        {
            failures.succeeded();
        }
        if (work > 0)
        {
            dueNs = nowNs;
            return work;
        }
        // from the end of the cycle, as a dedicated thread parks after its work: a force slower than the flush
        // interval is not followed by another at once
        dueNs = System.nanoTime() + periodNs;
        return 0;
    }

    /**
     * @param nowNs {@link System#nanoTime()}.
     * @return how long until the task is due; 0 or less if it is.
     */
    long nanosUntilDue(final long nowNs)
    {
        return woken ? 0 : dueNs - nowNs;
    }

    /**
     * Make the task due now (any thread); whoever runs it sees that on its next duty cycle.
     */
    void wake()
    {
        woken = true;
    }

    /**
     * @return duty cycles of this task that failed.
     */
    public long failures()
    {
        return failures.failures();
    }

    /**
     * @return the task's role: a thread of its own is named after it.
     */
    public String roleName()
    {
        return agent.roleName();
    }
}
