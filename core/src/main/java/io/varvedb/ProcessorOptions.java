package io.varvedb;

import java.util.Objects;

/**
 * How a {@link Processor} checkpoints and runs.
 * <p>
 * By default a processor checkpoints on its own schedule ({@link #checkpointEveryEvents},
 * {@link #checkpointIntervalMillis}, and at close): right for a handler whose effect is complete when it returns.
 * A handler that keeps state and saves it on a schedule of its own (a projection) must not use that default: the
 * processor's checkpoint could then run ahead of the saved state, and a restart after a crash would skip the
 * events in between. Give such a processor {@link #manualCheckpoints()} and {@link #resumeFrom(long)} (see the
 * README's projection pattern).
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
    private boolean manualCheckpoints;
    private boolean resume;
    private boolean skipTruncated;
    private long resumePosition;
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
     * The checkpoint moves only when the application says its state is saved up to a position:
     * {@link Processor#checkpoint(long)} (from the handler's thread or any other), or {@link Processor#checkpoint()}
     * for everything handled so far. The processor then never checkpoints on its own, neither on a schedule nor at
     * {@link Processor#close()}, so a checkpoint can never run ahead of the state the application has saved.
     * {@link #checkpointEveryEvents} and {@link #checkpointIntervalMillis} are ignored.
     *
     * @return this.
     */
    public ProcessorOptions manualCheckpoints()
    {
        this.manualCheckpoints = true;
        return this;
    }

    /**
     * Start at this position whatever position the stored checkpoint holds (a checkpoint file that is not one is
     * still refused), and store it as the checkpoint (in the durable modes, as {@link Processor#checkpoint(long)}
     * does): the position the
     * application's own state was saved with (the {@link RecordedEvent#nextPosition()} of the last event it holds,
     * or {@link VarveDB#START_POSITION} for a state that holds nothing). With it, the saved state alone decides where
     * a restart resumes: no event is skipped and none it already holds comes again.
     *
     * @param position {@link VarveDB#START_POSITION}, {@link VarveDB#FROM_NOW}, or a record position the store gave;
     *                 anything else makes {@link VarveDB#processor} throw {@link IllegalArgumentException}.
     * @return this.
     */
    public ProcessorOptions resumeFrom(final long position)
    {
        this.resume = true;
        this.resumePosition = position;
        return this;
    }

    /**
     * @param skip true to have the processor go on from the oldest event kept when retention
     *             ({@link VarveDB#truncateLogBefore}) dropped events it had not processed; false (the default) to
     *             stop it with {@link LogTruncatedException} (its checkpoint stays where it was).
     * @return this.
     */
    public ProcessorOptions skipTruncated(final boolean skip)
    {
        this.skipTruncated = skip;
        return this;
    }

    boolean skipTruncated()
    {
        return skipTruncated;
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

    boolean manual()
    {
        return manualCheckpoints;
    }

    boolean resume()
    {
        return resume;
    }

    long resumePosition()
    {
        return resumePosition;
    }

    SubscriptionOptions subscriptionOptions()
    {
        return subscriptionOptions;
    }
}
