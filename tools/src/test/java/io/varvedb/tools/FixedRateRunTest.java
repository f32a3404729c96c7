package io.varvedb.tools;

import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.IntFunction;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The shared sender on its own, against targets that count, stall or fail: every scheduled send made and counted,
 * a stall charged to every append it delayed (the coordinated-omission correction) but to one service time, and a
 * failure reported rather than hung on.
 */
class FixedRateRunTest
{
    private static final long MILLIS = TimeUnit.MILLISECONDS.toNanos(1);

    @Test
    void sendsAndCountsEveryScheduledAppendOfEveryThread() throws Exception
    {
        final AtomicLong[] perSender = {new AtomicLong(), new AtomicLong()};
        final LatencyTarget counting = appending((sender) -> (intended) -> perSender[sender].incrementAndGet());
        // 1,000/s over two threads: each sends every 2 ms, 50 in the 0.1 s warm-up and 100 in the measured 0.2 s
        final FixedRateRun.Result result = new FixedRateRun(2, 1000, 100 * MILLIS, 200 * MILLIS).run(counting);
        assertEquals(200, result.scheduled());
        assertEquals(200, result.sent());
        assertEquals(300, result.appended());
        assertEquals(150, perSender[0].get());
        assertEquals(150, perSender[1].get());
        assertEquals(200, result.corrected().getTotalCount());
        assertEquals(200, result.service().getTotalCount());
        assertTrue(result.keptUp());
    }

    @Test
    void aStallCountsAgainstEveryAppendItDelayedButOnceAsServiceTime() throws Exception
    {
        final long stall = 50 * MILLIS;
        final AtomicLong calls = new AtomicLong();
        final LatencyTarget stalling = appending((sender) -> (intended) ->
        {
            if (calls.incrementAndGet() == 10)
            {
                Thread.sleep(stall / MILLIS);
            }
        });
        // one send per millisecond: the 50 ms stall delays about 50 sends behind it
        final FixedRateRun.Result result = new FixedRateRun(1, 1000, 0, 300 * MILLIS).run(stalling);
        assertEquals(300, result.sent());
        assertTrue(result.service().getMaxValue() >= stall, "the stalled call's own time");
        assertTrue(result.corrected().getMaxValue() >= stall, "the stalled call from its intended time");
        final long delayedService = result.service().getCountBetweenValues(10 * MILLIS, Long.MAX_VALUE / 2);
        final long delayedCorrected = result.corrected().getCountBetweenValues(10 * MILLIS, Long.MAX_VALUE / 2);
        // a closed-loop measurement would see one slow append; the sends queued behind the stall count too
        assertTrue(delayedCorrected >= 30, () -> "corrected above 10 ms: " + delayedCorrected);
        assertTrue(delayedService < delayedCorrected / 5, () -> "service above 10 ms: " + delayedService);
    }

    @Test
    void aTargetThatCannotKeepUpIsReportedAsMissingSends() throws Exception
    {
        // every append takes 5 ms at 1,000/s: the sender falls further behind and stops 1 s after the schedule
        final LatencyTarget slow = appending((sender) -> (intended) -> Thread.sleep(5));
        final FixedRateRun.Result result = new FixedRateRun(1, 1000, 0, 1000 * MILLIS).run(slow);
        assertEquals(1000, result.scheduled());
        assertTrue(result.sent() < result.scheduled(), () -> "sent " + result.sent());
        assertFalse(result.keptUp());
        assertTrue(result.lateAtEndNanos() >= 900 * MILLIS, () -> "late " + result.lateAtEndNanos());
    }

    @Test
    void aFailureToOpenAWriterFailsTheRunWithoutSendingOrHanging()
    {
        final IllegalStateException broken = new IllegalStateException("no writer for sender 1");
        final AtomicLong sent = new AtomicLong();
        final LatencyTarget failing = target((sender) ->
        {
            if (sender == 1)
            {
                throw broken;
            }
            return writer((intended) -> sent.incrementAndGet());
        });
        final Exception thrown = assertTimeoutPreemptively(Duration.ofSeconds(10),
            () -> assertThrows(Exception.class, () -> new FixedRateRun(3, 1000, 0, 100 * MILLIS).run(failing)));
        assertSame(broken, thrown);
        assertEquals(0, sent.get(), "the other senders sent anyway");
    }

    @Test
    void aFailedAppendFailsTheRun()
    {
        final IllegalStateException broken = new IllegalStateException("append failed");
        final LatencyTarget failing = appending((sender) -> (intended) ->
        {
            throw broken;
        });
        assertSame(broken, assertThrows(IllegalStateException.class,
            () -> new FixedRateRun(1, 1000, 0, 100 * MILLIS).run(failing)));
    }

    @Test
    void schedulesAreCountedExactlyWhenTheIntervalDoesNotDivideTheWarmUp()
    {
        // 3/s: sends at 0, 333.3 ms, 666.7 ms, 1 s - 1 ns, 1.33 s...; three of them in [1 s, 2 s)
        assertEquals(3, FixedRateRun.scheduledBetween(0, 333_333_333, 1_000_000_000, 2_000_000_000));
        assertEquals(10, FixedRateRun.scheduledBetween(5, 10, 0, 100));
        // 15, 25, ... 85
        assertEquals(8, FixedRateRun.scheduledBetween(5, 10, 6, 95));
        assertEquals(0, FixedRateRun.scheduledBetween(500, 10, 0, 100));
        // nanoTime may be negative, and wrap
        assertEquals(10, FixedRateRun.scheduledBetween(Long.MAX_VALUE - 50, 10, Long.MAX_VALUE - 50,
            Long.MAX_VALUE + 50));
    }

    /** Makes a writer for one sender. */
    @FunctionalInterface
    private interface WriterFactory
    {
        LatencyTarget.Writer writer(int sender) throws Exception;
    }

    /** A writer's append, as a lambda. */
    @FunctionalInterface
    private interface Append
    {
        void append(long intended) throws Exception;
    }

    private static LatencyTarget appending(final IntFunction<Append> appends)
    {
        return target((sender) -> writer(appends.apply(sender)));
    }

    private static LatencyTarget target(final WriterFactory writers)
    {
        return new LatencyTarget()
        {
            @Override
            public Writer writer(final int sender) throws Exception
            {
                return writers.writer(sender);
            }

            @Override
            public void close()
            {
            }
        };
    }

    private static LatencyTarget.Writer writer(final Append append)
    {
        return new LatencyTarget.Writer()
        {
            @Override
            public void append(final long intendedNanos) throws Exception
            {
                append.append(intendedNanos);
            }

            @Override
            public void close()
            {
            }
        };
    }
}
