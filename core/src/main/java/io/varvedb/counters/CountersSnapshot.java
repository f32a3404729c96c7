package io.varvedb.counters;

import java.util.Collections;
import java.util.List;

/**
 * The counters of every store instance in {@code varve.counters}, read at one moment.
 */
public final class CountersSnapshot
{
    private final long takenAtNanos;
    private final long takenAtMillis;
    private final List<ProcessCounters> processes;

    CountersSnapshot(final long takenAtNanos, final long takenAtMillis, final List<ProcessCounters> processes)
    {
        this.takenAtNanos = takenAtNanos;
        this.takenAtMillis = takenAtMillis;
        this.processes = Collections.unmodifiableList(processes);
    }

    /**
     * @return {@link System#nanoTime()} when it was read, to turn two snapshots into rates.
     */
    public long takenAtNanos()
    {
        return takenAtNanos;
    }

    /**
     * @return when it was read, in epoch milliseconds.
     */
    public long takenAtMillis()
    {
        return takenAtMillis;
    }

    /**
     * @return every instance that has, or had, the store open and whose region no newer one has taken.
     */
    public List<ProcessCounters> processes()
    {
        return processes;
    }

    /**
     * @return true if an instance has the store open now.
     */
    public boolean anyRunning()
    {
        for (final ProcessCounters process : processes)
        {
            if (process.state() == ProcessState.RUNNING)
            {
                return true;
            }
        }
        return false;
    }

    /**
     * @param type a type.
     * @return the sum over every instance of its counters of that type.
     */
    public long total(final CounterType type)
    {
        long sum = 0;
        for (final ProcessCounters process : processes)
        {
            sum += process.total(type);
        }
        return sum;
    }
}
