package io.varvedb;

import io.varvedb.internal.index.EventIdTable;
import io.varvedb.internal.index.StreamIndex;
import io.varvedb.internal.log.Log;
import io.varvedb.internal.log.Padding;
import io.varvedb.internal.log.RecordDescriptor;
import org.agrona.DirectBuffer;
import io.varvedb.internal.log.RecordChecksum;
import io.varvedb.internal.store.Flusher;
import org.agrona.concurrent.EpochNanoClock;
import org.agrona.concurrent.UnsafeBuffer;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

import static io.varvedb.internal.index.StreamIndexDescriptor.committedState;
import static io.varvedb.internal.index.StreamIndexDescriptor.isTombstoned;
import static io.varvedb.internal.index.StreamIndexDescriptor.tombstonedState;
import static io.varvedb.internal.index.StreamIndexDescriptor.committedVersion;
import static io.varvedb.internal.index.StreamIndexDescriptor.isPending;
import static io.varvedb.internal.index.StreamIndexDescriptor.pendingState;
import static io.varvedb.internal.index.StreamIndexDescriptor.holder;
import static io.varvedb.internal.index.StreamIndexDescriptor.MAX_VERSION;
import static io.varvedb.internal.index.BlockDescriptor.ordinalOf;
import static io.varvedb.internal.log.RecordDescriptor.*;

/**
 * Appends events. Get one per thread from {@link VarveDB#appender()}; it is cheap, reusable, and confined to one
 * thread at a time (using it from two threads at once fails fast with {@link IllegalStateException}, before the
 * second thread touches anything of the first one's append). {@link #close()} it when done; one dropped without
 * that is collected by the garbage collector, as the store holds it only weakly.
 * <p>
 * Every append carries an expected version. The protocol for one event:
 * <ol>
 *   <li>one CAS on the stream's slot moves its state from {@code version} to {@code version | PENDING}; a
 *   stream not at the expected version fails here, having written nothing;</li>
 *   <li>one atomic add on the log tail claims space for the record;</li>
 *   <li>the record is written, checksummed, and published by a release store of its length;</li>
 *   <li>its position goes into the stream's block, and a release store commits {@code version + 1}.</li>
 * </ol>
 * A stream without events is the exception: its first append claims and writes its record, takes an index block
 * and creates the stream's slot (at version 0) before one CAS on that slot takes the stream.
 * Whatever can fail (the codec, a new segment, disk for its index block or its slot's table unit, a full index)
 * thus fails before the stream exists, and leaves no slot behind; an appender that loses that CAS to another turns
 * its record into padding and decides again.
 * <p>
 * An append may carry an <b>event id</b> for exactly-once appends (see
 * {@link #append(long, ExpectedVersion, int, long, long, DirectBuffer, int, int)}): before step 1 the id is looked up
 * in the store's id table (a retry returns there), and after step 2 it is inserted by one CAS on its slot, which is
 * committed after step 3; an append of an id that loses that CAS to another append of it pads its claim and answers
 * as a retry.
 * <p>
 * Appenders to different streams never wait for one another. Appenders to the same stream serialise on the
 * pending bit for the few tens of nanoseconds of steps 2-4, which is what keeps each stream's events in the log
 * in version order and makes {@link VarveDB#streamVersion} never run ahead of what a reader can read.
 * <p>
 * Between the CAS and the publish:
 * <ul>
 *   <li>An appender paused there (descheduled, a safepoint) delays only later appends to <em>its</em> stream,
 *   which spin and then yield, and readers of the global log, which stop before its unpublished record and
 *   find it on their next read. No other stream waits.</li>
 *   <li>Any exception there (a failing codec, a payload buffer that throws, an {@link Error}) gives the stream
 *   back unchanged: the state returns to the old version and the claimed space becomes padding.</li>
 *   <li>A crash there leaves the slot pending on disk and the claimed space a hole or a record with a negative
 *   length. Recovery rebuilds the index from the log, where the unfinished record does not count, and turns
 *   the hole into padding if whole records follow it. Because the stream was held, no later event of that
 *   stream can exist, so its versions stay dense.</li>
 * </ul>
 */
public final class Appender implements AutoCloseable
{
    /** {@link #tryAppend} result: the stream was not at the expected version; see {@link #lastActualVersion()}. */
    public static final long CONFLICT = -1;

    /** {@link #acquire} result: the stream has no events, nothing is held. */
    private static final long FRESH = 0;
    /** Most names an appender remembers the ids of; past it the map starts again, empty. */
    private static final int NAME_CACHE_LIMIT = 4096;
    /** {@link #existing} result: the event id is not in the store. */
    private static final long ABSENT = 0;
    private static final int NO_SLOT = -1;
    private static final byte[] NO_BYTES = new byte[0];

    private static final int IDLE = 0;
    private static final int BUSY = 1;
    private static final int CLOSED = 2;
    private static final int SPINS_BEFORE_YIELD = 64;
    /** Yields between two looks at whether the holder of a stream pending for long is alive (a power of two). */
    private static final int HOLDER_CHECK_INTERVAL = 1024;
    /** Spins and yields (about a few milliseconds) before a wait for a held stream parks between looks. */
    private static final int PARK_AFTER = 4096;
    /** The pause between looks at a stream held for long. */
    private static final long HELD_PARK_NS = java.util.concurrent.TimeUnit.MICROSECONDS.toNanos(50);
    private static final VarHandle GUARD;
    private static final VarHandle IN_FLIGHT;

    static
    {
        try
        {
            GUARD = MethodHandles.lookup().findVarHandle(Appender.class, "guard", int.class);
            IN_FLIGHT = MethodHandles.lookup().findVarHandle(Appender.class, "inFlightFrom", long.class);
        }
        catch (final ReflectiveOperationException ex)
        {
            throw new ExceptionInInitializerError(ex);
        }
    }

    private final VarveDB db;
    private final Flusher flusher;
    private final boolean sync;
    private final Log log;
    private final StreamIndex index;
    private final EpochNanoClock clock;
    private final int maxEventSize;
    private final UnsafeBuffer arrayView = new UnsafeBuffer(NO_BYTES);
    private final UnsafeBuffer codecView = new UnsafeBuffer(NO_BYTES);
    private final RecordChecksum crc = new RecordChecksum();
    /**
     * This appender's ciphers of stream keys, in an encrypted store; null otherwise, and for the store's own
     * appender ({@link #writesSystemStreams()}: metadata and tombstones stay clear, for recovery).
     */
    private io.varvedb.internal.crypto.StreamCiphers ciphers;
    /** This open's writer generation, the stored part of every nonce (see {@code RecordDescriptor}). */
    private final int generation;
    /** Bytes an event takes beyond its clear frame: the nonce prefix and tag in an encrypted store, else 0. */
    private int encryptionOverhead;
    /** Encrypts event ids in an encrypted store (the table and the log hold them encrypted); null otherwise. */
    private final io.varvedb.internal.crypto.IdCipher idCipher;
    /** A batch's event ids as stored (encrypted in an encrypted store), read once per batch append. */
    private long[] scratchIdHigh = new long[16];
    private long[] scratchIdLow = new long[16];
    /** A typed event is encoded here, then encrypted into the log: no clear byte is written to a mapping. */
    private final org.agrona.ExpandableArrayBuffer encodeScratch;
    private final EventIdTable ids;
    /** Asked, in multi-process mode, about the holder of an id slot pending for long; null otherwise. */
    private final EventIdTable.HolderCheck holderCheck;
    private boolean lastWasDuplicate;
    /** {@link RecordDescriptor#FLAG_TOMBSTONE} while {@link #appendTombstone} appends, else 0. */
    private short tombstoneFlag;
    private static final UnsafeBuffer EMPTY = new UnsafeBuffer(new byte[0]);
    /** Names this appender resolved, and their ids: a name's id never changes. */
    private final org.agrona.collections.Object2LongHashMap<String> nameIds =
        new org.agrona.collections.Object2LongHashMap<>(0);
    private int[] scratchOrder = new int[16];
    private int[] scratchIdSlots = new int[16];
    @SuppressWarnings("unused")
    private volatile int guard;
    @SuppressWarnings("unused")
    private volatile long inFlightFrom = Long.MAX_VALUE;
    private long cachedStreamId;
    private int cachedSlot = -1;
    private long lastPosition = -1;
    private long lastActualVersion;
    private int reservedSlot;
    private long[] spareBlocks = new long[1];
    private int spareBlockCount;
    /** Multi-process mode: the registry lanes come from, and the repairer a long wait calls on. */
    private final io.varvedb.internal.process.ProcessRegistry registry;
    private final io.varvedb.internal.store.Repairer repairer;
    /** Multi-process mode: the lane this appender says what it does in, taken at its first append. */
    private io.varvedb.internal.process.Lane lane;
    /** What this appender's pending states name: its lane plus one, or 0 in single-process mode. */
    private int holder;
    /** This appender's entry in its store's registry, which holds it weakly. */
    io.varvedb.internal.util.WeakRegistry.Entry<Appender> registration;
    /** Its counters in varve.counters; null with counters off. */
    private final io.varvedb.internal.counters.AppenderCounters counters;
    /** Records append latencies; null unless the store records them. */
    private final io.varvedb.internal.counters.LatencySink latency;
    /** When the append in progress was called, for {@link #latency}. */
    private long enteredNs;
    /** Gives the counters back (see {@link #releaseCounters}); null with counters off. */
    private final java.lang.ref.Cleaner.Cleanable countersCleanup;

    Appender(
        final VarveDB db,
        final Log log,
        final StreamIndex index,
        final Flusher flusher,
        final VarveConfig config,
        final io.varvedb.internal.process.ProcessRegistry registry,
        final io.varvedb.internal.store.Repairer repairer,
        final EventIdTable ids)
    {
        this.registry = registry;
        this.repairer = repairer;
        this.ids = ids;
        final io.varvedb.internal.crypto.KeyFile keys = db.keys();
        this.ciphers = keys == null ? null :
            new io.varvedb.internal.crypto.StreamCiphers(keys, db::hasEventsWithoutKey);
        this.generation = keys == null ? 0 : keys.generation();
        this.encryptionOverhead = keys == null ? 0 : ENCRYPTION_OVERHEAD;
        this.encodeScratch = keys == null ? null : new org.agrona.ExpandableArrayBuffer(0);
        this.idCipher = keys == null ? null : new io.varvedb.internal.crypto.IdCipher(keys.idKey());
        this.holderCheck = repairer == null ? null : repairer::repairHolder;
        this.db = db;
        this.flusher = flusher;
        this.sync = config.durability() == Durability.SYNC;
        final EpochNanoClock clock = config.clock();
        final int maxEventSize = config.maxEventSize();
        this.log = log;
        this.index = index;
        this.clock = clock;
        this.maxEventSize = maxEventSize;
        final io.varvedb.internal.counters.StoreCounters store = db.storeCounters();
        if (store != null)
        {
            final io.varvedb.internal.counters.AppenderCounters own = store.newAppender();
            this.counters = own;
            // its own recorder (no cache line shared with other appenders), passed on with its counters
            this.latency = own.latency();
            // an appender dropped without close() gives its counters back once collected (its counts are kept)
            this.countersCleanup = io.varvedb.internal.counters.StoreCounters.CLEANER.register(
                this, () -> store.retire(own));
        }
        else
        {
            this.counters = null;
            this.countersCleanup = null;
            this.latency = null;
        }
    }

    /**
     * Count a failed append by kind (a conflict is counted where it is found) and hand the exception back.
     */
    private <E extends RuntimeException> E failed(final E ex)
    {
        if (counters != null && !(ex instanceof ConcurrencyConflictException))
        {
            db.countError(ex);
        }
        return ex;
    }

    /** Hand this appender's counters, its counts in them, to the next appender; once. */
    void releaseCounters()
    {
        if (countersCleanup != null)
        {
            countersCleanup.clean();
        }
    }

    /**
     * Append one event.
     *
     * @param streamId  a positive stream id.
     * @param expected  what the stream's version must be.
     * @param eventType the application's event type.
     * @param payload   holding the payload.
     * @param offset    of the payload.
     * @param length    of the payload.
     * @return the event's version in its stream.
     * @throws ConcurrencyConflictException if the stream was not at the expected version; nothing is written.
     */
    public long append(
        final long streamId,
        final ExpectedVersion expected,
        final int eventType,
        final DirectBuffer payload,
        final int offset,
        final int length)
    {
        return append(streamId, expected, eventType, 0, 0, payload, offset, length);
    }

    /**
     * Append one event.
     *
     * @param streamId  a positive stream id.
     * @param expected  what the stream's version must be.
     * @param eventType the application's event type.
     * @param payload   the payload.
     * @return the event's version in its stream.
     * @throws ConcurrencyConflictException if the stream was not at the expected version; nothing is written.
     */
    public long append(final long streamId, final ExpectedVersion expected, final int eventType, final byte[] payload)
    {
        return append(streamId, expected, eventType, 0, 0, payload);
    }

    /**
     * Append one event whose payload is {@code payload[offset, offset + length)}. Allocates nothing.
     *
     * @param streamId  a positive stream id.
     * @param expected  what the stream's version must be.
     * @param eventType the application's event type.
     * @param payload   holding the payload.
     * @param offset    of the payload in the array.
     * @param length    of the payload.
     * @return the event's version in its stream.
     * @throws ConcurrencyConflictException if the stream was not at the expected version; nothing is written.
     * @throws IndexOutOfBoundsException    if the range is not inside the array; nothing is written.
     */
    public long append(
        final long streamId,
        final ExpectedVersion expected,
        final int eventType,
        final byte[] payload,
        final int offset,
        final int length)
    {
        final long expectedVersion = expected.value();
        checkStreamId(streamId);
        requirePayload(payload);
        checkRange(payload, offset, length);
        checkSize(length);
        enter();
        try
        {
            // the array view is this appender's state: wrapped only under the guard, and let go before leaving
            arrayView.wrap(payload);
            return orThrow(appendOne(streamId, expectedVersion, eventType, 0, 0, arrayView, offset, length), streamId,
                expectedVersion);
        }
        catch (final RuntimeException ex)
        {
            throw failed(ex);
        }
        finally
        {
            arrayView.wrap(NO_BYTES);
            exit();
        }
    }

    /**
     * Append one typed event, encoded straight into the claimed log space.
     *
     * @param streamId  a positive stream id.
     * @param expected  what the stream's version must be.
     * @param eventType the application's event type.
     * @param event     the event.
     * @param codec     encodes it.
     * @param <T>       the event's class.
     * @return the event's version in its stream.
     * @throws ConcurrencyConflictException if the stream was not at the expected version; nothing is written.
     */
    public <T> long append(
        final long streamId, final ExpectedVersion expected, final int eventType, final T event, final Codec<T> codec)
    {
        return append(streamId, expected, eventType, 0, 0, event, codec);
    }

    /**
     * Append one event exactly once: with an event id, unique in the whole store. If an event with this id is in
     * the store already, in this stream, the append is a retry of that one: it writes nothing and returns the
     * original event's version, whatever {@code expected} says ({@link #lastWasDuplicate()} is then true and
     * {@link #lastPosition()} the original's position). Two appends of one id at once, in any threads or processes:
     * exactly one writes it, the other gets the duplicate answer. Allocates nothing.
     *
     * @param streamId    a stream id.
     * @param expected    what the stream's version must be (unless the id is in the store already).
     * @param eventType   the application's event type.
     * @param eventIdHigh the id's high 64 bits.
     * @param eventIdLow  the id's low 64 bits; the id 0, 0 means none (a plain append).
     * @param payload     holding the payload.
     * @param offset      of the payload.
     * @param length      of the payload.
     * @return the event's version in its stream (the original's, for a retry).
     * @throws ConcurrencyConflictException if the id is new and the stream was not at the expected version.
     * @throws EventIdConflictException     if another stream's event holds the id; nothing is written.
     * @throws EventIdTableFullException    if the id is new and the store's event id table is full.
     */
    public long append(
        final long streamId,
        final ExpectedVersion expected,
        final int eventType,
        final long eventIdHigh,
        final long eventIdLow,
        final DirectBuffer payload,
        final int offset,
        final int length)
    {
        final long expectedVersion = expected.value();
        checkStreamId(streamId);
        requirePayload(payload);
        checkRange(payload, offset, length);
        checkSize(length);
        enter();
        try
        {
            return orThrow(appendOne(streamId, expectedVersion, eventType, eventIdHigh, eventIdLow, payload, offset,
                length), streamId, expectedVersion);
        }
        catch (final RuntimeException ex)
        {
            throw failed(ex);
        }
        finally
        {
            exit();
        }
    }

    /**
     * {@link #append(long, ExpectedVersion, int, long, long, DirectBuffer, int, int)} with the payload in an array.
     *
     * @param streamId    a stream id.
     * @param expected    what the stream's version must be (unless the id is in the store already).
     * @param eventType   the application's event type.
     * @param eventIdHigh the id's high 64 bits.
     * @param eventIdLow  the id's low 64 bits.
     * @param payload     the payload.
     * @return the event's version in its stream (the original's, for a retry).
     */
    public long append(
        final long streamId,
        final ExpectedVersion expected,
        final int eventType,
        final long eventIdHigh,
        final long eventIdLow,
        final byte[] payload)
    {
        requirePayload(payload);
        final long expectedVersion = expected.value();
        checkStreamId(streamId);
        checkSize(payload.length);
        enter();
        try
        {
            arrayView.wrap(payload);
            return orThrow(appendOne(streamId, expectedVersion, eventType, eventIdHigh, eventIdLow, arrayView, 0,
                payload.length), streamId, expectedVersion);
        }
        catch (final RuntimeException ex)
        {
            throw failed(ex);
        }
        finally
        {
            arrayView.wrap(NO_BYTES);
            exit();
        }
    }

    /**
     * {@link #append(long, ExpectedVersion, int, long, long, byte[])} with a {@link java.util.UUID} for the id.
     *
     * @param streamId  a stream id.
     * @param expected  what the stream's version must be (unless the id is in the store already).
     * @param eventType the application's event type.
     * @param eventId   the event's id.
     * @param payload   the payload.
     * @return the event's version in its stream (the original's, for a retry).
     */
    public long append(
        final long streamId,
        final ExpectedVersion expected,
        final int eventType,
        final java.util.UUID eventId,
        final byte[] payload)
    {
        return append(streamId, expected, eventType, eventId.getMostSignificantBits(),
            eventId.getLeastSignificantBits(), payload);
    }

    /**
     * {@link #append(long, ExpectedVersion, int, long, long, DirectBuffer, int, int)} with a {@link java.util.UUID}.
     *
     * @param streamId  a stream id.
     * @param expected  what the stream's version must be (unless the id is in the store already).
     * @param eventType the application's event type.
     * @param eventId   the event's id.
     * @param payload   holding the payload.
     * @param offset    of the payload.
     * @param length    of the payload.
     * @return the event's version in its stream (the original's, for a retry).
     */
    public long append(
        final long streamId,
        final ExpectedVersion expected,
        final int eventType,
        final java.util.UUID eventId,
        final DirectBuffer payload,
        final int offset,
        final int length)
    {
        return append(streamId, expected, eventType, eventId.getMostSignificantBits(),
            eventId.getLeastSignificantBits(), payload, offset, length);
    }

    /**
     * Append one typed event exactly once (see
     * {@link #append(long, ExpectedVersion, int, long, long, DirectBuffer, int, int)}).
     *
     * @param streamId    a stream id.
     * @param expected    what the stream's version must be (unless the id is in the store already).
     * @param eventType   the application's event type.
     * @param eventIdHigh the id's high 64 bits.
     * @param eventIdLow  the id's low 64 bits.
     * @param event       the event.
     * @param codec       encodes it.
     * @param <T>         the event's class.
     * @return the event's version in its stream (the original's, for a retry).
     */
    public <T> long append(
        final long streamId,
        final ExpectedVersion expected,
        final int eventType,
        final long eventIdHigh,
        final long eventIdLow,
        final T event,
        final Codec<T> codec)
    {
        final long expectedVersion = expected.value();
        checkStreamId(streamId);
        final int maxLength = maxEncodedLength(event, codec);
        enter();
        try
        {
            return orThrow(appendTyped(streamId, expectedVersion, eventType, eventIdHigh, eventIdLow, event, codec,
                maxLength), streamId, expectedVersion);
        }
        catch (final RuntimeException ex)
        {
            throw failed(ex);
        }
        finally
        {
            exit();
        }
    }

    /**
     * {@link #append(long, ExpectedVersion, int, long, long, Object, Codec)} with a {@link java.util.UUID}.
     *
     * @param streamId  a stream id.
     * @param expected  what the stream's version must be (unless the id is in the store already).
     * @param eventType the application's event type.
     * @param eventId   the event's id.
     * @param event     the event.
     * @param codec     encodes it.
     * @param <T>       the event's class.
     * @return the event's version in its stream (the original's, for a retry).
     */
    public <T> long append(
        final long streamId,
        final ExpectedVersion expected,
        final int eventType,
        final java.util.UUID eventId,
        final T event,
        final Codec<T> codec)
    {
        return append(streamId, expected, eventType, eventId.getMostSignificantBits(),
            eventId.getLeastSignificantBits(), event, codec);
    }

    /**
     * Append a batch: consecutive versions, contiguous in the log, all or nothing.
     *
     * @param streamId a positive stream id.
     * @param expected what the stream's version must be before the batch.
     * @param batch    one or more events.
     * @return the version of the batch's last event.
     * @throws ConcurrencyConflictException if the stream was not at the expected version; nothing is written.
     */
    public long appendBatch(final long streamId, final ExpectedVersion expected, final EventBatch batch)
    {
        final long expectedVersion = expected.value();
        checkStreamId(streamId);
        final int count = batchSize(batch);
        enter();
        try
        {
            return orThrow(writeBatch(streamId, expectedVersion, batch, count), streamId, expectedVersion);
        }
        catch (final RuntimeException ex)
        {
            throw failed(ex);
        }
        finally
        {
            exit();
        }
    }

    /**
     * Turn a {@link #CONFLICT} into its exception while the guard is held, so the actual version it carries is
     * this append's, whatever another thread misusing the appender does.
     */
    private long orThrow(final long result, final long streamId, final long expectedVersion)
    {
        if (result == CONFLICT)
        {
            throw new ConcurrencyConflictException(streamId, expectedVersion, lastActualVersion);
        }
        return result;
    }

    /**
     * Append one event without allocating and without throwing on a conflict.
     *
     * @param streamId        a positive stream id.
     * @param expectedVersion an {@link ExpectedVersion#value()} encoding: a version {@code >= 0},
     *                        {@link ExpectedVersion#ANY_VALUE} or {@link ExpectedVersion#STREAM_EXISTS_VALUE}.
     * @param eventType       the application's event type.
     * @param payload         holding the payload.
     * @param offset          of the payload.
     * @param length          of the payload.
     * @return the event's version, or {@link #CONFLICT} (then {@link #lastActualVersion()} tells the stream's
     * version, and nothing was written).
     */
    public long tryAppend(
        final long streamId,
        final long expectedVersion,
        final int eventType,
        final DirectBuffer payload,
        final int offset,
        final int length)
    {
        return tryAppend(streamId, expectedVersion, eventType, 0, 0, payload, offset, length);
    }

    /**
     * {@link #tryAppend(long, long, int, DirectBuffer, int, int)} with the payload in an array:
     * {@code payload[offset, offset + length)}.
     *
     * @param streamId        a positive stream id.
     * @param expectedVersion an {@link ExpectedVersion#value()} encoding.
     * @param eventType       the application's event type.
     * @param payload         holding the payload.
     * @param offset          of the payload in the array.
     * @param length          of the payload.
     * @return the event's version, or {@link #CONFLICT}.
     * @throws IndexOutOfBoundsException if the range is not inside the array; nothing is written.
     */
    public long tryAppend(
        final long streamId,
        final long expectedVersion,
        final int eventType,
        final byte[] payload,
        final int offset,
        final int length)
    {
        return tryAppend(streamId, expectedVersion, eventType, 0, 0, payload, offset, length);
    }

    /**
     * {@link #tryAppend(long, long, int, DirectBuffer, int, int)} for a typed event encoded in place.
     *
     * @param streamId        a positive stream id.
     * @param expectedVersion an {@link ExpectedVersion#value()} encoding.
     * @param eventType       the application's event type.
     * @param event           the event.
     * @param codec           encodes it.
     * @param <T>             the event's class.
     * @return the event's version, or {@link #CONFLICT}.
     */
    public <T> long tryAppend(
        final long streamId, final long expectedVersion, final int eventType, final T event, final Codec<T> codec)
    {
        return tryAppend(streamId, expectedVersion, eventType, 0, 0, event, codec);
    }

    /**
     * {@link #tryAppend(long, long, int, DirectBuffer, int, int)} exactly once: with an event id (see
     * {@link #append(long, ExpectedVersion, int, long, long, DirectBuffer, int, int)}). A retry of an id in the
     * store returns the original event's version and sets {@link #lastWasDuplicate()}; it is never a
     * {@link #CONFLICT}.
     *
     * @param streamId        a stream id.
     * @param expectedVersion an {@link ExpectedVersion#value()} encoding.
     * @param eventType       the application's event type.
     * @param eventIdHigh     the id's high 64 bits.
     * @param eventIdLow      the id's low 64 bits; 0, 0 means none.
     * @param payload         holding the payload.
     * @param offset          of the payload.
     * @param length          of the payload.
     * @return the event's version (the original's, for a retry), or {@link #CONFLICT}.
     * @throws EventIdConflictException if another stream's event holds the id.
     */
    public long tryAppend(
        final long streamId,
        final long expectedVersion,
        final int eventType,
        final long eventIdHigh,
        final long eventIdLow,
        final DirectBuffer payload,
        final int offset,
        final int length)
    {
        checkStreamId(streamId);
        ExpectedVersion.validate(expectedVersion);
        requirePayload(payload);
        checkRange(payload, offset, length);
        checkSize(length);
        enter();
        try
        {
            return appendOne(streamId, expectedVersion, eventType, eventIdHigh, eventIdLow, payload, offset, length);
        }
        catch (final RuntimeException ex)
        {
            throw failed(ex);
        }
        finally
        {
            exit();
        }
    }

    /**
     * {@link #tryAppend(long, long, int, long, long, DirectBuffer, int, int)} with the payload in an array.
     *
     * @param streamId        a stream id.
     * @param expectedVersion an {@link ExpectedVersion#value()} encoding.
     * @param eventType       the application's event type.
     * @param eventIdHigh     the id's high 64 bits.
     * @param eventIdLow      the id's low 64 bits.
     * @param payload         holding the payload.
     * @param offset          of the payload in the array.
     * @param length          of the payload.
     * @return the event's version (the original's, for a retry), or {@link #CONFLICT}.
     */
    public long tryAppend(
        final long streamId,
        final long expectedVersion,
        final int eventType,
        final long eventIdHigh,
        final long eventIdLow,
        final byte[] payload,
        final int offset,
        final int length)
    {
        checkStreamId(streamId);
        ExpectedVersion.validate(expectedVersion);
        requirePayload(payload);
        checkRange(payload, offset, length);
        checkSize(length);
        enter();
        try
        {
            arrayView.wrap(payload);
            return appendOne(streamId, expectedVersion, eventType, eventIdHigh, eventIdLow, arrayView, offset, length);
        }
        catch (final RuntimeException ex)
        {
            throw failed(ex);
        }
        finally
        {
            arrayView.wrap(NO_BYTES);
            exit();
        }
    }

    /**
     * {@link #tryAppend(long, long, int, Object, Codec)} exactly once, with an event id.
     *
     * @param streamId        a stream id.
     * @param expectedVersion an {@link ExpectedVersion#value()} encoding.
     * @param eventType       the application's event type.
     * @param eventIdHigh     the id's high 64 bits.
     * @param eventIdLow      the id's low 64 bits.
     * @param event           the event.
     * @param codec           encodes it.
     * @param <T>             the event's class.
     * @return the event's version (the original's, for a retry), or {@link #CONFLICT}.
     */
    public <T> long tryAppend(
        final long streamId,
        final long expectedVersion,
        final int eventType,
        final long eventIdHigh,
        final long eventIdLow,
        final T event,
        final Codec<T> codec)
    {
        checkStreamId(streamId);
        ExpectedVersion.validate(expectedVersion);
        final int maxLength = maxEncodedLength(event, codec);
        enter();
        try
        {
            return appendTyped(streamId, expectedVersion, eventType, eventIdHigh, eventIdLow, event, codec, maxLength);
        }
        catch (final RuntimeException ex)
        {
            throw failed(ex);
        }
        finally
        {
            exit();
        }
    }

    /**
     * {@link #appendBatch} without allocating and without throwing on a conflict.
     *
     * @param streamId        a positive stream id.
     * @param expectedVersion an {@link ExpectedVersion#value()} encoding.
     * @param batch           one or more events.
     * @return the version of the last event, or {@link #CONFLICT}.
     */
    public long tryAppendBatch(final long streamId, final long expectedVersion, final EventBatch batch)
    {
        checkStreamId(streamId);
        ExpectedVersion.validate(expectedVersion);
        final int count = batchSize(batch);
        enter();
        try
        {
            return writeBatch(streamId, expectedVersion, batch, count);
        }
        catch (final RuntimeException ex)
        {
            throw failed(ex);
        }
        finally
        {
            exit();
        }
    }

    private int[] scratchOffsets = new int[16];
    private int[] scratchLengths = new int[16];

    private void ensureBatchScratch(final int count)
    {
        if (scratchOffsets.length < count)
        {
            scratchOffsets = new int[Math.max(count, scratchOffsets.length * 2)];
            scratchLengths = new int[scratchOffsets.length];
        }
    }

    /**
     * @return true if the last append's event id (for a batch, its ids) was in the store already, so that it wrote
     * nothing and returned the earlier append's version ({@link #lastPosition()} is that event's position); false
     * after an append that wrote its events, or one without ids.
     */
    public boolean lastWasDuplicate()
    {
        return lastWasDuplicate;
    }

    /**
     * @return the log position of the last event this appender appended (for a batch, its last event), or -1.
     */
    public long lastPosition()
    {
        return lastPosition;
    }

    /**
     * Wait until the event at {@code position} is forced to disk, forcing it now if the flusher has not yet.
     * On return {@link VarveDB#durablePosition()} is past the whole event (for the last event of a batch, past the
     * whole batch), so it survives a power cut. If an earlier record is still being written by another appender,
     * this waits for it to be published first: the durable position never covers a record that is not whole.
     * Many appenders waiting at once share one force. Needed only in {@link Durability#OS} and
     * {@link Durability#GROUP_COMMIT}; in {@link Durability#SYNC} an append returns durable.
     *
     * @param position an event's log position, for example {@link #lastPosition()}.
     * @throws IllegalArgumentException if {@code position} is negative or not below the log's tail (no append
     *                                  has reached it, so there is nothing to wait for).
     * @throws StoreClosedException     if this appender or its store is closed.
     */
    public void awaitDurable(final long position)
    {
        if (position < 0)
        {
            throw new IllegalArgumentException("not a log position: " + position);
        }
        enter();
        try
        {
            final long tail = log.tail();
            if (position >= tail)
            {
                throw new IllegalArgumentException("log position " + position + " is not below the tail " + tail +
                    ": no event has been appended there");
            }
            flusher.forceUpTo(position + 1);
        }
        catch (final RuntimeException ex)
        {
            throw failed(ex);
        }
        finally
        {
            exit();
        }
    }

    /**
     * @return after a {@link #CONFLICT}: the stream's committed version when the append was refused.
     */
    public long lastActualVersion()
    {
        return lastActualVersion;
    }

    /**
     * Release this appender. Appending afterwards throws {@link StoreClosedException}.
     */
    @Override
    public void close()
    {
        closeGuard();
        releaseLane();
        releaseCounters();
        db.release(this);
    }

    /**
     * The stream id of a name, created on first use: {@link VarveDB#streamId(String)} through this appender, whose
     * thread writes the name's record itself, so creations on many threads do not wait on one another.
     *
     * @param name the stream's name, 1 to {@link VarveDB#MAX_STREAM_NAME_LENGTH} bytes of UTF-8.
     * @return its stream id (negative).
     * @throws NameTableFullException if the name is new and the store holds its name capacity.
     */
    public long streamId(final String name)
    {
        // a name's id never changes: the names this appender used last are answered from its own map, without
        // encoding the name or reading the table (no allocation once the name is in the map)
        final long cached = cachedNameId(name);
        if (cached != 0)
        {
            return cached;
        }
        final long streamId = db.streamId(name, this);
        cacheNameId(name, streamId);
        return streamId;
    }

    private long cachedNameId(final String name)
    {
        guardOnly();
        try
        {
            return name == null ? 0 : nameIds.getValue(name);
        }
        finally
        {
            GUARD.setRelease(this, IDLE);
        }
    }

    private void cacheNameId(final String name, final long streamId)
    {
        guardOnly();
        try
        {
            if (nameIds.size() >= NAME_CACHE_LIMIT)
            {
                nameIds.clear();
            }
            nameIds.put(name, streamId);
        }
        finally
        {
            GUARD.setRelease(this, IDLE);
        }
    }

    /** The guard of {@link #enter()} alone, for this appender's own state outside an append. */
    private void guardOnly()
    {
        // CAS, not a plain flag: close() CASes the same field, so "closed" and "in an append" exclude each other
        if (!GUARD.compareAndSet(this, IDLE, BUSY))
        {
            if ((int)GUARD.getVolatile(this) == CLOSED)
            {
                throw new StoreClosedException("this appender is closed (or its store " + db.directory() +
                    " is closed)");
            }
            throw new IllegalStateException("an Appender is confined to one thread at a time: get one per thread " +
                "from VarveDB.appender()");
        }
    }

    /**
     * Append one event to a named stream, creating the name on first use. Resolving the name costs a hash lookup
     * and its UTF-8 encoding; a hot path resolves it once with {@link #streamId(String)} and appends by id.
     *
     * @param stream    the stream's name.
     * @param expected  what the stream's version must be.
     * @param eventType the application's event type.
     * @param payload   the payload.
     * @return the event's version in its stream.
     * @throws ConcurrencyConflictException if the stream was not at the expected version; nothing is written.
     */
    public long append(final String stream, final ExpectedVersion expected, final int eventType, final byte[] payload)
    {
        return append(streamId(stream), expected, eventType, payload);
    }

    /**
     * Append one event to a named stream, creating the name on first use.
     *
     * @param stream    the stream's name.
     * @param expected  what the stream's version must be.
     * @param eventType the application's event type.
     * @param payload   holding the payload.
     * @param offset    of the payload.
     * @param length    of the payload.
     * @return the event's version in its stream.
     * @throws ConcurrencyConflictException if the stream was not at the expected version; nothing is written.
     */
    public long append(
        final String stream,
        final ExpectedVersion expected,
        final int eventType,
        final DirectBuffer payload,
        final int offset,
        final int length)
    {
        return append(streamId(stream), expected, eventType, payload, offset, length);
    }

    /**
     * Append stream {@code streamId}'s tombstone: an event with no payload and {@link RecordDescriptor#FLAG_TOMBSTONE}
     * at the next version, committed as the stream's final state, through the usual claim, publish and repair
     * steps (so a crash, in any process, leaves the stream either untouched or tombstoned).
     *
     * @return the tombstone's version.
     * @throws ConcurrencyConflictException if the stream was not at the expected version.
     * @throws StreamDeletedException       if it is tombstoned already.
     */
    long appendTombstone(final long streamId, final ExpectedVersion expected)
    {
        final long expectedVersion = expected.value();
        checkStreamId(streamId);
        enter();
        try
        {
            tombstoneFlag = FLAG_TOMBSTONE;
            return orThrow(appendOne(streamId, expectedVersion, TOMBSTONE_EVENT_TYPE, 0, 0, EMPTY, 0, 0),
                streamId, expectedVersion);
        }
        catch (final RuntimeException ex)
        {
            throw failed(ex);
        }
        finally
        {
            tombstoneFlag = 0;
            exit();
        }
    }

    /**
     * Write and publish the record that names stream {@code streamId} through the usual claim and publish steps
     * (in-flight mark, lane, padding if it fails), so checkpoints, multi-process repair and durability treat it as
     * any record; in {@code SYNC} mode it is forced before this returns. Does not move {@link #lastPosition()}.
     *
     * @param streamId the named stream's id.
     * @param utf8     the name.
     * @return the record's position.
     */
    long appendStreamName(final long streamId, final byte[] utf8)
    {
        final int frameLength = nameFrameLength(utf8.length);
        final int alignedLength = alignedLength(frameLength);
        enter();
        try
        {
            markInFlight();
            final long position = claimLog(alignedLength);
            final UnsafeBuffer buffer = log.bufferFor(position);
            final int recordOffset = log.plainOffset(position);
            try
            {
                // release: recovery can tell a claimed-but-unfinished record, and its length, from an empty one
                buffer.putIntRelease(recordOffset + FRAME_LENGTH_OFFSET, -frameLength);
                buffer.putShort(recordOffset + RECORD_TYPE_OFFSET, TYPE_STREAM_NAME);
                buffer.putShort(recordOffset + FLAGS_OFFSET, (short)0);
                buffer.putInt(recordOffset + EVENT_TYPE_OFFSET, 0);
                buffer.putLong(recordOffset + STREAM_ID_OFFSET, streamId);
                buffer.putLong(recordOffset + VERSION_OFFSET, 0);
                buffer.putLong(recordOffset + TIMESTAMP_OFFSET, clock.nanoTime());
                buffer.putInt(recordOffset + NAME_LENGTH_OFFSET, utf8.length);
                buffer.putBytes(recordOffset + NAME_OFFSET, utf8);
            }
            catch (final Throwable ex)
            {
                Padding.write(buffer, recordOffset, alignedLength);
                throw ex;
            }
            publish(buffer, recordOffset, frameLength);
            if (sync)
            {
                flusher.forceUpTo(position + alignedLength);
            }
            return position;
        }
        catch (final RuntimeException ex)
        {
            throw failed(ex);
        }
        finally
        {
            exit();
        }
    }

    // ---------------------------------------------------------------------------------------------- internals

    private long appendOne(
        final long streamId,
        final long expectedVersion,
        final int eventType,
        final long clearIdHigh,
        final long clearIdLow,
        final DirectBuffer payload,
        final int offset,
        final int length)
    {
        final boolean withId = (clearIdHigh | clearIdLow) != 0;
        final long idHigh = storedIdHigh(clearIdHigh, clearIdLow);
        final long idLow = storedIdLow(clearIdHigh, clearIdLow);
        final int frameLength = frame(length, withId);
        final int alignedLength = alignedLength(frameLength);
        lastWasDuplicate = false;
        final io.varvedb.internal.crypto.Gcm cipher = cipherFor(streamId);
        final short flags = (short)((withId ? FLAG_EVENT_ID : 0) | tombstoneFlag | (cipher != null ? FLAG_ENCRYPTED : 0));
        while (true)
        {
            if (withId)
            {
                final long original = existing(streamId, idHigh, idLow);
                if (original != ABSENT)
                {
                    return original;
                }
            }
            final long version = acquire(streamId, expectedVersion);
            if (version == CONFLICT)
            {
                // a conflict with the append of our own id, committed meanwhile, is that append's answer
                return conflicted(withId ? orDuplicate(streamId, idHigh, idLow) : CONFLICT);
            }
            final boolean fresh = version == FRESH;
            final long eventVersion = fresh ? 1 : version;
            final int heldSlot = fresh ? NO_SLOT : reservedSlot;
            final long position = fresh ?
                claimFresh(streamId, alignedLength) : claim(heldSlot, streamId, version, version, alignedLength);
            final UnsafeBuffer buffer = log.bufferFor(position);
            final int recordOffset = log.plainOffset(position);

            int idSlot = NO_SLOT;
            final int slot;
            try
            {
                // release: recovery can tell a claimed-but-unfinished record, and its length, from an empty one
                buffer.putIntRelease(recordOffset + FRAME_LENGTH_OFFSET, -frameLength);
                writeHeader(buffer, recordOffset, flags, eventType, streamId, eventVersion, clock.nanoTime());
                if (withId)
                {
                    buffer.putLong(recordOffset + EVENT_ID_HIGH_OFFSET, idHigh);
                    buffer.putLong(recordOffset + EVENT_ID_LOW_OFFSET, idLow);
                }
                if (cipher != null)
                {
                    // from the caller's bytes straight to cipher text in the log, after the header it authenticates
                    io.varvedb.internal.crypto.StreamCiphers.seal(cipher, generation, position, buffer, recordOffset,
                        flags, payload, offset, length);
                }
                else
                {
                    buffer.putBytes(recordOffset + payloadOffset(flags), payload, offset, length);
                }
                if (withId)
                {
                    // the id is taken last, once what can fail (the payload's copy) has not
                    idSlot = takeId(idHigh, idLow, position);
                    if (idSlot == NO_SLOT)
                    {
                        // another append of this id won the race since we looked: ours goes, and its answer is ours
                        abandon(buffer, recordOffset, alignedLength, heldSlot, eventVersion);
                        continue;
                    }
                }
                slot = fresh ? createStream(streamId, eventVersion) : heldSlot;
            }
            catch (final Throwable ex)
            {
                killId(idSlot);
                abandon(buffer, recordOffset, alignedLength, heldSlot, eventVersion);
                throw ex;
            }
            if (slot == NO_SLOT)
            {
                // another appender wrote the stream's first event meanwhile: ours goes, and we decide again
                killId(idSlot);
                Padding.write(buffer, recordOffset, alignedLength);
                continue;
            }
            return complete(fresh, slot, streamId, eventVersion, position, buffer, recordOffset, frameLength,
                alignedLength, idSlot);
        }
    }

    private <T> long appendTyped(
        final long streamId,
        final long expectedVersion,
        final int eventType,
        final long clearIdHigh,
        final long clearIdLow,
        final T event,
        final Codec<T> codec,
        final int maxLength)
    {
        final boolean withId = (clearIdHigh | clearIdLow) != 0;
        final long idHigh = storedIdHigh(clearIdHigh, clearIdLow);
        final long idLow = storedIdLow(clearIdHigh, clearIdLow);
        final io.varvedb.internal.crypto.Gcm cipher = cipherFor(streamId);
        final short flags = (short)((withId ? FLAG_EVENT_ID : 0) | (cipher != null ? FLAG_ENCRYPTED : 0));
        final int claimedLength = alignedLength(frame(maxLength, withId));
        lastWasDuplicate = false;
        while (true)
        {
            if (withId)
            {
                final long original = existing(streamId, idHigh, idLow);
                if (original != ABSENT)
                {
                    return original;
                }
            }
            final long version = acquire(streamId, expectedVersion);
            if (version == CONFLICT)
            {
                return conflicted(withId ? orDuplicate(streamId, idHigh, idLow) : CONFLICT);
            }
            final boolean fresh = version == FRESH;
            final long eventVersion = fresh ? 1 : version;
            final int heldSlot = fresh ? NO_SLOT : reservedSlot;
            final long position = fresh ?
                claimFresh(streamId, claimedLength) : claim(heldSlot, streamId, version, version, claimedLength);
            final UnsafeBuffer buffer = log.bufferFor(position);
            final int recordOffset = log.plainOffset(position);

            int idSlot = NO_SLOT;
            final int frameLength;
            final int slot;
            try
            {
                buffer.putIntRelease(recordOffset + FRAME_LENGTH_OFFSET, -frame(maxLength, withId));
                if (cipher != null)
                {
                    encodeScratch.checkLimit(maxLength);
                    codecView.wrap(encodeScratch.byteArray(), 0, maxLength);
                }
                else
                {
                    codecView.wrap(buffer, recordOffset + payloadOffset(flags), maxLength);
                }
                final int length = codec.encode(event, codecView, maxLength);
                if (length < 0 || length > maxLength)
                {
                    throw new IllegalStateException("codec " + codec.getClass().getName() + " wrote " + length +
                        " bytes, outside [0, " + maxLength + "]");
                }
                frameLength = frame(length, withId);
                writeHeader(buffer, recordOffset, flags, eventType, streamId, eventVersion, clock.nanoTime());
                if (withId)
                {
                    buffer.putLong(recordOffset + EVENT_ID_HIGH_OFFSET, idHigh);
                    buffer.putLong(recordOffset + EVENT_ID_LOW_OFFSET, idLow);
                }
                if (cipher != null)
                {
                    io.varvedb.internal.crypto.StreamCiphers.seal(cipher, generation, position, buffer, recordOffset,
                        flags, codecView, 0, length);
                }
                if (withId)
                {
                    // the id is taken last, once the codec, which may throw, is done
                    idSlot = takeId(idHigh, idLow, position);
                    if (idSlot == NO_SLOT)
                    {
                        abandon(buffer, recordOffset, claimedLength, heldSlot, eventVersion);
                        continue;
                    }
                }
                slot = fresh ? createStream(streamId, eventVersion) : heldSlot;
            }
            catch (final Throwable ex)
            {
                killId(idSlot);
                abandon(buffer, recordOffset, claimedLength, heldSlot, eventVersion);
                throw ex;
            }
            if (slot == NO_SLOT)
            {
                killId(idSlot);
                Padding.write(buffer, recordOffset, claimedLength);
                continue;
            }
            final int usedLength = alignedLength(frameLength);
            if (usedLength < claimedLength)
            {
                Padding.write(buffer, recordOffset + usedLength, claimedLength - usedLength);
            }
            return complete(fresh, slot, streamId, eventVersion, position, buffer, recordOffset, frameLength,
                claimedLength, idSlot);
        }
    }

    /**
     * Publish a single event's record, held at {@code slot}, and commit its version.
     */
    private long complete(
        final boolean fresh,
        final int slot,
        final long streamId,
        final long version,
        final long position,
        final UnsafeBuffer buffer,
        final int recordOffset,
        final int frameLength,
        final int claimedLength,
        final int idSlot)
    {
        if (fresh)
        {
            linkFreshBlocks(slot, streamId, version);
        }
        publish(buffer, recordOffset, frameLength);
        if (idSlot != NO_SLOT)
        {
            // after the publish: whoever finds the id committed finds its event in the log
            ids.commit(idSlot);
        }

        commit(slot, version, position);
        lastPosition = position;
        if (counters != null)
        {
            counters.appended(1, claimedLength);
        }
        if (sync)
        {
            flusher.forceUpTo(position + claimedLength);
        }
        return version;
    }

    private long writeBatch(final long streamId, final long expectedVersion, final EventBatch batch, final int count)
    {
        final boolean withIds = batchIds(batch, count);
        final short idFlag = withIds ? FLAG_EVENT_ID : 0;
        final io.varvedb.internal.crypto.Gcm cipher = cipherFor(streamId);
        // lengths are read once: what is claimed is what is written, even if the batch changes meanwhile
        ensureBatchScratch(count);
        final int[] offsets = scratchOffsets;
        final int[] lengths = scratchLengths;
        long totalLength = 0;
        for (int i = 0; i < count; i++)
        {
            final int length = batch.payloadLength(i);
            checkSize(length);
            lengths[i] = length;
            offsets[i] = (int)Math.min(totalLength, Integer.MAX_VALUE);
            totalLength += alignedLength(frame(length, withIds));
        }
        if (totalLength > log.maxClaimLength())
        {
            throw new EventTooLargeException("a batch of " + count + " events takes " + totalLength +
                " bytes of log, more than one claim may (" + log.maxClaimLength() + ", half a segment)");
        }
        final int claimLength = (int)totalLength;
        lastWasDuplicate = false;

        while (true)
        {
            if (withIds)
            {
                final long original = existingBatch(streamId, batch, count);
                if (original != ABSENT)
                {
                    return original;
                }
            }
            final long version = acquire(streamId, expectedVersion);
            if (version == CONFLICT)
            {
                if (withIds)
                {
                    final long original = existingBatch(streamId, batch, count);
                    if (original != ABSENT)
                    {
                        return original;
                    }
                }
                return conflicted(CONFLICT);
            }
            final boolean fresh = version == FRESH;
            final long firstVersion = fresh ? 1 : version;
            final long lastVersion = firstVersion + count - 1;
            final int heldSlot = fresh ? NO_SLOT : reservedSlot;
            final long position = fresh ?
                claimFresh(streamId, claimLength) :
                claim(heldSlot, streamId, firstVersion, lastVersion, claimLength);
            final UnsafeBuffer buffer = log.bufferFor(position);
            final int start = log.plainOffset(position);
            final long timestamp = clock.nanoTime();

            int idsTaken = 0;
            int idsReserved = 0;
            final int slot;
            try
            {
                for (int i = 0; i < count; i++)
                {
                    buffer.putIntRelease(start + offsets[i] + FRAME_LENGTH_OFFSET, -frame(lengths[i], withIds));
                }
                if (withIds)
                {
                    // room for all of them or none: a batch the table cannot take whole takes nothing of it
                    ids.reserve(count, scratchIdHigh[0], scratchIdLow[0]);
                    idsReserved = count;
                    // in the order of the ids, so that two batches sharing ids never wait for each other in a cycle
                    for (; idsTaken < count; idsTaken++)
                    {
                        final int i = scratchOrder[idsTaken];
                        final int idSlot = takeReservedId(scratchIdHigh[i], scratchIdLow[i],
                            position + offsets[i]);
                        if (idSlot == NO_SLOT)
                        {
                            break;
                        }
                        scratchIdSlots[i] = idSlot;
                    }
                }
                if (idsTaken < count && withIds)
                {
                    // an append of one of our ids won a race since we looked: ours goes, and we look again
                    killIds(idsTaken);
                    ids.release(idsReserved - idsTaken);
                    idsReserved = 0;
                    idsTaken = 0;
                    padRecords(buffer, start, count, withIds);
                    if (heldSlot != NO_SLOT)
                    {
                        index.releaseState(heldSlot, committedState(firstVersion - 1));
                    }
                    continue;
                }
                for (int i = 0; i < count; i++)
                {
                    final int recordOffset = start + offsets[i];
                    short flags = i < count - 1 ? FLAG_BATCH_MORE : 0;
                    if (i > 0)
                    {
                        flags |= FLAG_BATCH_CONTINUATION;
                    }
                    final short recordFlags = (short)(flags | idFlag | (cipher != null ? FLAG_ENCRYPTED : 0));
                    writeHeader(buffer, recordOffset, recordFlags, batch.eventType(i), streamId,
                        firstVersion + i, timestamp);
                    if (withIds)
                    {
                        buffer.putLong(recordOffset + EVENT_ID_HIGH_OFFSET, scratchIdHigh[i]);
                        buffer.putLong(recordOffset + EVENT_ID_LOW_OFFSET, scratchIdLow[i]);
                    }
                    if (cipher != null)
                    {
                        io.varvedb.internal.crypto.StreamCiphers.seal(cipher, generation, position + offsets[i],
                            buffer, recordOffset, recordFlags, batch.data(), batch.payloadOffset(i), lengths[i]);
                    }
                    else
                    {
                        buffer.putBytes(
                            recordOffset + payloadOffset(idFlag), batch.data(), batch.payloadOffset(i), lengths[i]);
                    }
                }
                slot = fresh ? createStream(streamId, lastVersion) : heldSlot;
            }
            catch (final Throwable ex)
            {
                try
                {
                    killIds(idsTaken);
                    if (idsReserved > idsTaken)
                    {
                        ids.release(idsReserved - idsTaken);
                    }
                    padRecords(buffer, start, count, withIds);
                }
                finally
                {
                    if (heldSlot != NO_SLOT)
                    {
                        index.releaseState(heldSlot, committedState(firstVersion - 1));
                    }
                }
                throw ex;
            }
            if (slot == NO_SLOT)
            {
                killIds(idsTaken);
                padRecords(buffer, start, count, withIds);
                continue;
            }
            if (fresh)
            {
                linkFreshBlocks(slot, streamId, lastVersion);
            }

            // Publish the last record first and the first record last: a reader of the log stops at the
            // first record until it is published, and then finds the rest of the batch already there.
            for (int i = count - 1; i >= 0; i--)
            {
                publish(buffer, start + offsets[i], frame(lengths[i], withIds));
            }
            for (int k = 0; k < idsTaken; k++)
            {
                // after the publish of the whole batch: whoever finds an id committed finds its event in the log
                ids.commit(scratchIdSlots[scratchOrder[k]]);
            }

            for (int i = 0; i < count; i++)
            {
                index.putPosition(slot, firstVersion + i, position + offsets[i]);
            }
            index.releaseState(slot, committedState(lastVersion));
            lastPosition = position + offsets[count - 1];
            if (counters != null)
            {
                counters.appended(count, totalLength);
                counters.batch();
            }
            if (sync)
            {
                flusher.forceUpTo(position + totalLength);
            }
            return lastVersion;
        }
    }

    // ---------------------------------------------------------------------------------------------- event ids

    /**
     * @return the version of the event that holds the id, if it is this stream's (then the append is a retry of
     * it: {@link #lastWasDuplicate} is set), or {@link #ABSENT}.
     * @throws EventIdConflictException if another stream's event holds the id.
     */
    private long existing(final long streamId, final long high, final long low)
    {
        final long found = ids.find(high, low, holderCheck);
        if (found == EventIdTable.NOT_FOUND)
        {
            return ABSENT;
        }
        final int slot = EventIdTable.slotOf(found);
        final long position = ids.positionAt(slot);
        final long version = originalVersion(slot, position, streamId, high, low);
        if (version == ABSENT)
        {
            return ABSENT;
        }
        lastWasDuplicate = true;
        lastPosition = position;
        if (counters != null)
        {
            counters.duplicate();
        }
        return version;
    }

    /** Count a conflict, if the answer is one. */
    private long conflicted(final long result)
    {
        if (result == CONFLICT && counters != null)
        {
            counters.conflict();
        }
        return result;
    }

    private long orDuplicate(final long streamId, final long high, final long low)
    {
        final long original = existing(streamId, high, low);
        return original != ABSENT ? original : CONFLICT;
    }

    /**
     * Read the event at {@code position} that the id table says holds an id, checking that it does: a table
     * damaged on disk must never make an append report a duplicate it is not.
     *
     * @return its version.
     * @throws EventIdConflictException if it is another stream's.
     */
    private long originalVersion(
        final int slot, final long position, final long streamId, final long high, final long low)
    {
        // an earlier position, in a segment that may be compacted meanwhile: read it inside a read section, so
        // that the mapping it finds stays mapped until the read ends (see Log.readerGrace)
        final VarveDB.ReadContext context = db.enterRead();
        try
        {
            final UnsafeBuffer buffer = log.readBuffer(position);
            final int offset = buffer == null ? -1 : log.eventOffset(buffer, position);
            if (offset < 0 || !carriesEventId(buffer, offset, high, low))
            {
                if (!ids.isCommitted(slot))
                {
                    // a scavenger killed the slot (and dropped its event) since the lookup found it: the id is gone
                    return ABSENT;
                }
                if (offset < 0 && buffer != null && !log.insideKept(buffer, position) && ids.forget(high, low, position))
                {
                    // the event was scavenged and the scavenger (killed, or not yet there) left its id: forget it now,
                    // as the scavenger would have
                    return ABSENT;
                }
                throw new CorruptStoreException("the event id table " + ids.path() + " says event id " +
                    clearId(high, low) + " is the event at log position " + position + ", which " +
                    (offset < 0 && buffer != null ? "was scavenged" : "does not carry it") + "; the table is " +
                    "damaged: reopen the store to rebuild it from the log");
            }
            final long original = buffer.getLong(offset + STREAM_ID_OFFSET);
            final long version = buffer.getLong(offset + VERSION_OFFSET);
            originalFlags = buffer.getShort(offset + FLAGS_OFFSET);
            if (original != streamId)
            {
                final java.util.UUID id = clearId(high, low);
                throw new EventIdConflictException("event id " + id + " is already in " +
                    "the store, as version " + version + " of stream " + original + "; an append to stream " +
                    streamId + " cannot reuse it (event ids are unique in the whole store); nothing was written",
                    id.getMostSignificantBits(), id.getLeastSignificantBits(), streamId, original, version);
            }
            return version;
        }
        finally
        {
            db.exitRead(context);
        }
    }

    /** The flags of the record {@link #originalVersion} last read. */
    private short originalFlags;

    /**
     * Insert an id for an append that has claimed its record at {@code position}.
     *
     * @return the id's slot, pending, held by this append; or {@link #NO_SLOT} if an append of the same id won it.
     */
    private int takeId(final long high, final long low, final long position)
    {
        ids.reserve(1, high, low);
        final long result;
        try
        {
            result = ids.insert(high, low, holder, position, holderCheck);
        }
        catch (final RuntimeException | Error ex)
        {
            ids.release(1);
            throw ex;
        }
        if (result >= 0)
        {
            return (int)result;
        }
        ids.release(1);
        return NO_SLOT;
    }

    /** Insert one id of a batch, whose room {@link #writeBatch} reserved for all of them. */
    private int takeReservedId(final long high, final long low, final long position)
    {
        final long result = ids.insert(high, low, holder, position, holderCheck);
        return result >= 0 ? (int)result : NO_SLOT;
    }

    private void killId(final int idSlot)
    {
        if (idSlot != NO_SLOT)
        {
            ids.kill(idSlot);
        }
    }

    private void killIds(final int taken)
    {
        for (int k = 0; k < taken; k++)
        {
            ids.kill(scratchIdSlots[scratchOrder[k]]);
        }
    }

    /**
     * @return true if the batch's events carry ids, all of them; the ids' order is left in {@link #scratchOrder}.
     * @throws IllegalArgumentException if only some carry ids, or two carry the same.
     */
    private boolean batchIds(final EventBatch batch, final int count)
    {
        final int withIds = batch.eventIdCount();
        if (withIds == 0)
        {
            return false;
        }
        if (withIds != count)
        {
            throw new IllegalArgumentException("either every event of a batch carries an event id or none does: " +
                withIds + " of " + count + " do");
        }
        if (scratchOrder.length < count)
        {
            scratchOrder = new int[Math.max(count, scratchOrder.length * 2)];
            scratchIdSlots = new int[scratchOrder.length];
            scratchIdHigh = new long[scratchOrder.length];
            scratchIdLow = new long[scratchOrder.length];
        }
        for (int i = 0; i < count; i++)
        {
            // read once, as stored: what is looked up, claimed and written is the same whatever the batch does
            scratchIdHigh[i] = storedIdHigh(batch.eventIdHigh(i), batch.eventIdLow(i));
            scratchIdLow[i] = storedIdLow(batch.eventIdHigh(i), batch.eventIdLow(i));
        }
        final int[] order = scratchOrder;
        for (int i = 0; i < count; i++)
        {
            // insertion sort: batches are small, and this allocates nothing
            int j = i;
            while (j > 0 && compareIds(order[j - 1], i) > 0)
            {
                order[j] = order[j - 1];
                j--;
            }
            order[j] = i;
        }
        for (int k = 1; k < count; k++)
        {
            if (compareIds(order[k - 1], order[k]) == 0)
            {
                throw new IllegalArgumentException("events " + Math.min(order[k - 1], order[k]) + " and " +
                    Math.max(order[k - 1], order[k]) + " of the batch carry the same event id " +
                    new java.util.UUID(batch.eventIdHigh(order[k]), batch.eventIdLow(order[k])));
            }
        }
        return true;
    }

    private int compareIds(final int a, final int b)
    {
        final int high = Long.compareUnsigned(scratchIdHigh[a], scratchIdHigh[b]);
        return high != 0 ? high : Long.compareUnsigned(scratchIdLow[a], scratchIdLow[b]);
    }

    /**
     * A batch is a retry only as a whole: every id in the store, as one earlier batch of this stream, in order.
     *
     * @return the version of the earlier batch's last event, or {@link #ABSENT} if none of the ids is in the store.
     * @throws EventIdConflictException if some ids are there and others not, or they are not one earlier batch.
     */
    private long existingBatch(final long streamId, final EventBatch batch, final int count)
    {
        int present = 0;
        int firstPresent = -1;
        // A batch being appended by another appender right now can look partly there: its ids are inserted one by
        // one, then committed, so a lookup of one of them may come before its insert and of another after the
        // commit. But an append inserts all its ids before it commits any: once one is seen committed, a second
        // look finds every id of that append. A batch partly there at the second look overlaps in earnest.
        for (int pass = 0; pass < 2; pass++)
        {
            present = 0;
            firstPresent = -1;
            for (int i = 0; i < count; i++)
            {
                final long found = ids.find(scratchIdHigh[i], scratchIdLow[i], holderCheck);
                scratchIdSlots[i] = found == EventIdTable.NOT_FOUND ? NO_SLOT : EventIdTable.slotOf(found);
                if (found != EventIdTable.NOT_FOUND)
                {
                    present++;
                    firstPresent = firstPresent < 0 ? i : firstPresent;
                }
            }
            if (present == 0 || present == count)
            {
                break;
            }
        }
        if (present == 0)
        {
            return ABSENT;
        }
        long firstVersion = 0;
        long position = -1;
        for (int i = 0; i < count; i++)
        {
            if (scratchIdSlots[i] == NO_SLOT)
            {
                continue;
            }
            final long high = scratchIdHigh[i];
            final long low = scratchIdLow[i];
            position = ids.positionAt(scratchIdSlots[i]);
            final long version = originalVersion(scratchIdSlots[i], position, streamId, high, low);
            if (version == ABSENT)
            {
                // scavenged meanwhile: the batch is then only partly there
                present--;
                continue;
            }
            if (i == firstPresent)
            {
                firstVersion = version - i;
            }
            final short flags = originalFlags;
            final short expectedFlags = (short)((i < count - 1 ? FLAG_BATCH_MORE : 0) |
                (i > 0 ? FLAG_BATCH_CONTINUATION : 0));
            if (present != count || version != firstVersion + i ||
                (count > 1 && (flags & BATCH_FLAGS) != expectedFlags))
            {
                throw new EventIdConflictException("a batch of " + count + " events for stream " + streamId +
                    " overlaps earlier appends in part: " + present + " of its event ids are in the store (event " +
                    i + "'s id " + new java.util.UUID(batch.eventIdHigh(i), batch.eventIdLow(i)) + " is version " +
                    version + "), and a batch is a retry only as a whole (the same ids, in the same order, as one " +
                    "earlier batch); nothing was written", batch.eventIdHigh(i), batch.eventIdLow(i), streamId,
                    streamId, version);
            }
        }
        if (present == 0)
        {
            // every one of them scavenged since the lookup
            return ABSENT;
        }
        lastWasDuplicate = true;
        lastPosition = position;
        if (counters != null)
        {
            counters.duplicate();
        }
        return firstVersion + count - 1;
    }

    /**
     * Turn each record of an unpublished batch into a padding of its own length: every record start stays a
     * record start, for readers that stepped over the claim while it was in progress.
     */
    private void padRecords(final UnsafeBuffer buffer, final int start, final int count, final boolean withIds)
    {
        for (int i = 0; i < count; i++)
        {
            Padding.write(
                buffer, start + scratchOffsets[i], alignedLength(frame(scratchLengths[i], withIds)));
        }
    }

    /**
     * An exception between the claim and the publish: the claimed space can't be taken back, so it becomes
     * padding, and a held stream goes back to the version it had.
     */
    private void abandon(
        final UnsafeBuffer buffer, final int recordOffset, final int length, final int heldSlot, final long version)
    {
        try
        {
            Padding.write(buffer, recordOffset, length);
        }
        finally
        {
            if (heldSlot != NO_SLOT)
            {
                index.releaseState(heldSlot, committedState(version - 1));
            }
        }
    }

    /**
     * Find the stream's slot and win the CAS that moves it off the expected version; the slot is left in
     * {@link #reservedSlot}.
     *
     * @return the first version to write; {@link #FRESH} if the stream has no events (then nothing is held, and
     * the append claims its space before it creates the stream); or {@link #CONFLICT} (then
     * {@link #lastActualVersion} is set).
     */
    private long acquire(final long streamId, final long expectedVersion)
    {
        final int slot = slotFor(streamId);
        if (slot < 0)
        {
            return freshOrConflict(expectedVersion);
        }
        reservedSlot = slot;
        return acquireStream(slot, expectedVersion);
    }

    private long freshOrConflict(final long expectedVersion)
    {
        if (ExpectedVersion.isSatisfiedBy(expectedVersion, 0))
        {
            return FRESH;
        }
        lastActualVersion = 0;
        return CONFLICT;
    }

    private int slotFor(final long streamId)
    {
        if (streamId == cachedStreamId && cachedSlot >= 0)
        {
            return cachedSlot;
        }
        final int slot = index.findSlot(streamId);
        if (slot >= 0)
        {
            cachedStreamId = streamId;
            cachedSlot = slot;
        }
        return slot;
    }

    private long acquireStream(final int slot, final long expectedVersion)
    {
        int spins = 0;
        while (true)
        {
            final long state = index.state(slot);
            final long current = committedVersion(state);
            if (isPending(state))
            {
                if (expectedVersion >= 0 && expectedVersion < current)
                {
                    lastActualVersion = current;
                    return CONFLICT;
                }
                // another appender is writing this stream's next event: its outcome decides ours
                if (++spins < SPINS_BEFORE_YIELD)
                {
                    Thread.onSpinWait();
                }
                else
                {
                    if (repairer != null && (spins & (HOLDER_CHECK_INTERVAL - 1)) == 0)
                    {
                        // held for long: by a process that died between its CAS and its commit? Then a
                        // survivor (this thread, unless the watchdog is first) finishes or undoes its append
                        repairer.repairHolder(holder(state));
                    }
                    if (spins < PARK_AFTER)
                    {
                        Thread.yield();
                    }
                    else
                    {
                        // held for long (a descheduled holder, or a stopped process): wait without burning a core
                        java.util.concurrent.locks.LockSupport.parkNanos(HELD_PARK_NS);
                    }
                }
                continue;
            }
            if (current == 0)
            {
                // no events yet: the first one is claimed and written before the stream is taken
                return freshOrConflict(expectedVersion);
            }
            if (isTombstoned(state))
            {
                // final: refused before the expected version is even looked at, so no retry can get past it
                throw new StreamDeletedException(index.streamIdAt(slot), "stream " + index.streamIdAt(slot) + " was deleted " +
                    "for good (tombstoned at version " + current + "): it can never be written again; nothing " +
                    "was written");
            }
            if (!ExpectedVersion.isSatisfiedBy(expectedVersion, current))
            {
                lastActualVersion = current;
                return CONFLICT;
            }
            if (current >= MAX_VERSION)
            {
                throw new IllegalStateException("stream at version " + current + " cannot grow: versions stay " +
                    "below " + MAX_VERSION);
            }
            if (lane != null)
            {
                // before the CAS: should this process die holding the slot, a survivor learns its old version here
                lane.intent(slot, current);
            }
            // the one CAS that detects conflicts: only one appender moves the stream off `current`
            if (index.compareAndSetState(slot, state, pendingState(current, holder)))
            {
                return current + 1;
            }
        }
    }

    /**
     * Claim space for a stream's first events, holding nothing: the stream is created only once they are written.
     * An index that is full for certain (no creation in flight) refuses here, before any log space is used.
     */
    private long claimFresh(final long streamId, final int alignedLength)
    {
        index.refuseIfFull(streamId);
        markInFlight();
        return claimLog(alignedLength);
    }

    /**
     * Before a claim: the tail now, as this append's in-flight mark, for this process's checkpoints and (in its lane)
     * for other processes: no hole at or after it is repaired while this process lives.
     */
    private void markInFlight()
    {
        final long tail = log.tail();
        // release: set before the claim, so a checkpoint that sees our published record also sees this mark
        IN_FLIGHT.setRelease(this, tail);
        if (lane != null)
        {
            lane.begin(tail);
        }
    }

    /**
     * Claim log space, and say where in the lane before any byte of the record is written.
     */
    private long claimLog(final int alignedLength)
    {
        final long position = log.claim(alignedLength);
        if (lane != null)
        {
            lane.claimed(position, alignedLength);
        }
        return position;
    }

    /**
     * Create the stream's slot (if it has none) and take it at version 0. What can fail comes first: the index
     * blocks its first events need (taken ahead, linked once the stream is ours), then the slot, whose room in
     * the index is reserved only for the instant of its CAS, so a slow codec never makes the index look full.
     *
     * @return the slot, held; or {@link #NO_SLOT} if another appender is writing the stream's first event.
     * @throws StreamIndexFullException if the stream is new and the index is full.
     */
    private int createStream(final long streamId, final long lastVersion)
    {
        final int blocks = (int)(ordinalOf(lastVersion) + 1);
        if (spareBlocks.length < blocks)
        {
            spareBlocks = java.util.Arrays.copyOf(spareBlocks, Math.max(blocks, spareBlocks.length * 2));
        }
        // taken in increasing order and linked in that order: a stream's jump links always point to lower blocks
        while (spareBlockCount < blocks)
        {
            spareBlocks[spareBlockCount] = index.allocateBlock();
            spareBlockCount++;
        }
        final int slot = index.findOrCreateSlot(streamId);
        cachedStreamId = streamId;
        cachedSlot = slot;
        if (lane != null)
        {
            lane.intent(slot, 0);
        }
        // the CAS that decides who writes a stream's first event: only one appender moves it off version 0
        return index.compareAndSetState(slot, committedState(0), pendingState(0, holder)) ? slot : NO_SLOT;
    }

    /**
     * Link the spare blocks a new stream's first events need, in order, after any block the slot already has.
     */
    private void linkFreshBlocks(final int slot, final long streamId, final long lastVersion)
    {
        int used = 0;
        for (long ordinal = index.nextOrdinal(slot); ordinal <= ordinalOf(lastVersion); ordinal++)
        {
            index.linkBlock(slot, streamId, spareBlocks[used++], ordinal);
        }
        spareBlockCount -= used;
        System.arraycopy(spareBlocks, used, spareBlocks, 0, spareBlockCount);
    }

    private long claim(final int slot, final long streamId, final long firstVersion, final long lastVersion,
        final int alignedLength)
    {
        markInFlight();
        try
        {
            for (long version = firstVersion; version <= lastVersion; version++)
            {
                index.prepareBlock(slot, streamId, version);
            }
            return claimLog(alignedLength);
        }
        catch (final RuntimeException | Error ex)
        {
            // nothing of this append is in the log: give the stream back unchanged
            index.releaseState(slot, committedState(firstVersion - 1));
            throw ex;
        }
    }

    private void commit(final int slot, final long version, final long position)
    {
        index.putPosition(slot, version, position);
        // release: the record and its block entry happen-before anyone sees `version` committed (or, for a
        // tombstone, the stream closed for good: no appender compares-and-sets from that state)
        index.releaseState(slot, tombstoneFlag == 0 ? committedState(version) : tombstonedState(version));
    }

    private static void writeHeader(
        final UnsafeBuffer buffer,
        final int offset,
        final short flags,
        final int eventType,
        final long streamId,
        final long version,
        final long timestamp)
    {
        buffer.putShort(offset + RECORD_TYPE_OFFSET, TYPE_EVENT);
        buffer.putShort(offset + FLAGS_OFFSET, flags);
        buffer.putInt(offset + EVENT_TYPE_OFFSET, eventType);
        buffer.putLong(offset + STREAM_ID_OFFSET, streamId);
        buffer.putLong(offset + VERSION_OFFSET, version);
        buffer.putLong(offset + TIMESTAMP_OFFSET, timestamp);
    }

    private void publish(final UnsafeBuffer buffer, final int offset, final int frameLength)
    {
        final int checksum = crc.compute(buffer, offset + CHECKSUM_START, frameLength - CHECKSUM_START);
        buffer.putInt(offset + CHECKSUM_OFFSET, checksum);
        // release: a reader that acquires the positive length sees the whole record
        buffer.putIntRelease(offset + FRAME_LENGTH_OFFSET, frameLength);
    }

    private void enter()
    {
        guardOnly();
        if (latency != null)
        {
            enteredNs = System.nanoTime();
        }
        if (registry != null && lane == null)
        {
            takeLane();
        }
    }

    private void takeLane()
    {
        try
        {
            lane = registry.acquireLane();
        }
        catch (final RuntimeException ex)
        {
            GUARD.setRelease(this, IDLE);
            throw ex;
        }
        holder = lane.holder();
        final io.varvedb.internal.process.ProcessRegistry owner = registry;
        final io.varvedb.internal.process.Lane taken = lane;
        // an appender dropped without close() gives its lane back once collected (it cannot be appending then)
        laneCleanup = LaneCleaner.CLEANER.register(this, () -> owner.releaseLaneIfOpen(taken));
    }

    /** Gives lanes of collected appenders back; its thread starts with the first multi-process appender. */
    private static final class LaneCleaner
    {
        static final java.lang.ref.Cleaner CLEANER = java.lang.ref.Cleaner.create();
    }

    private java.lang.ref.Cleaner.Cleanable laneCleanup;

    /**
     * Give this appender's lane back (closed, so idle for ever).
     */
    void releaseLane()
    {
        if (laneCleanup != null)
        {
            laneCleanup.clean();
        }
    }

    private void exit()
    {
        // release: the index is updated; a checkpoint may pass this append's record
        IN_FLIGHT.setRelease(this, Long.MAX_VALUE);
        if (lane != null)
        {
            lane.end();
        }
        if (latency != null)
        {
            latency.record(System.nanoTime() - enteredNs);
        }
        // release: everything this append wrote happens-before close() seeing IDLE
        GUARD.setRelease(this, IDLE);
    }

    /**
     * @return the tail when the append now in flight began, or {@link Long#MAX_VALUE}.
     */
    long inFlightFrom()
    {
        return (long)IN_FLIGHT.getAcquire(this);
    }

    /**
     * Wait for an append in flight to finish, then refuse all further ones.
     */
    void closeGuard()
    {
        int spins = 0;
        while (true)
        {
            final int state = (int)GUARD.getVolatile(this);
            if (state == CLOSED || (state == IDLE && GUARD.compareAndSet(this, IDLE, CLOSED)))
            {
                return;
            }
            if (++spins < SPINS_BEFORE_YIELD)
            {
                Thread.onSpinWait();
            }
            else
            {
                Thread.yield();
            }
        }
    }

    private <T> int maxEncodedLength(final T event, final Codec<T> codec)
    {
        if (event == null || codec == null)
        {
            throw new NullPointerException("event and codec must not be null");
        }
        final int maxLength = codec.maxEncodedLength(event);
        if (maxLength < 0)
        {
            throw new IllegalArgumentException("codec returned a negative maxEncodedLength: " + maxLength);
        }
        checkSize(maxLength);
        return maxLength;
    }

    private static int batchSize(final EventBatch batch)
    {
        final int count = batch.size();
        if (count == 0)
        {
            throw new IllegalArgumentException("an empty batch cannot be appended");
        }
        return count;
    }

    private void checkSize(final int length)
    {
        if (length > maxEventSize)
        {
            // counted: an operator wants to know that oversized events are being sent
            throw failed(new EventTooLargeException("payload of " + length + " bytes exceeds the maximum event " +
                "size of " + maxEventSize + " bytes (VarveConfig.Builder.maxEventSize)"));
        }
    }

    private void checkStreamId(final long streamId)
    {
        // one branch for a numeric (positive) id; a negative one must name a stream whose name record is logged,
        // and not a system stream ("$$..."), which only the store writes
        if (streamId <= 0)
        {
            if (!db.isNamedStream(streamId))
            {
                throw failed(new IllegalArgumentException(VarveDB.badStreamIdMessage(streamId)));
            }
            if (!writesSystemStreams && db.isSystemStream(streamId))
            {
                throw new IllegalArgumentException("stream " + streamId + " (\"" + db.streamName(streamId) +
                    "\") is a system stream, written by the store only: set metadata with VarveDB.setStreamMetadata");
            }
        }
    }

    /** True for the store's own appender, the one that writes metadata streams. */
    private boolean writesSystemStreams;

    /** Let this appender write system streams (the store's own appender). */
    void writesSystemStreams()
    {
        writesSystemStreams = true;
        // the store's own events (metadata, tombstones) are read by recovery, which has no keys
        ciphers = null;
        encryptionOverhead = 0;
    }

    /**
     * @return the high half of an event id as the store keeps it: encrypted in an encrypted store (see
     * {@code IdCipher}), else as given.
     */
    private long storedIdHigh(final long high, final long low)
    {
        if (idCipher == null || (high | low) == 0)
        {
            return high;
        }
        idCipher.seal(high, low);
        return idCipher.high();
    }

    /**
     * @return the low half of an event id as the store keeps it (after {@link #storedIdHigh}, which computed it).
     */
    private long storedIdLow(final long high, final long low)
    {
        return idCipher == null || (high | low) == 0 ? low : idCipher.low();
    }

    /**
     * @return a stored event id as the user gave it, for messages and exceptions.
     */
    private java.util.UUID clearId(final long storedHigh, final long storedLow)
    {
        if (idCipher == null)
        {
            return new java.util.UUID(storedHigh, storedLow);
        }
        idCipher.open(storedHigh, storedLow);
        return new java.util.UUID(idCipher.high(), idCipher.low());
    }

    /**
     * @return the frame length of an event with this payload, as this appender writes it (encrypted or not).
     */
    private int frame(final int payloadLength, final boolean withId)
    {
        return frameLength(payloadLength, withId) + encryptionOverhead;
    }

    /**
     * @return the stream's cipher if this appender encrypts, else null.
     * @throws StreamShreddedException if the stream was shredded: nothing is written.
     */
    private io.varvedb.internal.crypto.Gcm cipherFor(final long streamId)
    {
        return ciphers == null ? null : ciphers.forAppend(streamId);
    }

    private static void requirePayload(final Object payload)
    {
        if (payload == null)
        {
            throw new NullPointerException("payload must not be null (use an empty payload for no data)");
        }
    }

    private static void checkRange(final DirectBuffer payload, final int offset, final int length)
    {
        if (offset < 0 || length < 0 || (long)offset + length > payload.capacity())
        {
            throw new IndexOutOfBoundsException("payload range [" + offset + ", " + offset + " + " + length +
                ") is outside a buffer of " + payload.capacity() + " bytes");
        }
    }

    private static void checkRange(final byte[] payload, final int offset, final int length)
    {
        if (offset < 0 || length < 0 || (long)offset + length > payload.length)
        {
            throw new IndexOutOfBoundsException("payload range [" + offset + ", " + offset + " + " + length +
                ") is outside an array of " + payload.length + " bytes");
        }
    }
}
