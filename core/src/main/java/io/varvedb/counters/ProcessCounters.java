package io.varvedb.counters;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * The counters of one store instance (a process that has, or had, the store open), as read at one moment.
 */
public final class ProcessCounters
{
    private final int region;
    private final long pid;
    private final String role;
    private final ProcessState state;
    private final long openedAtMillis;
    private final long closedAtMillis;
    private final List<Counter> counters;
    private final AppendLatency latency;
    private final AppendLatency intervalLatency;

    ProcessCounters(
        final int region, final long pid, final String role, final ProcessState state, final long openedAtMillis,
        final long closedAtMillis, final List<Counter> counters, final AppendLatency latency,
        final AppendLatency intervalLatency)
    {
        this.region = region;
        this.pid = pid;
        this.role = role;
        this.state = state;
        this.openedAtMillis = openedAtMillis;
        this.closedAtMillis = closedAtMillis;
        this.counters = Collections.unmodifiableList(counters);
        this.latency = latency;
        this.intervalLatency = intervalLatency;
    }

    /**
     * @return the region of {@code varve.counters} it holds (stable while it is open).
     */
    public int region()
    {
        return region;
    }

    /**
     * @return its process id.
     */
    public long pid()
    {
        return pid;
    }

    /**
     * @return {@code writer}, {@code shared-writer} (multi-process mode) or {@code reader} (read-only).
     */
    public String role()
    {
        return role;
    }

    /**
     * @return whether it is running, closed, or gone without closing.
     */
    public ProcessState state()
    {
        return state;
    }

    /**
     * @return when it opened the store, in epoch milliseconds.
     */
    public long openedAtMillis()
    {
        return openedAtMillis;
    }

    /**
     * @return when it closed the store, in epoch milliseconds; 0 if it did not.
     */
    public long closedAtMillis()
    {
        return closedAtMillis;
    }

    /**
     * @return every counter it has.
     */
    public List<Counter> counters()
    {
        return counters;
    }

    /**
     * @param type a type.
     * @return its counters of that type (one per appender, subscription, processor or error kind).
     */
    public List<Counter> counters(final CounterType type)
    {
        final List<Counter> found = new ArrayList<>();
        for (final Counter counter : counters)
        {
            if (counter.typeId() == type.id())
            {
                found.add(counter);
            }
        }
        return found;
    }

    /**
     * @param type a type.
     * @return the sum of its counters of that type.
     */
    public long total(final CounterType type)
    {
        long sum = 0;
        for (final Counter counter : counters)
        {
            if (counter.typeId() == type.id())
            {
                sum += counter.value();
            }
        }
        return sum;
    }

    /**
     * @return its append latencies since it opened the store, or null if it does not record them
     * ({@code VarveConfig.Builder.recordAppendLatency}) or has not published any yet.
     */
    public AppendLatency appendLatency()
    {
        return latency;
    }

    /**
     * @return its append latencies over its last publication period (about a second), or null.
     */
    public AppendLatency intervalAppendLatency()
    {
        return intervalLatency;
    }

    @Override
    public String toString()
    {
        return "ProcessCounters{pid=" + pid + ", role=" + role + ", state=" + state + ", counters=" + counters + "}";
    }
}
