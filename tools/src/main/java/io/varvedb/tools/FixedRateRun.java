package io.varvedb.tools;

import org.HdrHistogram.Histogram;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * Appends at a fixed rate to a {@link LatencyTarget} and measures each append from the moment it was meant to be
 * sent, not from when the sender got round to it: the one pacing and timing loop behind {@code varve latency} and
 * the benchmarks' {@code FixedRateLatency}, whatever system is appended to.
 * <p>
 * A load generator that waits for each call to return before timing the next hides stalls: while one append is
 * stuck, the appends that should have been sent meanwhile are never timed ("coordinated omission"). Here each
 * sender has a fixed schedule ({@code first + k * interval}); it parks while far ahead, spins the last
 * {@value #SPIN_THRESHOLD_MICROS} us, sends at once when behind, and records the latency from the <em>intended</em>
 * time, so a stall counts against every append it delayed. The service time of the call alone is recorded beside
 * it. A sender that cannot sustain the rate falls further and further behind; it stops {@value #GRACE_SECONDS} s
 * after the schedule's end, and the sends it missed show as {@link Result#sent()} below
 * {@link Result#scheduled()}.
 * <p>
 * With T threads each sender runs at rate / T, and their schedules are staggered by interval / T so that the sends
 * of all threads together are evenly spaced.
 */
public final class FixedRateRun
{
    /** Latencies above a minute are recorded as a minute: a run that stalls that long has failed anyway. */
    public static final long HIGHEST_TRACKABLE_NANOS = TimeUnit.SECONDS.toNanos(60);
    /** HdrHistogram's precision: values within 0.1%. */
    public static final int SIGNIFICANT_DIGITS = 3;
    private static final long SPIN_THRESHOLD_MICROS = 100;
    private static final long SPIN_THRESHOLD_NANOS = TimeUnit.MICROSECONDS.toNanos(SPIN_THRESHOLD_MICROS);
    /** Parking overshoots by tens of microseconds: wake this early and spin the rest. */
    private static final long PARK_MARGIN_NANOS = TimeUnit.MICROSECONDS.toNanos(60);
    private static final long GRACE_SECONDS = 1;
    private static final long GRACE_NANOS = TimeUnit.SECONDS.toNanos(GRACE_SECONDS);
    /** Time for the main thread to hand every sender its schedule before the first send is due. */
    private static final long START_DELAY_NANOS = TimeUnit.MILLISECONDS.toNanos(10);

    private final int threads;
    private final long intervalNanos;
    private final long warmupNanos;
    private final long measuredNanos;

    /**
     * @param threads       sending threads, at least 1.
     * @param rate          appends per second, all threads together, at least 1.
     * @param warmupNanos   unmeasured run at the same rate first, at least 0.
     * @param measuredNanos measured duration after the warm-up, more than 0.
     */
    public FixedRateRun(final int threads, final long rate, final long warmupNanos, final long measuredNanos)
    {
        if (threads < 1 || rate < 1 || warmupNanos < 0 || measuredNanos <= 0)
        {
            throw new IllegalArgumentException("threads >= 1, rate >= 1, warm-up >= 0 and measured > 0 ns; got " +
                threads + ", " + rate + ", " + warmupNanos + ", " + measuredNanos);
        }
        this.threads = threads;
        this.intervalNanos = Math.max(1, Math.round(threads * 1e9 / rate));
        this.warmupNanos = warmupNanos;
        this.measuredNanos = measuredNanos;
    }

    /**
     * Run the schedule against a target: one thread per sender, each with its own writer.
     *
     * @param target what to append to; opened by the caller, who closes it after.
     * @return the merged histograms and counts of every sender.
     * @throws Exception the first failure of a sender (its writer or an append), after every sender has stopped.
     */
    public Result run(final LatencyTarget target) throws Exception
    {
        final CountDownLatch ready = new CountDownLatch(threads);
        final Sender[] senders = new Sender[threads];
        final Thread[] running = new Thread[threads];
        for (int i = 0; i < threads; i++)
        {
            senders[i] = new Sender(target, i, intervalNanos, ready);
            running[i] = new Thread(senders[i], "latency-sender-" + i);
            running[i].start();
        }
        ready.await();
        if (firstFailure(senders) != null)
        {
            // a writer could not be had: send nothing, so no sender measures a run that is not the one asked for
            for (final Sender sender : senders)
            {
                sender.abort();
            }
            joinAll(running);
            throw rethrowable(firstFailure(senders));
        }

        final long start = System.nanoTime() + START_DELAY_NANOS;
        final long measureFrom = start + warmupNanos;
        final long measureTo = measureFrom + measuredNanos;
        target.window(measureFrom, measureTo);
        for (int i = 0; i < threads; i++)
        {
            senders[i].go(start + i * (intervalNanos / threads), measureFrom, measureTo);
        }
        joinAll(running);
        if (firstFailure(senders) != null)
        {
            throw rethrowable(firstFailure(senders));
        }

        final Histogram corrected = new Histogram(HIGHEST_TRACKABLE_NANOS, SIGNIFICANT_DIGITS);
        final Histogram service = new Histogram(HIGHEST_TRACKABLE_NANOS, SIGNIFICANT_DIGITS);
        long scheduled = 0;
        long sent = 0;
        long appended = 0;
        long late = Long.MIN_VALUE;
        for (final Sender sender : senders)
        {
            corrected.add(sender.corrected);
            service.add(sender.service);
            scheduled += scheduledBetween(sender.firstSend, intervalNanos, measureFrom, measureTo);
            sent += sender.sent;
            appended += sender.appended;
            late = Math.max(late, sender.finishedAt - measureTo);
        }
        return new Result(corrected, service, scheduled, sent, appended, late);
    }

    /**
     * @return the gap between two sends of one sender: threads / rate, at least 1 ns.
     */
    public long intervalNanos()
    {
        return intervalNanos;
    }

    /**
     * @return how many intended send times {@code first + k * interval} (k >= 0) fall in {@code [from, to)}.
     */
    static long scheduledBetween(final long first, final long interval, final long from, final long to)
    {
        final long firstMeasured = Math.max(0, ceilDiv(from - first, interval));
        final long pastEnd = ceilDiv(to - first, interval);
        return Math.max(0, pastEnd - firstMeasured);
    }

    private static long ceilDiv(final long dividend, final long divisor)
    {
        return -Math.floorDiv(-dividend, divisor);
    }

    private static Throwable firstFailure(final Sender[] senders)
    {
        for (final Sender sender : senders)
        {
            if (sender.failure != null)
            {
                return sender.failure;
            }
        }
        return null;
    }

    private static Exception rethrowable(final Throwable failure)
    {
        if (failure instanceof Error)
        {
            throw (Error)failure;
        }
        return (Exception)failure;
    }

    private static void joinAll(final Thread[] running) throws InterruptedException
    {
        for (final Thread thread : running)
        {
            thread.join();
        }
    }

    /**
     * What a run measured, over every sender.
     *
     * @param corrected      latency of each measured append from its intended send time, in nanoseconds.
     * @param service        time of each measured append call alone, in nanoseconds.
     * @param scheduled      intended send times in the measured window.
     * @param sent           measured appends done: fewer than scheduled when the senders could not keep up.
     * @param appended       every append done, warm-up included.
     * @param lateAtEndNanos how long after the measured window's end the last sender stopped (negative: early).
     */
    public record Result(
        Histogram corrected, Histogram service, long scheduled, long sent, long appended, long lateAtEndNanos)
    {
        /**
         * @return whether every scheduled append was sent (late or not: lateness shows in the corrected latency).
         */
        public boolean keptUp()
        {
            return sent >= scheduled;
        }
    }

    /**
     * One sending thread on its own schedule.
     */
    private static final class Sender implements Runnable
    {
        private static final int WAITING = 0;
        private static final int GO = 1;
        private static final int ABORT = 2;

        private final LatencyTarget target;
        private final int index;
        private final long intervalNanos;
        private final CountDownLatch ready;
        private final Histogram corrected = new Histogram(HIGHEST_TRACKABLE_NANOS, SIGNIFICANT_DIGITS);
        private final Histogram service = new Histogram(HIGHEST_TRACKABLE_NANOS, SIGNIFICANT_DIGITS);
        private long firstSend;
        private long measureFrom;
        private long measureTo;
        /** Written last by {@link #go} and {@link #abort}: its volatile write publishes the schedule above. */
        private volatile int state = WAITING;
        private long sent;
        private long appended;
        private long finishedAt;
        private volatile Throwable failure;

        Sender(final LatencyTarget target, final int index, final long intervalNanos, final CountDownLatch ready)
        {
            this.target = target;
            this.index = index;
            this.intervalNanos = intervalNanos;
            this.ready = ready;
        }

        void go(final long firstSend, final long measureFrom, final long measureTo)
        {
            this.firstSend = firstSend;
            this.measureFrom = measureFrom;
            this.measureTo = measureTo;
            this.state = GO;
        }

        void abort()
        {
            state = ABORT;
        }

        @Override
        public void run()
        {
            LatencyTarget.Writer opened = null;
            try
            {
                opened = target.writer(index);
            }
            catch (final Throwable ex)
            {
                failure = ex;
            }
            finally
            {
                ready.countDown();
            }
            if (opened == null)
            {
                return;
            }
            try (LatencyTarget.Writer writer = opened)
            {
                while (state == WAITING)
                {
                    Thread.onSpinWait();
                }
                if (state == ABORT)
                {
                    return;
                }
                send(writer);
            }
            catch (final Throwable ex)
            {
                failure = ex;
            }
        }

        private void send(final LatencyTarget.Writer writer) throws Exception
        {
            long intended = firstSend;
            final long giveUp = measureTo + GRACE_NANOS;
            // nanoTime values are compared by their difference: they may wrap
            while (intended - measureTo < 0 && System.nanoTime() - giveUp < 0)
            {
                waitUntil(intended);
                final long callStart = System.nanoTime();
                writer.append(intended);
                final long end = System.nanoTime();
                appended++;
                if (intended - measureFrom >= 0)
                {
                    corrected.recordValue(Math.min(end - intended, HIGHEST_TRACKABLE_NANOS));
                    service.recordValue(Math.min(end - callStart, HIGHEST_TRACKABLE_NANOS));
                    sent++;
                }
                intended += intervalNanos;
            }
            finishedAt = System.nanoTime();
        }

        private static void waitUntil(final long deadline)
        {
            long remaining = deadline - System.nanoTime();
            // a loop, not an if: a park may return early (spuriously, or on an unpark)
            while (remaining > SPIN_THRESHOLD_NANOS)
            {
                LockSupport.parkNanos(remaining - PARK_MARGIN_NANOS);
                remaining = deadline - System.nanoTime();
            }
            while (remaining > 0)
            {
                Thread.onSpinWait();
                remaining = deadline - System.nanoTime();
            }
        }
    }
}
