package io.varvedb.internal.crypto;

import io.varvedb.CorruptStoreException;
import io.varvedb.internal.log.RecordDescriptor;
import org.agrona.DirectBuffer;
import org.agrona.MutableDirectBuffer;
import org.agrona.collections.Long2ObjectHashMap;
import org.agrona.concurrent.UnsafeBuffer;


/**
 * One thread's ciphers of stream data keys (an appender's, or a reader's): a cache of up to {@link #CACHE_SIZE}
 * keys, by stream, evicted oldest first. The per-event work is a hash look-up (no allocation), a volatile read of the
 * key's state (a shred in any thread or process shows at the next event) and the cipher itself. A miss costs the
 * key's unwrapping once per process, and, once the cache is full, re-keying the evicted stream's cipher: the JDK's
 * AES key schedule (about 2 KB) is all it allocates. Each cached key holds its GHASH tables (4 KiB) and the JDK's
 * cipher: a full cache is about 3 MiB per thread.
 * <p>
 * Seals and opens event records as {@link RecordDescriptor} lays out encrypted events. Not thread-safe.
 */
public final class StreamCiphers
{
    /** Keys kept per thread. */
    public static final int CACHE_SIZE = 512;

    /** A cached key: its entry in the key file and its cipher. */
    private static final class Cached
    {
        long entry;
        Gcm cipher;
    }

    private final KeyFile keys;
    /** Asked before a stream's first key is made: does it hold events already? Null for readers. */
    private final java.util.function.LongPredicate hasEvents;
    private final Gcm.Work work = new Gcm.Work();
    /** Sized so that it never grows: a look-up, an insert and a removal allocate nothing. */
    private final Long2ObjectHashMap<Cached> byStream = new Long2ObjectHashMap<>(CACHE_SIZE * 4, 0.5f);
    /** The cached streams in the order they came in: the oldest goes first. */
    private final long[] arrivals = new long[CACHE_SIZE];
    private int oldest;

    /**
     * @param keys the store's key file.
     */
    public StreamCiphers(final KeyFile keys)
    {
        this(keys, null);
    }

    /**
     * @param keys      the store's key file.
     * @param hasEvents for an appender: true if a stream holds events (then a missing key is damage, and no new key
     *                  is made for it).
     */
    public StreamCiphers(final KeyFile keys, final java.util.function.LongPredicate hasEvents)
    {
        this.keys = keys;
        this.hasEvents = hasEvents;
    }

    /**
     * @param streamId a stream to append to.
     * @return its cipher, its key made if it had none.
     * @throws io.varvedb.StreamShreddedException if the stream was shredded.
     */
    public Gcm forAppend(final long streamId)
    {
        final Cached cached = byStream.get(streamId);
        if (cached != null && !keys.isShredded(cached.entry))
        {
            return cached.cipher;
        }
        // events first, then the key file: a stream's key is published before its first event is committed, so
        // an event seen means its key is found (looked for the other way round, another process's first append
        // could land in between, and its key be taken for missing)
        if (cached == null && hasEvents != null && hasEvents.test(streamId) && keys.find(streamId) < 0)
        {
            throw new CorruptStoreException("stream " + streamId + " holds events but has no data key in " +
                keys.path() + " (the key file was replaced by an older or another one, or damaged): a new key would " +
                "leave its events unreadable for good, so nothing is appended. Restore the store's key file");
        }
        // throws if shredded
        final long entry = keys.entryFor(streamId, true);
        return cached != null ? cached.cipher : load(streamId, entry);
    }

    /**
     * @param streamId a stream whose encrypted event is being read.
     * @return its cipher, or null if it was shredded.
     * @throws CorruptStoreException if the stream has no key at all.
     */
    public Gcm forRead(final long streamId)
    {
        final Cached cached = byStream.get(streamId);
        if (cached != null)
        {
            return keys.isShredded(cached.entry) ? null : cached.cipher;
        }
        final long entry = keys.find(streamId);
        if (entry < 0)
        {
            throw new CorruptStoreException("stream " + streamId + " has encrypted events but no data key in " +
                keys.path());
        }
        return keys.isShredded(entry) ? null : load(streamId, entry);
    }

    private Gcm load(final long streamId, final long entry)
    {
        final byte[] key = keys.keyOf(entry);
        Cached cached;
        if (byStream.size() < CACHE_SIZE)
        {
            cached = new Cached();
            cached.cipher = new Gcm(key, work);
        }
        else
        {
            // the oldest goes; its cipher object takes the new key
            cached = byStream.remove(arrivals[oldest]);
            cached.cipher.rekey(key);
        }
        cached.entry = entry;
        byStream.put(streamId, cached);
        arrivals[oldest] = streamId;
        oldest = (oldest + 1) % CACHE_SIZE;
        return cached.cipher;
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
