package io.varvedb.internal.crypto;

import io.varvedb.CorruptStoreException;
import io.varvedb.internal.log.RecordDescriptor;
import org.agrona.DirectBuffer;
import org.agrona.MutableDirectBuffer;
import org.agrona.collections.Hashing;
import org.agrona.concurrent.UnsafeBuffer;

import java.util.Arrays;

/**
 * One thread's ciphers of stream data keys (an appender's, or a reader's): a direct-mapped cache of
 * {@link #CACHE_SIZE} keys, so that the per-event work is a hash, a volatile read of the key's state (a shred in
 * any thread or process shows at the next event) and the cipher itself; no allocation unless the key is not
 * cached. Seals and opens event records as {@link RecordDescriptor} lays out encrypted events.
 * <p>
 * Not thread-safe.
 */
public final class StreamCiphers
{
    /** Keys kept per thread. */
    public static final int CACHE_SIZE = 256;

    private final KeyFile keys;
    private final Gcm.Work work = new Gcm.Work();
    private final long[] streams = new long[CACHE_SIZE];
    private final long[] entries = new long[CACHE_SIZE];
    private final Gcm[] ciphers = new Gcm[CACHE_SIZE];

    /**
     * @param keys the store's key file.
     */
    public StreamCiphers(final KeyFile keys)
    {
        this.keys = keys;
        Arrays.fill(entries, -1);
    }

    /**
     * @param streamId a stream to append to.
     * @return its cipher, its key made if it had none.
     * @throws io.varvedb.StreamShreddedException if the stream was shredded.
     */
    public Gcm forAppend(final long streamId)
    {
        final int slot = Hashing.hash(streamId, CACHE_SIZE - 1);
        final long entry = entries[slot];
        if (entry >= 0 && streams[slot] == streamId && !keys.isShredded(entry))
        {
            return ciphers[slot];
        }
        // throws if shredded
        return load(slot, streamId, keys.entryFor(streamId, true));
    }

    /**
     * @param streamId a stream whose encrypted event is being read.
     * @return its cipher, or null if it was shredded.
     * @throws CorruptStoreException if the stream has no key at all.
     */
    public Gcm forRead(final long streamId)
    {
        final int slot = Hashing.hash(streamId, CACHE_SIZE - 1);
        long entry = entries[slot];
        if (entry < 0 || streams[slot] != streamId)
        {
            entry = keys.find(streamId);
            if (entry < 0)
            {
                throw new CorruptStoreException("stream " + streamId + " has encrypted events but no data key in " +
                    keys.path());
            }
            if (keys.isShredded(entry))
            {
                return null;
            }
            return load(slot, streamId, entry);
        }
        return keys.isShredded(entry) ? null : ciphers[slot];
    }

    private Gcm load(final int slot, final long streamId, final long entry)
    {
        if (ciphers[slot] != null)
        {
            ciphers[slot].destroy();
        }
        entries[slot] = -1;
        final Gcm cipher = new Gcm(keys.keyOf(entry), work);
        ciphers[slot] = cipher;
        streams[slot] = streamId;
        entries[slot] = entry;
        return cipher;
    }

    /**
     * Encrypt an event's payload into its record, whose header (and event id) are written: the nonce prefix,
     * the cipher text, the tag.
     *
     * @param cipher       the stream's cipher ({@link #forAppend}).
     * @param generation   this open's writer generation.
     * @param position     the record's log position.
     * @param record       the buffer holding the record.
     * @param recordOffset the record's offset in it.
     * @param flags        the record's flags ({@link RecordDescriptor#FLAG_ENCRYPTED} among them).
     * @param src          the clear payload.
     * @param srcOffset    its offset.
     * @param length       its length.
     */
    public static void seal(
        final Gcm cipher, final int generation, final long position, final UnsafeBuffer record,
        final int recordOffset, final short flags, final DirectBuffer src, final int srcOffset, final int length)
    {
        final int payloadOffset = RecordDescriptor.payloadOffset(flags);
        record.putInt(recordOffset + payloadOffset - RecordDescriptor.NONCE_PREFIX_LENGTH, generation);
        cipher.encrypt(position, generation, record, recordOffset + RecordDescriptor.AAD_START,
            payloadOffset - RecordDescriptor.NONCE_PREFIX_LENGTH - RecordDescriptor.AAD_START,
            src, srcOffset, length, record, recordOffset + payloadOffset);
    }

    /**
     * Decrypt an encrypted event record's payload.
     *
     * @param cipher       the stream's cipher ({@link #forRead}).
     * @param position     the record's log position.
     * @param record       the buffer holding the record.
     * @param recordOffset the record's offset in it.
     * @param frameLength  its frame length.
     * @param dst          where the clear payload goes, from offset 0.
     * @return the payload's length, or -1 if the tag does not hold (the record was damaged, forged or moved).
     */
    public static int open(
        final Gcm cipher, final long position, final UnsafeBuffer record, final int recordOffset,
        final int frameLength, final MutableDirectBuffer dst)
    {
        final short flags = record.getShort(recordOffset + RecordDescriptor.FLAGS_OFFSET);
        final int payloadOffset = RecordDescriptor.payloadOffset(flags);
        final int length = RecordDescriptor.payloadLength(flags, frameLength);
        final int generation = record.getInt(recordOffset + payloadOffset - RecordDescriptor.NONCE_PREFIX_LENGTH);
        final boolean authentic = cipher.decrypt(position, generation, record,
            recordOffset + RecordDescriptor.AAD_START,
            payloadOffset - RecordDescriptor.NONCE_PREFIX_LENGTH - RecordDescriptor.AAD_START,
            record, recordOffset + payloadOffset, length, dst, 0);
        return authentic ? length : -1;
    }
}
