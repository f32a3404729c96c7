package io.varvedb.jcstress;

import io.varvedb.Appender;
import io.varvedb.EventHandler;
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
 * Per-stream order against log order. jcstress cannot run three actors on two CPUs, so instead of "two appenders
 * on A and one on B" both actors append to both streams, in opposite orders: actor 1 appends to A then B, actor 2
 * to B then A, all with {@code ANY}. Each stream thus has two racing appenders while the other stream's appends
 * interleave with them in the log. Whatever the interleaving, the global log must hold each stream's events in
 * version order: the arbiter walks it with {@code readAll} from the first of the four records to the last.
 * <p>
 * Appends are also linearizable across streams, so "actor 2 first on A but actor 1 first on B" is forbidden:
 * actor 2's B append precedes its A append, which would precede actor 1's A append, which precedes actor 1's B
 * append, so actor 2 must then have been first on B as well.
 * <p>
 * Result: r1, r2 = the versions actor 1 and actor 2 got, as two digits (A's version, then B's); r3, r4 = the
 * versions of A's and of B's events in the order the walk met them (12 = version 1 first); or, in r3, a negative
 * code ({@link Events}, {@link LogWalk}, {@link OversellExactTest#WRONG_COUNT}).
 */
@JCStressTest
@Description("appenders crossing on streams A and B: the global log holds each stream's events in version order")
@Outcome(id = "11, 22, 12, 12", expect = ACCEPTABLE, desc = "actor 1 first on both streams")
@Outcome(id = "12, 21, 12, 12", expect = ACCEPTABLE, desc = "actor 1 first on A, actor 2 first on B")
@Outcome(id = "22, 11, 12, 12", expect = ACCEPTABLE, desc = "actor 2 first on both streams")
@Outcome(expect = FORBIDDEN, desc = "a stream's events out of version order in the log, lost, duplicated or " +
    "torn, or versions contradicting the actors' program order (21, 12)")
public class PerStreamOrderTest
{
    private static final int STREAMS = 2;
    private static final int LENGTH = 48;
    private static final int DIGIT = 10;
    private static final int EVENTS = 4;
    private static final StorePool POOL = StorePool.builder("order").build();

    /**
     * Two new streams.
     */
    @State
    public static class S
    {
        final StorePool.Lease lease = POOL.lease();
        final long streamA = lease.streamId(STREAMS, 0);
        final long streamB = lease.streamId(STREAMS, 1);
        final byte[] payload1A = Events.payload(streamA, 1, LENGTH);
        final byte[] payload1B = Events.payload(streamB, 1, LENGTH);
        final byte[] payload2A = Events.payload(streamA, 2, LENGTH);
        final byte[] payload2B = Events.payload(streamB, 2, LENGTH);
    }

    /**
     * @param s the state.
     * @param r result.
     */
    @Actor
    public void actor1(final S s, final JJJJ_Result r)
    {
        final Appender appender = s.lease.appender(0);
        final long a = appender.append(s.streamA, ExpectedVersion.ANY, 1, s.payload1A);
        final long b = appender.append(s.streamB, ExpectedVersion.ANY, 1, s.payload1B);
        r.r1 = a * DIGIT + b;
    }

    /**
     * @param s the state.
     * @param r result.
     */
    @Actor
    public void actor2(final S s, final JJJJ_Result r)
    {
        final Appender appender = s.lease.appender(1);
        final long b = appender.append(s.streamB, ExpectedVersion.ANY, 2, s.payload2B);
        final long a = appender.append(s.streamA, ExpectedVersion.ANY, 2, s.payload2A);
        r.r2 = a * DIGIT + b;
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
            judge(s, r);
        }
        finally
        {
            s.lease.release();
        }
    }

    private static void judge(final S s, final JJJJ_Result r)
    {
        final VarveDB db = s.lease.db();
        // where the index says the four records are
        final long[] positions = new long[EVENTS];
        final int[] count = {0};
        final EventHandler collect = (event) -> positions[Math.min(count[0]++, EVENTS - 1)] = event.position();
        db.readStream(s.streamA, 1, Integer.MAX_VALUE, collect);
        db.readStream(s.streamB, 1, Integer.MAX_VALUE, collect);
        if (count[0] != EVENTS)
        {
            r.r3 = OversellExactTest.WRONG_COUNT;
            return;
        }
        long first = Long.MAX_VALUE;
        long last = Long.MIN_VALUE;
        for (final long position : positions)
        {
            first = Math.min(first, position);
            last = Math.max(last, position);
        }

        // what a subscriber of the global log meets between them
        final long[] orderA = {0};
        final long[] orderB = {0};
        final long[] error = {0};
        final long walk = LogWalk.walk(db, first, last, (event) ->
        {
            final boolean isA = event.streamId() == s.streamA;
            if (!isA && event.streamId() != s.streamB)
            {
                return;
            }
            final int check = Events.check(event, event.streamId(), event.version(), LENGTH, Events.SINGLE);
            if (check < 0)
            {
                error[0] = error[0] == 0 ? check : error[0];
            }
            else if (isA)
            {
                orderA[0] = orderA[0] * DIGIT + event.version();
            }
            else
            {
                orderB[0] = orderB[0] * DIGIT + event.version();
            }
        });
        if (walk != LogWalk.REACHED || error[0] != 0)
        {
            r.r3 = walk != LogWalk.REACHED ? walk : error[0];
            return;
        }
        r.r3 = orderA[0];
        r.r4 = orderB[0];
    }
}
