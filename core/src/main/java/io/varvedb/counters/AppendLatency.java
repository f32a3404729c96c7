package io.varvedb.counters;

import java.nio.ByteBuffer;

/**
 * Append latencies of one store instance, as its last publication left them (about once a second): a
 * histogram in HdrHistogram's compressed encoding, decoded on first use. Decoding needs HdrHistogram
 * ({@code org.hdrhistogram:HdrHistogram}) on the class path.
 */
public final class AppendLatency
{
    private final byte[] encoded;
    private final long publishedAtMillis;
    private Object histogram;

    AppendLatency(final byte[] encoded, final long publishedAtMillis)
    {
        this.encoded = encoded;
        this.publishedAtMillis = publishedAtMillis;
    }

    /**
     * @return the histogram in HdrHistogram's compressed encoding
     * ({@code Histogram.decodeFromCompressedByteBuffer}).
     */
    public byte[] encoded()
    {
        return encoded.clone();
    }

    /**
     * @return when it was published, in epoch milliseconds.
     */
    public long publishedAtMillis()
    {
        return publishedAtMillis;
    }

    /**
     * @return appends recorded.
     */
    public long count()
    {
        return decoded().getTotalCount();
    }

    /**
     * @param percentile 0 to 100.
     * @return the latency at that percentile, in nanoseconds.
     */
    public long valueAtPercentile(final double percentile)
    {
        return decoded().getValueAtPercentile(percentile);
    }

    /**
     * @return the longest latency recorded, in nanoseconds.
     */
    public long max()
    {
        return decoded().getMaxValue();
    }

    /**
     * @return the mean latency, in nanoseconds.
     */
    public double mean()
    {
        return decoded().getMean();
    }

    private org.HdrHistogram.Histogram decoded()
    {
        if (histogram == null)
        {
            try
            {
                histogram = org.HdrHistogram.Histogram.decodeFromCompressedByteBuffer(ByteBuffer.wrap(encoded), 0);
            }
            catch (final java.util.zip.DataFormatException ex)
            {
                throw new IllegalStateException("a damaged latency histogram in varve.counters", ex);
            }
        }
        return (org.HdrHistogram.Histogram)histogram;
    }
}
