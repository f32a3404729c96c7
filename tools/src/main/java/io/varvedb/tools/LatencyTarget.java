package io.varvedb.tools;

/**
 * What a fixed-rate latency run appends to: VarveDB, Chronicle Queue, or any other log. {@link FixedRateRun} owns
 * the schedule, the waiting and the timing; a target only says how one event is appended, so every system is paced
 * and measured by the same code and only the append differs.
 * <p>
 * A target is opened before the run and closed after it; it decides the payload and the streams. Each sending
 * thread gets its own {@link Writer}, created on that thread (appenders of VarveDB and Chronicle Queue belong to the
 * thread that made them).
 */
public interface LatencyTarget extends AutoCloseable
{
    /**
     * Called once per sending thread, on that thread, before the schedule starts.
     *
     * @param sender the sender's index, 0 to threads - 1: which stream it appends to is the target's choice.
     * @return the writer the sender appends with.
     * @throws Exception if the target cannot give a writer; the run then fails without sending anything.
     */
    Writer writer(int sender) throws Exception;

    /**
     * Told once, before the first send: the window of intended send times that are measured (warm-up before it).
     * A target that times something itself (a subscriber's delivery) uses it; most ignore it.
     *
     * @param measureFrom first measured intended send time, {@link System#nanoTime()} clock.
     * @param measureTo   end of the measured window, exclusive.
     */
    default void window(final long measureFrom, final long measureTo)
    {
    }

    /**
     * Release the target; unchecked failures only, so a run's own failure is not masked by a checked one.
     */
    @Override
    void close();

    /**
     * Appends for one sending thread.
     */
    interface Writer extends AutoCloseable
    {
        /**
         * Append one event and return when the target acknowledges it: the call that is timed.
         *
         * @param intendedNanos when the schedule meant it to be sent ({@link System#nanoTime()} clock), for a
         *                      target that carries it in the payload; the timing is the caller's.
         * @throws Exception on any failure: the sender stops and the run fails with it.
         */
        void append(long intendedNanos) throws Exception;

        /**
         * Release the writer, on the sender's thread.
         */
        @Override
        void close();
    }
}
