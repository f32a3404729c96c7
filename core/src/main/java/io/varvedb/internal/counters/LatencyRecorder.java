package io.varvedb.internal.counters;

import org.HdrHistogram.Histogram;
import org.HdrHistogram.Recorder;
import org.HdrHistogram.SingleWriterRecorder;
import org.agrona.concurrent.UnsafeBuffer;

import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;

import static io.varvedb.internal.counters.CountersFileDescriptor.*;

/**
 * Append latencies, recorded only when the store is configured to ({@code VarveConfig.Builder.recordAppendLatency}):
 * each appender's counters carry an HdrHistogram {@link SingleWriterRecorder} of their own (wait-free, no allocation,
 * no cache line shared with another appender), appenders without counters of their own share one {@link Recorder},
 * and the background work gathers their intervals and publishes them, and their running total, into the instance's region of {@code varve.counters} in
 * HdrHistogram's compressed encoding, where {@code varve stat} reads them. HdrHistogram is an optional dependency
 * of core: only this class uses it, and only when latencies are recorded.
 */
public final class LatencyRecorder
{
    private static final int SIGNIFICANT_DIGITS = 3;
    private static final int COMPRESSION_LEVEL = 6;

    /** Every recorder handed out, gathered at each publication. */
    private final java.util.List<Object> recorders = new java.util.concurrent.CopyOnWriteArrayList<>();
    private Histogram scratchInterval;
    private final Histogram total = new Histogram(SIGNIFICANT_DIGITS);
    private final ByteBuffer scratch = ByteBuffer.allocate(HISTOGRAM_LENGTH * 2);
    private Histogram interval;

    private LatencyRecorder()
    {
    }

    /**
     * @return a new recorder.
     */
    public static LatencyRecorder create()
    {
        return new LatencyRecorder();
    }

    /**
     * @throws IllegalStateException if HdrHistogram is not on the class path.
     */
    static void checkAvailable()
    {
        try
        {
            Class.forName("org.HdrHistogram.Recorder", false, LatencyRecorder.class.getClassLoader());
        }
        catch (final ClassNotFoundException ex)
        {
            throw new IllegalStateException("recordAppendLatency(true) needs HdrHistogram on the class path " +
                "(org.hdrhistogram:HdrHistogram:2.2.2); add it, or leave append latencies unrecorded", ex);
        }
    }

    /**
     * A recorder for one appender's counters (one writer at a time), or for the appenders that share theirs.
     *
     * @param shared true for the shared counters (any number of writers).
     * @return where to record.
     */
    public LatencySink newSink(final boolean shared)
    {
        if (shared)
        {
            final Recorder recorder = new Recorder(SIGNIFICANT_DIGITS);
            recorders.add(recorder);
            return (nanos) -> recorder.recordValue(Math.max(0, nanos));
        }
        final SingleWriterRecorder recorder = new SingleWriterRecorder(SIGNIFICANT_DIGITS);
        recorders.add(recorder);
        return (nanos) -> recorder.recordValue(Math.max(0, nanos));
    }

    /**
     * Write the last interval and the running total into a region (one thread at a time: the background work, or
     * the closing thread after it stopped).
     *
     * @param descriptor   the region's descriptor.
     * @param file         the file's mapping.
     * @param regionOffset where the region's body starts in the file.
     */
    public synchronized void publish(final UnsafeBuffer descriptor, final UnsafeBuffer file, final int regionOffset)
    {
        if (interval == null)
        {
            interval = new Histogram(SIGNIFICANT_DIGITS);
        }
        interval.reset();
        if (scratchInterval == null)
        {
            scratchInterval = new Histogram(SIGNIFICANT_DIGITS);
        }
        for (final Object recorder : recorders)
        {
            if (recorder instanceof SingleWriterRecorder)
            {
                ((SingleWriterRecorder)recorder).getIntervalHistogramInto(scratchInterval);
            }
            else
            {
                ((Recorder)recorder).getIntervalHistogramInto(scratchInterval);
            }
            interval.add(scratchInterval);
        }
        total.add(interval);
        final int totalLength = encode(total);
        if (totalLength < 0)
        {
            return;
        }
        final long sequence = descriptor.getLong(HISTOGRAM_SEQUENCE_OFFSET);
        descriptor.putLongRelease(HISTOGRAM_SEQUENCE_OFFSET, sequence + 1);
        // a seqlock: the odd sequence is visible before any byte of the histograms changes
        VarHandle.storeStoreFence();
        file.putBytes(regionOffset + TOTAL_HISTOGRAM_OFFSET, scratch, 0, totalLength);
        descriptor.putInt(TOTAL_HISTOGRAM_LENGTH_OFFSET, totalLength);
        final int intervalLength = encode(interval);
        if (intervalLength >= 0)
        {
            file.putBytes(regionOffset + INTERVAL_HISTOGRAM_OFFSET, scratch, 0, intervalLength);
        }
        descriptor.putInt(INTERVAL_HISTOGRAM_LENGTH_OFFSET, Math.max(0, intervalLength));
        descriptor.putLong(HISTOGRAM_AT_OFFSET, System.currentTimeMillis());
        // release: a reader that sees the even sequence sees both histograms whole
        descriptor.putLongRelease(HISTOGRAM_SEQUENCE_OFFSET, sequence + 2);
    }

    private int encode(final Histogram histogram)
    {
        scratch.clear();
        final int length = histogram.encodeIntoCompressedByteBuffer(scratch, COMPRESSION_LEVEL);
        return length <= HISTOGRAM_LENGTH ? length : -1;
    }
}
