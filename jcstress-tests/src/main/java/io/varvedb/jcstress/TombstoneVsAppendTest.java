package io.varvedb.jcstress;

import io.varvedb.Appender;
import io.varvedb.ExpectedVersion;
import io.varvedb.StreamDeletedException;
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
 * A tombstone racing an append with {@code ANY}: the tombstone is committed by the same CAS an append takes, and
 * its state (TOMBSTONED) is published with a release store that an appender's acquire load of the slot sees. So
 * either the append wins (version 3) and the tombstone follows it (version 4), or the tombstone wins (version 3)
 * and the append is refused; an event after a tombstone, or a tombstone lost, is impossible.
 * <p>
 * Result: r1 = the append's version, or -1 if refused with StreamDeletedException; r2 = the tombstone's version;
 * r3 = the stream's events in the log after the preload (tombstone included), read through the global log; negative
 * if the tombstone is not the last of them.
 */
@JCStressTest
@Description("a tombstone racing an append: the append lands before the tombstone or is refused, never after it")
@Outcome(id = "3, 4, 2", expect = ACCEPTABLE, desc = "the append came first; the tombstone is the last event")
@Outcome(id = "-1, 3, 1", expect = ACCEPTABLE, desc = "the tombstone came first; the append was refused")
@Outcome(expect = FORBIDDEN, desc = "an event after the tombstone, or an event lost")
public class TombstoneVsAppendTest
{
    private static final int PRELOADED = 2;
    private static final int LENGTH = 48;
    private static final int SETUP_WRITER = 9;
    private static final StorePool POOL = StorePool.builder("tombstone").build();

    /**
     * One stream at version 2.
     */
    @State
    public static class S
    {
        final StorePool.Lease lease = POOL.lease();
        final long streamId = lease.streamId(1, 0);
        final byte[] payload = Events.payload(streamId, 1, LENGTH);
        final long from;

        /**
         * Fill the stream to version 2.
         */
        public S()
        {
            lease.preload(streamId, PRELOADED, SETUP_WRITER, Events.payload(streamId, SETUP_WRITER, LENGTH));
            from = lease.db().tailPosition();
        }
    }

    /**
     * @param s the state.
     * @param r result.
     */
    @Actor
    public void appender(final S s, final JJJ_Result r)
    {
        final Appender appender = s.lease.appender(0);
        try
        {
            r.r1 = appender.append(s.streamId, ExpectedVersion.ANY, 1, s.payload);
        }
        catch (final StreamDeletedException ex)
        {
            r.r1 = -1;
        }
    }

    /**
     * @param s the state.
     * @param r result.
     */
    @Actor
    public void tombstone(final S s, final JJJ_Result r)
    {
        r.r2 = s.lease.db().tombstoneStream(s.streamId, ExpectedVersion.ANY);
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
            // events[0]: the stream's events after the preload; events[1]: 1 while the last of them is a tombstone
            final long[] events = new long[2];
            db.readAll(s.from, Integer.MAX_VALUE, (event) ->
            {
                if (event.streamId() == s.streamId)
                {
                    events[0]++;
                    events[1] = event.isTombstone() ? 1 : 0;
                }
            });
            r.r3 = events[1] == 1 ? events[0] : -events[0];
        }
        finally
        {
            s.lease.release();
        }
    }
}
