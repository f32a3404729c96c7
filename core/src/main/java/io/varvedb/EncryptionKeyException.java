package io.varvedb;

/**
 * Thrown when an encrypted store cannot be opened (or its master key rotated) with the key given: no key for an
 * encrypted store, a wrong one, a key for a store that is not encrypted, or a key file that is missing, damaged
 * or foreign. Nothing of the store was written when it is thrown.
 */
public final class EncryptionKeyException extends VarveException
{
    private static final long serialVersionUID = 1L;

    /**
     * @param message what was refused, and why.
     */
    public EncryptionKeyException(final String message)
    {
        super(message);
    }

    /**
     * @param message what was refused, and why.
     * @param cause   the underlying failure.
     */
    public EncryptionKeyException(final String message, final Throwable cause)
    {
        super(message, cause);
    }
}
