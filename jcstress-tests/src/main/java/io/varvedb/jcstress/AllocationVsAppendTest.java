package io.varvedb.jcstress;

import io.varvedb.ExpectedVersion;
import io.varvedb.JcstressAccess;
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
 * An appender against the allocator (issue 21): the log gives disk blocks ahead of its tail a chunk at a time, by
 * zero-filling through the file channel and touching each page through the mapping (a write of zero), and then
 * publishes the new allocated end with a release store; an appender reads it with acquire and writes only below it.
 * Here one actor appends a record (allocating the next chunk itself when it finds none), the other runs the
 * pre-allocator's step for the space that record needs, racing it. Segments are the smallest allowed (64 KiB), so a
 * chunk is a segment and the two meet at every third append. Were the order broken (the end published before the
 * zeros or the touches, an allocation over a range below the end, or an appender writing beyond it) the zeros
 * would land on the record, which the arbiter reads back whole, checksum included.
 * <p>
 * Result: r1 = the version the append got (1, a new stream); r2 = 1 when the record reads back intact at the
 * position the append reported, else a negative code ({@link Events}); r3 = 1 when the allocated end lies beyond the
 * tail afterwards (the next record's frame is allocated), else 0.
 */
@JCStressTest
@Description("an append racing the allocator's zero-fill and publish of the next chunk: the record is never zeroed")
@Outcome(id = "1, 1, 1", expect = ACCEPTABLE, desc = "the record intact, the allocated end beyond the tail")
@Outcome(expect = FORBIDDEN, desc = "the record zeroed or torn by the allocation, or the end not beyond the tail")
public class AllocationVsAppendTest
{
    /** 20,000 bytes: a 20,064-byte record, three to a 64 KiB segment. */
    private static final int LENGTH = 20_000;
    private static final int STREAMS = 1;
    private static final StorePool POOL = StorePool.builder("allocation")
        .segmentSize(StorePool.ROLLING_SEGMENT)
        .indexCapacity(1 << 13)
        .statesPerStore(1 << 11)
        .blocksPerChunk(1 << 12)
        .maxLogBytes(128L << 20)
        .build();

    /**
     * A new stream for the appender.
     */
    @State
    public static class S
    {
        final StorePool.Lease lease = POOL.lease();
        final long stream = lease.streamId(STREAMS, 0);
        final byte[] payload = Events.payload(stream, 1, LENGTH);
        long position = -1;
    }

    /**
     * @param s the state.
     * @param r result.
     */
    @Actor
    public void appender(final S s, final JJJ_Result r)
    {
        r.r1 = s.lease.appender(0).append(s.stream, ExpectedVersion.NO_STREAM, 1, s.payload);
        s.position = s.lease.appender(0).lastPosition();
    }

    /**
     * @param s the state.
     */
    @Actor
    public void allocator(final S s)
    {
        final VarveDB db = s.lease.db();
        // the space a record claimed from the tail now would need, as the pre-allocator's duty cycle asks for it
        JcstressAccess.allocate(db, db.tailPosition() + LENGTH + 64);
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
            final long[] check = {OversellExactTest.WRONG_COUNT};
            db.readStream(s.stream, 1, Integer.MAX_VALUE, (event) ->
            {
                final int result = Events.check(event, s.stream, 1, LENGTH, Events.SINGLE);
                check[0] = result < 0 ? result : event.position() == s.position ? 1 : OversellExactTest.WRONG_COUNT;
            });
            r.r2 = check[0];
            r.r3 = JcstressAccess.allocatedEnd(db) > db.tailPosition() ? 1 : 0;
        }
        finally
        {
            s.lease.release();
        }
    }
}
