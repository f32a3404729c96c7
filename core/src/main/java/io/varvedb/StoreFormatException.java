package io.varvedb;

/**
 * Thrown when a file in the store directory is not a VarveDB file, or is of a format version this build does not read. The file is left untouched.
 */
public final class StoreFormatException extends VarveException
{
    private static final long serialVersionUID = 1L;

    /**
     * @param message what went wrong and, where it helps, which setting or file to look at.
     */
    public StoreFormatException(final String message)
    {
        super(message);
    }

    /**
     * @param message what went wrong.
     * @param cause   the underlying failure.
     */
    public StoreFormatException(final String message, final Throwable cause)
    {
        super(message, cause);
    }
}
