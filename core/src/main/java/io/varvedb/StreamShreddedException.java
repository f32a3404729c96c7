package io.varvedb;

/**
 * Thrown when a stream's data key was destroyed ({@link VarveDB#shredStream}): a read of it, a subscription to it,
 * or an append to it. Its events stay in the log, unreadable by anyone, until a scavenge drops them; its id (or
 * name) stays taken. {@link VarveDB#readAll} and subscriptions to all skip its events.
 */
public final class StreamShreddedException extends VarveException
{
    private static final long serialVersionUID = 1L;

    private final long streamId;

    /**
     * @param streamId the shredded stream.
     * @param message  what was refused.
     */
    public StreamShreddedException(final long streamId, final String message)
    {
        super(message);
        this.streamId = streamId;
    }

    /**
     * @return the shredded stream.
     */
    public long streamId()
    {
        return streamId;
    }
}
