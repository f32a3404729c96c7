package io.varvedb;

/**
 * Thrown by {@link VarveDB#openReadOnly(java.nio.file.Path)} when there is no store to open: the directory does
 * not exist, is not a directory, or holds no {@code varve.meta}. Not a file system failure: a process waiting for
 * a writer to create the store can catch this one and try again later, and treat {@link StoreIOException} as the
 * disk error it is.
 */
public final class NoStoreException extends VarveException
{
    private static final long serialVersionUID = 1L;

    /**
     * @param message what is missing, naming the directory.
     */
    public NoStoreException(final String message)
    {
        super(message);
    }
}
