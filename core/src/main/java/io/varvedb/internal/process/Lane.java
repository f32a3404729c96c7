package io.varvedb.internal.process;

import org.agrona.concurrent.UnsafeBuffer;

import static io.varvedb.internal.process.RegistryDescriptor.*;

/**
 * Flyweight over one lane of {@code varve.procs}: the appender that owns it says, before each step that another
 * process could find half done, what that step is (see {@link RegistryDescriptor}). Each write is a release store
 * (a plain store on x86), so whoever sees a later step's effect in the shared files sees the lane say it first.
 */
public final class Lane
{
    private final UnsafeBuffer buffer;
    private final int index;
    private final int offset;

    Lane(final UnsafeBuffer buffer, final int index)
    {
        this.buffer = buffer;
        this.index = index;
        this.offset = laneOffset(index);
    }

    /**
     * A lane over a buffer laid out as {@code varve.procs} (for tests of the protocol).
     *
     * @param buffer a buffer of {@link RegistryDescriptor#LENGTH} bytes.
     * @param index  the lane.
     * @return the flyweight.
     */
    public static Lane over(final UnsafeBuffer buffer, final int index)
    {
        return new Lane(buffer, index);
    }

    /**
     * @return the lane's index.
     */
    public int index()
    {
        return index;
    }

    /**
     * @return what a pending slot state holds to name this lane: its index plus one.
     */
    public int holder()
    {
        return index + 1;
    }

    /**
     * Before the CAS that would take {@code slot} from {@code previousVersion}: a survivor that finds the slot held
     * by this lane then knows at which version to give it back.
     *
     * @param slot            the stream slot.
     * @param previousVersion its version before the CAS.
     */
    public void intent(final int slot, final long previousVersion)
    {
        buffer.putLong(offset + LANE_PREVIOUS_OFFSET, previousVersion);
        // release: the version above, and this, come before the CAS that names this lane in the slot (the CAS is a
        // full fence; a survivor that acquires the slot's state sees both)
        buffer.putLongRelease(offset + LANE_SLOT_OFFSET, slot);
    }

    /**
     * Before the claim's atomic add: this append may claim log space at or after {@code tail}. A survivor never
     * repairs a hole at or after the mark of a live lane.
     *
     * @param tail the log tail read just before.
     */
    public void begin(final long tail)
    {
        buffer.putLong(offset + LANE_CLAIM_OFFSET, NONE);
        // release: the claim is cleared before the mark says an append is in flight; the atomic add that follows
        // is a full fence, so a process that reads a tail covering our claim sees this mark (or a later step)
        buffer.putLongRelease(offset + LANE_FROM_OFFSET, tail);
    }

    /**
     * After the claim: where it landed. Written before any byte of the record.
     *
     * @param position the claim's position.
     * @param length   its aligned length.
     */
    public void claimed(final long position, final int length)
    {
        buffer.putLong(offset + LANE_CLAIM_LENGTH_OFFSET, length);
        // release: the length above comes first; the record's frame, written after, comes after this
        buffer.putLongRelease(offset + LANE_CLAIM_OFFSET, position);
    }

    /**
     * The append is done (published and committed, or undone): nothing of it is left for a survivor.
     */
    public void end()
    {
        // release: everything the append wrote happens-before a survivor seeing the lane idle
        buffer.putLongRelease(offset + LANE_FROM_OFFSET, NONE);
    }

    /**
     * @return the slot this lane holds or is about to take (acquire), or {@link RegistryDescriptor#NONE}.
     */
    public long slot()
    {
        return buffer.getLongAcquire(offset + LANE_SLOT_OFFSET);
    }

    /**
     * @return the version of {@link #slot()} before this lane's CAS.
     */
    public long previousVersion()
    {
        return buffer.getLong(offset + LANE_PREVIOUS_OFFSET);
    }

    /**
     * @return the in-flight mark: the tail when the append in flight began its claim, or {@link Long#MAX_VALUE}.
     */
    public long inFlightFrom()
    {
        final long from = buffer.getLongAcquire(offset + LANE_FROM_OFFSET);
        return from == NONE ? Long.MAX_VALUE : from;
    }
}
