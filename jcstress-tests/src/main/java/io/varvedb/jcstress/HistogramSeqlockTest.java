package io.varvedb.jcstress;

import io.varvedb.internal.counters.CountersFileDescriptor;
import io.varvedb.internal.counters.HistogramBlobs;
import io.varvedb.internal.counters.LatencyRecorder;
import org.HdrHistogram.Histogram;
import org.agrona.concurrent.UnsafeBuffer;
import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Arbiter;
import org.openjdk.jcstress.annotations.Description;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.J_Result;

import java.nio.ByteBuffer;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE_INTERESTING;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

/**
 * {@code varve stat} reads an instance's append latency histogram while the instance publishes a new one over it.
 * The publication is a seqlock: the sequence goes odd (release, then a store-store fence) before any byte changes,
 * and even again (release) after the last; the reader reads the sequence (acquire), the bytes, a load-load fence, and
 * the sequence again. So what it returns is the old histogram or the new one, whole; a torn mix would decode to a
 * wrong count, or not at all.
 * <p>
 * Result: the count of the histogram read (10 before, 15 after), -1 if the reader gave up while the writer wrote,
 * -2 if it read bytes that do not decode.
 */
@JCStressTest
@Description("a latency histogram read while it is republished: the old one or the new one, whole")
@Outcome(id = "10", expect = ACCEPTABLE, desc = "the histogram before the publication")
@Outcome(id = "15", expect = ACCEPTABLE, desc = "the histogram after the publication")
@Outcome(id = "-1", expect = ACCEPTABLE_INTERESTING, desc = "the reader gave up while the writer wrote")
@Outcome(expect = FORBIDDEN, desc = "a torn histogram")
public class HistogramSeqlockTest
{
    private static final int DESCRIPTOR = 0;
    private static final int BODY = CountersFileDescriptor.HEADER_LENGTH;

    /**
     * A region whose owner published 10 latencies and recorded 5 more.
     */
    @State
    public static class S
    {
        final UnsafeBuffer file = new UnsafeBuffer(
            new byte[BODY + 2 * CountersFileDescriptor.HISTOGRAM_LENGTH]);
        final UnsafeBuffer descriptor = new UnsafeBuffer(file, DESCRIPTOR, CountersFileDescriptor.DESCRIPTOR_LENGTH);
        final LatencyRecorder recorder = LatencyRecorder.create();
        final io.varvedb.internal.counters.LatencySink sink = recorder.newSink(false);
        byte[][] read;

        /**
         * Publish the first 10; record 5 more, unpublished.
         */
        public S()
        {
            for (int i = 0; i < 10; i++)
            {
                sink.record(1_000 + i * 1_000_000L);
            }
            recorder.publish(descriptor, file, BODY);
            for (int i = 0; i < 5; i++)
            {
                sink.record(50_000_000L + i * 7_000_000L);
            }
        }
    }

    /**
     * @param s the state.
     */
    @Actor
    public void publisher(final S s)
    {
        s.recorder.publish(s.descriptor, s.file, BODY);
    }

    /**
     * @param s the state.
     */
    @Actor
    public void reader(final S s)
    {
        s.read = HistogramBlobs.read(s.file, DESCRIPTOR, BODY);
    }

    /**
     * @param s the state.
     * @param r result.
     */
    @Arbiter
    public void decode(final S s, final J_Result r)
    {
        if (s.read == null)
        {
            r.r1 = -1;
            return;
        }
        try
        {
            r.r1 = Histogram.decodeFromCompressedByteBuffer(ByteBuffer.wrap(s.read[0]), 0).getTotalCount();
        }
        catch (final Exception | Error ex)
        {
            r.r1 = -2;
        }
    }
}
