package io.varvedb;

/**
 * Thrown when an event, or a batch, is larger than {@link VarveConfig#maxEventSize()} allows. Nothing is written.
 */
public final class EventTooLargeException extends VarveException
{
    private static final long serialVersionUID = 1L;

    /**
     * @param message what went wrong and, where it helps, which setting or file to look at.
     */
    public EventTooLargeException(final String message)
    {
        super(message);
    }

    /**
     * @param message what went wrong.
     * @param cause   the underlying failure.
     */
    public EventTooLargeException(final String message, final Throwable cause)
    {
        super(message, cause);
    }
}
