package io.varvedb.jcstress;

import io.varvedb.VarveDB;
import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Arbiter;
import org.openjdk.jcstress.annotations.Description;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.IIII_Result;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

/**
 * Two threads create the same new stream name at once, each through its own appender (the lock-free path: a CAS
 * on the name table's counter, a release store publishing the entry, a CAS on the hash slot). Exactly one entry
 * wins the slot; both threads must get its id, a lookup afterwards must find it, and the id must name the name.
 * <p>
 * Result: r1 = 1 if both actors got the same id; r2 = 1 if a lookup afterwards finds that id; r3 = 1 if the id
 * reads back as the name; r4 = 1 if the id is a named one (negative).
 */
@JCStressTest
@Description("A name created concurrently by two threads gets one id")
@Outcome(id = "1, 1, 1, 1", expect = ACCEPTABLE, desc = "one id for the name, found and named back")
@Outcome(expect = FORBIDDEN, desc = "two ids for one name, or an id that does not name it")
public class NameCreationRaceTest
{
    private static final StorePool POOL = StorePool.builder("name-race").build();

    /**
     * One name that does not exist yet.
     */
    @State
    public static class S
    {
        final StorePool.Lease lease = POOL.lease();
        final String name = "order-" + lease.ordinal();
        long id1;
        long id2;
    }

    /**
     * @param s the state.
     */
    @Actor
    public void actor1(final S s)
    {
        s.id1 = s.lease.appender(0).streamId(s.name);
    }

    /**
     * @param s the state.
     */
    @Actor
    public void actor2(final S s)
    {
        s.id2 = s.lease.appender(1).streamId(s.name);
    }

    /**
     * @param s the state.
     * @param r result.
     */
    @Arbiter
    public void arbiter(final S s, final IIII_Result r)
    {
        try
        {
            final VarveDB db = s.lease.db();
            r.r1 = s.id1 == s.id2 ? 1 : 0;
            r.r2 = db.findStreamId(s.name) == s.id1 ? 1 : 0;
            r.r3 = s.name.equals(db.streamName(s.id1)) ? 1 : 0;
            r.r4 = s.id1 < 0 ? 1 : 0;
        }
        finally
        {
            s.lease.release();
        }
    }
}
