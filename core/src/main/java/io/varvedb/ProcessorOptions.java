package io.varvedb;

import java.util.Objects;

/**
 * How a {@link Processor} checkpoints and runs.
 */
public final class ProcessorOptions
{
    /** Default: checkpoint after this many events. */
    public static final int DEFAULT_CHECKPOINT_EVERY_EVENTS = 10_000;
    /** Default: checkpoint at least this often while events flow. */
    public static final long DEFAULT_CHECKPOINT_INTERVAL_MILLIS = 1000;

    private int checkpointEveryEvents = DEFAULT_CHECKPOINT_EVERY_EVENTS;
    private long checkpointIntervalMillis = DEFAULT_CHECKPOINT_INTERVAL_MILLIS;
    private long startPosition = VarveDB.START_POSITION;
    private SubscriptionOptions subscriptionOptions = SubscriptionOptions.defaults().threadName("varve-processor");

    /**
     * @return options with the defaults.
     */
    public static ProcessorOptions defaults()
    {
        return new ProcessorOptions();
    }

    /**
     * @param events checkpoint after this many events, at least 1.
     * @return this.
     */
    public ProcessorOptions checkpointEveryEvents(final int events)
    {
        if (events < 1)
        {
            throw new IllegalArgumentException("checkpointEveryEvents must be >= 1, got " + events);
        }
        this.checkpointEveryEvents = events;
        return this;
    }

    /**
     * @param millis checkpoint at least this often while events flow, at least 0.
     * @return this.
     */
    public ProcessorOptions checkpointIntervalMillis(final long millis)
    {
        if (millis < 0)
        {
            throw new IllegalArgumentException("checkpointIntervalMillis must be >= 0, got " + millis);
        }
        this.checkpointIntervalMillis = millis;
        return this;
    }

    /**
     * @param position where a processor with no checkpoint starts: {@link VarveDB#START_POSITION},
     *                 {@link VarveDB#FROM_NOW}, or a record position.
     * @return this.
     */
    public ProcessorOptions startPosition(final long position)
    {
        this.startPosition = position;
        return this;
    }

    /**
     * @param options idle strategy, fragment limit, error handler for the processor's thread.
     * @return this.
     */
    public ProcessorOptions subscriptionOptions(final SubscriptionOptions options)
    {
        this.subscriptionOptions = Objects.requireNonNull(options, "options");
        return this;
    }

    int checkpointEveryEvents()
    {
        return checkpointEveryEvents;
    }

    long checkpointIntervalMillis()
    {
        return checkpointIntervalMillis;
    }

    long startPosition()
    {
        return startPosition;
    }

    SubscriptionOptions subscriptionOptions()
    {
        return subscriptionOptions;
    }
}
