package io.varvedb.jcstress;

import io.varvedb.ExpectedVersion;
import io.varvedb.VarveDB;
import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Arbiter;
import org.openjdk.jcstress.annotations.Description;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.JJJJ_Result;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

/**
 * Two {@code ANY} appenders racing on one stream that already holds {@link #PRELOADED} events: both must succeed,
 * one with version n+1 and the other with n+2, never both with the same version, and the stream must read back
 * as n+2 events whose last two are the two writers' in the order of the versions they were given.
 * <p>
 * Result: r1, r2 = the versions actor 1 and actor 2 got; r3 = the stream's version afterwards; r4 = the writers
 * of versions n+1 and n+2 as read back, as a two-digit number (12 = actor 1 then actor 2), or a negative code.
 */
@JCStressTest
@Description("ANY appenders on one stream: versions n+1 and n+2 in some order, never the same version twice")
@Outcome(id = "4, 5, 5, 12", expect = ACCEPTABLE, desc = "actor 1 appended first")
@Outcome(id = "5, 4, 5, 21", expect = ACCEPTABLE, desc = "actor 2 appended first")
@Outcome(expect = FORBIDDEN, desc = "a version given twice, an event lost or torn, or read back out of order")
public class AnyAppendersTest
{
    /** Events in the stream before the race. */
    static final int PRELOADED = 3;
    private static final int STREAMS = 1;
    private static final int LENGTH = 48;
    private static final int SETUP_WRITER = 9;
    private static final int DIGIT = 10;
    private static final StorePool POOL = StorePool.builder("any").build();

    /**
     * One stream at version 3.
     */
    @State
    public static class S
    {
        final StorePool.Lease lease = POOL.lease();
        final long streamId = lease.streamId(STREAMS, 0);
        final byte[] payload1 = Events.payload(streamId, 1, LENGTH);
        final byte[] payload2 = Events.payload(streamId, 2, LENGTH);

        /**
         * Fill the stream to version 3.
         */
        public S()
        {
            lease.preload(streamId, PRELOADED, SETUP_WRITER, Events.payload(streamId, SETUP_WRITER, LENGTH));
        }
    }

    /**
     * @param s the state.
     * @param r result.
     */
    @Actor
    public void actor1(final S s, final JJJJ_Result r)
    {
        r.r1 = s.lease.appender(0).append(s.streamId, ExpectedVersion.ANY, 1, s.payload1);
    }

    /**
     * @param s the state.
     * @param r result.
     */
    @Actor
    public void actor2(final S s, final JJJJ_Result r)
    {
        r.r2 = s.lease.appender(1).append(s.streamId, ExpectedVersion.ANY, 2, s.payload2);
    }

    /**
     * @param s the state.
     * @param r result.
     */
    @Arbiter
    public void arbiter(final S s, final JJJJ_Result r)
    {
        try
        {
            final VarveDB db = s.lease.db();
            r.r3 = db.streamVersion(s.streamId);
            final long[] writers = {0};
            final long[] error = {0};
            final int[] seen = {0};
            final int delivered = db.readStream(s.streamId, 1, Integer.MAX_VALUE, (event) ->
            {
                seen[0]++;
                final short flags = seen[0] <= PRELOADED ? Events.batchFlags(seen[0] - 1, PRELOADED) : Events.SINGLE;
                final int check = Events.check(event, s.streamId, seen[0], LENGTH, flags);
                if (check < 0 && error[0] == 0)
                {
                    error[0] = check;
                }
                else if (seen[0] > PRELOADED)
                {
                    writers[0] = writers[0] * DIGIT + check;
                }
            });
            r.r4 = error[0] != 0 ? error[0] : delivered == r.r3 ? writers[0] : OversellExactTest.WRONG_COUNT;
        }
        finally
        {
            s.lease.release();
        }
    }
}
