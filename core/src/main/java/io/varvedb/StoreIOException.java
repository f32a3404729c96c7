package io.varvedb;

/**
 * Thrown when the file system refuses an operation (a full disk, a read-only directory, a missing file). Nothing already written is lost.
 */
public final class StoreIOException extends VarveException
{
    private static final long serialVersionUID = 1L;

    /**
     * @param message what went wrong and, where it helps, which setting or file to look at.
     */
    public StoreIOException(final String message)
    {
        super(message);
    }

    /**
     * @param message what went wrong.
     * @param cause   the underlying failure.
     */
    public StoreIOException(final String message, final Throwable cause)
    {
        super(message, cause);
    }
}
