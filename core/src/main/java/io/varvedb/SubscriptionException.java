package io.varvedb;

/**
 * Thrown (or handed to a subscription's error handler) when an {@link EventHandler} throws while a subscription
 * or processor delivers an event, or when reading fails (then {@link #streamId()} and {@link #version()} are 0). The subscription stops at that event: it is not skipped, and the next poll,
 * or a restart from {@link #position()}, delivers it again.
 */
public final class SubscriptionException extends VarveException
{
    private static final long serialVersionUID = 1L;

    private final long position;
    private final long streamId;
    private final long version;

    /**
     * @param position where the failing event's record starts in the log.
     * @param streamId the failing event's stream.
     * @param version  the failing event's version.
     * @param cause    what the handler threw.
     */
    public SubscriptionException(final long position, final long streamId, final long version, final Throwable cause)
    {
        super("event handler failed on stream " + streamId + " version " + version + " at log position " + position +
            ": " + cause, cause);
        this.position = position;
        this.streamId = streamId;
        this.version = version;
    }

    /**
     * For a subscription that stopped because reading itself failed (for example on a damaged record).
     *
     * @param position where the subscription stopped.
     * @param cause    why.
     */
    public SubscriptionException(final long position, final Throwable cause)
    {
        super("subscription stopped at log position " + position + ": " + cause, cause);
        this.position = position;
        this.streamId = 0;
        this.version = 0;
    }

    /**
     * @return where the failing event's record starts in the log.
     */
    public long position()
    {
        return position;
    }

    /**
     * @return the failing event's stream.
     */
    public long streamId()
    {
        return streamId;
    }

    /**
     * @return the failing event's version.
     */
    public long version()
    {
        return version;
    }
}
