package io.varvedb.internal.store;

import io.varvedb.internal.index.StreamIndex;
import io.varvedb.internal.log.Log;
import io.varvedb.internal.log.Padding;
import io.varvedb.internal.process.ProcessRegistry;
import io.varvedb.internal.process.RegistryDescriptor;
import org.agrona.concurrent.Agent;
import org.agrona.concurrent.UnsafeBuffer;

import java.nio.channels.FileLock;
import java.util.concurrent.TimeUnit;

import static io.varvedb.internal.index.StreamIndexDescriptor.committedState;
import static io.varvedb.internal.index.StreamIndexDescriptor.tombstonedState;
import static io.varvedb.internal.index.StreamIndexDescriptor.pendingState;
import static io.varvedb.internal.log.RecordDescriptor.*;
import static io.varvedb.internal.process.RegistryDescriptor.*;

/**
 * In multi-process mode, finishes or undoes what a dead writer process left half done, so that it never stops the
 * others: a stream it held pending (appenders to it would spin for ever) and log space it claimed but never
 * published (every reader of the log would wait at the hole for ever).
 * <p>
 * <b>Only the dead are repaired over.</b> A process is dead when the record lock of its participant entry in
 * {@code varve.lock} can be taken: the kernel drops it when the process exits, however it exits, and never while it
 * runs, however slowly (a collector pause, {@code SIGSTOP}). Taking that lock is also what makes one survivor the
 * repairer: the others find it held, and take the participant for alive until the repairer frees it.
 * <p>
 * <b>A dead process's lanes say what to do.</b> For the one stream a lane may hold ({@code pendingState} names the
 * lane, so the slot's state is compared whole): if the lane's claim holds a published event record, the append
 * is finished (its positions are indexed, its versions committed: readers may already have seen it); otherwise
 * the claim, if any, is padded and the stream goes back to the version it had. Nothing acknowledged is lost: an
 * append is acknowledged only after its commit.
 * <p>
 * <b>A hole nobody alive can own is padded.</b> A reader stopped at an unpublished position {@code h} below the
 * tail is unblocked by {@link #unblock}, which pads from {@code h} only if no lane of a live process has an
 * in-flight mark at or below {@code h}. That rule cannot pad over a live appender's record, by construction: an
 * appender sets its mark (the tail it read, so at most its claim's position) with a release store before the atomic
 * add that claims, and clears it only after it published. The repairer reads the tail first (so every claim below
 * it is ordered before, with the mark set before the claim), then the marks, then reads the frame length at
 * {@code h} again: a live claimer of {@code h} shows a mark at or below {@code h}, or has cleared it after
 * publishing, and then the frame length is no longer what it was. The padding itself is written by a CAS on the
 * frame length from the value seen (0, or the negative length of a claim begun), so a late write by anyone, or a
 * second repairer, cannot interleave with it.
 * <p>
 * Every position it reads or writes is a dead writer's claim or a hole in flight, at or after the durable position
 * and the oldest claim in flight: no segment there is ever compacted ({@code Log.replaceSegment}), so it addresses
 * them with {@code Log.plainOffset} and reads outside the store's read sections.
 */
public final class Repairer implements Agent
{
    /** How often the watchdog looks for dead processes and stuck readers. */
    public static final long PERIOD_NS = TimeUnit.MILLISECONDS.toNanos(10);
    /**
     * How long the published end must stay at a hole before the watchdog tries to unblock it; it looks only while
     * holes of a dead appender may remain (see {@link #doWork}).
     */
    public static final long STUCK_NS = TimeUnit.MILLISECONDS.toNanos(20);

    private final Log log;
    private final StreamIndex index;
    private final ProcessRegistry registry;
    private final UnsafeBuffer lanes;
    private static final long NOTHING_TO_HUNT = Long.MAX_VALUE;
    private final Object huntLock = new Object();
    /** Lowest in-flight mark of a dead appender whose holes are still to be looked for; guarded by huntLock. */
    private long huntFrom = NOTHING_TO_HUNT;
    /** The tail when the last of those was found dead; guarded by huntLock. */
    private long huntTo;
    private long frontier;
    private io.varvedb.internal.index.EventIdTable eventIds;
    private io.varvedb.internal.index.EventIdTable.LogCheck logCheck;
    private long stuckAt = -1;
    private long stuckSinceNs;

    /**
     * @param log      the log.
     * @param index    the stream index.
     * @param registry the process registry.
     * @param from     a position below which every record is published.
     */
    public Repairer(final Log log, final StreamIndex index, final ProcessRegistry registry, final long from)
    {
        this.log = log;
        this.index = index;
        this.registry = registry;
        this.lanes = registry.buffer();
        this.frontier = from;
    }

    @Override
    public int doWork()
    {
        int work = repairDead();
        final long from;
        final long to;
        synchronized (huntLock)
        {
            from = huntFrom;
            to = huntTo;
        }
        if (from == NOTHING_TO_HUNT)
        {
            // no dead process left holes to look for: the log is not walked (that would cost a core's share at
            // full append rate), only the process table is looked at
            return work;
        }
        // every hole a dead appender can have left lies at or after its lane's in-flight mark, and below the tail
        // seen when it was found dead (the dead claim nothing more); below the mark, a walk from an earlier
        // frontier passed only published records, so it may start at the mark
        frontier = Math.max(frontier, from);
        frontier = log.publishedEnd(frontier, to);
        if (frontier >= to)
        {
            synchronized (huntLock)
            {
                if (huntFrom == from && huntTo == to)
                {
                    huntFrom = NOTHING_TO_HUNT;
                    huntTo = 0;
                }
            }
            return work;
        }
        final long now = System.nanoTime();
        if (frontier != stuckAt)
        {
            stuckAt = frontier;
            stuckSinceNs = now;
        }
        else if (now - stuckSinceNs >= STUCK_NS && unblock(frontier))
        {
            work++;
        }
        return work;
    }

    /**
     * Look for holes a dead appender may have left: from its in-flight mark up to the tail now.
     */
    private void hunt(final long from)
    {
        final long tail = log.tail();
        synchronized (huntLock)
        {
            huntFrom = Math.min(huntFrom, from);
            huntTo = Math.max(huntTo, tail);
        }
    }

    @Override
    public String roleName()
    {
        return "varve-repairer";
    }

    /**
     * @param eventIds the event id table, whose slots a dead process held are resolved with its lanes.
     */
    public void eventIds(final io.varvedb.internal.index.EventIdTable eventIds)
    {
        this.eventIds = eventIds;
        this.logCheck = EventIdRecovery.logCheck(log);
    }

    /**
     * Repair every participant whose process is dead.
     *
     * @return how many were repaired.
     */
    public int repairDead()
    {
        int repaired = 0;
        for (int p = 0; p < RegistryDescriptor.PARTICIPANTS; p++)
        {
            if (registry.isActive(p) && repairIfDead(p))
            {
                repaired++;
            }
        }
        return repaired;
    }

    /**
     * An appender found a stream pending for long: repair its holder's process if it is dead.
     *
     * @param holder the holder named in the slot state: a lane plus one.
     */
    public void repairHolder(final int holder)
    {
        if (holder <= 0 || holder > RegistryDescriptor.LANES)
        {
            return;
        }
        final int p = registry.ownerOf(holder - 1);
        if (p >= 0)
        {
            repairIfDead(p);
        }
    }

    private boolean repairIfDead(final int p)
    {
        final FileLock lock = registry.claimIfDead(p);
        if (lock == null)
        {
            return false;
        }
        boolean repaired = false;
        try
        {
            final int[] lanes = registry.lanesOf(p);
            for (final int lane : lanes)
            {
                repairLane(lane);
            }
            if (eventIds != null && lanes.length > 0)
            {
                // after the lanes' appends are finished or undone, and before the lanes can go to other appenders:
                // an id slot one held is committed if its event is in the log, dead otherwise (one pass for all)
                eventIds.resolvePending((holder) -> contains(lanes, holder - 1), logCheck);
            }
            repaired = true;
        }
        finally
        {
            if (repaired)
            {
                registry.free(p, lock);
            }
            else
            {
                // its lanes stay as they are, named by the slots it holds: freed now, a lane could go to another
                // appender while a slot still names it; the next round tries again
                io.varvedb.internal.process.LockFile.releaseQuietly(lock);
            }
        }
        return true;
    }

    private static boolean contains(final int[] values, final int value)
    {
        for (final int v : values)
        {
            if (v == value)
            {
                return true;
            }
        }
        return false;
    }

    /**
     * Finish or undo the append a dead process's lane was making (see the class comment).
     */
    private void repairLane(final int lane)
    {
        final int offset = laneOffset(lane);
        final long from = lanes.getLongVolatile(offset + LANE_FROM_OFFSET);
        final long claim = from == NONE ? NONE : lanes.getLongVolatile(offset + LANE_CLAIM_OFFSET);
        final int claimLength = (int)lanes.getLongVolatile(offset + LANE_CLAIM_LENGTH_OFFSET);
        final long slot = lanes.getLongVolatile(offset + LANE_SLOT_OFFSET);
        final long previous = lanes.getLongVolatile(offset + LANE_PREVIOUS_OFFSET);
        final int holder = lane + 1;
        if (from != NONE)
        {
            // whatever happens below, a claim it made without saying where is a hole at or after `from`
            hunt(from);
        }

        final boolean published = claim != NONE && publishedEvent(claim);
        if (slot != NONE && index.state((int)slot) == pendingState(previous, holder))
        {
            if (published)
            {
                finish((int)slot, previous, holder, claim, claimLength);
                return;
            }
            padClaim(claim, claimLength);
            // the record never was published: nobody saw it; the stream goes back to where it was
            index.compareAndSetState((int)slot, pendingState(previous, holder), committedState(previous));
            return;
        }
        // a published stream name record (its lane holds no slot) is whole: it stays
        if (claim != NONE && !published && !publishedName(claim))
        {
            padClaim(claim, claimLength);
        }
    }

    private boolean publishedEvent(final long position)
    {
        final UnsafeBuffer buffer = log.readBuffer(position);
        if (buffer == null)
        {
            return false;
        }
        final int offset = log.plainOffset(position);
        return buffer.getIntAcquire(offset + FRAME_LENGTH_OFFSET) > 0 &&
            buffer.getShort(offset + RECORD_TYPE_OFFSET) == TYPE_EVENT;
    }

    private boolean publishedName(final long position)
    {
        final UnsafeBuffer buffer = log.readBuffer(position);
        if (buffer == null)
        {
            return false;
        }
        final int offset = log.plainOffset(position);
        return buffer.getIntAcquire(offset + FRAME_LENGTH_OFFSET) > 0 &&
            buffer.getShort(offset + RECORD_TYPE_OFFSET) == TYPE_STREAM_NAME;
    }

    /** Index the dead append's published records and commit their versions. */
    private void finish(final int slot, final long previous, final int holder, final long claim, final int length)
    {
        final long streamId = index.streamIdAt(slot);
        long last = previous;
        boolean tombstone = false;
        long position = claim;
        final long end = claim + length;
        while (position < end)
        {
            final UnsafeBuffer buffer = log.readBuffer(position);
            final int offset = log.plainOffset(position);
            final int frameLength = buffer.getIntAcquire(offset + FRAME_LENGTH_OFFSET);
            if (frameLength <= 0)
            {
                break;
            }
            if (buffer.getShort(offset + RECORD_TYPE_OFFSET) == TYPE_EVENT &&
                buffer.getLong(offset + STREAM_ID_OFFSET) == streamId)
            {
                final long version = buffer.getLong(offset + VERSION_OFFSET);
                if (version == last + 1)
                {
                    index.putPosition(slot, version, position);
                    last = version;
                    tombstone = (buffer.getShort(offset + FLAGS_OFFSET) & FLAG_TOMBSTONE) != 0;
                }
            }
            position += alignedLength(frameLength);
        }
        // release (a CAS): the block entries above happen-before anyone sees the versions committed
        index.compareAndSetState(slot, pendingState(previous, holder),
            tombstone ? tombstonedState(last) : committedState(last));
    }

    private void padClaim(final long claim, final int length)
    {
        if (claim == NONE || length <= 0)
        {
            return;
        }
        final UnsafeBuffer buffer = log.readBuffer(claim);
        if (buffer == null)
        {
            return;
        }
        final int offset = log.plainOffset(claim);
        final int frameLength = buffer.getIntVolatile(offset + FRAME_LENGTH_OFFSET);
        if (frameLength <= 0)
        {
            Padding.writeOver(buffer, offset, frameLength, length);
        }
    }

    /**
     * The decision of {@link #unblock}, in the order the proof needs (see the class comment): the tail was read
     * before this call; the frame length at {@code position}; the lowest in-flight mark of a live lane; the frame
     * length again.
     *
     * @param tail           the log tail, read (volatile) before this call.
     * @param position       the hole's log position.
     * @param buffer         the buffer holding it.
     * @param offset         its offset in the buffer.
     * @param oldestLiveMark reads the lowest in-flight mark of any live lane.
     * @return the frame length seen (0, or negative: a claim begun) if nobody alive can own the hole, so a CAS
     * from it may pad it; 1 if it must be left alone.
     */
    public static int abandoned(final long tail, final long position, final UnsafeBuffer buffer, final int offset,
        final java.util.function.LongSupplier oldestLiveMark)
    {
        if (position >= tail)
        {
            return 1;
        }
        // volatile: the frame length as the claimer left it
        final int seen = buffer.getIntVolatile(offset + FRAME_LENGTH_OFFSET);
        if (seen > 0)
        {
            return 1;
        }
        // acquire on each mark: a live claimer of `position` shows a mark at or below it (set before the atomic
        // add the tail read covers), or cleared it after publishing (then the frame length reads differently below)
        if (oldestLiveMark.getAsLong() <= position)
        {
            // a live appender may be writing it: it is only slow
            return 1;
        }
        return buffer.getIntVolatile(offset + FRAME_LENGTH_OFFSET) == seen ? seen : 1;
    }

    /**
     * Pad the hole at {@code position} if no live process can own it (see the class comment).
     *
     * @param position an unpublished record position below the tail, where readers stopped.
     * @return true if this call padded it.
     */
    public boolean unblock(final long position)
    {
        // the tail first: every claim below it has its claimer's mark set before it (see the class comment)
        final long tail = log.tail();
        if (position >= tail)
        {
            return false;
        }
        final UnsafeBuffer buffer = log.readBuffer(position);
        if (buffer == null)
        {
            return false;
        }
        final int offset = log.plainOffset(position);
        final long[] live = new long[1];
        final int seen = abandoned(tail, position, buffer, offset, () -> live[0] = registry.oldestLiveInFlight());
        if (seen > 0)
        {
            return false;
        }
        final long allocated = log.allocatedEnd();
        // never read past the allocated end: on tmpfs a read of a hole in a mapping allocates a page
        final long limit = Math.min(Math.min(tail, log.nextSegmentStart(position)), Math.min(live[0], allocated));
        long end;
        if (seen < 0)
        {
            end = position + alignedLength(-seen);
        }
        else
        {
            // the hole runs to the next record something was written to, or to where a live appender may claim
            end = position + ALIGNMENT;
            while (end < limit && buffer.getIntVolatile(log.plainOffset(end) + FRAME_LENGTH_OFFSET) == 0)
            {
                end += ALIGNMENT;
            }
        }
        if (end > log.nextSegmentStart(position) || end >= allocated)
        {
            // damage (a claim past its segment), or space never allocated: a padding there could fault on a
            // full disk; the claim's own process deferred it, or recovery will see to it
            return false;
        }
        return Padding.writeOver(buffer, offset, seen, (int)(end - position));
    }
}
