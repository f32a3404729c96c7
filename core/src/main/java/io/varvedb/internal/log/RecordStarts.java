package io.varvedb.internal.log;

import io.varvedb.CorruptStoreException;
import org.agrona.concurrent.BackoffIdleStrategy;
import org.agrona.concurrent.IdleStrategy;
import org.agrona.concurrent.UnsafeBuffer;

import java.util.Arrays;
import java.util.concurrent.TimeUnit;

import static io.varvedb.internal.log.RecordDescriptor.FRAME_LENGTH_OFFSET;
import static io.varvedb.internal.log.RecordDescriptor.alignedLength;

/**
 * Tells whether a log position that came from outside (a user's argument, a checkpoint file) is where a record
 * starts. A position inside a record would make a reader take payload bytes for a record header and serve a forged
 * event, so every such position is checked once, before anything is read from it.
 * <p>
 * The only sure way to find record starts is to walk the frame lengths from a known start, and the start of each
 * segment is one. So that a check costs a short walk, not one across a whole segment, the walks leave marks: for
 * every {@value #MARK_SPAN}-byte span of a segment, a record start at or after the span's start (the first one a
 * walk met; a walk steps over a claim still being written as a whole, and the claim's end is a record start for
 * good). A check walks from the nearest mark at or below the position: about one span.
 * <p>
 * A compacted segment (see {@link SegmentDescriptor}) needs no walk: its position map tells kept record starts,
 * positions inside kept records, and dropped ranges (which readers accept: they go on at the next kept record).
 * <p>
 * Thread safety: any thread may check. Marks are plain {@code int}s written by whichever thread walks past them; a
 * mark is a fact about committed records that never changes, so a racing reader sees either no mark (0) or the
 * right one, and walks the records themselves with acquire loads of their frame lengths.
 */
public final class RecordStarts
{
    /** A record starts at the position, or the position is the end of the log. */
    public static final int RECORD_START = 0;
    /** The position lies inside a record. */
    public static final int INSIDE_RECORD = 1;
    /** The position is beyond the end of the log (its tail). */
    public static final int BEYOND_TAIL = 2;
    /** A record before the position was claimed, but its length still not written when the wait for it ended. */
    public static final int NOT_YET_PUBLISHED = 3;

    /** Bytes of segment per mark. */
    public static final int MARK_SPAN = 16 * 1024;
    private static final int MARK_SHIFT = Integer.numberOfTrailingZeros(MARK_SPAN);
    /** How long a check waits for records being written before the position. */
    private static final long PUBLISH_WAIT_NS = TimeUnit.SECONDS.toNanos(1);
    private static final int SPINS = 100;
    private static final int YIELDS = 100;
    private static final long PARK_MIN_NS = TimeUnit.MICROSECONDS.toNanos(1);
    private static final long PARK_MAX_NS = TimeUnit.MICROSECONDS.toNanos(100);

    private final Log log;
    private final Object lock = new Object();
    /** Per segment: mark {@code i} is 0 (none yet), or 1 + the offset of a record start at or after span i. */
    private volatile int[][] marks = new int[0][];

    private final boolean otherProcessWrites;

    /**
     * @param log                the log whose record starts this finds.
     * @param otherProcessWrites true in a read-only open: checksums are then computed over a copy
     *                           ({@link RecordChecksum#copying()}).
     */
    public RecordStarts(final Log log, final boolean otherProcessWrites)
    {
        this.log = log;
        this.otherProcessWrites = otherProcessWrites;
    }

    /**
     * Forget every record start found so far: after recovery changed the log (truncated it, padded holes).
     */
    public void forget()
    {
        synchronized (lock)
        {
            marks = new int[0][];
        }
    }

    /**
     * @param position a log position, a multiple of {@link RecordDescriptor#ALIGNMENT}, {@code >= 0}.
     * @return {@link #RECORD_START}, {@link #INSIDE_RECORD}, {@link #BEYOND_TAIL} or {@link #NOT_YET_PUBLISHED}.
     * @throws CorruptStoreException if a damaged record lies between the nearest known record start and the
     *                               position (so that the answer would otherwise be wrong).
     */
    public int check(final long position)
    {
        final long tail = log.tail();
        if (position > tail)
        {
            return BEYOND_TAIL;
        }
        final long segment = log.segmentOf(position);
        final int target = (int)(position - (segment * log.segmentLength()));
        if (target == 0)
        {
            return RECORD_START;
        }
        final UnsafeBuffer buffer = log.readBuffer(position);
        if (buffer == null)
        {
            throw new CorruptStoreException("log segment " + log.segmentPath(segment) + " is missing, though " +
                "the log's tail " + tail + " lies beyond it");
        }
        if (buffer instanceof CompactedBuffer)
        {
            // a compacted segment's map says it all, no walk nor marks: a kept record starts there, or the position
            // lies in a dropped range (readers go on at the next kept record), or inside a kept record
            return log.insideKept(buffer, position) ? INSIDE_RECORD : RECORD_START;
        }
        final int[] segmentMarks = marksOf(segment);
        int from = 0;
        for (int span = target >>> MARK_SHIFT; span > 0; span--)
        {
            final int mark = segmentMarks[span];
            if (mark != 0 && mark - 1 <= target)
            {
                from = mark - 1;
                break;
            }
        }
        final int verdict = walk(buffer, segment, from, target, tail, segmentMarks, null);
        if (verdict == INSIDE_RECORD)
        {
            // Rare, and the caller is about to be told its position is wrong: make sure no damaged record led the
            // walk astray, from the segment's start and with every checksum verified.
            walk(buffer, segment, 0, target, tail, null,
                otherProcessWrites ? RecordChecksum.copying() : new RecordChecksum());
        }
        return verdict;
    }

    /**
     * Walk record starts from {@code from} until {@code target} is reached or passed.
     *
     * @param marks    marks to leave on the way, or null.
     * @param checksum verify every record's checksum with it, or null to check framing only.
     */
    private int walk(
        final UnsafeBuffer buffer, final long segment, final int from, final int target, final long tail,
        final int[] marks, final RecordChecksum checksum)
    {
        final int segmentLength = log.segmentLength();
        final long base = segment * segmentLength;
        final int room = (int)Math.min(segmentLength, tail - base);
        long deadline = 0;
        IdleStrategy idle = null;
        int offset = from;
        while (offset < target)
        {
            // a plain segment (compacted ones are answered from their map)
            final int at = log.plainOffset(base + offset);
            // acquire: pairs with the release of the frame length that published the record, or of the negative
            // length an appender writes as soon as it has claimed the space
            final int frameLength = buffer.getIntAcquire(at + FRAME_LENGTH_OFFSET);
            final int length;
            if (frameLength < 0)
            {
                // claimed and being written: its extent is known, its content not yet, and no position a user was
                // given lies inside it
                length = -frameLength;
                if (length > room - offset)
                {
                    throw damaged("the claim of " + length + " bytes runs past the end of the log", base + offset);
                }
            }
            else if (frameLength == 0)
            {
                // claimed an instant ago, its length not written yet: wait for it
                final long now = System.nanoTime();
                if (idle == null)
                {
                    // allocated only when a check must wait, which an append in progress makes rare
                    idle = new BackoffIdleStrategy(SPINS, YIELDS, PARK_MIN_NS, PARK_MAX_NS);
                    deadline = now + PUBLISH_WAIT_NS;
                }
                else if (now - deadline > 0)
                {
                    return NOT_YET_PUBLISHED;
                }
                idle.idle();
                continue;
            }
            else
            {
                length = frameLength;
                final String damage = Log.frameDamage(buffer, at, frameLength, room - offset, checksum);
                if (damage != null)
                {
                    throw damaged(damage, base + offset);
                }
            }
            final int next = offset + alignedLength(length);
            if (marks != null)
            {
                // every span that starts in (offset, next] may start its walks at `next`, a record start
                final int lastSpan = Math.min(next >>> MARK_SHIFT, marks.length - 1);
                for (int span = (offset >>> MARK_SHIFT) + 1; span <= lastSpan; span++)
                {
                    marks[span] = next + 1;
                }
            }
            offset = next;
        }
        return offset == target ? RECORD_START : INSIDE_RECORD;
    }

    private CorruptStoreException damaged(final String what, final long position)
    {
        return new CorruptStoreException(what + ", at log position " + position + " in " +
            log.segmentPath(log.segmentOf(position)));
    }

    private int[] marksOf(final long segment)
    {
        final int[][] all = marks;
        if (segment < all.length && all[(int)segment] != null)
        {
            return all[(int)segment];
        }
        synchronized (lock)
        {
            int[][] grown = marks;
            if (segment >= grown.length)
            {
                grown = Arrays.copyOf(grown, (int)segment + 1);
            }
            if (grown[(int)segment] == null)
            {
                grown[(int)segment] = new int[log.segmentLength() >>> MARK_SHIFT];
            }
            // volatile publication: a thread that finds the array sees it whole
            marks = grown;
            return grown[(int)segment];
        }
    }
}
