package io.varvedb.jcstress;

import io.varvedb.ConcurrencyConflictException;
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
 * The overselling race of the README: a stream holds 10 events; two actors both read "version 10", decide, and
 * append with {@code exact(10)}. Exactly one may win (version 11); the other must get a conflict that names the
 * winner's version, 11, and write nothing. The arbiter reads the stream back.
 * <p>
 * Result: r1, r2 = what actor 1 and actor 2 got: the new version, or minus the conflict's actual version;
 * r3 = the stream's version afterwards; r4 = who wrote event 11 as read back (its writer's number), or a negative
 * {@link Events} code, or {@link #WRONG_COUNT} when readStream does not deliver exactly r3 events.
 */
@JCStressTest
@Description("exact(10) appenders racing on one stream: one wins, the loser's conflict carries the winner's version")
@Outcome(id = "11, -11, 11, 1", expect = ACCEPTABLE, desc = "actor 1 won; actor 2 was refused, seeing version 11")
@Outcome(id = "-11, 11, 11, 2", expect = ACCEPTABLE, desc = "actor 2 won; actor 1 was refused, seeing version 11")
@Outcome(expect = FORBIDDEN, desc = "oversold, lost, misreported or torn: both won, none won, wrong conflict " +
    "version, wrong stream length, or event 11 not the winner's")
public class OversellExactTest
{
    /** Events the stream holds before the race. */
    static final int PRELOADED = 10;
    /** Arbiter code: readStream did not deliver exactly streamVersion events. */
    static final long WRONG_COUNT = -100;
    private static final int STREAMS = 1;
    private static final int LENGTH = 48;
    private static final int SETUP_WRITER = 9;
    private static final StorePool POOL = StorePool.builder("oversell-exact").build();

    /**
     * One stream, already at version 10.
     */
    @State
    public static class S
    {
        final StorePool.Lease lease = POOL.lease();
        final long streamId = lease.streamId(STREAMS, 0);
        final byte[] payload1 = Events.payload(streamId, 1, LENGTH);
        final byte[] payload2 = Events.payload(streamId, 2, LENGTH);

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
     * @param r result.
     */
    @Actor
    public void actor1(final S s, final JJJJ_Result r)
    {
        r.r1 = Race.appendExact(s.lease, 0, s.streamId, PRELOADED, 1, s.payload1);
    }

    /**
     * @param s the state.
     * @param r result.
     */
    @Actor
    public void actor2(final S s, final JJJJ_Result r)
    {
        r.r2 = Race.appendExact(s.lease, 1, s.streamId, PRELOADED, 2, s.payload2);
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
            r.r4 = Race.writerOfLast(db, s.streamId, r.r3, PRELOADED, LENGTH);
        }
        finally
        {
            s.lease.release();
        }
    }

    /**
     * What both oversell tests do.
     */
    static final class Race
    {
        private Race()
        {
        }

        /**
         * @param lease    the state's store.
         * @param actor    appender to use.
         * @param streamId stream.
         * @param expected expected version.
         * @param writer   writer number.
         * @param payload  the writer's payload.
         * @return the new version, or minus the actual version the conflict reported.
         */
        static long appendExact(
            final StorePool.Lease lease, final int actor, final long streamId, final long expected, final int writer,
            final byte[] payload)
        {
            try
            {
                return lease.appender(actor).append(streamId, ExpectedVersion.exact(expected), writer, payload);
            }
            catch (final ConcurrencyConflictException ex)
            {
                if (ex.streamId() != streamId || ex.expectedVersion() != expected)
                {
                    return Long.MIN_VALUE;
                }
                return -ex.actualVersion();
            }
        }

        /**
         * @param db       store.
         * @param streamId stream.
         * @param version  the stream's version.
         * @param preloaded events the state preloaded as one batch.
         * @param length   payload length of every event.
         * @return writer of the last event, or a negative code.
         */
        static long writerOfLast(
            final VarveDB db, final long streamId, final long version, final int preloaded, final int length)
        {
            if (version < 1)
            {
                return WRONG_COUNT;
            }
            final long[] last = {WRONG_COUNT};
            final long[] error = {0};
            final int[] seen = {0};
            final int delivered = db.readStream(streamId, 1, Integer.MAX_VALUE, (event) ->
            {
                seen[0]++;
                final short flags = seen[0] <= preloaded ? Events.batchFlags(seen[0] - 1, preloaded) : Events.SINGLE;
                final int check = Events.check(event, streamId, seen[0], length, flags);
                if (check < 0 && error[0] == 0)
                {
                    error[0] = check;
                }
                else if (seen[0] == version)
                {
                    last[0] = check;
                }
            });
            if (error[0] != 0)
            {
                return error[0];
            }
            return delivered == version ? last[0] : WRONG_COUNT;
        }
    }
}
