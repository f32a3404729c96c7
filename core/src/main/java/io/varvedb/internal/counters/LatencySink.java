package io.varvedb.internal.counters;

/**
 * Where one appender records its append latencies (no HdrHistogram type here, so the appender never loads it
 * when latencies are not recorded).
 */
public interface LatencySink
{
    /**
     * @param nanos one append's latency.
     */
    void record(long nanos);
}
