package io.varvedb;

/**
 * Thrown when a store, or an appender of it, is used after {@code close()}.
 */
public final class StoreClosedException extends VarveException
{
    private static final long serialVersionUID = 1L;

    /**
     * @param message what went wrong and, where it helps, which setting or file to look at.
     */
    public StoreClosedException(final String message)
    {
        super(message);
    }

    /**
     * @param message what went wrong.
     * @param cause   the underlying failure.
     */
    public StoreClosedException(final String message, final Throwable cause)
    {
        super(message, cause);
    }
}
