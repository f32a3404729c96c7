package io.varvedb.jcstress;

import io.varvedb.ExpectedVersion;
import io.varvedb.VarveDB;
import io.varvedb.internal.log.RecordDescriptor;
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
 * Appends racing across segment boundaries. Segments are the smallest allowed (64 KiB) and each record takes
 * almost a third of one, so about every fourth claim crosses a boundary and must be turned into padding and
 * retried, often while the other actor claims too. Afterwards each record must lie whole inside one segment,
 * the two must not overlap, both must be intact, and a {@code readAll} walk from the start of the first one's
 * segment must land exactly on each of them: the padding left by crossing claims tiles the gaps exactly.
 * <p>
 * The stores run their pre-allocator thread, as stores do by default: with a new segment needed every fourth
 * append it is often behind, so segments get created both by it and by the appenders themselves, racing.
 * <p>
 * Result: r1, r2 = the versions the two appends got (each to its own new stream); r3 = 1 when every check passed,
 * else a negative code ({@link Events}, {@link LogWalk}, {@link #STRADDLES}, {@link #OVERLAPS}); r4 = segments
 * between the two records (0 same, 1 neighbours, 2 farther): how often the race met a boundary.
 */
@JCStressTest
@Description("appends racing across a segment boundary: whole records, exact padding, nothing lost or overlapping")
@Outcome(id = "1, 1, 1, 0", expect = ACCEPTABLE, desc = "both records in one segment")
@Outcome(id = "1, 1, 1, 1", expect = ACCEPTABLE, desc = "the records on either side of a boundary")
@Outcome(id = "1, 1, 1, 2", expect = ACCEPTABLE, desc = "the records further apart (actors out of step)")
@Outcome(expect = FORBIDDEN, desc = "a record across a boundary, overlapping, torn, lost, or wrong padding")
public class SegmentRollTest
{
    /** Arbiter code: a record crosses a segment end. */
    static final long STRADDLES = -50;
    /** Arbiter code: the two records overlap. */
    static final long OVERLAPS = -51;
    /** Arbiter code: the records are not where readStream said. */
    static final long NOT_VISITED = -52;
    private static final int SEGMENT = StorePool.ROLLING_SEGMENT;
    /** 20,000 bytes: a 20,064-byte record, three to a segment with 5,344 bytes left for padding. */
    private static final int LENGTH = 20_000;
    private static final int STREAMS = 2;
    private static final int FARTHER = 2;
    private static final StorePool POOL = StorePool.rollingSegments("segment-roll");

    /**
     * Two new streams, one per actor.
     */
    @State
    public static class S
    {
        final StorePool.Lease lease = POOL.lease();
        final long stream1 = lease.streamId(STREAMS, 0);
        final long stream2 = lease.streamId(STREAMS, 1);
        final byte[] payload1 = Events.payload(stream1, 1, LENGTH);
        final byte[] payload2 = Events.payload(stream2, 2, LENGTH);
    }

    /**
     * @param s the state.
     * @param r result.
     */
    @Actor
    public void actor1(final S s, final JJJJ_Result r)
    {
        r.r1 = s.lease.appender(0).append(s.stream1, ExpectedVersion.NO_STREAM, 1, s.payload1);
    }

    /**
     * @param s the state.
     * @param r result.
     */
    @Actor
    public void actor2(final S s, final JJJJ_Result r)
    {
        r.r2 = s.lease.appender(1).append(s.stream2, ExpectedVersion.NO_STREAM, 2, s.payload2);
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
            final long p1 = position(db, s.stream1);
            final long p2 = position(db, s.stream2);
            r.r4 = Math.min(FARTHER, Math.abs(p1 / SEGMENT - p2 / SEGMENT));
            r.r3 = judge(db, s, p1, p2);
        }
        finally
        {
            s.lease.release();
        }
    }

    private static long position(final VarveDB db, final long streamId)
    {
        final long[] position = {OversellExactTest.WRONG_COUNT};
        db.readStream(streamId, 1, Integer.MAX_VALUE, (event) ->
        {
            final int check = Events.check(event, streamId, 1, LENGTH, Events.SINGLE);
            position[0] = check < 0 ? check : event.position();
        });
        return position[0];
    }

    private static long judge(final VarveDB db, final S s, final long p1, final long p2)
    {
        if (p1 < 0 || p2 < 0)
        {
            return Math.min(p1, p2);
        }
        final int length = RecordDescriptor.alignedLength(RecordDescriptor.frameLength(LENGTH));
        if (p1 / SEGMENT != (p1 + length - 1) / SEGMENT || p2 / SEGMENT != (p2 + length - 1) / SEGMENT)
        {
            return STRADDLES;
        }
        if (Math.abs(p1 - p2) < length)
        {
            return OVERLAPS;
        }
        final long first = Math.min(p1, p2);
        final long segmentStart = first - first % SEGMENT;
        final int[] visited = {0};
        final long[] error = {0};
        final long walk = LogWalk.walk(db, segmentStart, Math.max(p1, p2), (event) ->
        {
            if (event.streamId() == s.stream1 || event.streamId() == s.stream2)
            {
                final int check = Events.check(event, event.streamId(), 1, LENGTH, Events.SINGLE);
                final boolean there = event.position() == (event.streamId() == s.stream1 ? p1 : p2);
                if (check < 0 || !there)
                {
                    error[0] = error[0] == 0 ? (check < 0 ? check : NOT_VISITED) : error[0];
                }
                visited[0]++;
            }
        });
        if (walk != LogWalk.REACHED)
        {
            return walk;
        }
        if (error[0] != 0)
        {
            return error[0];
        }
        return visited[0] == 2 ? 1 : NOT_VISITED;
    }
}
