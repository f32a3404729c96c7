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
 * A reader racing a batch of three events: like {@link WriterReaderTest}, but every read must see none or all
 * three of the batch, each whole, never one or two of them.
 * <p>
 * Result: r1 = streamVersion seen; r2 = events readStream delivered; r3 = the stream's events readAll delivered
 * from the tail read first; r4 = the arbiter's readStream afterwards. Negative values are {@link Events} codes.
 */
@JCStressTest
@Description("reader racing a batch append: all three events or none, each whole")
@Outcome(id = "0, 0, 0, 3", expect = ACCEPTABLE, desc = "the reader was early for every read")
@Outcome(id = "0, 0, 3, 3", expect = ACCEPTABLE, desc = "published between readStream and readAll")
@Outcome(id = "0, 3, 0, 3", expect = ACCEPTABLE,
    desc = "the batch became readable between streamVersion and readStream; tail read after the claim")
@Outcome(id = "0, 3, 3, 3", expect = ACCEPTABLE,
    desc = "the batch became readable between streamVersion and readStream")
@Outcome(id = "3, 3, 0, 3", expect = ACCEPTABLE, desc = "committed before the reader; tail read after the claim")
@Outcome(id = "3, 3, 3, 3", expect = ACCEPTABLE, desc = "committed before the reader looked")
@Outcome(expect = FORBIDDEN, desc = "part of a batch visible, a torn record, or a version ahead of what can be read")
public class BatchVisibilityTest
{
    private static final int STREAMS = 1;
    private static final int BATCH = 3;
    private static final int LENGTH = 200;
    private static final int WRITER = 1;
    private static final StorePool POOL = StorePool.builder("batch-visibility").build();

    /**
     * One new stream and the batch to append to it.
     */
    @State
    public static class S
    {
        final StorePool.Lease lease = POOL.lease();
        final long streamId = lease.streamId(STREAMS, 0);
        final EventBatch batch = new EventBatch();

        /**
         * Fill the batch.
         */
        public S()
        {
            final byte[] payload = Events.payload(streamId, WRITER, LENGTH);
            for (int i = 0; i < BATCH; i++)
            {
                batch.add(WRITER, payload);
            }
        }
    }

    /**
     * @param s the state.
     */
    @Actor
    public void writer(final S s)
    {
        s.lease.appender(0).appendBatch(s.streamId, ExpectedVersion.NO_STREAM, s.batch);
    }

    /**
     * @param s the state.
     * @param r result.
     */
    @Actor
    public void reader(final S s, final JJJJ_Result r)
    {
        final VarveDB db = s.lease.db();
        final long tail = db.tailPosition();
        r.r1 = db.streamVersion(s.streamId);
        r.r2 = Probes.readStream(db, s.streamId, BATCH, LENGTH);
        r.r3 = Probes.readAll(db, tail, BATCH, s.streamId, BATCH, LENGTH);
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
            r.r4 = Probes.readStream(s.lease.db(), s.streamId, BATCH, LENGTH);
        }
        finally
        {
            s.lease.release();
        }
    }
}
