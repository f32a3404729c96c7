package io.varvedb.counters;

/**
 * One counter as read: its type, its label (which names the appender, subscription, processor or error kind it
 * belongs to) and its value when read.
 */
public final class Counter
{
    private final int id;
    private final int typeId;
    private final String label;
    private final long value;

    Counter(final int id, final int typeId, final String label, final long value)
    {
        this.id = id;
        this.typeId = typeId;
        this.label = label;
        this.value = value;
    }

    /**
     * @return its id within its process's counters (reused once it is freed).
     */
    public int id()
    {
        return id;
    }

    /**
     * @return its type, or null for a type a newer build wrote.
     */
    public CounterType type()
    {
        return CounterType.of(typeId);
    }

    /**
     * @return its type id as stored.
     */
    public int typeId()
    {
        return typeId;
    }

    /**
     * @return its label.
     */
    public String label()
    {
        return label;
    }

    /**
     * @return its value.
     */
    public long value()
    {
        return value;
    }

    @Override
    public String toString()
    {
        return label + " = " + value;
    }
}
