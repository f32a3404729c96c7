package io.varvedb.internal.store;

import io.varvedb.BackgroundThreading;
import org.agrona.concurrent.Agent;
import org.agrona.concurrent.IdleStrategy;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.ThreadFactory;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * Every background task of a writable store, run as {@link BackgroundThreading} says: a thread per task, one thread
 * for all, or no thread (the application calls {@link #invoked()}).
 * <p>
 * Add the tasks, then {@link #start()}; {@link #close()} stops them before the store releases its files.
 */
public final class BackgroundWork
{
    /** The one thread of {@link BackgroundThreading#SHARED}, and the agent of {@link BackgroundThreading#INVOKED}. */
    public static final String SHARED_ROLE_NAME = "varve-background";

    private final BackgroundThreading threading;
    private final ThreadFactory threadFactory;
    private final Supplier<? extends IdleStrategy> idleStrategy;
    private final Consumer<? super Throwable> errorHandler;
    private final List<BackgroundTask> tasks = new ArrayList<>();
    private final List<Background> threads = new ArrayList<>();
    private InvokedBackground invoked;
    /** Counts every failed duty cycle by task and kind; null for none. */
    private java.util.function.BiConsumer<String, Throwable> failureCounter;
    private volatile boolean started;

    /**
     * @param threading     how the tasks run.
     * @param threadFactory makes each thread; null for daemon threads named after their role.
     * @param idleStrategy  one per thread, between duty cycles; null to park until the next task is due.
     * @param errorHandler  hears of failed duty cycles.
     */
    public BackgroundWork(
        final BackgroundThreading threading,
        final ThreadFactory threadFactory,
        final Supplier<? extends IdleStrategy> idleStrategy,
        final Consumer<? super Throwable> errorHandler)
    {
        this.threading = Objects.requireNonNull(threading, "threading");
        this.threadFactory = threadFactory;
        this.idleStrategy = idleStrategy;
        this.errorHandler = errorHandler;
    }

    /**
     * Count every failed duty cycle (not only those the error handler hears of); before tasks are added.
     *
     * @param counter given the task's role name and the failure.
     */
    public void countFailures(final java.util.function.BiConsumer<String, Throwable> counter)
    {
        this.failureCounter = counter;
    }

    /**
     * @param agent    the task's work.
     * @param periodNs how long after a duty cycle without work it is due again, unless woken.
     * @return the task, to {@link #wake} it and count its failures.
     */
    public BackgroundTask add(final Agent agent, final long periodNs)
    {
        if (started)
        {
            throw new IllegalStateException("already started");
        }
        final java.util.function.BiConsumer<String, Throwable> counter = failureCounter;
        final BackgroundTask task = new BackgroundTask(agent, periodNs, counter == null ? errorHandler :
            new FailureReporter.Counted(errorHandler, (error) -> counter.accept(agent.roleName(), error)));
        tasks.add(task);
        return task;
    }

    /**
     * Start the threads the mode asks for; on failure, stop those started and rethrow.
     */
    public void start()
    {
        final BackgroundTask[] all = tasks.toArray(new BackgroundTask[0]);
        try
        {
            switch (threading)
            {
                case DEDICATED:
                    for (final BackgroundTask task : all)
                    {
                        startThread(new BackgroundDuty(task.roleName(), task));
                    }
                    break;

                case SHARED:
                    startThread(new BackgroundDuty(SHARED_ROLE_NAME, all));
                    break;

                case INVOKED:
                    invoked = new InvokedBackground(new BackgroundDuty(SHARED_ROLE_NAME, all));
                    break;

                default:
                    throw new IllegalStateException("unknown " + threading);
            }
        }
        catch (final RuntimeException | Error ex)
        {
            close();
            throw ex;
        }
        // publishes the threads and the invoked agent to whoever reads `started` first
        started = true;
    }

    private void startThread(final BackgroundDuty duty)
    {
        final IdleStrategy idle = idleStrategy == null ? null :
            Objects.requireNonNull(idleStrategy.get(), "backgroundIdleStrategy supplied null");
        threads.add(new Background(duty, threadFactory, idle, errorHandler));
    }

    /**
     * Make a task due now and wake the thread that runs it, if any (in INVOKED mode the application's next duty
     * cycle runs it). Any thread.
     *
     * @param task a task of this store.
     */
    public void wake(final BackgroundTask task)
    {
        if (!started)
        {
            task.wake();
            return;
        }
        for (final Background thread : threads)
        {
            if (thread.duty().runs(task))
            {
                thread.wake(task);
                return;
            }
        }
        task.wake();
    }

    /**
     * @return the threads started, in the order of the tasks (none in INVOKED mode).
     */
    public List<Thread> threads()
    {
        final List<Thread> list = new ArrayList<>(threads.size());
        for (final Background thread : threads)
        {
            list.add(thread.thread());
        }
        return list;
    }

    /**
     * @return the agent the application runs in INVOKED mode, or null in the other modes.
     */
    public InvokedBackground invoked()
    {
        return started ? invoked : null;
    }

    /**
     * @param thread a thread.
     * @return true if it is one of the threads started, or is in an INVOKED duty cycle now: a close() it calls
     * cannot wait for the work to end.
     */
    public boolean runsOn(final Thread thread)
    {
        if (!started)
        {
            return false;
        }
        if (invoked != null && invoked.inDutyCycle(thread))
        {
            return true;
        }
        for (final Background background : threads)
        {
            if (background.thread() == thread)
            {
                return true;
            }
        }
        return false;
    }

    /**
     * Stop every task: on return no duty cycle runs, or will run, a task (except the caller's own, when a task's
     * error handler closes the store, which runs no further task).
     */
    public void close()
    {
        for (final Background thread : threads)
        {
            thread.close();
        }
        if (invoked != null)
        {
            invoked.close();
        }
    }
}
