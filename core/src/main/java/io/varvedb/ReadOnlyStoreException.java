package io.varvedb;

/**
 * Thrown when a write is attempted on a store opened with {@link VarveDB#openReadOnly(java.nio.file.Path)}
 * (an appender), or when a processor's checkpoint cannot be written because this process may not write the
 * store's directory (a read-only mount, another user's directory); the message names the directory.
 */
public final class ReadOnlyStoreException extends VarveException
{
    private static final long serialVersionUID = 1L;

    /**
     * @param message what went wrong and, where it helps, which setting or file to look at.
     */
    public ReadOnlyStoreException(final String message)
    {
        super(message);
    }

    /**
     * @param message what went wrong.
     * @param cause   the underlying failure.
     */
    public ReadOnlyStoreException(final String message, final Throwable cause)
    {
        super(message, cause);
    }
}
