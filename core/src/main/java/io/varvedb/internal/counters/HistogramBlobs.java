package io.varvedb.internal.counters;

import org.agrona.concurrent.UnsafeBuffer;

import java.lang.invoke.VarHandle;

import static io.varvedb.internal.counters.CountersFileDescriptor.*;

/**
 * Reads the latency histograms a region's owner published ({@link LatencyRecorder#publish}), as encoded bytes: no
 * HdrHistogram needed to read them, only to decode them.
 */
public final class HistogramBlobs
{
    private static final int READ_ATTEMPTS = 64;

    private HistogramBlobs()
    {
    }

    /**
     * Read the histograms a region's owner published, whole: a seqlock read, tried again while the owner writes.
     *
     * @param file         the file's mapping.
     * @param descriptor   offset of the region's descriptor in the file.
     * @param regionOffset offset of the region's body in the file.
     * @return {@code {total, interval}} encodings ({@code interval} may be empty), or null if none were published
     * (or the owner kept writing while this read).
     */
    public static byte[][] read(final UnsafeBuffer file, final int descriptor, final int regionOffset)
    {
        for (int attempt = 0; attempt < READ_ATTEMPTS; attempt++)
        {
            // acquire: pairs with the writer's release of an even sequence, after the bytes it covers
            final long sequence = file.getLongVolatile(descriptor + HISTOGRAM_SEQUENCE_OFFSET);
            if ((sequence & 1) != 0)
            {
                Thread.onSpinWait();
                continue;
            }
            final int totalLength = file.getInt(descriptor + TOTAL_HISTOGRAM_LENGTH_OFFSET);
            final int intervalLength = file.getInt(descriptor + INTERVAL_HISTOGRAM_LENGTH_OFFSET);
            if (totalLength <= 0 || totalLength > HISTOGRAM_LENGTH || intervalLength < 0 ||
                intervalLength > HISTOGRAM_LENGTH)
            {
                // nothing published yet, or lengths torn by a write in progress: the sequence check says which
                VarHandle.acquireFence();
                if (file.getLongVolatile(descriptor + HISTOGRAM_SEQUENCE_OFFSET) == sequence)
                {
                    return null;
                }
                continue;
            }
            final byte[] total = new byte[totalLength];
            file.getBytes(regionOffset + TOTAL_HISTOGRAM_OFFSET, total);
            final byte[] interval = new byte[intervalLength];
            file.getBytes(regionOffset + INTERVAL_HISTOGRAM_OFFSET, interval);
            // a seqlock: the bytes are read before the sequence is looked at again (a load-load fence)
            VarHandle.acquireFence();
            if (file.getLongVolatile(descriptor + HISTOGRAM_SEQUENCE_OFFSET) == sequence)
            {
                return new byte[][] { total, interval };
            }
        }
        return null;
    }
}
