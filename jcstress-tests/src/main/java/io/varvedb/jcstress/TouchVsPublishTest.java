package io.varvedb.jcstress;

import io.varvedb.internal.log.RecordDescriptor;
import org.agrona.concurrent.UnsafeBuffer;
import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Arbiter;
import org.openjdk.jcstress.annotations.Description;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.III_Result;

import java.nio.ByteBuffer;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

/**
 * The pre-allocator touches the log's pages a little ahead of the tail ({@code Log.touchAhead}) with an atomic add
 * of zero to each page's first word, while an appender that overtook it may be writing a record whose header lies in
 * that very word (frame length and checksum). The touch must never write back a stale value: the appender's
 * checksum (a plain store) and its frame length (the release store that publishes the record) survive, and a
 * reader that acquires the frame length sees the checksum with it.
 * <p>
 * Result: r1 = the frame length the reader acquired (0 or 64), r2 = the checksum it read after it (0 when it saw
 * no record), r3 = the frame length and checksum left at the end, as one check (1 if both are the appender's).
 */
@JCStressTest
@Description("an atomic add of zero on a page's first word never loses an appender's header stores")
@Outcome(id = "0, 0, 1", expect = ACCEPTABLE, desc = "the reader came before the record; nothing lost")
@Outcome(id = "64, 305419896, 1", expect = ACCEPTABLE, desc = "the reader saw the whole header; nothing lost")
@Outcome(expect = FORBIDDEN, desc = "the touch wrote back a stale word, or the reader saw a length without its checksum")
public class TouchVsPublishTest
{
    private static final int LENGTH = 64;
    private static final int CHECKSUM = 0x12345678;

    /**
     * A page's first bytes.
     */
    @State
    public static class S
    {
        final UnsafeBuffer page = new UnsafeBuffer(ByteBuffer.allocateDirect(64));
    }

    /**
     * What an appender does to a record's first word: the checksum, then the frame length with release.
     *
     * @param s the state.
     */
    @Actor
    public void appender(final S s)
    {
        s.page.putInt(RecordDescriptor.CHECKSUM_OFFSET, CHECKSUM);
        s.page.putIntRelease(RecordDescriptor.FRAME_LENGTH_OFFSET, LENGTH);
    }

    /**
     * What {@code Log.touchAhead} does to the page's first word, then what a reader does (two actors: jcstress runs
     * no more threads than this machine has cores): acquire the frame length, then read the header.
     *
     * @param s the state.
     * @param r the result.
     */
    @Actor
    public void toucherThenReader(final S s, final III_Result r)
    {
        s.page.getAndAddLong(0, 0);
        final int length = s.page.getIntAcquire(RecordDescriptor.FRAME_LENGTH_OFFSET);
        r.r1 = length;
        r.r2 = length > 0 ? s.page.getInt(RecordDescriptor.CHECKSUM_OFFSET) : 0;
    }

    /**
     * @param s the state.
     * @param r the result.
     */
    @Arbiter
    public void arbiter(final S s, final III_Result r)
    {
        r.r3 = s.page.getInt(RecordDescriptor.FRAME_LENGTH_OFFSET) == LENGTH &&
            s.page.getInt(RecordDescriptor.CHECKSUM_OFFSET) == CHECKSUM ? 1 : 0;
    }
}
