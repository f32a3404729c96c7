package io.varvedb.tools;

import io.varvedb.Appender;
import io.varvedb.Durability;
import io.varvedb.EventHandler;
import io.varvedb.RecordedEvent;
import io.varvedb.RunningSubscription;
import io.varvedb.SubscriptionOptions;
import io.varvedb.VarveConfig;
import io.varvedb.VarveDB;
import org.HdrHistogram.Histogram;
import org.agrona.concurrent.BusySpinIdleStrategy;
import org.agrona.concurrent.UnsafeBuffer;

import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * VarveDB as a {@link LatencyTarget}: each sender appends to a new stream of its own with {@link Appender#tryAppend}
 * and the exact expected version, so the optimistic check runs on every append and never fails. Optionally each
 * append waits until it is durable, and a busy-spinning subscription in the same process times delivery.
 */
final class VarveTarget implements LatencyTarget
{
    /** The event type every latency run writes. */
    static final int EVENT_TYPE = 1;
    /** With a subscriber, the intended send time is the payload's first long. */
    private static final int STAMP_OFFSET = 0;
    /** How long the subscriber may take to catch up with the last append before the run is declared failed. */
    private static final long DRAIN_TIMEOUT_NANOS = TimeUnit.SECONDS.toNanos(30);
    private static final long DRAIN_POLL_MILLIS = 1;

    private final VarveDB db;
    private final long firstStream;
    private final int payloadLength;
    private final boolean awaitDurable;
    private final DeliveryProbe probe;
    private final RunningSubscription subscription;

    /**
     * Open (or create) the store and, with a subscriber, start the subscription from now.
     *
     * @param directory     the store directory.
     * @param durability    its durability mode.
     * @param payloadLength bytes per event.
     * @param awaitDurable  after each append, wait until it is forced to disk.
     * @param subscriber    time append-to-delivery with a busy-spinning subscription; needs 8 payload bytes.
     */
    VarveTarget(
        final Path directory,
        final Durability durability,
        final int payloadLength,
        final boolean awaitDurable,
        final boolean subscriber)
    {
        this.db = VarveDB.open(VarveConfig.builder(directory).durability(durability).build());
        try
        {
            if (payloadLength > db.config().maxEventSize())
            {
                throw CliException.usage("--payload " + payloadLength + " is larger than this store's largest " +
                    "event, " + db.config().maxEventSize() + " bytes");
            }
            this.firstStream = db.streamCount() + 1;
            this.payloadLength = payloadLength;
            this.awaitDurable = awaitDurable;
            this.probe = subscriber ? new DeliveryProbe() : null;
            this.subscription = subscriber ? db.subscribeToAll(VarveDB.FROM_NOW, probe,
                SubscriptionOptions.defaults().idleStrategy(BusySpinIdleStrategy::new).threadName("latency-subscriber"))
                : null;
        }
        catch (final RuntimeException ex)
        {
            db.close();
            throw ex;
        }
    }

    /**
     * @return the stream of sender 0; sender i appends to this + i.
     */
    long firstStream()
    {
        return firstStream;
    }

    @Override
    public Writer writer(final int sender)
    {
        return new VarveWriter(db, firstStream + sender, payloadLength, awaitDurable, probe != null);
    }

    @Override
    public void window(final long measureFrom, final long measureTo)
    {
        if (probe != null)
        {
            // before any send: the subscriber sees the window through the volatile writes, then the events
            probe.window(measureFrom, measureTo);
        }
    }

    /**
     * Wait until the subscriber has received everything appended, then stop it: its histogram is read only after its
     * thread has ended ({@link RunningSubscription#close} joins it).
     *
     * @param appended events appended in the run, warm-up included.
     * @return the subscriber's measurements.
     * @throws InterruptedException if interrupted while waiting.
     */
    DeliveryProbe awaitDelivery(final long appended) throws InterruptedException
    {
        final long deadline = System.nanoTime() + DRAIN_TIMEOUT_NANOS;
        while (subscription.delivered() < appended && subscription.isRunning() && System.nanoTime() - deadline < 0)
        {
            Thread.sleep(DRAIN_POLL_MILLIS);
        }
        subscription.close();
        if (subscription.failure() != null)
        {
            throw subscription.failure();
        }
        if (probe.received != appended)
        {
            throw new IllegalStateException("the subscriber received " + probe.received + " of the " + appended +
                " events appended");
        }
        return probe;
    }

    @Override
    public void close()
    {
        try
        {
            if (subscription != null)
            {
                subscription.close();
            }
        }
        finally
        {
            db.close();
        }
    }

    /**
     * One sender's appender and payload; the stream's version is tracked here, so each append names the exact one.
     */
    private static final class VarveWriter implements Writer
    {
        private final Appender appender;
        private final long streamId;
        private final UnsafeBuffer payload;
        private final int length;
        private final boolean awaitDurable;
        private final boolean stamp;
        private long version;

        VarveWriter(
            final VarveDB db, final long streamId, final int length, final boolean awaitDurable, final boolean stamp)
        {
            this.appender = db.appender();
            this.streamId = streamId;
            this.length = length;
            this.awaitDurable = awaitDurable;
            this.stamp = stamp;
            this.payload = new UnsafeBuffer(new byte[Math.max(1, length)]);
            for (int i = 0; i < length; i++)
            {
                payload.putByte(i, (byte)('a' + i % 26));
            }
            this.version = db.streamVersion(streamId);
        }

        @Override
        public void append(final long intendedNanos)
        {
            if (stamp)
            {
                payload.putLong(STAMP_OFFSET, intendedNanos);
            }
            // exact expected version on a stream of our own: the optimistic check runs, and never fails
            final long result = appender.tryAppend(streamId, version, EVENT_TYPE, payload, 0, length);
            if (result == Appender.CONFLICT)
            {
                throw new IllegalStateException("stream " + streamId + " changed under the latency run");
            }
            if (awaitDurable)
            {
                appender.awaitDurable(appender.lastPosition());
            }
            version = result;
        }

        @Override
        public void close()
        {
            appender.close();
        }
    }

    /**
     * The subscriber's handler: reads each event's intended send time and records how long ago that was. Runs on
     * the subscription's thread only; its histogram is read after that thread has been joined.
     */
    static final class DeliveryProbe implements EventHandler
    {
        private final Histogram delivery =
            new Histogram(FixedRateRun.HIGHEST_TRACKABLE_NANOS, FixedRateRun.SIGNIFICANT_DIGITS);
        private volatile long measureFrom = Long.MAX_VALUE;
        private volatile long measureTo = Long.MIN_VALUE;
        private long received;

        void window(final long from, final long to)
        {
            measureTo = to;
            measureFrom = from;
        }

        /**
         * @return from intended send time to delivery, for each measured event, in nanoseconds.
         */
        Histogram delivery()
        {
            return delivery;
        }

        /**
         * @return events received, warm-up included.
         */
        long received()
        {
            return received;
        }

        /**
         * @return measured events received.
         */
        long measured()
        {
            return delivery.getTotalCount();
        }

        @Override
        public void onEvent(final RecordedEvent event)
        {
            final long now = System.nanoTime();
            received++;
            final long intended = event.payload().getLong(STAMP_OFFSET);
            if (intended >= measureFrom && intended < measureTo)
            {
                delivery.recordValue(Math.min(Math.max(0, now - intended), FixedRateRun.HIGHEST_TRACKABLE_NANOS));
            }
        }
    }
}
