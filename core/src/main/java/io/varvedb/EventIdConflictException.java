package io.varvedb;

import java.util.UUID;

/**
 * An append carried an event id the store already holds, and it cannot be a retry of that earlier append: the id
 * is an event of another stream, or a batch's ids overlap earlier appends only in part (or not as one whole
 * earlier append). Nothing was written. A retry of the same append (same stream; for a batch, the same ids in the
 * same order as one earlier batch) is no conflict: it returns the earlier result (see
 * {@link Appender#lastWasDuplicate()}).
 * <p>
 * An {@link IllegalArgumentException}: the append's argument, its event id, is one the store gave to another event
 * (as with the other arguments an append refuses, nothing is written).
 */
public final class EventIdConflictException extends IllegalArgumentException
{
    private static final long serialVersionUID = 1L;
    private final long eventIdHigh;
    private final long eventIdLow;
    private final long streamId;
    private final long existingStreamId;
    private final long existingVersion;

    /**
     * @param message          what went wrong.
     * @param eventIdHigh      the id's high half.
     * @param eventIdLow       the id's low half.
     * @param streamId         the stream the append was for.
     * @param existingStreamId the stream of the event that holds the id.
     * @param existingVersion  that event's version.
     */
    public EventIdConflictException(
        final String message,
        final long eventIdHigh,
        final long eventIdLow,
        final long streamId,
        final long existingStreamId,
        final long existingVersion)
    {
        super(message);
        this.eventIdHigh = eventIdHigh;
        this.eventIdLow = eventIdLow;
        this.streamId = streamId;
        this.existingStreamId = existingStreamId;
        this.existingVersion = existingVersion;
    }

    /**
     * @return the event id found in the store.
     */
    public UUID eventId()
    {
        return new UUID(eventIdHigh, eventIdLow);
    }

    /**
     * @return the stream the refused append was for.
     */
    public long streamId()
    {
        return streamId;
    }

    /**
     * @return the stream of the event that holds the id.
     */
    public long existingStreamId()
    {
        return existingStreamId;
    }

    /**
     * @return the version of the event that holds the id.
     */
    public long existingVersion()
    {
        return existingVersion;
    }
}
