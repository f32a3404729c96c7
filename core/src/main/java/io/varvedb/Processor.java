package io.varvedb;

import io.varvedb.internal.store.CheckpointStore;
import org.agrona.concurrent.IdleStrategy;

import java.util.concurrent.TimeUnit;

/**
 * A named, checkpointed consumer of the global log. Its position is persisted durably in the store directory
 * ({@code checkpoints/<name>.ckpt}) every {@link ProcessorOptions#checkpointEveryEvents N events} or
 * {@link ProcessorOptions#checkpointIntervalMillis T milliseconds}, and when it closes; a processor of the same
 * name started later, in this process or another, resumes from there.
 * <p>
 * <b>Delivery is at least once.</b> A checkpoint records the position after the last event whose handler
 * returned before the checkpoint was written. After a crash, the events handled since the last checkpoint are
 * delivered again, in the same order; none is skipped. Handlers that must not apply an event twice keep the
 * event's {@link RecordedEvent#position()} with their own state and ignore positions they have seen.
 * <p>
 * One processor of a given name runs at a time: a second gets {@link StoreLockedException}. Run it with a thread
 * of its own ({@link #start()}) or from your own duty cycle ({@link #poll(int)}), not both.
 */
public final class Processor implements AutoCloseable
{
    private final VarveDB db;
    private final String name;
    private final CheckpointStore checkpoints;
    private final CheckpointStore.Hold hold;
    private final Subscription subscription;
    private final EventHandler handler;
    private final ProcessorOptions options;
    private long sinceCheckpoint;
    private long lastCheckpointNs = System.nanoTime();
    private volatile long checkpointedPosition;
    private volatile boolean running;
    private volatile SubscriptionException failure;
    private Thread thread;
    private boolean closed;

    Processor(
        final VarveDB db,
        final CheckpointStore checkpoints,
        final String name,
        final EventHandler handler,
        final ProcessorOptions options)
    {
        this.db = db;
        this.name = name;
        this.checkpoints = checkpoints;
        this.handler = handler;
        this.options = options;
        this.hold = checkpoints.hold(name);
        try
        {
            final long saved = checkpoints.read(name);
            final long start = saved >= 0 ? saved : db.resolveStart(options.startPosition());
            this.subscription = new Subscription(db, 0, start);
            this.checkpointedPosition = saved;
        }
        catch (final RuntimeException ex)
        {
            hold.close();
            throw ex;
        }
    }

    /**
     * Deliver up to {@code fragmentLimit} events and checkpoint if one is due.
     *
     * @param fragmentLimit most events to deliver.
     * @return events delivered.
     * @throws SubscriptionException if the handler throws; the position stays on the failing event.
     */
    public int poll(final int fragmentLimit)
    {
        final int work = subscription.poll(handler, fragmentLimit);
        sinceCheckpoint += work;
        if (sinceCheckpoint > 0 && (sinceCheckpoint >= options.checkpointEveryEvents() ||
            System.nanoTime() - lastCheckpointNs >= TimeUnit.MILLISECONDS.toNanos(options.checkpointIntervalMillis())))
        {
            checkpoint();
        }
        return work;
    }

    /**
     * Persist the current position now.
     */
    public void checkpoint()
    {
        final long position = subscription.position();
        checkpoints.write(name, position);
        checkpointedPosition = position;
        sinceCheckpoint = 0;
        lastCheckpointNs = System.nanoTime();
    }

    /**
     * Run on a thread of its own until closed.
     *
     * @return this processor.
     */
    public synchronized Processor start()
    {
        if (thread != null || closed)
        {
            throw new IllegalStateException("processor '" + name + "' is already started or closed");
        }
        running = true;
        thread = new Thread(this::run, "varve-processor-" + name);
        thread.setDaemon(true);
        thread.start();
        return this;
    }

    private void run()
    {
        final IdleStrategy idle = options.subscriptionOptions().newIdleStrategy();
        final int limit = options.subscriptionOptions().fragmentLimit();
        while (running)
        {
            final int work;
            try
            {
                work = poll(limit);
            }
            catch (final SubscriptionException ex)
            {
                failure = ex;
                running = false;
                options.subscriptionOptions().errorHandler().accept(ex);
                break;
            }
            catch (final StoreClosedException ex)
            {
                running = false;
                break;
            }
            catch (final RuntimeException ex)
            {
                // never die silently: a damaged record or a bug stops the subscription where it is, reported
                failure = new SubscriptionException(subscription.position(), ex);
                running = false;
                options.subscriptionOptions().errorHandler().accept(failure);
                break;
            }
            idle.idle(work);
        }
    }

    /**
     * @return the processor's name.
     */
    public String name()
    {
        return name;
    }

    /**
     * @return the next log position this processor will process.
     */
    public long position()
    {
        return subscription.position();
    }

    /**
     * @return the last position persisted, or -1 if none yet.
     */
    public long checkpointedPosition()
    {
        return checkpointedPosition;
    }

    /**
     * @return true while its own thread runs.
     */
    public boolean isRunning()
    {
        return running;
    }

    /**
     * @return the handler failure that stopped it, or null.
     */
    public SubscriptionException failure()
    {
        return failure;
    }

    /**
     * Stop, persist the position of the last event handled, and let another processor of this name run.
     */
    @Override
    public synchronized void close()
    {
        if (closed)
        {
            return;
        }
        closed = true;
        running = false;
        try
        {
            if (thread != null && thread != Thread.currentThread())
            {
                thread.join(TimeUnit.SECONDS.toMillis(10));
            }
            checkpoint();
        }
        catch (final InterruptedException ex)
        {
            Thread.currentThread().interrupt();
        }
        finally
        {
            subscription.close();
            hold.close();
            db.untrack(this);
        }
    }
}
