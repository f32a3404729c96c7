package io.varvedb.jcstress;

import io.varvedb.internal.io.ForceObserver;
import io.varvedb.internal.log.RecordDescriptor;
import io.varvedb.internal.log.SegmentDescriptor;
import org.agrona.concurrent.UnsafeBuffer;

import java.io.File;
import java.nio.file.Path;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A store's {@link ForceObserver} that checks, on the forcing thread and right after the force returned, every
 * record in every forced range of the log: each must be published (positive frame length) and whole (every
 * header field, every payload byte, the checksum: {@link Events.RecordCheck}). All loads here are plain, so a
 * record passes only if its bytes happen-before the force: the ordering a durable wait must establish before it
 * forces, by acquiring the record's frame length itself or by learning the published frontier from a thread that
 * did.
 * <p>
 * Each checked event's verdict is kept by its log position ({@link #verdict}) for the arbiter of the state that
 * wrote it; the first failure of the store is also kept apart ({@link #firstFailure}), so it is reported even if
 * the force that met it came after the arbiter of that record's state. A store's files are forced as a whole when
 * it is closed; those forces (offset 0, as are the header forces of new files) are not checked: the store is
 * quiet by then.
 * <p>
 * Every event record must be a first event (version 1) with a payload of the length {@code lengths[writer]}.
 */
final class ForcedRecords implements ForceObserver
{
    /** Verdict: no force covered the record (yet). */
    static final long NOT_FORCED = 0;
    /** Verdict: every force that covered the record saw it whole. */
    static final long WHOLE = 1;
    /** Verdict: a forced range held a record whose frame length was not positive (claimed, not published). */
    static final long UNPUBLISHED = -60;
    /** Verdict: a forced range ended inside a record. */
    static final long SPLIT = -61;
    /** For tests: a record below the durable position that no force covered. */
    static final long MISSED = -62;

    private static final String SEGMENT_SUFFIX = SegmentDescriptor.SUFFIX;
    private static final int DIGITS = SegmentDescriptor.NAME_DIGITS;
    private static final int DECIMAL = 10;

    private final int[] lengths;
    private final ThreadLocal<Events.RecordCheck> checks = ThreadLocal.withInitial(Events.RecordCheck::new);
    /** Log position of each event a force covered, to its verdict. */
    private final ConcurrentHashMap<Long, Long> verdicts = new ConcurrentHashMap<>();
    private final AtomicLong firstFailure = new AtomicLong();

    /**
     * @param lengths payload length of each writer's events, indexed by writer (event type); index 0 unused.
     */
    ForcedRecords(final int... lengths)
    {
        this.lengths = lengths.clone();
    }

    @Override
    public void forced(final Path file, final UnsafeBuffer buffer, final int offset, final int length)
    {
        if (offset < SegmentDescriptor.HEADER_LENGTH)
        {
            return; // a new file's header, or a whole file at close
        }
        final long base = basePosition(file);
        if (base < 0)
        {
            return; // not a log segment
        }
        final Events.RecordCheck check = checks.get();
        final int end = offset + length;
        int at = offset;
        while (at < end)
        {
            final long position = base + at - SegmentDescriptor.HEADER_LENGTH;
            // plain load: only the force's own ordering may make it positive here
            final int frameLength = buffer.getInt(at + RecordDescriptor.FRAME_LENGTH_OFFSET);
            if (frameLength <= 0)
            {
                fail(position, UNPUBLISHED);
                return;
            }
            final int aligned = RecordDescriptor.alignedLength(frameLength);
            if (at + aligned > end)
            {
                fail(position, SPLIT);
                return;
            }
            if (buffer.getShort(at + RecordDescriptor.RECORD_TYPE_OFFSET) != RecordDescriptor.TYPE_PADDING)
            {
                final int verdict = check.check(buffer, at, frameLength, 1, lengths);
                if (verdict < 0)
                {
                    fail(position, verdict);
                }
                else
                {
                    verdicts.putIfAbsent(position, WHOLE);
                }
            }
            at += aligned;
        }
    }

    /**
     * Called by a state's arbiter, once, for a record of that state; forgets the record.
     *
     * @param position the log position of an event.
     * @return {@link #WHOLE}, {@link #NOT_FORCED}, or a negative code ({@link Events}, {@link #UNPUBLISHED},
     * {@link #SPLIT}).
     */
    long verdict(final long position)
    {
        final Long verdict = verdicts.remove(position);
        return verdict == null ? NOT_FORCED : verdict;
    }

    /**
     * @return the code of the first record any force of this store saw torn or unpublished, or 0.
     */
    long firstFailure()
    {
        return firstFailure.get();
    }

    private void fail(final long position, final long code)
    {
        verdicts.put(position, code);
        firstFailure.compareAndSet(0, code);
    }

    /**
     * @param file a forced file.
     * @return the log position of the segment's first byte, from its name, or -1 if it is not a segment.
     */
    private static long basePosition(final Path file)
    {
        final String name = file.toString(); // cached by the path: no allocation per force
        final int digitsEnd = name.length() - SEGMENT_SUFFIX.length();
        final int digitsStart = digitsEnd - DIGITS;
        if (digitsStart <= 0 || !name.endsWith(SEGMENT_SUFFIX) || name.charAt(digitsStart - 1) != File.separatorChar)
        {
            return -1;
        }
        long base = 0;
        for (int i = digitsStart; i < digitsEnd; i++)
        {
            final char c = name.charAt(i);
            if (c < '0' || c > '9')
            {
                return -1;
            }
            base = base * DECIMAL + (c - '0');
        }
        return base;
    }
}
