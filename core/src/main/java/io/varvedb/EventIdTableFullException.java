package io.varvedb;

/**
 * An append carried an event id the store does not hold yet, and its event id table is full
 * ({@link VarveConfig.Builder#eventIdCapacity(int)}). Nothing was written. Appends without an id go on; reopen the
 * store with a larger capacity (the table is rebuilt from the log) to append ids again.
 */
public final class EventIdTableFullException extends VarveException
{
    private static final long serialVersionUID = 1L;

    /**
     * @param message what went wrong.
     */
    public EventIdTableFullException(final String message)
    {
        super(message);
    }
}
