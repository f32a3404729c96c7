package io.varvedb.jcstress;

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
 * A reader racing one append. The reader reads the log tail, then {@code streamVersion}, then
 * {@code readStream} from version 1, then {@code readAll} from the tail it read. Each read must see either
 * nothing or the whole record (length, event type, every payload byte and a checksum the test recomputes), and
 * {@code readStream} must deliver every version {@code streamVersion} reported: the version never runs ahead of
 * what can be read. {@code readAll} from a tail read before the append claimed its space must find the record
 * once the reader has seen the version committed.
 * <p>
 * Result: r1 = streamVersion seen (0 or 1); r2 = events readStream delivered; r3 = the stream's events readAll
 * delivered; r4 = the arbiter's readStream afterwards (must be 1). Negative r2..r4 are {@link Events} codes.
 */
@JCStressTest
@Description("reader racing an append: nothing or the whole record, never a version ahead of a readable record")
@Outcome(id = "0, 0, 0, 1", expect = ACCEPTABLE, desc = "the reader was early for every read")
@Outcome(id = "0, 0, 1, 1", expect = ACCEPTABLE, desc = "published between readStream and readAll")
@Outcome(id = "0, 1, 0, 1", expect = ACCEPTABLE,
    desc = "the record became readable between streamVersion and readStream; tail read after the claim")
@Outcome(id = "0, 1, 1, 1", expect = ACCEPTABLE,
    desc = "the record became readable between streamVersion and readStream")
@Outcome(id = "1, 1, 0, 1", expect = ACCEPTABLE, desc = "committed before the reader; tail read after the claim")
@Outcome(id = "1, 1, 1, 1", expect = ACCEPTABLE, desc = "committed before the reader looked")
@Outcome(expect = FORBIDDEN, desc = "a torn or wrong record, or streamVersion ahead of what readStream delivers")
public class WriterReaderTest
{
    private static final int STREAMS = 1;
    /** Long enough that copying and checksumming it leaves the reader a window to look at a half-written one. */
    private static final int LENGTH = 600;
    private static final int WRITER = 1;
    private static final StorePool POOL = StorePool.builder("writer-reader").build();

    /**
     * One new stream; nothing else appends to this store while the actors run.
     */
    @State
    public static class S
    {
        final StorePool.Lease lease = POOL.lease();
        final long streamId = lease.streamId(STREAMS, 0);
        final byte[] payload = Events.payload(streamId, WRITER, LENGTH);
    }

    /**
     * @param s the state.
     */
    @Actor
    public void writer(final S s)
    {
        s.lease.appender(0).append(s.streamId, ExpectedVersion.NO_STREAM, WRITER, s.payload);
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
        r.r2 = Probes.readStream(db, s.streamId, 1, LENGTH);
        // the first event at or after the tail is this state's: the writer is the only appender here
        r.r3 = Probes.readAll(db, tail, 1, s.streamId, 1, LENGTH);
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
            r.r4 = Probes.readStream(s.lease.db(), s.streamId, 1, LENGTH);
        }
        finally
        {
            s.lease.release();
        }
    }
}
