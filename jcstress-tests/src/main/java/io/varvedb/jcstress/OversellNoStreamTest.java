package io.varvedb.jcstress;

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
 * The overselling race on a stream that does not exist yet: both actors append with {@code NO_STREAM}
 * ({@code exact(0)}), so both also race to create the stream's index slot. Exactly one may create the stream
 * (version 1); the other must get a conflict naming version 1.
 * <p>
 * Result: as {@link OversellExactTest}: r1, r2 = new version or minus the conflict's actual version; r3 = the
 * stream's version afterwards; r4 = writer of event 1 as read back, or a negative code.
 */
@JCStressTest
@Description("NO_STREAM appenders racing to create one stream: one wins, the loser's conflict carries version 1")
@Outcome(id = "1, -1, 1, 1", expect = ACCEPTABLE, desc = "actor 1 created the stream; actor 2 was refused at 1")
@Outcome(id = "-1, 1, 1, 2", expect = ACCEPTABLE, desc = "actor 2 created the stream; actor 1 was refused at 1")
@Outcome(expect = FORBIDDEN, desc = "both created it, none did, wrong conflict version, or a wrong event 1")
public class OversellNoStreamTest
{
    private static final int STREAMS = 1;
    private static final int LENGTH = 48;
    private static final StorePool POOL = StorePool.builder("oversell-new").build();

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
        r.r1 = OversellExactTest.Race.appendExact(s.lease, 0, s.streamId, 0, 1, s.payload1);
    }

    /**
     * @param s the state.
     * @param r result.
     */
    @Actor
    public void actor2(final S s, final JJJJ_Result r)
    {
        r.r2 = OversellExactTest.Race.appendExact(s.lease, 1, s.streamId, 0, 2, s.payload2);
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
            r.r4 = OversellExactTest.Race.writerOfLast(db, s.streamId, r.r3, 0, LENGTH);
        }
        finally
        {
            s.lease.release();
        }
    }
}
