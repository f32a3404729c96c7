package io.varvedb;

/**
 * Thrown by {@link Appender#append} when a stream is not at the version the caller expected: another writer got
 * there first. Nothing was written. Re-read the stream, decide again, and retry with the new version.
 * <p>
 * {@link #actualVersion()} is the stream's committed version when the conflict was detected; it can only have
 * grown since.
 */
public final class ConcurrencyConflictException extends VarveException
{
    private static final long serialVersionUID = 1L;

    private final long streamId;
    private final long expectedVersion;
    private final long actualVersion;

    /**
     * @param streamId        the stream appended to.
     * @param expectedVersion the expectation, in its {@link ExpectedVersion#value()} encoding.
     * @param actualVersion   the version the stream was at.
     */
    public ConcurrencyConflictException(final long streamId, final long expectedVersion, final long actualVersion)
    {
        super("stream " + streamId + ": expected " + ExpectedVersion.describe(expectedVersion) +
            " but the stream is at version " + actualVersion);
        this.streamId = streamId;
        this.expectedVersion = expectedVersion;
        this.actualVersion = actualVersion;
    }

    /**
     * @return the stream the append was for.
     */
    public long streamId()
    {
        return streamId;
    }

    /**
     * @return the expected version in its {@link ExpectedVersion#value()} encoding.
     */
    public long expectedVersion()
    {
        return expectedVersion;
    }

    /**
     * @return the version the stream was at when the append was refused.
     */
    public long actualVersion()
    {
        return actualVersion;
    }
}
