package io.varvedb.internal.store;

import org.agrona.concurrent.Agent;

/**
 * The duty cycle of one runner of background tasks: a thread of one task, the one thread of them all, or the
 * application's own duty cycle. Like Agrona's {@code CompositeAgent}, but each task keeps its cadence and its
 * failure reports ({@link BackgroundTask}), so a task that fails or is not due never keeps the next from running.
 * <p>
 * Once {@link #stop() stopped} it runs nothing more, not even the rest of a cycle in progress: the store may be
 * closing from an error handler called by that very cycle, and what follows would touch released mappings.
 */
public final class BackgroundDuty implements Agent
{
    private final String roleName;
    private final BackgroundTask[] tasks;
    private volatile boolean stopped;

    /**
     * @param roleName names the runner (and a thread the store starts for it).
     * @param tasks    run in this order each cycle.
     */
    public BackgroundDuty(final String roleName, final BackgroundTask... tasks)
    {
        this.roleName = roleName;
        this.tasks = tasks.clone();
    }

    /**
     * Run every task that is due.
     *
     * @return the work done; never throws.
     */
    @Override
    public int doWork()
    {
        final long nowNs = System.nanoTime();
        int work = 0;
        for (final BackgroundTask task : tasks)
        {
            if (stopped)
            {
                break;
            }
            work += task.doWork(nowNs);
        }
        return work;
    }

    /**
     * @param nowNs {@link System#nanoTime()}.
     * @return how long until the first task is due; 0 or less if one is.
     */
    long nanosUntilDue(final long nowNs)
    {
        long nanos = Long.MAX_VALUE;
        for (final BackgroundTask task : tasks)
        {
            nanos = Math.min(nanos, task.nanosUntilDue(nowNs));
        }
        return nanos;
    }

    /**
     * @param task a task.
     * @return true if this duty runs it.
     */
    boolean runs(final BackgroundTask task)
    {
        for (final BackgroundTask own : tasks)
        {
            if (own == task)
            {
                return true;
            }
        }
        return false;
    }

    /**
     * Run nothing more, from the next task on.
     */
    void stop()
    {
        stopped = true;
    }

    boolean stopped()
    {
        return stopped;
    }

    @Override
    public String roleName()
    {
        return roleName;
    }
}
