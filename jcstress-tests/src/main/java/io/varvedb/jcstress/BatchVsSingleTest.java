package io.varvedb.jcstress;

import io.varvedb.EventBatch;
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
 * A batch of three events and a single event appended with {@code ANY} to the same new stream at once. The
 * batch must go in whole, with three consecutive versions, its records contiguous in the log and flagged as one
 * batch; the single event goes before or after it, never inside it.
 * <p>
 * Result: r1 = the batch's last version; r2 = the single event's version; r3 = the stream's version afterwards;
 * r4 = writers of versions 1..4 as read back (1 = batch, 2 = single; 1112 = batch first), or a negative code
 * ({@link Events}, or {@link #SPLIT} when the batch's records are not back to back).
 */
@JCStressTest
@Description("batch of 3 racing a single append on one stream: all-or-nothing, contiguous versions and records")
@Outcome(id = "3, 4, 4, 1112", expect = ACCEPTABLE, desc = "the batch went first")
@Outcome(id = "4, 1, 4, 2111", expect = ACCEPTABLE, desc = "the single event went first")
@Outcome(expect = FORBIDDEN, desc = "a batch split, interleaved, lost or torn, or versions given twice")
public class BatchVsSingleTest
{
    /** Arbiter code: two consecutive events of the batch are not adjacent in the log. */
    static final long SPLIT = -20;
    private static final int STREAMS = 1;
    private static final int BATCH = 3;
    private static final int LENGTH = 64;
    private static final int BATCH_WRITER = 1;
    private static final int SINGLE_WRITER = 2;
    private static final int DIGIT = 10;
    private static final StorePool POOL = StorePool.builder("batch-single").build();

    /**
     * One new stream, a batch and a single payload for it.
     */
    @State
    public static class S
    {
        final StorePool.Lease lease = POOL.lease();
        final long streamId = lease.streamId(STREAMS, 0);
        final EventBatch batch = new EventBatch();
        final byte[] single = Events.payload(streamId, SINGLE_WRITER, LENGTH);

        /**
         * Fill the batch.
         */
        public S()
        {
            final byte[] payload = Events.payload(streamId, BATCH_WRITER, LENGTH);
            for (int i = 0; i < BATCH; i++)
            {
                batch.add(BATCH_WRITER, payload);
            }
        }
    }

    /**
     * @param s the state.
     * @param r result.
     */
    @Actor
    public void batch(final S s, final JJJJ_Result r)
    {
        r.r1 = s.lease.appender(0).appendBatch(s.streamId, ExpectedVersion.ANY, s.batch);
    }

    /**
     * @param s the state.
     * @param r result.
     */
    @Actor
    public void single(final S s, final JJJJ_Result r)
    {
        r.r2 = s.lease.appender(1).append(s.streamId, ExpectedVersion.ANY, SINGLE_WRITER, s.single);
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
            final long[] writers = {0};
            final long[] error = {0};
            final long[] previousNext = {-1};
            final int[] batchIndex = {0};
            final int[] seen = {0};
            db.readStream(s.streamId, 1, Integer.MAX_VALUE, (event) ->
            {
                seen[0]++;
                final boolean inBatch = event.eventType() == BATCH_WRITER;
                final short flags = inBatch ? Events.batchFlags(batchIndex[0], BATCH) : Events.SINGLE;
                final int check = Events.check(event, s.streamId, seen[0], LENGTH, flags);
                if (check < 0)
                {
                    error[0] = error[0] == 0 ? check : error[0];
                    return;
                }
                if (inBatch)
                {
                    if (batchIndex[0] > 0 && event.position() != previousNext[0])
                    {
                        error[0] = error[0] == 0 ? SPLIT : error[0];
                    }
                    batchIndex[0]++;
                    previousNext[0] = event.nextPosition();
                }
                writers[0] = writers[0] * DIGIT + check;
            });
            r.r4 = error[0] != 0 ? error[0] : seen[0] == r.r3 ? writers[0] : OversellExactTest.WRONG_COUNT;
        }
        finally
        {
            s.lease.release();
        }
    }
}
