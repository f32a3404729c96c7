package io.varvedb;

import org.agrona.concurrent.BackoffIdleStrategy;
import org.agrona.concurrent.IdleStrategy;

import java.util.Objects;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * How a subscription or processor with its own thread runs: the idle strategy between empty polls (Agrona's
 * {@link org.agrona.concurrent.BusySpinIdleStrategy} for the lowest latency, {@link BackoffIdleStrategy} by
 * default, {@link org.agrona.concurrent.YieldingIdleStrategy}, {@link org.agrona.concurrent.SleepingIdleStrategy}),
 * how many events one poll may deliver, what to do when a handler throws, and the thread's name.
 */
public final class SubscriptionOptions
{
    /** Default most events per poll. */
    public static final int DEFAULT_FRAGMENT_LIMIT = 256;

    private Supplier<IdleStrategy> idleStrategy = BackoffIdleStrategy::new;
    private int fragmentLimit = DEFAULT_FRAGMENT_LIMIT;
    private Consumer<SubscriptionException> errorHandler = (ex) -> { };
    private String threadName = "varve-subscription";
    private boolean skipTruncated;

    /**
     * @return options with the defaults.
     */
    public static SubscriptionOptions defaults()
    {
        return new SubscriptionOptions();
    }

    /**
     * @param idleStrategy makes the idle strategy of each thread started with these options.
     * @return this.
     */
    public SubscriptionOptions idleStrategy(final Supplier<IdleStrategy> idleStrategy)
    {
        this.idleStrategy = Objects.requireNonNull(idleStrategy, "idleStrategy");
        return this;
    }

    /**
     * @param skip true to have a subscription to all (or a processor) that retention left behind go on from the
     *             oldest event kept; false (the default) to stop it with {@link LogTruncatedException}, through the
     *             error handler. See {@link Subscription#skipTruncated}.
     * @return this.
     */
    public SubscriptionOptions skipTruncated(final boolean skip)
    {
        this.skipTruncated = skip;
        return this;
    }

    boolean skipTruncated()
    {
        return skipTruncated;
    }

    /**
     * @param fragmentLimit most events one poll delivers, at least 1.
     * @return this.
     */
    public SubscriptionOptions fragmentLimit(final int fragmentLimit)
    {
        if (fragmentLimit < 1)
        {
            throw new IllegalArgumentException("fragmentLimit must be >= 1, got " + fragmentLimit);
        }
        this.fragmentLimit = fragmentLimit;
        return this;
    }

    /**
     * @param errorHandler called on the subscription's thread when its handler throws; the subscription has
     *                     stopped at the failing event by then.
     * @return this.
     */
    public SubscriptionOptions errorHandler(final Consumer<SubscriptionException> errorHandler)
    {
        this.errorHandler = Objects.requireNonNull(errorHandler, "errorHandler");
        return this;
    }

    /**
     * @param threadName name of the thread started.
     * @return this.
     */
    public SubscriptionOptions threadName(final String threadName)
    {
        this.threadName = Objects.requireNonNull(threadName, "threadName");
        return this;
    }

    IdleStrategy newIdleStrategy()
    {
        return idleStrategy.get();
    }

    int fragmentLimit()
    {
        return fragmentLimit;
    }

    Consumer<SubscriptionException> errorHandler()
    {
        return errorHandler;
    }

    String threadName()
    {
        return threadName;
    }
}
