package io.varvedb.jcstress;

import io.varvedb.internal.counters.CountersFile;
import io.varvedb.internal.counters.CountersFileDescriptor;
import io.varvedb.internal.counters.ProcessLiveness;
import org.agrona.concurrent.UnsafeBuffer;
import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Description;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.II_Result;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

/**
 * Two store instances (processes, in life) take a region of varve.counters at once, with one region left free:
 * the region is taken by a CAS of its state word (state and pid in one long), so exactly one of them gets it and the other finds every region
 * held by a live owner and runs without counters. Two owners of one region would write each other's counters.
 * <p>
 * Result: each instance's region, or -1 for none.
 */
@JCStressTest
@Description("two instances claiming the last free region of varve.counters: one gets it, never both")
@Outcome(id = "15, -1", expect = ACCEPTABLE, desc = "the first took it; the second runs without counters")
@Outcome(id = "-1, 15", expect = ACCEPTABLE, desc = "the second took it; the first runs without counters")
@Outcome(expect = FORBIDDEN, desc = "both own one region, or a region was lost")
public class CountersRegionClaimTest
{
    private static final long PID = ProcessHandle.current().pid();
    private static final long START = ProcessLiveness.selfStart();

    /**
     * The header page of a counters file whose regions but the last are held by a live instance (this process).
     */
    @State
    public static class S
    {
        final UnsafeBuffer buffer = new UnsafeBuffer(new byte[CountersFileDescriptor.HEADER_LENGTH]);

        /**
         * Hold all regions but the last.
         */
        public S()
        {
            CountersFileDescriptor.writeHeader(buffer);
            for (int r = 0; r < CountersFileDescriptor.REGIONS - 1; r++)
            {
                final int d = CountersFileDescriptor.descriptorOffset(r);
                buffer.putLong(d + CountersFileDescriptor.OWNER_OFFSET, r + 1);
                buffer.putLong(d + CountersFileDescriptor.PID_OFFSET, PID);
                buffer.putLong(d + CountersFileDescriptor.PROCESS_START_OFFSET, START);
                buffer.putLong(d + CountersFileDescriptor.STATE_OFFSET,
                    CountersFileDescriptor.stateWord(PID, CountersFileDescriptor.OPEN));
            }
        }
    }

    /**
     * @param s the state.
     * @param r result.
     */
    @Actor
    public void first(final S s, final II_Result r)
    {
        final long[] claimed = CountersFile.claim(s.buffer, CountersFileDescriptor.ROLE_WRITER);
        r.r1 = claimed == null ? -1 : (int)claimed[0];
    }

    /**
     * @param s the state.
     * @param r result.
     */
    @Actor
    public void second(final S s, final II_Result r)
    {
        final long[] claimed = CountersFile.claim(s.buffer, CountersFileDescriptor.ROLE_READER);
        r.r2 = claimed == null ? -1 : (int)claimed[0];
    }
}
