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
 * <b>A handler that keeps state and saves it on a schedule of its own (a projection) must not use the default
 * checkpoints:</b> they follow what the handler has been called with, not what the application has saved, so after
 * a crash the checkpoint can lie ahead of the saved state and resuming from it would skip the events in between.
 * Give it {@link ProcessorOptions#manualCheckpoints()}: the checkpoint then moves only when the application calls
 * {@link #checkpoint(long)} with the position its saved state reaches; and keep that position in the state itself and
 * start with {@link ProcessorOptions#resumeFrom(long)}, so that the saved state alone decides where a restart
 * resumes (the README's projection pattern).
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
    /** Set under the poll lock by close()'s last checkpoint: no checkpoint may be written after it. */
    private boolean released;
    /** close() was called from inside the handler: the poll frees the name when the handler returns. */
    private boolean closeDeferred;

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
            long stored = saved;
            if (options.resume())
            {
                // the application's own state says where it stands: it decides, whatever the checkpoint says
                start = db.resolveStart(options.resumePosition());
                stored = db.checkpointablePosition(start, true);
                if (stored != saved)
                {
                    checkpoints.write(name, stored);
                }
            }
            else if (saved >= 0)
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
                // in the durable modes never beyond the durable position (a writer forces the log up to it first)
                start = db.resolveStart(options.startPosition());
                stored = db.checkpointablePosition(start, true);
                checkpoints.write(name, stored);
            }
            this.subscription = new Subscription(db, 0, start, name).skipTruncated(options.skipTruncated());
            this.checkpointedPosition = stored;
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
                if (closeDeferred)
                {
                    // the handler closed its own processor: the name is free only now that the handler returned
                    closeDeferred = false;
                    releaseName();
                }
            }
            if (closed)
            {
                // closed by the handler: close() wrote the last checkpoint, and nothing is written after it
                return work;
            }
            sinceCheckpoint += work;
            if (!options.manual() && sinceCheckpoint > 0 && (sinceCheckpoint >= options.checkpointEveryEvents() ||
                System.nanoTime() - lastCheckpointNs >=
                TimeUnit.MILLISECONDS.toNanos(options.checkpointIntervalMillis())))
            {
                writeCheckpoint(subscription.position(), false);
            }
            return work;
        }
    }

    /**
     * Persist the position after the last event whose handler call has returned. With
     * {@link ProcessorOptions#manualCheckpoints()} the log is first made durable up to it in the durable modes, so
     * the checkpoint is exactly that position (in a read-only process, which cannot force the writer's log, it is at
     * most the writer's {@link VarveDB#durablePosition()}); otherwise it goes as far as the log is durable. Called on
     * another thread, it waits for a poll in progress. Called from the handler, the event being handled is not
     * covered: use {@link #checkpoint(long)} with its {@link RecordedEvent#nextPosition()} once its effect is saved.
     *
     * @throws StoreClosedException once closed (from the handler's thread: once its close() has finished).
     */
    public void checkpoint()
    {
        synchronized (pollLock)
        {
            checkNotReleased();
            writeCheckpoint(subscription.position(), options.manual());
        }
    }

    /**
     * Persist that the application's state holds every event before {@code position}: with
     * {@link ProcessorOptions#manualCheckpoints()}, the only way the checkpoint moves. Call it once the state up to
     * there is saved, from the handler's thread (for example with the {@link RecordedEvent#nextPosition()} of the
     * event being handled) or from any other (it then waits for a poll in progress). In the durable modes the log is
     * first made durable up to {@code position}, so a power cut cannot leave the checkpoint past the recovered log;
     * in a read-only process, which cannot force the writer's log, the checkpoint is at most the writer's
     * {@link VarveDB#durablePosition()} (a restart may then deliver again events the state holds: keep the position
     * with the state, and resume with {@link ProcessorOptions#resumeFrom(long)}).
     * <p>
     * A position before the current checkpoint moves it back (those events come again after a restart).
     *
     * @param position where a restart resumes: a record position the store gave, at most the end of the last event
     *                 delivered to the handler (the one being handled included).
     * @throws IllegalStateException    if the processor checkpoints on its own (not created with
     *                                  {@link ProcessorOptions#manualCheckpoints()}).
     * @throws IllegalArgumentException if {@code position} is not where a record starts, or lies beyond what the
     *                                  handler has been given: such a checkpoint would skip events. Nothing is written.
     * @throws StoreClosedException     once closed (from the handler's thread: once its close() has finished).
     */
    public void checkpoint(final long position)
    {
        if (!options.manual())
        {
            throw new IllegalStateException("processor '" + name + "' checkpoints on its own schedule; create it " +
                "with ProcessorOptions.manualCheckpoints() to checkpoint positions yourself");
        }
        synchronized (pollLock)
        {
            checkNotReleased();
            final long delivered = subscription.deliveredEnd();
            if (position > delivered || position < 0)
            {
                throw new IllegalArgumentException("processor '" + name + "' cannot checkpoint " + position +
                    ": its handler has been given the events before " + delivered + " only, and a checkpoint " +
                    "beyond them would skip the rest");
            }
            final String problem = db.recordStartProblem(position);
            if (problem != null)
            {
                throw new IllegalArgumentException("processor '" + name + "' cannot checkpoint " + position + ": " +
                    problem);
            }
            writeCheckpoint(position, true);
        }
    }

    private void checkNotReleased()
    {
        if (released)
        {
            throw new StoreClosedException("processor '" + name + "' is closed");
        }
    }

    private void writeCheckpoint(final long requested, final boolean exact)
    {
        long position = db.checkpointablePosition(requested, exact);
        if (position < checkpointedPosition && requested >= checkpointedPosition)
        {
            // held back by the durable position (a read-only process cannot force the writer's log): stay where the
            // checkpoint is rather than move it back, which nobody asked for
            position = checkpointedPosition;
        }
        if (position != checkpointedPosition)
        {
            checkpoints.write(name, position);
            checkpointedPosition = position;
            final io.varvedb.internal.counters.PositionCounters counters = subscription.counters();
            if (counters != null)
            {
                counters.checkpointed();
            }
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
     * releases the name. Nothing is written after it returns. Called from inside the handler, it writes the last
     * checkpoint and returns at once; the event being handled is delivered again to the next processor of this name
     * (delivery is at least once), and the name is released only when that handler call returns. A second call
     * waits for the first to finish, unless it comes from the handler's own thread.
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
        if (Thread.currentThread() == pollingThread)
        {
            // from inside the handler (this thread holds the poll lock): the last checkpoint is written now and stops
            // before the event being handled, which is not done; the name stays held until the handler returns
            subscription.close();
            closeDeferred = true;
            try
            {
                writeLastCheckpoint(subscription.position());
            }
            catch (final RuntimeException | Error ex)
            {
                closeDeferred = false;
                releaseName();
                throw ex;
            }
            return;
        }
        // no event after the one being handled: the poll in progress delivers nothing more
        subscription.close();
        boolean finishing = false;
        try
        {
            if (runner != Thread.currentThread())
            {
                PollingThreads.joinUninterruptibly(runner);
            }
            // waits for a poll in progress on another thread
            synchronized (pollLock)
            {
                finishing = true;
                finishClose(subscription.position());
            }
        }
        finally
        {
            if (!finishing)
            {
                closeDone.countDown();
            }
        }
    }

    /** Write the last checkpoint (unless manual), free the name, and let waiting close() calls return. */
    private void finishClose(final long position)
    {
        try
        {
            writeLastCheckpoint(position);
        }
        finally
        {
            releaseName();
        }
    }

    /** The last write of this processor: no checkpoint is written after it, by close() or anyone else. */
    private void writeLastCheckpoint(final long position)
    {
        try
        {
            if (!options.manual())
            {
                writeCheckpoint(position, true);
            }
        }
        finally
        {
            released = true;
        }
    }

    private void releaseName()
    {
        try
        {
            hold.close();
            db.untrack(this);
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
