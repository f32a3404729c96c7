package io.varvedb.internal.store;

import org.agrona.concurrent.Agent;
import org.agrona.concurrent.BackoffIdleStrategy;
import org.agrona.concurrent.IdleStrategy;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.concurrent.TimeUnit;

/**
 * The store's background work run by the application's own threads ({@code BackgroundThreading.INVOKED}): the
 * {@link Agent} it adds to its runner, or calls directly.
 * <p>
 * <b>One duty cycle at a time.</b> A cycle takes ownership with a CAS; a call that finds another thread's cycle in
 * progress (or is made from inside one, by an error handler) returns 0 at once rather than wait: that work is
 * being done, and the caller's own duty cycle must not block behind a force.
 * <p>
 * <b>Close waits for a cycle in progress, and ends every later one.</b> {@link #close} stops the duty, then waits
 * until no cycle owns it; a cycle checks the stop after taking ownership. Both are volatile, so either the cycle
 * sees the stop and does nothing, or close sees the owner and waits: no cycle touches the store's files once
 * close returns, and every later one returns 0 without touching anything. A close from the cycle's own thread (its
 * error handler closed the store) cannot wait for itself: the duty runs no task after the one that failed.
 * <p>
 * The runner's {@link #onClose} does not close the store: the store's {@code close()} ends the work.
 */
public final class InvokedBackground implements Agent
{
    private static final long CLOSE_PARK_NS = TimeUnit.MICROSECONDS.toNanos(100);
    private static final VarHandle OWNER;

    static
    {
        try
        {
            OWNER = MethodHandles.lookup().findVarHandle(InvokedBackground.class, "owner", Thread.class);
        }
        catch (final ReflectiveOperationException ex)
        {
            throw new ExceptionInInitializerError(ex);
        }
    }

    private final BackgroundDuty duty;
    /** The thread whose duty cycle is in progress, or null. */
    private volatile Thread owner;

    /**
     * @param duty every task of the store.
     */
    public InvokedBackground(final BackgroundDuty duty)
    {
        this.duty = duty;
    }

    /**
     * Run every task that is due, unless another duty cycle is in progress or the store is closed.
     *
     * @return the work done; 0 if none, or if another cycle is in progress, or once the store is closed. Never
     * throws: failures go to the store's background error handler.
     */
    @Override
    public int doWork()
    {
        final Thread self = Thread.currentThread();
        if (!OWNER.compareAndSet(this, null, self))
        {
            return 0;
        }
        try
        {
            // volatile load after the CAS: see close()
            return duty.stopped() ? 0 : duty.doWork();
        }
        finally
        {
            owner = null;
        }
    }

    /**
     * Does nothing: the store's background work ends with the store's {@code close()}, not with the runner.
     */
    @Override
    public void onClose()
    {
    }

    @Override
    public String roleName()
    {
        return duty.roleName();
    }

    /**
     * @param thread a thread.
     * @return true if that thread is inside a duty cycle now.
     */
    public boolean inDutyCycle(final Thread thread)
    {
        return owner == thread;
    }

    /**
     * End the work: no duty cycle runs a task once this returns, and every later one returns 0.
     */
    public void close()
    {
        // volatile store, then volatile loads of the owner: see the class comment
        duty.stop();
        final Thread self = Thread.currentThread();
        final IdleStrategy idle = new BackoffIdleStrategy(100, 100, CLOSE_PARK_NS, CLOSE_PARK_NS);
        Thread current;
        while ((current = owner) != null && current != self)
        {
            idle.idle();
        }
    }
}
