package io.varvedb.jcstress;

import io.varvedb.ExpectedVersion;
import io.varvedb.Subscription;
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
 * A subscription's catch-up-to-live hand-off racing the appends it follows. A stream subscription is created
 * before anything is appended to its (new) stream; the writer appends versions 1 and 2, each a third of a 64 KiB
 * segment so the pair usually crosses a segment boundary; the subscriber polls twice while that happens. Catch-up
 * and live are the same cursor, so whatever the interleaving, each poll may deliver only a prefix of what is not
 * yet delivered, whole, in version order; the arbiter then polls once more and must get exactly the rest.
 * <p>
 * Result: r1, r2 = events the subscriber's first and second polls delivered; r3 = 1 when every delivered event
 * (subscriber's and arbiter's) is whole and in order and the total is exactly 2, else a negative code.
 */
@JCStressTest
@Description("subscription hand-off: racing polls deliver prefixes, whole and in order; nothing lost or repeated")
@Outcome(id = "0, 0, 1", expect = ACCEPTABLE, desc = "both polls were early; the arbiter got both events")
@Outcome(id = "0, 1, 1", expect = ACCEPTABLE, desc = "the second poll got version 1")
@Outcome(id = "0, 2, 1", expect = ACCEPTABLE, desc = "the second poll got both")
@Outcome(id = "1, 0, 1", expect = ACCEPTABLE, desc = "the first poll got version 1, the second was early for 2")
@Outcome(id = "1, 1, 1", expect = ACCEPTABLE, desc = "one event per poll")
@Outcome(id = "2, 0, 1", expect = ACCEPTABLE, desc = "the first poll got both")
@Outcome(expect = FORBIDDEN, desc = "an event lost, repeated, out of order or torn")
public class SubscriptionHandOffTest
{
    /** Arbiter code: an event came out of order, twice, or not at all. */
    static final long WRONG_SEQUENCE = -60;
    private static final int LENGTH = 20_000;
    private static final int STREAMS = 1;
    private static final int POLL_LIMIT = 10;
    private static final StorePool POOL = StorePool.rollingSegments("subscription-hand-off");

    /**
     * A new stream and a subscription to it from its first version, made before anything is appended.
     */
    @State
    public static class S
    {
        final StorePool.Lease lease = POOL.lease();
        final long streamId = lease.streamId(STREAMS, 0);
        final Subscription subscription = lease.db().streamSubscription(streamId, 1);
        final byte[] payload = Events.payload(streamId, 1, LENGTH);
        long nextVersion = 1;
        long error;
    }

    /**
     * @param s the state.
     */
    @Actor
    public void writer(final S s)
    {
        s.lease.appender(0).append(s.streamId, ExpectedVersion.NO_STREAM, 1, s.payload);
        s.lease.appender(0).append(s.streamId, ExpectedVersion.exact(1), 1, s.payload);
    }

    /**
     * @param s the state.
     * @param r result.
     */
    @Actor
    public void subscriber(final S s, final JJJ_Result r)
    {
        r.r1 = poll(s);
        r.r2 = poll(s);
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
            poll(s);
            r.r3 = s.error < 0 ? s.error : s.nextVersion == 3 ? 1 : WRONG_SEQUENCE;
        }
        finally
        {
            s.subscription.close();
            s.lease.release();
        }
    }

    private static int poll(final S s)
    {
        return s.subscription.poll((event) ->
        {
            final int check = Events.check(event, s.streamId, s.nextVersion, LENGTH, Events.SINGLE);
            if (check < 0)
            {
                s.error = Math.min(s.error, check);
            }
            s.nextVersion = event.version() == s.nextVersion ? s.nextVersion + 1 : WRONG_SEQUENCE;
        }, POLL_LIMIT);
    }
}
