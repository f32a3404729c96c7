package io.varvedb.jcstress;

import io.varvedb.Appender;
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
 * Exactly-once appends: two actors append the same event id to the same stream at once (a retry racing the
 * original, with {@code ANY}). Exactly one writes the event; the other gets the duplicate answer, the same version,
 * and writes nothing, whichever of the id table's states it meets (free, pending, committed). The stream already
 * holds events, so the race is on an existing stream's pending state as well as on the id's slot.
 * <p>
 * Result: r1, r2 = what each actor got: ten times the version, plus 1 if it was told the append was a duplicate;
 * r3 = events in the stream afterwards carrying the id (read back from the log).
 */
@JCStressTest
@Description("the same event id appended by two actors at once: written once, the other told it is a duplicate")
@Outcome(id = "30, 31, 1", expect = ACCEPTABLE, desc = "actor 1 wrote it; actor 2 got the duplicate answer")
@Outcome(id = "31, 30, 1", expect = ACCEPTABLE, desc = "actor 2 wrote it; actor 1 got the duplicate answer")
@Outcome(expect = FORBIDDEN, desc = "written twice, lost, or a wrong version or duplicate flag reported")
public class EventIdRaceTest
{
    private static final int PRELOADED = 2;
    private static final int LENGTH = 48;
    private static final int SETUP_WRITER = 9;
    private static final StorePool POOL = StorePool.builder("event-id").build();

    /**
     * One stream at version 2, and an id of this state's own.
     */
    @State
    public static class S
    {
        final StorePool.Lease lease = POOL.lease();
        final long streamId = lease.streamId(1, 0);
        final long idHigh = 0x5EED;
        final long idLow = streamId;
        final byte[] payload = Events.payload(streamId, 1, LENGTH);

        /**
         * Fill the stream to version 2.
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
    public void actor1(final S s, final JJJ_Result r)
    {
        final Appender appender = s.lease.appender(0);
        final long version = appender.append(s.streamId, ExpectedVersion.ANY, 1, s.idHigh, s.idLow, s.payload);
        r.r1 = version * 10 + (appender.lastWasDuplicate() ? 1 : 0);
    }

    /**
     * @param s the state.
     * @param r result.
     */
    @Actor
    public void actor2(final S s, final JJJ_Result r)
    {
        final Appender appender = s.lease.appender(1);
        final long version = appender.append(s.streamId, ExpectedVersion.ANY, 1, s.idHigh, s.idLow, s.payload);
        r.r2 = version * 10 + (appender.lastWasDuplicate() ? 1 : 0);
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
            final VarveDB db = s.lease.db();
            final long[] carrying = new long[1];
            db.readStream(s.streamId, 1, Integer.MAX_VALUE, (event) ->
            {
                if (event.eventIdHigh() == s.idHigh && event.eventIdLow() == s.idLow)
                {
                    carrying[0]++;
                }
            });
            r.r3 = carrying[0];
        }
        finally
        {
            s.lease.release();
        }
    }
}
