package io.varvedb.jcstress;

import io.varvedb.ExpectedVersion;
import io.varvedb.VarveDB;
import io.varvedb.internal.index.StreamIndex;
import io.varvedb.internal.index.StreamIndexDescriptor;
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
 * Two actors create two different new streams whose ids hash to the same, still free, slot of a small stream
 * table, so both try to claim that slot at once. Both appends must succeed, and the streams must end up in
 * distinct slots: one in the home slot, the other in the next one (linear probing), each readable afterwards.
 * <p>
 * The ids are chosen by the same hash the core uses; the arbiter reads the slots back from a read-only mapping of
 * the live stream table, so a change of the core's hash shows up here as a failure (and this test must follow).
 * Each state gets its own home slot, four slots apart from the next state's, so states never share a probe chain.
 * <p>
 * Result: r1, r2 = the versions the two appends got; r3, r4 = the slots stream a and stream b landed in, relative
 * to their home slot; or, in r3, a negative code when a stream does not read back.
 */
@JCStressTest
@Description("two new streams hashing to the same slot of a tiny index: both created, in distinct slots")
@Outcome(id = "1, 1, 0, 1", expect = ACCEPTABLE, desc = "stream a won the home slot, b probed to the next")
@Outcome(id = "1, 1, 1, 0", expect = ACCEPTABLE, desc = "stream b won the home slot, a probed to the next")
@Outcome(expect = FORBIDDEN, desc = "a stream lost, both in one slot, or not where linear probing puts them")
public class NewStreamSlotTest
{
    /** Streams per store: the table has twice as many slots. */
    static final int CAPACITY = 1024;
    /** States per store: each uses two streams. */
    static final int STATES = CAPACITY / 2;
    /** Distance between the home slots of consecutive states. */
    static final int SPACING = 4;
    private static final int LENGTH = 48;
    private static final long[][] IDS = CollidingIds.find(StreamIndexDescriptor.tableSize(CAPACITY), STATES, SPACING);
    private static final StorePool POOL = StorePool.builder("slot")
        .indexCapacity(CAPACITY)
        .statesPerStore(STATES)
        .segmentSize(1 << 16)
        .blocksPerChunk(CAPACITY)
        .indexView()
        .build();

    /**
     * Two new streams with the same home slot.
     */
    @State
    public static class S
    {
        final StorePool.Lease lease = POOL.lease();
        final long streamA = IDS[lease.ordinal()][0];
        final long streamB = IDS[lease.ordinal()][1];
        final int home = lease.ordinal() * SPACING;
        final byte[] payloadA = Events.payload(streamA, 1, LENGTH);
        final byte[] payloadB = Events.payload(streamB, 2, LENGTH);
    }

    /**
     * @param s the state.
     * @param r result.
     */
    @Actor
    public void createA(final S s, final JJJJ_Result r)
    {
        r.r1 = s.lease.appender(0).append(s.streamA, ExpectedVersion.NO_STREAM, 1, s.payloadA);
    }

    /**
     * @param s the state.
     * @param r result.
     */
    @Actor
    public void createB(final S s, final JJJJ_Result r)
    {
        r.r2 = s.lease.appender(1).append(s.streamB, ExpectedVersion.NO_STREAM, 2, s.payloadB);
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
            final long readA = Probes.readStream(db, s.streamA, 1, LENGTH);
            final long readB = Probes.readStream(db, s.streamB, 1, LENGTH);
            if (readA != 1 || readB != 1)
            {
                r.r3 = readA != 1 ? readA : readB;
                return;
            }
            final StreamIndex index = s.lease.index();
            final int home = index.slotOffset(s.home);
            r.r3 = (index.findSlot(s.streamA) - home) / StreamIndexDescriptor.SLOT_LENGTH;
            r.r4 = (index.findSlot(s.streamB) - home) / StreamIndexDescriptor.SLOT_LENGTH;
        }
        finally
        {
            s.lease.release();
        }
    }

    /**
     * Finds stream ids that share a home slot.
     */
    static final class CollidingIds
    {
        /** The core's hash multiplier (StreamIndex): a Fibonacci-hashing constant. */
        private static final long MIX = 0x9E3779B97F4A7C15L;

        private CollidingIds()
        {
        }

        /**
         * @param tableSize slots in the table, a power of two.
         * @param states    pairs wanted.
         * @param spacing   slots between consecutive home slots.
         * @return for state i, two ids whose home slot is {@code i * spacing}.
         */
        static long[][] find(final int tableSize, final int states, final int spacing)
        {
            final long[][] ids = new long[states][2];
            final int[] found = new int[states];
            int complete = 0;
            for (long id = 1; complete < states; id++)
            {
                final int slot = homeSlot(id, tableSize - 1);
                if (slot % spacing == 0 && slot / spacing < states && found[slot / spacing] < 2)
                {
                    final int state = slot / spacing;
                    ids[state][found[state]++] = id;
                    if (found[state] == 2)
                    {
                        complete++;
                    }
                }
            }
            return ids;
        }

        static int homeSlot(final long streamId, final int mask)
        {
            final long h = streamId * MIX;
            return (int)(h ^ (h >>> 32)) & mask;
        }
    }
}
