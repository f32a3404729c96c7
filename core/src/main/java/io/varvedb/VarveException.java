package io.varvedb;

/**
 * Base of every exception VarveDB throws on purpose. Unchecked: the hot paths stay free of
 * {@code throws} clauses, and callers catch the specific subclass they can act on.
 */
public class VarveException extends RuntimeException
{
    private static final long serialVersionUID = 1L;

    /**
     * @param message what went wrong.
     */
    public VarveException(final String message)
    {
        super(message);
    }

    /**
     * @param message what went wrong.
     * @param cause   the underlying failure.
     */
    public VarveException(final String message, final Throwable cause)
    {
        super(message, cause);
    }
}
