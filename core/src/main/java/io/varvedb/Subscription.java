package io.varvedb;

/**
 * A poll-driven cursor over the global log ({@link VarveDB#subscription}) or one stream
 * ({@link VarveDB#streamSubscription}), for applications that run their own duty cycle, Aeron style:
 * <pre>{@code
 * Subscription subscription = db.subscription(VarveDB.START_POSITION);
 * while (running)
 * {
 *     int work = subscription.poll(handler, 100);
 *     work += otherWork();
 *     idleStrategy.idle(work);
 * }
 * }</pre>
 * Catch-up and live are one and the same read: the cursor replays history from its starting point, and once it
 * reaches the end of what is committed, each poll delivers what was appended since. There is no switch-over, so
 * there is no gap and no duplicate. Delivery is in log order (for a stream subscription, version order).
 * <p>
 * Polling never blocks appenders: it only reads the mapped log, at its own pace. Not thread-safe: poll from one
 * thread at a time. If the handler throws, {@code poll} throws {@link SubscriptionException} and the cursor stays
 * on the failing event, which the next poll delivers again.
 */
public final class Subscription implements AutoCloseable
{
    private final VarveDB db;
    private final long streamId;
    private final EventHandler forwarder = this::forward;
    /** Moves the cursor to the log start when retention left it behind and it skips ahead. */
    private final java.util.function.LongConsumer startAt = (start) -> position = start;
    private EventHandler handler;
    private long position;
    private long nextVersion;
    private long failedPosition = -1;
    private volatile boolean closed;
    private boolean skipTruncated;

    /** Its position and lag in varve.counters; null without counters. */
    private final io.varvedb.internal.counters.PositionCounters counters;

    Subscription(final VarveDB db, final long streamId, final long start)
    {
        this(db, streamId, start, null);
    }

    /**
     * @param processor the name of the processor it serves, or null for a subscription of its own.
     */
    Subscription(final VarveDB db, final long streamId, final long start, final String processor)
    {
        this.db = db;
        this.streamId = streamId;
        this.counters = db.positionCounters(processor, streamId);
        if (counters != null)
        {
            // one dropped without close() gives its counters back once collected
            io.varvedb.internal.counters.StoreCounters.CLEANER.register(this, counters::close);
        }
        if (streamId == 0)
        {
            this.position = start;
        }
        else
        {
            this.nextVersion = start;
        }
    }

    /**
     * What a subscription to all does when retention ({@link VarveDB#truncateLogBefore}) dropped events it had not
     * read yet: by default its next poll throws {@link LogTruncatedException} (and keeps throwing: the cursor does not
     * move); with {@code true}, it goes on from the oldest event kept, skipping the dropped ones. A subscription
     * from {@link VarveDB#START_POSITION} that has delivered nothing yet always starts at the log start.
     *
     * @param skip true to skip ahead.
     * @return this.
     */
    public Subscription skipTruncated(final boolean skip)
    {
        this.skipTruncated = skip;
        return this;
    }

    /**
     * Deliver up to {@code fragmentLimit} events that are committed and not yet delivered.
     *
     * @param handler       receives each event.
     * @param fragmentLimit most events to deliver in this call.
     * @return events delivered; 0 when there is nothing new.
     * @throws SubscriptionException if the handler throws; the failing event is delivered again on the next poll.
     */
    public int poll(final EventHandler handler, final int fragmentLimit)
    {
        if (closed)
        {
            throw new StoreClosedException("this subscription is closed");
        }
        if (this.handler != null)
        {
            // a poll from inside its own handler would deliver the event being handled again
            throw new IllegalStateException("poll() called from inside this subscription's own handler");
        }
        this.handler = handler;
        delivered = 0;
        try
        {
            if (streamId == 0)
            {
                // retention may have dropped what this subscription had still to read: the read says so (inside
                // its read section), unless told to skip, and then starts at the log start
                db.readAllFrom(position, fragmentLimit, forwarder, skipTruncated, startAt);
            }
            else
            {
                db.readStream(streamId, nextVersion, fragmentLimit, forwarder);
            }
            // counted here, not by the read: after a close() during the poll the read goes on without delivering
            return delivered;
        }
        catch (final SubscriptionException ex)
        {
            db.countError(ex);
            throw ex;
        }
        catch (final RuntimeException | Error ex)
        {
            if (failedPosition >= 0)
            {
                final long failed = failedPosition;
                failedPosition = -1;
                final SubscriptionException wrapped = new SubscriptionException(failed, failedStreamId, failedVersion, ex);
                db.countError(wrapped);
                throw wrapped;
            }
            db.countError(ex);
            throw ex;
        }
        finally
        {
            this.handler = null;
            if (counters != null && !closed)
            {
                db.polled(counters, streamId, streamId == 0 ? position : nextVersion);
            }
        }
    }

    /**
     * @return its counters, or null.
     */
    io.varvedb.internal.counters.PositionCounters counters()
    {
        return counters;
    }

    private long failedStreamId;
    private long failedVersion;
    private int delivered;
    /** The end of the event the handler is being called with, or -1 outside a handler call. */
    private long handling = -1;

    private void forward(final RecordedEvent event)
    {
        if (closed)
        {
            // closed during this poll, by the handler or another thread: deliver nothing more, and keep the cursor
            // on the first event not delivered
            return;
        }
        failedPosition = event.position();
        failedStreamId = event.streamId();
        failedVersion = event.version();
        handling = event.nextPosition();
        try
        {
            handler.onEvent(event);
        }
        finally
        {
            handling = -1;
        }
        failedPosition = -1;
        position = event.nextPosition();
        nextVersion = event.version() + 1;
        delivered++;
    }

    /**
     * @return for a subscription to all: the log position the next poll reads from (pass it to
     * {@link VarveDB#subscription} to resume); for a stream subscription: the next event's log position is not
     * known yet, and this returns the position after the last delivered event.
     */
    public long position()
    {
        return position;
    }

    /**
     * @return for a subscription to all: the end of what the handler has been given, the event it is being called
     *         with included; used by the thread of that call, or by one that holds off polls.
     */
    long deliveredEnd()
    {
        return handling >= 0 ? handling : position;
    }

    /**
     * @return for a stream subscription: the version the next poll delivers first.
     */
    public long nextVersion()
    {
        return nextVersion;
    }

    /**
     * @return the stream followed, or 0 for a subscription to all.
     */
    public long streamId()
    {
        return streamId;
    }

    /**
     * Stop this subscription: a poll in progress (on any thread, or the handler itself calling this) delivers no
     * event after the one being handled, and later polls throw {@link StoreClosedException}. Idempotent.
     */
    @Override
    public void close()
    {
        closed = true;
        if (counters != null)
        {
            counters.close();
        }
    }
}
