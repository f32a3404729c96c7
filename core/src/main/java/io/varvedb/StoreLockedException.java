package io.varvedb;

/**
 * Thrown when a store directory is already open for writing, by another process or by this one.
 */
public final class StoreLockedException extends VarveException
{
    private static final long serialVersionUID = 1L;

    /**
     * @param message what went wrong and, where it helps, which setting or file to look at.
     */
    public StoreLockedException(final String message)
    {
        super(message);
    }

    /**
     * @param message what went wrong.
     * @param cause   the underlying failure.
     */
    public StoreLockedException(final String message, final Throwable cause)
    {
        super(message, cause);
    }
}
