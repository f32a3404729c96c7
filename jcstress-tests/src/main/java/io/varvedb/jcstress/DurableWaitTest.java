package io.varvedb.jcstress;

import io.varvedb.Appender;
import io.varvedb.ExpectedVersion;
import io.varvedb.internal.log.RecordDescriptor;
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
 * A durable wait racing another appender's publish. Actor 1 appends a long event A (8,000 bytes: copying and
 * checksumming it keeps A claimed but unpublished for a while); actor 2 appends a short event B, then
 * {@code awaitDurable(lastPosition())} and reads {@code durablePosition()}. Whichever claims first, A may lie
 * before B (then the wait must wait for A to be published, and force it too) or after it. jcstress does not
 * keep the actors in step across states, so an earlier state's A may also still be in flight below B.
 * <p>
 * The stores (OS durability, so only the waits force the log; in /dev/shm, where a force is cheap) have a
 * {@link ForcedRecords} observer: right after each force of a log range returns, on the forcing thread, it reads
 * every record in the range with plain loads and checks it is published and whole. A pass therefore shows that
 * every byte of A happens-before any force that covered it, even when the forcing thread is not A's writer and
 * learned of A only through the published frontier.
 * <p>
 * Result: r1 = 1 if {@code durablePosition()} covered the whole of B when the wait returned, else 0; r2 = what the
 * forces saw of A before the arbiter ran: 1 every force that covered it saw it whole, 0 no force covered it yet,
 * negative a force covered it torn or unpublished ({@link Events} codes, {@link ForcedRecords#UNPUBLISHED},
 * {@link ForcedRecords#SPLIT}, or {@link ForcedRecords#MISSED} if B itself was durable but no force covered it;
 * also reported for any other record of the store a force saw so); r3 = 1 if A was
 * claimed before B, 2 if after.
 */
@JCStressTest
@Description("durable wait racing an earlier append's publish: returns only once durablePosition covers its " +
    "record, and every force sees the records it covers whole")
@Outcome(id = "1, 1, 1", expect = ACCEPTABLE,
    desc = "A claimed first: the wait waited for A's publish and forced A (whole) with B")
@Outcome(id = "1, 1, 2", expect = ACCEPTABLE,
    desc = "B claimed first; A was published in time to be forced (whole) before the arbiter ran")
@Outcome(id = "1, 0, 2", expect = ACCEPTABLE, desc = "B claimed first; no force had covered A yet")
@Outcome(id = {"0, 0, 1", "0, 1, 1"}, expect = FORBIDDEN,
    desc = "the wait returned with durablePosition below B: its force stopped at the unpublished A")
@Outcome(id = {"0, 0, 2", "0, 1, 2"}, expect = FORBIDDEN,
    desc = "the wait returned with durablePosition below B: its force stopped at an earlier state's unpublished A")
@Outcome(id = "1, 0, 1", expect = FORBIDDEN, desc = "durablePosition passed A, but no force covered A")
@Outcome(expect = FORBIDDEN, desc = "a force covered a torn or unpublished record (r2 < 0)")
public class DurableWaitTest
{
    private static final int STREAMS = 2;
    private static final int WRITER_A = 1;
    private static final int WRITER_B = 2;
    private static final int LENGTH_A = 8_000;
    private static final int LENGTH_B = 32;
    private static final int B_ALIGNED = RecordDescriptor.alignedLength(RecordDescriptor.frameLength(LENGTH_B));
    private static final StorePool POOL = StorePool.builder("durable-wait")
        .forceObserver(() -> new ForcedRecords(0, LENGTH_A, LENGTH_B))
        .build();

    /**
     * Two new streams, one per actor.
     */
    @State
    public static class S
    {
        final StorePool.Lease lease = POOL.lease();
        final long streamA = lease.streamId(STREAMS, 0);
        final long streamB = lease.streamId(STREAMS, 1);
        final byte[] payloadA = Events.payload(streamA, WRITER_A, LENGTH_A);
        final byte[] payloadB = Events.payload(streamB, WRITER_B, LENGTH_B);
        long positionA;
        long positionB;
    }

    /**
     * @param s the state.
     */
    @Actor
    public void actor1(final S s)
    {
        final Appender appender = s.lease.appender(0);
        appender.append(s.streamA, ExpectedVersion.NO_STREAM, WRITER_A, s.payloadA);
        s.positionA = appender.lastPosition();
    }

    /**
     * @param s the state.
     * @param r result.
     */
    @Actor
    public void actor2(final S s, final JJJ_Result r)
    {
        final Appender appender = s.lease.appender(1);
        appender.append(s.streamB, ExpectedVersion.NO_STREAM, WRITER_B, s.payloadB);
        final long position = appender.lastPosition();
        appender.awaitDurable(position);
        r.r1 = s.lease.db().durablePosition() >= position + B_ALIGNED ? 1 : 0;
        s.positionB = position;
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
            final ForcedRecords forces = (ForcedRecords)s.lease.forceObserver();
            final long a = forces.verdict(s.positionA);
            // B is below durablePosition when r1 = 1, so a force covered it, and the observer saw it before the
            // durable position was raised
            final long forcedB = forces.verdict(s.positionB);
            final long b = forcedB == ForcedRecords.NOT_FORCED && r.r1 == 1 ? ForcedRecords.MISSED : forcedB;
            final long elsewhere = forces.firstFailure();
            r.r2 = a < 0 ? a : b < 0 ? b : elsewhere < 0 ? elsewhere : a;
            r.r3 = s.positionA < s.positionB ? 1 : 2;
        }
        finally
        {
            s.lease.release();
        }
    }
}
