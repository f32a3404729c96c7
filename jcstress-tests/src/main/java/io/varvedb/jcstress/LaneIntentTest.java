package io.varvedb.jcstress;

import io.varvedb.internal.index.StreamIndexDescriptor;
import io.varvedb.internal.process.Lane;
import io.varvedb.internal.process.RegistryDescriptor;
import org.agrona.concurrent.UnsafeBuffer;
import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Description;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.JJ_Result;

import java.nio.ByteBuffer;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

/**
 * Multi-process mode: an appender writes its intent (the slot and the version it is about to take) into its lane
 * before the CAS that names the lane in the slot's pending state. A survivor that sees the slot pending on that
 * lane (acquire) must see the intent, or it could not give the stream back at the right version should the
 * appender's process be dead. The appender is the real {@link Lane}; the slot state is a word CASed as the index
 * does.
 * <p>
 * Result: r1 = the slot the observer read in the lane, r2 = the version, when it saw the pending state; (-2, -2)
 * when it saw the slot not yet taken.
 */
@JCStressTest
@Description("whoever sees a slot pending on a lane sees the lane's intent: the slot and its previous version")
@Outcome(id = "-2, -2", expect = ACCEPTABLE, desc = "the observer came before the CAS")
@Outcome(id = "64, 5", expect = ACCEPTABLE, desc = "the observer saw the pending state and the whole intent")
@Outcome(expect = FORBIDDEN, desc = "a pending state seen without its intent")
public class LaneIntentTest
{
    private static final int SLOT = 64;
    private static final long VERSION = 5;

    /**
     * A stream slot at version 5 and an idle lane.
     */
    @State
    public static class S
    {
        final UnsafeBuffer slotState = new UnsafeBuffer(ByteBuffer.allocateDirect(64));
        final UnsafeBuffer lanes = new UnsafeBuffer(ByteBuffer.allocateDirect(RegistryDescriptor.LENGTH));
        final Lane lane = Lane.over(lanes, 3);

        /** Stream at version 5, nothing in flight. */
        public S()
        {
            RegistryDescriptor.writeHeader(lanes);
            slotState.putLongVolatile(0, StreamIndexDescriptor.committedState(VERSION));
        }
    }

    /**
     * @param s the state.
     */
    @Actor
    public void appender(final S s)
    {
        s.lane.intent(SLOT, VERSION);
        s.slotState.compareAndSetLong(0, StreamIndexDescriptor.committedState(VERSION),
            StreamIndexDescriptor.pendingState(VERSION, s.lane.holder()));
    }

    /**
     * @param s the state.
     * @param r result.
     */
    @Actor
    public void survivor(final S s, final JJ_Result r)
    {
        final long state = s.slotState.getLongAcquire(0);
        if (StreamIndexDescriptor.isPending(state) && StreamIndexDescriptor.holder(state) == s.lane.holder())
        {
            r.r1 = s.lane.slot();
            r.r2 = s.lane.previousVersion();
        }
        else
        {
            r.r1 = -2;
            r.r2 = -2;
        }
    }
}
