package io.varvedb;

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
import static io.varvedb.internal.index.StreamIndexDescriptor.committedVersion;
import static io.varvedb.internal.index.StreamIndexDescriptor.isPending;
import static io.varvedb.internal.index.StreamIndexDescriptor.pendingState;
import static io.varvedb.internal.log.RecordDescriptor.*;

/**
 * Appends events. Get one per thread from {@link VarveDB#appender()}; it is cheap, reusable, and confined to one
 * thread at a time (using it from two threads at once fails fast with {@link IllegalStateException}).
 * <p>
 * Every append carries an expected version. The protocol for one event:
 * <ol>
 *   <li>one CAS on the stream's slot moves its state from {@code version} to {@code version | PENDING}; a
 *   stream not at the expected version fails here, having written nothing;</li>
 *   <li>one atomic add on the log tail claims space for the record;</li>
 *   <li>the record is written, checksummed, and published by a release store of its length;</li>
 *   <li>its position goes into the stream's block, and a release store commits {@code version + 1}.</li>
 * </ol>
 * Appenders to different streams never wait for one another. Appenders to the same stream serialise on the
 * pending bit for the few tens of nanoseconds of steps 2-4, which is what keeps each stream's events in the log
 * in version order and makes {@link VarveDB#streamVersion} never run ahead of what a reader can read.
 * <p>
 * Between the CAS and the publish:
 * <ul>
 *   <li>An appender paused there (descheduled, a safepoint) delays only later appends to <em>its</em> stream,
 *   which spin and then yield, and readers of the global log, which stop before its unpublished record and
 *   find it on their next read. No other stream waits.</li>
 *   <li>An exception there (no disk for a new segment or index chunk, a failing codec) gives the stream back
 *   unchanged: the state returns to the old version and any claimed space becomes padding.</li>
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

    private static final int IDLE = 0;
    private static final int BUSY = 1;
    private static final int CLOSED = 2;
    private static final int SPINS_BEFORE_YIELD = 64;
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
    private final UnsafeBuffer arrayView = new UnsafeBuffer(new byte[0]);
    private final UnsafeBuffer codecView = new UnsafeBuffer(new byte[0]);
    private final RecordChecksum crc = new RecordChecksum();
    @SuppressWarnings("unused")
    private volatile int guard;
    @SuppressWarnings("unused")
    private volatile long inFlightFrom = Long.MAX_VALUE;
    private long cachedStreamId;
    private int cachedSlot = -1;
    private long lastPosition = -1;
    private long lastActualVersion;
    private int reservedSlot;

    Appender(
        final VarveDB db,
        final Log log,
        final StreamIndex index,
        final Flusher flusher,
        final VarveConfig config)
    {
        this.db = db;
        this.flusher = flusher;
        this.sync = config.durability() == Durability.SYNC;
        final EpochNanoClock clock = config.clock();
        final int maxEventSize = config.maxEventSize();
        this.log = log;
        this.index = index;
        this.clock = clock;
        this.maxEventSize = maxEventSize;
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
        final long result = tryAppend(streamId, expected.value(), eventType, payload, offset, length);
        if (result == CONFLICT)
        {
            throw new ConcurrencyConflictException(streamId, expected.value(), lastActualVersion);
        }
        return result;
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
        requirePayload(payload);
        arrayView.wrap(payload);
        return append(streamId, expected, eventType, arrayView, 0, payload.length);
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
        final long result = tryAppend(streamId, expected.value(), eventType, event, codec);
        if (result == CONFLICT)
        {
            throw new ConcurrencyConflictException(streamId, expected.value(), lastActualVersion);
        }
        return result;
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
        final long result = tryAppendBatch(streamId, expected.value(), batch);
        if (result == CONFLICT)
        {
            throw new ConcurrencyConflictException(streamId, expected.value(), lastActualVersion);
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
        checkStreamId(streamId);
        ExpectedVersion.validate(expectedVersion);
        requirePayload(payload);
        checkRange(payload, offset, length);
        checkSize(length);
        final int frameLength = frameLength(length);
        final int alignedLength = alignedLength(frameLength);

        enter();
        try
        {
            final long version = reserve(streamId, expectedVersion);
            if (version == CONFLICT)
            {
                return CONFLICT;
            }
            final int slot = reservedSlot;

            final long position = claim(slot, streamId, version, version, alignedLength);
            final UnsafeBuffer buffer = log.bufferFor(position);
            final int recordOffset = log.offset(position);

            // release: recovery can tell a claimed-but-unfinished record, and its length, from an empty one
            buffer.putIntRelease(recordOffset + FRAME_LENGTH_OFFSET, -frameLength);
            writeHeader(buffer, recordOffset, (short)0, eventType, streamId, version, clock.nanoTime());
            buffer.putBytes(recordOffset + HEADER_LENGTH, payload, offset, length);
            publish(buffer, recordOffset, frameLength);

            commit(slot, version, position);
            lastPosition = position;
            if (sync)
            {
                flusher.forceUpTo(position + alignedLength);
            }
            return version;
        }
        finally
        {
            exit();
        }
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
        checkStreamId(streamId);
        ExpectedVersion.validate(expectedVersion);
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
        final int claimedLength = alignedLength(frameLength(maxLength));

        enter();
        try
        {
            final long version = reserve(streamId, expectedVersion);
            if (version == CONFLICT)
            {
                return CONFLICT;
            }
            final int slot = reservedSlot;

            final long position = claim(slot, streamId, version, version, claimedLength);
            final UnsafeBuffer buffer = log.bufferFor(position);
            final int recordOffset = log.offset(position);
            buffer.putIntRelease(recordOffset + FRAME_LENGTH_OFFSET, -frameLength(maxLength));

            final int length;
            try
            {
                codecView.wrap(buffer, recordOffset + HEADER_LENGTH, maxLength);
                length = codec.encode(event, codecView, maxLength);
                if (length < 0 || length > maxLength)
                {
                    throw new IllegalStateException("codec " + codec.getClass().getName() + " wrote " + length +
                        " bytes, outside [0, " + maxLength + "]");
                }
            }
            catch (final RuntimeException | Error ex)
            {
                // the claimed space can't be taken back: turn it into padding and leave the stream unchanged
                Padding.write(buffer, recordOffset, claimedLength);
                index.releaseState(slot, committedState(version - 1));
                throw ex;
            }

            final int frameLength = frameLength(length);
            final int usedLength = alignedLength(frameLength);
            if (usedLength < claimedLength)
            {
                Padding.write(buffer, recordOffset + usedLength, claimedLength - usedLength);
            }
            writeHeader(buffer, recordOffset, (short)0, eventType, streamId, version, clock.nanoTime());
            publish(buffer, recordOffset, frameLength);

            commit(slot, version, position);
            lastPosition = position;
            if (sync)
            {
                flusher.forceUpTo(position + claimedLength);
            }
            return version;
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
        final int count = batch.size();
        if (count == 0)
        {
            throw new IllegalArgumentException("an empty batch cannot be appended");
        }
        long totalLength = 0;
        for (int i = 0; i < count; i++)
        {
            checkSize(batch.payloadLength(i));
            totalLength += alignedLength(frameLength(batch.payloadLength(i)));
        }
        if (totalLength > log.maxClaimLength())
        {
            throw new EventTooLargeException("a batch of " + count + " events takes " + totalLength +
                " bytes of log, more than one claim may (" + log.maxClaimLength() + ", half a segment)");
        }

        enter();
        try
        {
            final long firstVersion = reserve(streamId, expectedVersion);
            if (firstVersion == CONFLICT)
            {
                return CONFLICT;
            }
            final int slot = reservedSlot;
            final long lastVersion = firstVersion + count - 1;

            final long position = claim(slot, streamId, firstVersion, lastVersion, (int)totalLength);
            final UnsafeBuffer buffer = log.bufferFor(position);
            final int start = log.offset(position);
            final long timestamp = clock.nanoTime();
            final int[] offsets = batchOffsets(count);

            int recordOffset = start;
            for (int i = 0; i < count; i++)
            {
                offsets[i] = recordOffset;
                final int length = batch.payloadLength(i);
                final int frameLength = frameLength(length);
                short flags = i < count - 1 ? FLAG_BATCH_MORE : 0;
                if (i > 0)
                {
                    flags |= FLAG_BATCH_CONTINUATION;
                }
                buffer.putIntRelease(recordOffset + FRAME_LENGTH_OFFSET, -frameLength);
                writeHeader(buffer, recordOffset, flags, batch.eventType(i), streamId, firstVersion + i, timestamp);
                buffer.putBytes(recordOffset + HEADER_LENGTH, batch.data(), batch.payloadOffset(i), length);
                recordOffset += alignedLength(frameLength);
            }

            // Publish the last record first and the first record last: a reader of the log stops at the
            // first record until it is published, and then finds the rest of the batch already there.
            for (int i = count - 1; i >= 0; i--)
            {
                publish(buffer, offsets[i], frameLength(batch.payloadLength(i)));
            }

            for (int i = 0; i < count; i++)
            {
                index.putPosition(slot, firstVersion + i, position + (offsets[i] - start));
            }
            index.releaseState(slot, committedState(lastVersion));
            lastPosition = position + (offsets[count - 1] - start);
            if (sync)
            {
                flusher.forceUpTo(position + totalLength);
            }
            return lastVersion;
        }
        finally
        {
            exit();
        }
    }

    private int[] scratchOffsets = new int[16];

    private int[] batchOffsets(final int count)
    {
        if (scratchOffsets.length < count)
        {
            scratchOffsets = new int[Math.max(count, scratchOffsets.length * 2)];
        }
        return scratchOffsets;
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
        db.release(this);
    }

    // ---------------------------------------------------------------------------------------------- internals

    /**
     * Find the stream's slot and win the CAS that moves it off the expected version; the slot is left in
     * {@link #reservedSlot}.
     *
     * @return the first version to write, or {@link #CONFLICT} (then {@link #lastActualVersion} is set).
     */
    private long reserve(final long streamId, final long expectedVersion)
    {
        final int slot = slotFor(streamId, expectedVersion);
        if (slot < 0)
        {
            return CONFLICT;
        }
        reservedSlot = slot;
        return acquireStream(slot, expectedVersion);
    }

    private int slotFor(final long streamId, final long expectedVersion)
    {
        if (streamId == cachedStreamId && cachedSlot >= 0)
        {
            return cachedSlot;
        }
        final int slot;
        if (expectedVersion == ExpectedVersion.ANY_VALUE || expectedVersion == 0)
        {
            slot = index.findOrCreateSlot(streamId);
        }
        else
        {
            // the expectation needs events the stream does not have: refuse without using up a slot
            slot = index.findSlot(streamId);
            if (slot < 0)
            {
                lastActualVersion = 0;
                return -1;
            }
        }
        cachedStreamId = streamId;
        cachedSlot = slot;
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
                    Thread.yield();
                }
                continue;
            }
            if (!ExpectedVersion.isSatisfiedBy(expectedVersion, current))
            {
                lastActualVersion = current;
                return CONFLICT;
            }
            // the one CAS that detects conflicts: only one appender moves the stream off `current`
            if (index.compareAndSetState(slot, state, pendingState(current)))
            {
                return current + 1;
            }
        }
    }

    private long claim(final int slot, final long streamId, final long firstVersion, final long lastVersion,
        final int alignedLength)
    {
        // release: set before the claim, so a checkpoint that sees our published record also sees this mark
        IN_FLIGHT.setRelease(this, log.tail());
        try
        {
            for (long version = firstVersion; version <= lastVersion; version++)
            {
                index.prepareBlock(slot, streamId, version);
            }
            return log.claim(alignedLength);
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
        // release: the record and its block entry happen-before anyone sees `version` committed
        index.releaseState(slot, committedState(version));
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

    private void exit()
    {
        // release: the index is updated; a checkpoint may pass this append's record
        IN_FLIGHT.setRelease(this, Long.MAX_VALUE);
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

    private void checkSize(final int length)
    {
        if (length > maxEventSize)
        {
            throw new EventTooLargeException("payload of " + length + " bytes exceeds the maximum event size of " +
                maxEventSize + " bytes (VarveConfig.Builder.maxEventSize)");
        }
    }

    private static void checkStreamId(final long streamId)
    {
        if (streamId <= 0)
        {
            throw new IllegalArgumentException("stream ids are positive longs, got " + streamId);
        }
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
}
