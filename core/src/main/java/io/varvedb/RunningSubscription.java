package io.varvedb;

import org.agrona.concurrent.IdleStrategy;

import java.util.concurrent.TimeUnit;

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
        this.subscription = subscription;
        this.handler = handler;
        this.options = options;
        this.idleStrategy = options.newIdleStrategy();
        this.fragmentLimit = options.fragmentLimit();
        this.thread = new Thread(this::run, options.threadName());
        this.thread.setDaemon(true);
        this.thread.start();
    }

    private void run()
    {
        long count = 0;
        while (running)
        {
            final int work;
            try
            {
                work = subscription.poll(handler, fragmentLimit);
            }
            catch (final SubscriptionException ex)
            {
                failure = ex;
                running = false;
                options.errorHandler().accept(ex);
                break;
            }
            catch (final StoreClosedException ex)
            {
                running = false;
                break;
            }
            catch (final RuntimeException ex)
            {
                // never die silently: a damaged record or a bug stops the subscription where it is, reported
                failure = new SubscriptionException(subscription.position(), ex);
                running = false;
                options.errorHandler().accept(failure);
                break;
            }
            count += work;
            delivered = count;
            idleStrategy.idle(work);
        }
    }

    /**
     * @return true until closed or stopped by a handler failure.
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
     * Stop the thread and wait for it. Idempotent.
     */
    @Override
    public void close()
    {
        running = false;
        if (Thread.currentThread() != thread)
        {
            try
            {
                thread.join(TimeUnit.SECONDS.toMillis(10));
            }
            catch (final InterruptedException ex)
            {
                Thread.currentThread().interrupt();
            }
        }
        subscription.close();
        db.untrack(this);
    }
}
