package io.varvedb;

/**
 * How a writable store runs its background work (set with {@link VarveConfig.Builder#backgroundThreading}): the
 * flusher (group-commit forces in {@link Durability#GROUP_COMMIT}, periodic index checkpoints in every mode), the
 * pre-allocator (log space and index blocks made ahead of the appenders, unless
 * {@link VarveConfig.Builder#preallocate pre-allocation} is off) and, with
 * {@link VarveConfig.Builder#multiProcess multiProcess(true)}, the repairer (what dead writer processes left). A
 * read-only store has no background work and starts no thread in any mode.
 * <p>
 * Each task keeps its own cadence in every mode: the flusher forces every
 * {@link VarveConfig.Builder#flushIntervalMicros flushIntervalMicros} and checkpoints every
 * {@link VarveConfig.Builder#checkpointIntervalMillis checkpointIntervalMillis}, the pre-allocator looks every
 * 5 ms (at once when an appender had to allocate log space itself), the repairer every 10 ms. A duty cycle runs the
 * tasks that are due and returns at once otherwise, so calling it more often than that costs a few reads of the
 * clock, not more forces.
 */
public enum BackgroundThreading
{
    /**
     * One thread per task (two, three in multi-process mode), each parked between duty cycles: the default. Costs
     * the threads; a slow force never delays the pre-allocator.
     */
    DEDICATED,
    /**
     * One thread runs every task in turn. One thread for the store; a long force (milliseconds on a slow disk)
     * delays pre-allocation and repairs by as much. A task that fails is reported on its own and never keeps the
     * others from running.
     */
    SHARED,
    /**
     * The store starts no background thread: the application runs the work from its own duty cycle, with
     * {@link VarveDB#doBackgroundWork()} or the Agrona {@link org.agrona.concurrent.Agent} of
     * {@link VarveDB#backgroundAgent()}. The thread factory and idle strategy of the config, if set, are not
     * used. The calling thread does the forces, the log allocation and the page touches: a call may take
     * milliseconds on a slow disk (or with the zero-fill that replaces {@code fallocate} without JNA), so keep it
     * off a thread that must never block. Work not done in time is done late, never wrongly: appenders then
     * allocate log space themselves (a
     * latency spike on their thread), group-commit forces and index checkpoints come late (durability lags, a
     * recovery scans further), and repairs of dead writer processes wait.
     */
    INVOKED
}
