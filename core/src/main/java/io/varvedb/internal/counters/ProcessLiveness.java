package io.varvedb.internal.counters;

import java.time.Instant;

/**
 * Whether the process that wrote a region is still the one running under its pid: a pid the system gave to a
 * new process since is told apart by the process's start time, where the system reports it.
 */
public final class ProcessLiveness
{
    /** Start times differ by rounding between what a process reported of itself and what another reads of it. */
    private static final long START_TOLERANCE_MS = 1_000;

    private ProcessLiveness()
    {
    }

    /**
     * @param pid          a process id.
     * @param startEpochMs its start time as it reported it, 0 if unknown.
     * @return true if a process with that id runs and, where both start times are known, started then.
     */
    public static boolean alive(final long pid, final long startEpochMs)
    {
        if (pid <= 0)
        {
            return false;
        }
        return ProcessHandle.of(pid).map((handle) ->
        {
            if (!handle.isAlive())
            {
                return false;
            }
            final long start = handle.info().startInstant().map(Instant::toEpochMilli).orElse(0L);
            return startEpochMs == 0 || start == 0 || Math.abs(start - startEpochMs) <= START_TOLERANCE_MS;
        }).orElse(false);
    }

    /**
     * @return this process's start time in epoch milliseconds, 0 if the system does not say.
     */
    public static long selfStart()
    {
        return ProcessHandle.current().info().startInstant().map(Instant::toEpochMilli).orElse(0L);
    }
}
