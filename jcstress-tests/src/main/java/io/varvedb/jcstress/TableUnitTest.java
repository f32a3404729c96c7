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
 * Two actors create two different new streams whose slots lie in the same allocation unit of the stream table, a
 * unit nobody has written yet: both must make sure the unit is allocated before they claim a slot in it. The
 * allocation writes zeros over the whole unit through the file channel, then sets the unit's bit (a release); a
 * creator that sees the bit (acquire) writes its slot after those zeros. Should a creator write its slot before
 * the other's allocation ended (a bit published too early, read too weakly, or a second allocation of the same
 * unit), the zeros would wipe the stream it created: it would not read back, or its slot would be gone.
 * <p>
 * Each state gets a unit of its own: the streams' home slots are the first and the middle slot of unit
 * {@code ordinal + 1} (unit 0, with the header, is allocated with the file), found by the core's hash (as in
 * {@link NewStreamSlotTest}).
 * <p>
 * Result: r1, r2 = the versions the two appends got; r3, r4 = the events stream a and b read back (negative codes
 * for a damaged read), or -100 when a stream's slot is not where its home slot is, or its unit is not marked.
 */
@JCStressTest
@Description("two new streams in one never-written unit of the stream table: both created, neither wiped")
@Outcome(id = "1, 1, 1, 1", expect = ACCEPTABLE, desc = "both streams created, in their home slots, unit marked")
@Outcome(expect = FORBIDDEN, desc = "a stream lost or wiped by the unit's allocation")
public class TableUnitTest
{
    /** Streams per store: the default, a table of 33 units of 2 MiB (the last one 4 KiB). */
    static final int CAPACITY = 1 << 20;
    /** Slots per allocation unit. */
    static final int SLOTS_PER_UNIT = StreamIndexDescriptor.UNIT_LENGTH / StreamIndexDescriptor.SLOT_LENGTH;
    /** States per store: one whole unit each, beside unit 0. */
    static final int STATES = StreamIndexDescriptor.unitCount(StreamIndexDescriptor.tableSize(CAPACITY)) - 2;
    private static final int LENGTH = 48;
    private static final long NOT_IN_PLACE = -100;
    private static final long[][] IDS = find(StreamIndexDescriptor.tableSize(CAPACITY));
    private static final StorePool POOL = StorePool.builder("unit")
        .indexCapacity(CAPACITY)
        .statesPerStore(STATES)
        .segmentSize(1 << 20)
        .blocksPerChunk(1 << 12)
        .indexView()
        .build();

    /**
     * Two new streams in one fresh unit.
     */
    @State
    public static class S
    {
        final StorePool.Lease lease = POOL.lease();
        final long streamA = IDS[lease.ordinal()][0];
        final long streamB = IDS[lease.ordinal()][1];
        final int unit = lease.ordinal() + 1;
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
            r.r3 = Probes.readStream(db, s.streamA, 1, LENGTH);
            r.r4 = Probes.readStream(db, s.streamB, 1, LENGTH);
            final StreamIndex index = s.lease.index();
            final int first = index.slotOffset(firstSlot(s.unit));
            final int middle = index.slotOffset(firstSlot(s.unit) + SLOTS_PER_UNIT / 2);
            if (index.findSlot(s.streamA) != first || !index.unitAllocated(first))
            {
                r.r3 = NOT_IN_PLACE;
            }
            if (index.findSlot(s.streamB) != middle)
            {
                r.r4 = NOT_IN_PLACE;
            }
        }
        finally
        {
            s.lease.release();
        }
    }

    /**
     * @param unit a unit from 1.
     * @return the index of its first slot.
     */
    static int firstSlot(final int unit)
    {
        return (unit * StreamIndexDescriptor.UNIT_LENGTH - StreamIndexDescriptor.HEADER_LENGTH) /
            StreamIndexDescriptor.SLOT_LENGTH;
    }

    /**
     * @param tableSize slots in the table, a power of two.
     * @return for state i (unit i + 1), an id whose home slot is the unit's first slot and one whose home slot is
     * its middle one.
     */
    static long[][] find(final int tableSize)
    {
        final long[][] ids = new long[STATES][2];
        int missing = 2 * STATES;
        for (long id = 1; missing > 0; id++)
        {
            final int slot = NewStreamSlotTest.CollidingIds.homeSlot(id, tableSize - 1);
            final long offset = (long)slot * StreamIndexDescriptor.SLOT_LENGTH + StreamIndexDescriptor.HEADER_LENGTH;
            final int unit = (int)(offset / StreamIndexDescriptor.UNIT_LENGTH);
            if (unit < 1 || unit > STATES)
            {
                continue;
            }
            final int within = slot - firstSlot(unit);
            final int which = within == 0 ? 0 : within == SLOTS_PER_UNIT / 2 ? 1 : -1;
            if (which >= 0 && ids[unit - 1][which] == 0)
            {
                ids[unit - 1][which] = id;
                missing--;
            }
        }
        return ids;
    }
}
