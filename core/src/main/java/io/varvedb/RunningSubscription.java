package io.varvedb;

import org.agrona.concurrent.IdleStrategy;


/**
 * A {@link Subscription} polled by a thread of its own, calling the handler for each event in order until
 * closed. Started by {@link VarveDB#subscribeToAll} and {@link VarveDB#subscribeToStream}.
 * <p>
 * If the handler throws, the thread stops at the failing event (it is not skipped), hands a
 * {@link SubscriptionException} to the options' error handler, and {@link #failure()} returns it.
 */
public final class RunningSubscription implements AutoCloseable
{
    private final VarveDB db;
    private final Subscription subscription;
    private final EventHandler handler;
    private final IdleStrategy idleStrategy;
    private final int fragmentLimit;
    private final SubscriptionOptions options;
    private final Thread thread;
    private volatile boolean running = true;
    private volatile SubscriptionException failure;
    private volatile long delivered;

    RunningSubscription(
        final VarveDB db, final Subscription subscription, final EventHandler handler, final SubscriptionOptions options)
    {
        this.db = db;
        this.subscription = subscription.skipTruncated(options.skipTruncated());
        this.handler = handler;
        this.options = options;
        this.idleStrategy = options.newIdleStrategy();
        this.fragmentLimit = options.fragmentLimit();
        this.thread = new Thread(this::run, options.threadName());
        this.thread.setDaemon(true);
        db.storeThread(thread, true);
        this.thread.start();
    }

    private void run()
    {
        final SubscriptionException failed = PollingThreads.pollUntilStopped(() -> running, () ->
        {
            final int work = subscription.poll(handler, fragmentLimit);
            delivered += work;
            return work;
        }, idleStrategy, subscription::position);
        // report before isRunning() turns false: whoever waits for the stop then finds the handler has heard of it;
        // and the thread ends as a store thread even if the handler throws
        try
        {
            if (failed != null)
            {
                failure = failed;
                options.errorHandler().accept(failed);
            }
        }
        finally
        {
            running = false;
            db.storeThread(Thread.currentThread(), false);
        }
    }

    /**
     * @return true until closed or stopped by a handler failure; once false after a failure, {@link #failure()}
     *         returns it and the error handler has been called with it.
     */
    public boolean isRunning()
    {
        return running;
    }

    /**
     * @return the failure that stopped the subscription, or null.
     */
    public SubscriptionException failure()
    {
        return failure;
    }

    /**
     * @return events delivered so far.
     */
    public long delivered()
    {
        return delivered;
    }

    /**
     * Stop: no event is delivered after the one being handled when this is called. Waits for that handler call to
     * return and the thread to end, however long it takes; called from inside the handler, it returns at once and
     * the thread ends after the handler returns. Idempotent.
     */
    @Override
    public void close()
    {
        running = false;
        // the poll in progress delivers nothing more
        subscription.close();
        if (Thread.currentThread() != thread)
        {
            PollingThreads.joinUninterruptibly(thread);
        }
        db.untrack(this);
    }
}
