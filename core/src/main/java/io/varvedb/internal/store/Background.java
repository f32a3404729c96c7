package io.varvedb.internal.store;

import org.agrona.concurrent.Agent;
import org.agrona.concurrent.AgentRunner;
import org.agrona.concurrent.AgentTerminationException;
import org.agrona.concurrent.IdleStrategy;

import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Consumer;

/**
 * One of the store's background threads: runs a {@link BackgroundDuty} (one task, or every task of the store) on
 * an {@link AgentRunner}, idling between duty cycles.
 * <p>
 * The thread is made by the configured thread factory, or by default is a daemon named after the duty's role. It
 * idles with the configured strategy, or by default parks until the next task is due, woken early by
 * {@link #wake}. Failures of the tasks are reported by the tasks themselves ({@link BackgroundTask}); what the
 * runner itself meets (an idle strategy of the application that throws) is reported like a task's.
 */
public final class Background implements IdleStrategy
{
    /** What a duty cycle returns when it did not try its work (it waits before trying again after a failure). */
    public static final int PAUSED = -1;
    /** While failures go on, the handler hears of one this often at most. */
    public static final long REPEAT_REPORT_NS = TimeUnit.MINUTES.toNanos(1);

    private final BackgroundDuty duty;
    private final IdleStrategy idleStrategy;
    private final FailureReporter runnerFailures;
    private final AgentRunner runner;
    private final Thread thread;

    /**
     * Start the duty on a thread.
     *
     * @param duty          the work.
     * @param threadFactory makes the thread; null for a daemon thread named after the duty's role.
     * @param idleStrategy  between duty cycles; null to park until the next task is due, or {@link #wake woken}.
     * @param errorHandler  hears of what the runner meets outside the tasks; what it throws is ignored.
     * @throws IllegalStateException if the thread factory refuses (returns null) or returns a thread already started.
     */
    public Background(
        final BackgroundDuty duty,
        final ThreadFactory threadFactory,
        final IdleStrategy idleStrategy,
        final Consumer<? super Throwable> errorHandler)
    {
        this.duty = duty;
        this.idleStrategy = idleStrategy != null ? idleStrategy : new ParkUntilDue(duty);
        this.runnerFailures = new FailureReporter(errorHandler);
        this.runner = new AgentRunner(this, this::failed, null, new Agent()
        {
            @Override
            public int doWork()
            {
                if (duty.stopped())
                {
                    // how a close() from this very thread (a handler of its failure) ends the runner's loop
                    throw new AgentTerminationException();
                }
                return duty.doWork();
            }

            @Override
            public String roleName()
            {
                return duty.roleName();
            }
        });
        // not AgentRunner.startOnThread, which would rename the thread: the application's factory names its own
        final Thread made = threadFactory != null ? threadFactory.newThread(runner) : daemon(runner, duty.roleName());
        if (made == null)
        {
            throw new IllegalStateException("the thread factory refused to make the thread for " + duty.roleName());
        }
        this.thread = made;
        if (made.getState() != Thread.State.NEW)
        {
            // a factory that started the thread itself: it may be running the duty already; stop it and wait, as any
            // close does, so a failed open leaves no thread behind (Thread.start would throw and leak it)
            close();
            throw new IllegalStateException("the thread factory returned a thread already started (" +
                made.getState() + ") for " + duty.roleName() + ": return it unstarted; the store starts it");
        }
        thread.start();
    }

    private static Thread daemon(final Runnable runnable, final String name)
    {
        final Thread daemon = new Thread(runnable, name);
        daemon.setDaemon(true);
        return daemon;
    }

    private void failed(final Throwable error)
    {
        if (!(error instanceof AgentTerminationException))
        {
            runnerFailures.failed(error);
        }
    }

    /**
     * Make a task of this thread due now and end the idle between duty cycles (a strategy that parks).
     *
     * @param task a task this thread runs.
     */
    void wake(final BackgroundTask task)
    {
        task.wake();
        LockSupport.unpark(thread);
    }

    /**
     * @return the duty this thread runs.
     */
    BackgroundDuty duty()
    {
        return duty;
    }

    /**
     * Stop the thread and wait until it has ended.
     */
    public void close()
    {
        // once stopped, never idle: AgentRunner.close returns as soon as the current duty cycle ends
        duty.stop();
        if (Thread.currentThread() == thread)
        {
            // called from this thread (the error handler closed the store): it cannot wait for itself; it stops
            // when the duty cycle that called returns, running no task after the one that failed
            return;
        }
        LockSupport.unpark(thread);
        runner.close();
    }

    /**
     * @return the thread the duty runs on.
     */
    public Thread thread()
    {
        return thread;
    }

    @Override
    public void idle(final int workCount)
    {
        if (!duty.stopped())
        {
            idleStrategy.idle(workCount);
        }
    }

    @Override
    public void idle()
    {
        if (!duty.stopped())
        {
            idleStrategy.idle();
        }
    }

    @Override
    public void reset()
    {
        idleStrategy.reset();
    }

    @Override
    public String alias()
    {
        return idleStrategy.alias();
    }

    /**
     * The default idle: park until the first task of the thread is due, or until woken (an appender that is behind
     * wakes the pre-allocator).
     */
    static final class ParkUntilDue implements IdleStrategy
    {
        private final BackgroundDuty duty;

        ParkUntilDue(final BackgroundDuty duty)
        {
            this.duty = duty;
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
            final long nanos = duty.nanosUntilDue(System.nanoTime());
            if (nanos > 0)
            {
                LockSupport.parkNanos(this, nanos);
            }
        }

        @Override
        public void reset()
        {
        }

        @Override
        public String alias()
        {
            return "park-until-due";
        }
    }
}
