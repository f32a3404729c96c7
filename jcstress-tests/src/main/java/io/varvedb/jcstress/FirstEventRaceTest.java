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
 * Two {@code ANY} appenders racing to write the first event of a stream that does not exist. A stream's first
 * append claims its log space and writes its record <em>before</em> it creates the stream and takes it with one
 * CAS from version 0; the loser of that CAS turns its record into padding and appends again, now behind the
 * winner. Both must succeed with versions 1 and 2, and the stream must read back as the two writers' events in
 * the order of their versions, at increasing log positions (per-stream order equals log order even though both
 * claimed before either held the stream).
 * <p>
 * Result: r1, r2 = the versions actor 1 and actor 2 got; r3 = the stream's version afterwards; r4 = the writers
 * of versions 1 and 2 as read back, as a two-digit number (12 = actor 1 then actor 2), or a negative code
 * ({@link #OUT_OF_LOG_ORDER} when version 2 lies before version 1 in the log).
 */
@JCStressTest
@Description("ANY appenders racing on a new stream: versions 1 and 2, whole, in log order, never a duplicate")
@Outcome(id = "1, 2, 2, 12", expect = ACCEPTABLE, desc = "actor 1 created the stream")
@Outcome(id = "2, 1, 2, 21", expect = ACCEPTABLE, desc = "actor 2 created the stream")
@Outcome(expect = FORBIDDEN, desc = "a version given twice, an event lost, torn, or out of log order")
public class FirstEventRaceTest
{
    /** r4 when the later version was read back at an earlier log position. */
    static final long OUT_OF_LOG_ORDER = -200;
    private static final int STREAMS = 1;
    private static final int LENGTH = 48;
    private static final int DIGIT = 10;
    private static final StorePool POOL = StorePool.builder("first-event").build();

    /**
     * One stream that does not exist yet.
     */
    @State
    public static class S
    {
        final StorePool.Lease lease = POOL.lease();
        final long streamId = lease.streamId(STREAMS, 0);
        final byte[] payload1 = Events.payload(streamId, 1, LENGTH);
        final byte[] payload2 = Events.payload(streamId, 2, LENGTH);
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
            final long[] lastPosition = {-1};
            final int[] seen = {0};
            final int delivered = db.readStream(s.streamId, 1, Integer.MAX_VALUE, (event) ->
            {
                seen[0]++;
                final int check = Events.check(event, s.streamId, seen[0], LENGTH, Events.SINGLE);
                if (check < 0 && error[0] == 0)
                {
                    error[0] = check;
                }
                else if (event.position() <= lastPosition[0] && error[0] == 0)
                {
                    error[0] = OUT_OF_LOG_ORDER;
                }
                else
                {
                    writers[0] = writers[0] * DIGIT + check;
                }
                lastPosition[0] = event.position();
            });
            r.r4 = error[0] != 0 ? error[0] : delivered == r.r3 ? writers[0] : OversellExactTest.WRONG_COUNT;
        }
        finally
        {
            s.lease.release();
        }
    }
}
