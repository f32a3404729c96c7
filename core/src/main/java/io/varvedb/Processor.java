package io.varvedb;

import io.varvedb.internal.store.CheckpointStore;

import java.util.concurrent.CountDownLatch;
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
 * The starting point is persisted when the processor is first created, so a processor started
 * {@link VarveDB#FROM_NOW} that dies before its first checkpoint resumes from that same point, not from a later
 * "now". In the durable modes ({@link Durability#SYNC}, {@link Durability#GROUP_COMMIT}) a checkpoint never passes
 * {@link VarveDB#durablePosition()}, so a power cut cannot leave it pointing past the recovered log; in
 * {@link Durability#OS} mode, where a power cut may lose events a processor has handled, opening the store moves a
 * checkpoint that lies beyond the recovered log back to its end, so events appended after the cut are never skipped.
 * <p>
 * One processor of a given name runs at a time: a second gets {@link StoreLockedException}, and the name is held
 * until the first's {@link #close()} has returned, which waits for a handler call in progress. Run it with a thread
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
    /** Held by a poll, and by close() while it writes the last checkpoint: never both at once on two threads. */
    private final Object pollLock = new Object();
    private final CountDownLatch closeDone = new CountDownLatch(1);
    private long sinceCheckpoint;
    private long lastCheckpointNs = System.nanoTime();
    private volatile long checkpointedPosition;
    private volatile boolean running;
    private volatile SubscriptionException failure;
    private volatile Thread pollingThread;
    private Thread thread;
    private volatile boolean closed;

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
            final long start;
            if (saved >= 0)
            {
                final String problem = db.recordStartProblem(saved);
                if (problem != null)
                {
                    throw new CorruptStoreException("the checkpoint of processor '" + name + "' (" +
                        checkpoints.path(name) + ") is not a position to resume from: " + problem + "; move it " +
                        "with VarveDB.resetCheckpoint");
                }
                start = saved;
            }
            else
            {
                // persisted now: a restart after a crash before the first checkpoint starts here again, rather than
                // from a later FROM_NOW that would skip what was appended in between
                start = db.resolveStart(options.startPosition());
                checkpoints.write(name, start);
            }
            this.subscription = new Subscription(db, 0, start);
            this.checkpointedPosition = start;
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
     * @throws StoreClosedException  once closed.
     */
    public int poll(final int fragmentLimit)
    {
        synchronized (pollLock)
        {
            if (closed)
            {
                throw new StoreClosedException("processor '" + name + "' is closed");
            }
            final int work;
            pollingThread = Thread.currentThread();
            try
            {
                work = subscription.poll(handler, fragmentLimit);
            }
            finally
            {
                pollingThread = null;
            }
            if (closed)
            {
                // closed by the handler: close() wrote the last checkpoint, and nothing is written after it
                return work;
            }
            sinceCheckpoint += work;
            if (sinceCheckpoint > 0 && (sinceCheckpoint >= options.checkpointEveryEvents() ||
                System.nanoTime() - lastCheckpointNs >=
                TimeUnit.MILLISECONDS.toNanos(options.checkpointIntervalMillis())))
            {
                writeCheckpoint(false);
            }
            return work;
        }
    }

    /**
     * Persist the current position now (in the durable modes, as far as it is durable). Waits for a poll in
     * progress on another thread.
     *
     * @throws StoreClosedException once closed.
     */
    public void checkpoint()
    {
        synchronized (pollLock)
        {
            if (closed)
            {
                throw new StoreClosedException("processor '" + name + "' is closed");
            }
            writeCheckpoint(false);
        }
    }

    private void writeCheckpoint(final boolean last)
    {
        final long position = db.checkpointablePosition(subscription.position(), last);
        if (position != checkpointedPosition)
        {
            checkpoints.write(name, position);
            checkpointedPosition = position;
        }
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
        db.storeThread(thread, true);
        thread.start();
        return this;
    }

    private void run()
    {
        final SubscriptionException failed = PollingThreads.pollUntilStopped(() -> running && !closed,
            () -> poll(options.subscriptionOptions().fragmentLimit()),
            options.subscriptionOptions().newIdleStrategy(), subscription::position);
        // report before isRunning() turns false: whoever waits for the stop then finds the handler has heard of it;
        // and the thread ends as a store thread even if the handler throws
        try
        {
            if (failed != null)
            {
                failure = failed;
                options.subscriptionOptions().errorHandler().accept(failed);
            }
        }
        finally
        {
            running = false;
            db.storeThread(Thread.currentThread(), false);
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
     * @return the last position persisted; from creation on there is one (the starting point).
     */
    public long checkpointedPosition()
    {
        return checkpointedPosition;
    }

    /**
     * @return true while its own thread runs; once false after a failure, {@link #failure()} returns it and the
     *         error handler has been called with it.
     */
    public boolean isRunning()
    {
        return running;
    }

    /**
     * @return the failure that stopped it, or null.
     */
    public SubscriptionException failure()
    {
        return failure;
    }

    /**
     * Stop, persist the position of the last event handled, and let another processor of this name run.
     * <p>
     * No event is delivered after the one being handled when this is called. This waits for that handler call to
     * return, however long it takes (on the processor's own thread, or on a thread inside {@link #poll}), so the
     * name is never free while a handler of this processor still runs; it then writes the last checkpoint and
     * releases the name. Nothing is written after it returns. Called from inside the handler, it returns at once,
     * and the event being handled is delivered again to the next processor of this name (delivery is at least
     * once). A second call waits for the first to finish, unless it comes from the handler's own thread.
     */
    @Override
    public void close()
    {
        final Thread runner;
        synchronized (this)
        {
            if (closed)
            {
                runner = null;
            }
            else
            {
                closed = true;
                running = false;
                runner = thread == null ? Thread.currentThread() : thread;
            }
        }
        if (runner == null)
        {
            awaitFirstClose();
            return;
        }
        // no event after the one being handled: the poll in progress delivers nothing more
        subscription.close();
        try
        {
            if (runner != Thread.currentThread())
            {
                PollingThreads.joinUninterruptibly(runner);
            }
            // waits for a poll in progress on another thread; taken at once by a handler closing its own processor
            synchronized (pollLock)
            {
                try
                {
                    writeCheckpoint(true);
                }
                finally
                {
                    hold.close();
                    db.untrack(this);
                }
            }
        }
        finally
        {
            closeDone.countDown();
        }
    }

    private void awaitFirstClose()
    {
        final Thread current = Thread.currentThread();
        if (current == thread || current == pollingThread)
        {
            // the handler's own thread: the first close() waits for this very call to return
            return;
        }
        PollingThreads.awaitUninterruptibly(closeDone);
    }
}
