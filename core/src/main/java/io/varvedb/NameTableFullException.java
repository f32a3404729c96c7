package io.varvedb;

/**
 * Thrown when a new stream name would exceed the store's name capacity ({@link VarveConfig.Builder#nameCapacity(int)},
 * fixed when the store is created). Existing names, and numeric stream ids, keep working.
 */
public final class NameTableFullException extends VarveException
{
    private static final long serialVersionUID = 1L;

    /**
     * @param message what went wrong, naming the capacity and the setting.
     */
    public NameTableFullException(final String message)
    {
        super(message);
    }
}
