package io.varvedb;

/**
 * Thrown when a new stream would exceed {@link VarveConfig.Builder#indexCapacity(int)}. Existing streams stay appendable.
 */
public final class StreamIndexFullException extends VarveException
{
    private static final long serialVersionUID = 1L;

    /**
     * @param message what went wrong and, where it helps, which setting or file to look at.
     */
    public StreamIndexFullException(final String message)
    {
        super(message);
    }

    /**
     * @param message what went wrong.
     * @param cause   the underlying failure.
     */
    public StreamIndexFullException(final String message, final Throwable cause)
    {
        super(message, cause);
    }
}
