package io.varvedb.internal.crypto;

import org.agrona.concurrent.UnsafeBuffer;

import java.util.function.IntConsumer;

import static io.varvedb.internal.crypto.KeyFileDescriptor.*;

/**
 * The entry protocol of {@code varve.keys} over its buffer (see {@link KeyFileDescriptor}): claiming the next
 * entry, and waiting for an entry another process claimed to be settled. Static, over any buffer, so that the
 * jcstress test {@code KeyClaimRaceTest} races exactly what {@link KeyFile} runs.
 */
public final class KeyEntries
{
    /** What {@link #awaitSettled} returns when it gave up waiting. */
    public static final long TIMED_OUT = -1;

    private KeyEntries()
    {
    }

    /**
     * Claim the next free entry.
     *
     * @param buffer     the key file.
     * @param capacity   its entries.
     * @param claimState the claimer's CLAIMED state ({@link KeyFileDescriptor#claimedBy}).
     * @param allocate   given the end offset of an entry before it is written, so that its disk blocks exist.
     * @return the entry claimed, or -1 if the file is full.
     */
    public static long claim(
        final UnsafeBuffer buffer, final int capacity, final long claimState, final IntConsumer allocate)
    {
        while (true)
        {
            // acquire: the count moves on only past a claimed entry, so every entry below it is not EMPTY
            final long count = buffer.getLongVolatile(COUNT_OFFSET);
            if (count >= capacity)
            {
                return -1;
            }
            final int offset = entryOffset(count);
            allocate.accept(offset + ENTRY_LENGTH);
            // CAS: one claimer per entry, in this process or another
            if (buffer.compareAndSetLong(offset + STATE_OFFSET, EMPTY, claimState))
            {
                buffer.compareAndSetLong(COUNT_OFFSET, count, count + 1);
                return count;
            }
            // taken: move the count past it (its claimer may not have yet) and try the next
            buffer.compareAndSetLong(COUNT_OFFSET, count, count + 1);
        }
    }

    /**
     * Publish a claimed entry: its stream id and wrapped key are written, then its state with a release store, so
     * that whoever acquires the state reads them.
     *
     * @param buffer   the key file.
     * @param entry    the claimed entry.
     * @param streamId its stream.
     * @param wrapped  its wrapped key, or null (a stream shredded before it had one).
     * @param state    READY, or SHREDDED.
     */
    public static void publish(
        final UnsafeBuffer buffer, final long entry, final long streamId, final byte[] wrapped, final long state)
    {
        final int offset = entryOffset(entry);
        buffer.putLong(offset + STREAM_ID_OFFSET, streamId);
        if (wrapped != null)
        {
            buffer.putBytes(offset + WRAPPED_KEY_OFFSET, wrapped);
        }
        // release: pairs with the acquire in awaitSettled and every reader of the state
        buffer.putLongRelease(offset + STATE_OFFSET, state);
    }

    /**
     * Wait until an entry is settled (neither EMPTY below the count nor CLAIMED). A claimer that died never used
     * the entry's key (a key is used only once its entry is READY): its entry is discarded, with a CAS, so only
     * that claim is.
     *
     * @param buffer     the key file.
     * @param offset     the entry's offset.
     * @param mayDiscard false for a reader, which only skips a dead claimer's entry.
     * @param deadlineNs when to give up ({@link System#nanoTime()}).
     * @return the settled state (DISCARDED for a dead claimer's), or {@link #TIMED_OUT}.
     */
    public static long awaitSettled(
        final UnsafeBuffer buffer, final int offset, final boolean mayDiscard, final long deadlineNs)
    {
        // acquire: pairs with the release in publish, so a settled entry's stream id is read whole
        long state = buffer.getLongVolatile(offset + STATE_OFFSET);
        int idles = 0;
        while (isClaimed(state) || state == EMPTY)
        {
            if (state == EMPTY)
            {
                // below the count an entry is EMPTY only if a power cut kept the count and lost the entry (the count
                // moves past an entry only after its claim): nobody will ever finish it
                if (!mayDiscard || buffer.compareAndSetLong(offset + STATE_OFFSET, EMPTY, DISCARDED))
                {
                    return DISCARDED;
                }
                state = buffer.getLongVolatile(offset + STATE_OFFSET);
                continue;
            }
            if (isClaimed(state) && !ProcessHandle.of(state >>> 8).map(ProcessHandle::isAlive).orElse(false))
            {
                // CAS: only if it is still that dead process's claim
                if (!mayDiscard || buffer.compareAndSetLong(offset + STATE_OFFSET, state, DISCARDED))
                {
                    return DISCARDED;
                }
            }
            if (System.nanoTime() > deadlineNs)
            {
                return TIMED_OUT;
            }
            if (idles++ < 100)
            {
                Thread.onSpinWait();
            }
            else
            {
                Thread.yield();
            }
            state = buffer.getLongVolatile(offset + STATE_OFFSET);
        }
        return state;
    }
}
