package io.varvedb.jcstress;

import io.varvedb.ExpectedVersion;
import io.varvedb.VarveDB;
import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Arbiter;
import org.openjdk.jcstress.annotations.Description;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.JJJ_Result;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

/**
 * {@code streamVersion} read twice while one append moves a stream from version 10 to 11: the reader must see
 * 10 or 11 each time, and never 11 then 10. This is the read an application makes before deciding and appending
 * with {@code exact(version)}, so a value that is neither the old nor the new version (or that goes backwards)
 * would make it decide on a state the stream never had.
 * <p>
 * Result: r1, r2 = the reader's two reads; r3 = the version afterwards.
 */
@JCStressTest
@Description("streamVersion racing an append from 10 to 11: only 10 or 11, never backwards")
@Outcome(id = "10, 10, 11", expect = ACCEPTABLE, desc = "both reads before the commit")
@Outcome(id = "10, 11, 11", expect = ACCEPTABLE, desc = "the commit between the reads")
@Outcome(id = "11, 11, 11", expect = ACCEPTABLE, desc = "both reads after the commit")
@Outcome(expect = FORBIDDEN, desc = "a version the stream never had, or the version going backwards")
public class StreamVersionTest
{
    private static final int STREAMS = 1;
    private static final int PRELOADED = 10;
    private static final int LENGTH = 48;
    private static final int WRITER = 1;
    private static final int SETUP_WRITER = 9;
    private static final StorePool POOL = StorePool.builder("stream-version").build();

    /**
     * One stream at version 10.
     */
    @State
    public static class S
    {
        final StorePool.Lease lease = POOL.lease();
        final long streamId = lease.streamId(STREAMS, 0);
        final byte[] payload = Events.payload(streamId, WRITER, LENGTH);

        /**
         * Fill the stream to version 10.
         */
        public S()
        {
            lease.preload(streamId, PRELOADED, SETUP_WRITER, Events.payload(streamId, SETUP_WRITER, LENGTH));
        }
    }

    /**
     * @param s the state.
     */
    @Actor
    public void writer(final S s)
    {
        s.lease.appender(0).append(s.streamId, ExpectedVersion.exact(PRELOADED), WRITER, s.payload);
    }

    /**
     * @param s the state.
     * @param r result.
     */
    @Actor
    public void reader(final S s, final JJJ_Result r)
    {
        final VarveDB db = s.lease.db();
        r.r1 = db.streamVersion(s.streamId);
        r.r2 = db.streamVersion(s.streamId);
    }

    /**
     * @param s the state.
     * @param r result.
     */
    @Arbiter
    public void arbiter(final S s, final JJJ_Result r)
    {
        try
        {
            r.r3 = s.lease.db().streamVersion(s.streamId);
        }
        finally
        {
            s.lease.release();
        }
    }
}
