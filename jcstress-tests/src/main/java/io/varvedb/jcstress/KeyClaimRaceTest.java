package io.varvedb.jcstress;

import io.varvedb.internal.crypto.KeyEntries;
import io.varvedb.internal.crypto.KeyFileDescriptor;
import org.agrona.concurrent.UnsafeBuffer;
import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Description;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.JJ_Result;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

/**
 * Two writer processes (actors here, each as a process would: no lock between them) make the first data key of the
 * same stream at once in {@code varve.keys}: each claims an entry with a CAS, publishes it READY with a release
 * store, then looks at every entry before its own, waiting out CLAIMED ones (acquire), and uses the first entry of
 * the stream. Both must end with the same entry: two keys used for one stream would leave half its events
 * unreadable by the other process.
 * <p>
 * Result: the entry each actor uses.
 */
@JCStressTest
@Description("two writer processes making the first key of one stream at once: both use the same entry")
@Outcome(id = "0, 0", expect = ACCEPTABLE, desc = "both use the first entry of the stream")
@Outcome(expect = FORBIDDEN, desc = "two keys for one stream, or a lost claim")
public class KeyClaimRaceTest
{
    private static final long STREAM = 42;
    private static final int CAPACITY = 4;
    private static final long CLAIMED = KeyFileDescriptor.claimedBy(ProcessHandle.current().pid());
    private static final byte[] WRAPPED = new byte[KeyFileDescriptor.WRAPPED_KEY_LENGTH];

    /** A key file's header and four entries, in memory. */
    @State
    public static class S
    {
        final UnsafeBuffer buffer = new UnsafeBuffer(new byte[(int)KeyFileDescriptor.fileLength(CAPACITY)]);

        long makeKey()
        {
            final long mine = KeyEntries.claim(buffer, CAPACITY, CLAIMED, (end) -> { });
            KeyEntries.publish(buffer, mine, STREAM, WRAPPED, KeyFileDescriptor.READY);
            for (long entry = 0; entry < mine; entry++)
            {
                final int offset = KeyFileDescriptor.entryOffset(entry);
                final long state = KeyEntries.awaitSettled(buffer, offset, true, Long.MAX_VALUE);
                if (state != KeyFileDescriptor.DISCARDED &&
                    buffer.getLong(offset + KeyFileDescriptor.STREAM_ID_OFFSET) == STREAM)
                {
                    buffer.putLongRelease(KeyFileDescriptor.entryOffset(mine) + KeyFileDescriptor.STATE_OFFSET,
                        KeyFileDescriptor.DISCARDED);
                    return entry;
                }
            }
            return mine;
        }
    }

    /**
     * @param s the key file.
     * @param r the entry the first process uses.
     */
    @Actor
    public void first(final S s, final JJ_Result r)
    {
        r.r1 = s.makeKey();
    }

    /**
     * @param s the key file.
     * @param r the entry the second process uses.
     */
    @Actor
    public void second(final S s, final JJ_Result r)
    {
        r.r2 = s.makeKey();
    }
}
