package io.varvedb.jcstress;

import io.varvedb.internal.log.Padding;
import io.varvedb.internal.log.RecordDescriptor;
import io.varvedb.internal.process.Lane;
import io.varvedb.internal.process.RegistryDescriptor;
import io.varvedb.internal.store.Repairer;
import org.agrona.concurrent.UnsafeBuffer;
import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Arbiter;
import org.openjdk.jcstress.annotations.Description;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.II_Result;

import java.nio.ByteBuffer;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

/**
 * Multi-process mode: a survivor pads a hole in the log only if no live appender can own it
 * ({@link Repairer#abandoned}), and here the appender is alive, in the middle of its append: a padding would be a
 * repair racing a late publish, which must be impossible by construction.
 * <p>
 * The appender does what {@code Appender} does, with the real {@link Lane}: its in-flight mark (the tail it read)
 * with release, the claim's atomic add on the tail, the claim in its lane, the negative frame length, the record,
 * the positive frame length (release), the mark cleared. The repairer does what {@code Repairer.unblock} does:
 * reads the tail, decides with {@link Repairer#abandoned} (frame length, the lane's mark, frame length again),
 * and pads with {@link Padding#writeOver} (a CAS on the frame length) if it decided the hole abandoned.
 * <p>
 * Result: r1 = 1 if the repairer padded; r2 = the final frame length (the record's 64, or a padding's).
 */
@JCStressTest
@Description("a live appender's claim is never padded over by a repairer, whatever the interleaving")
@Outcome(id = "0, 64", expect = ACCEPTABLE, desc = "the repairer left the live appender's record alone")
@Outcome(expect = FORBIDDEN, desc = "the repairer padded over a live appender's claim")
public class RepairVsLatePublishTest
{
    private static final int LENGTH = 64;
    private static final int TAIL_OFFSET = 0;

    /**
     * The shared memory: a tail counter, a log, a lane table.
     */
    @State
    public static class S
    {
        final UnsafeBuffer meta = new UnsafeBuffer(ByteBuffer.allocateDirect(64));
        final UnsafeBuffer log = new UnsafeBuffer(ByteBuffer.allocateDirect(256));
        final UnsafeBuffer lanes = new UnsafeBuffer(ByteBuffer.allocateDirect(RegistryDescriptor.LENGTH));
        final Lane lane;

        /** A registry with one lane owned by a live participant, idle. */
        public S()
        {
            RegistryDescriptor.writeHeader(lanes);
            lanes.putLong(RegistryDescriptor.laneOffset(0) + RegistryDescriptor.LANE_OWNER_OFFSET, 1);
            lane = Lane.over(lanes, 0);
        }
    }

    /**
     * @param s the state.
     */
    @Actor
    public void appender(final S s)
    {
        final long tail = s.meta.getLongVolatile(TAIL_OFFSET);
        s.lane.begin(tail);
        final long position = s.meta.getAndAddLong(TAIL_OFFSET, LENGTH);
        s.lane.claimed(position, LENGTH);
        final int offset = (int)position;
        s.log.putIntRelease(offset + RecordDescriptor.FRAME_LENGTH_OFFSET, -LENGTH);
        s.log.putShort(offset + RecordDescriptor.RECORD_TYPE_OFFSET, RecordDescriptor.TYPE_EVENT);
        s.log.putLong(offset + RecordDescriptor.STREAM_ID_OFFSET, 7);
        s.log.putIntRelease(offset + RecordDescriptor.FRAME_LENGTH_OFFSET, LENGTH);
        s.lane.end();
    }

    /**
     * @param s the state.
     * @param r result.
     */
    @Actor
    public void repairer(final S s, final II_Result r)
    {
        final long tail = s.meta.getLongVolatile(TAIL_OFFSET);
        // the only live lane is the appender's: its mark is the lowest live mark
        final int seen = Repairer.abandoned(tail, 0, s.log, 0, s.lane::inFlightFrom);
        r.r1 = seen <= 0 && Padding.writeOver(s.log, 0, seen, LENGTH * 2) ? 1 : 0;
    }

    /**
     * @param s the state.
     * @param r result.
     */
    @Arbiter
    public void arbiter(final S s, final II_Result r)
    {
        r.r2 = s.log.getIntVolatile(RecordDescriptor.FRAME_LENGTH_OFFSET);
    }
}
