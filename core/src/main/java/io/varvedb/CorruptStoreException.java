package io.varvedb;

/**
 * Thrown when a store's files contradict themselves in a way recovery may not repair without losing data it cannot prove torn. The message names the file and position.
 */
public final class CorruptStoreException extends VarveException
{
    private static final long serialVersionUID = 1L;

    /**
     * @param message what went wrong and, where it helps, which setting or file to look at.
     */
    public CorruptStoreException(final String message)
    {
        super(message);
    }

    /**
     * @param message what went wrong.
     * @param cause   the underlying failure.
     */
    public CorruptStoreException(final String message, final Throwable cause)
    {
        super(message, cause);
    }
}
