package io.varvedb.internal.store;

import org.agrona.concurrent.Agent;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.IntSupplier;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The composition of background tasks on one runner: cadence per task, failures reported per task, INVOKED duty
 * cycles serialised, and close against a cycle in progress.
 */
class BackgroundDutyTest
{
    private static Agent agent(final String role, final IntSupplier work)
    {
        return new Agent()
        {
            @Override
            public int doWork()
            {
                return work.getAsInt();
            }

            @Override
            public String roleName()
            {
                return role;
            }
        };
    }

    /** Two tasks failing on one thread are both reported, and a healthy third runs every time it is due. */
    @Test
    void aFailingTaskNeitherHidesAnotherNorStarvesIt()
    {
        final List<Throwable> reported = new ArrayList<>();
        final RuntimeException first = new RuntimeException("first");
        final RuntimeException second = new IllegalStateException("second");
        final AtomicInteger healthy = new AtomicInteger();
        final BackgroundTask failingA = new BackgroundTask(agent("a", () -> { throw first; }), 0, reported::add);
        final BackgroundTask failingB = new BackgroundTask(agent("b", () -> { throw second; }), 0, reported::add);
        final BackgroundTask running = new BackgroundTask(agent("c", healthy::incrementAndGet), 0, reported::add);
        final BackgroundDuty duty = new BackgroundDuty("shared", failingA, failingB, running);
        for (int cycle = 0; cycle < 100; cycle++)
        {
            assertEquals(cycle + 1, duty.doWork(), "a failure counts as no work, the healthy task's work counts");
        }
        assertEquals(List.of(first, second), reported, "each task's first failure, and no repeat within a minute");
        assertEquals(100, failingA.failures());
        assertEquals(100, failingB.failures());
        assertEquals(0, running.failures());
        assertEquals(100, healthy.get());
    }

    /** A run of failures ends with a cycle that tries and succeeds: the next failure is reported at once. */
    @Test
    void aFailureAfterASuccessIsReportedAgain()
    {
        final List<Throwable> reported = new ArrayList<>();
        final AtomicBoolean fail = new AtomicBoolean(true);
        final AtomicBoolean paused = new AtomicBoolean();
        final BackgroundTask task = new BackgroundTask(agent("a", () ->
        {
            if (paused.get())
            {
                return Background.PAUSED;
            }
            if (fail.get())
            {
                throw new RuntimeException("full");
            }
            return 0;
        }), 0, reported::add);
        final BackgroundDuty duty = new BackgroundDuty("a", task);
        duty.doWork();
        duty.doWork();
        assertEquals(1, reported.size());
        paused.set(true);
        duty.doWork();
        paused.set(false);
        duty.doWork();
        assertEquals(1, reported.size(), "a paused cycle tried nothing: the run of failures goes on");
        fail.set(false);
        duty.doWork();
        fail.set(true);
        duty.doWork();
        assertEquals(2, reported.size());
        assertEquals(4, task.failures(), "every failure counted, reported or not");
    }

    /**
     * A caller spinning on the duty cycle does not run a task more often than its period (the flusher forces once
     * per flush interval, not once per call); a wake makes it due at once.
     */
    @Test
    void aTaskKeepsItsCadenceHoweverOftenItIsCalled() throws Exception
    {
        final AtomicInteger runs = new AtomicInteger();
        final long periodNs = TimeUnit.MILLISECONDS.toNanos(50);
        final BackgroundTask task = new BackgroundTask(agent("t", () ->
        {
            runs.incrementAndGet();
            return 0;
        }), periodNs, (error) -> fail(error));
        final BackgroundDuty duty = new BackgroundDuty("t", task);
        final long start = System.nanoTime();
        long calls = 0;
        while (System.nanoTime() - start < TimeUnit.MILLISECONDS.toNanos(120))
        {
            duty.doWork();
            calls++;
        }
        final long elapsedNs = System.nanoTime() - start;
        assertTrue(calls > 1000, "spun " + calls);
        assertTrue(runs.get() >= 1 && runs.get() <= 1 + elapsedNs / periodNs, runs + " runs in " + elapsedNs + " ns");
    }

    /** A task is not due right after a run, until its period has passed or it is woken. */
    @Test
    void aWokenTaskRunsAtTheNextCycle()
    {
        final AtomicInteger runs = new AtomicInteger();
        final BackgroundTask task = new BackgroundTask(agent("t", () ->
        {
            runs.incrementAndGet();
            return 0;
        }), TimeUnit.SECONDS.toNanos(10), (error) -> fail(error));
        final BackgroundDuty duty = new BackgroundDuty("t", task);
        duty.doWork();
        assertEquals(1, runs.get(), "a new task is due at once");
        assertTrue(duty.nanosUntilDue(System.nanoTime()) > TimeUnit.SECONDS.toNanos(5), "not due right after a run");
        duty.doWork();
        assertEquals(1, runs.get());
        task.wake();
        assertTrue(duty.nanosUntilDue(System.nanoTime()) <= 0, "due once woken");
        duty.doWork();
        assertEquals(2, runs.get(), "a woken task runs at the next cycle");
        duty.doWork();
        assertEquals(2, runs.get(), "and then waits its period again");
    }

    /** A task that did work is due again at once, as a dedicated thread does not idle after work. */
    @Test
    void aTaskThatDidWorkStaysDue()
    {
        final AtomicInteger runs = new AtomicInteger();
        final BackgroundTask task = new BackgroundTask(agent("t", () -> runs.incrementAndGet() < 5 ? 1 : 0),
            TimeUnit.SECONDS.toNanos(10), (error) -> fail(error));
        final BackgroundDuty duty = new BackgroundDuty("t", task);
        for (int i = 0; i < 10; i++)
        {
            duty.doWork();
        }
        assertEquals(5, runs.get());
    }

    /** Duty cycles from several threads never overlap, and a caller that finds one in progress does not wait. */
    @Test
    void invokedDutyCyclesNeverOverlap() throws Exception
    {
        final AtomicInteger inside = new AtomicInteger();
        final AtomicInteger overlaps = new AtomicInteger();
        final AtomicInteger runs = new AtomicInteger();
        final BackgroundTask task = new BackgroundTask(agent("t", () ->
        {
            if (inside.incrementAndGet() > 1)
            {
                overlaps.incrementAndGet();
            }
            runs.incrementAndGet();
            Thread.onSpinWait();
            inside.decrementAndGet();
            return 1;
        }), 0, (error) -> fail(error));
        final InvokedBackground invoked = new InvokedBackground(new BackgroundDuty("t", task));
        final List<Thread> threads = new ArrayList<>();
        final List<Throwable> failures = new CopyOnWriteArrayList<>();
        for (int t = 0; t < 4; t++)
        {
            threads.add(new Thread(() ->
            {
                try
                {
                    for (int i = 0; i < 200_000; i++)
                    {
                        invoked.doWork();
                    }
                }
                catch (final Throwable ex)
                {
                    failures.add(ex);
                }
            }));
        }
        threads.forEach(Thread::start);
        for (final Thread thread : threads)
        {
            thread.join();
        }
        assertEquals(List.of(), failures);
        assertEquals(0, overlaps.get());
        assertTrue(runs.get() > 0);
    }

    /** close() waits for a duty cycle in progress on another thread; afterwards no cycle runs a task. */
    @Test
    void closeWaitsForTheDutyCycleInProgress() throws Exception
    {
        final CountDownLatch inCycle = new CountDownLatch(1);
        final CountDownLatch release = new CountDownLatch(1);
        final AtomicInteger runs = new AtomicInteger();
        final BackgroundTask task = new BackgroundTask(agent("t", () ->
        {
            runs.incrementAndGet();
            inCycle.countDown();
            try
            {
                release.await();
            }
            catch (final InterruptedException ex)
            {
                throw new AssertionError(ex);
            }
            return 1;
        }), 0, (error) -> fail(error));
        final InvokedBackground invoked = new InvokedBackground(new BackgroundDuty("t", task));
        final Thread cycle = new Thread(invoked::doWork);
        cycle.start();
        assertTrue(inCycle.await(10, TimeUnit.SECONDS));
        assertTrue(invoked.inDutyCycle(cycle));
        assertEquals(0, invoked.doWork(), "another thread's cycle is in progress: returns at once");

        final CountDownLatch closed = new CountDownLatch(1);
        final Thread closer = new Thread(() ->
        {
            invoked.close();
            closed.countDown();
        });
        closer.start();
        assertFalse(closed.await(100, TimeUnit.MILLISECONDS), "close() waits for the cycle in progress");
        release.countDown();
        assertTrue(closed.await(10, TimeUnit.SECONDS));
        cycle.join();
        assertEquals(0, invoked.doWork());
        assertEquals(1, runs.get(), "no task runs after close");
    }

    /** A close from inside a cycle (an error handler) returns at once, and the cycle runs no further task. */
    @Test
    void closeFromInsideTheDutyCycleEndsItAfterTheFailingTask()
    {
        final InvokedBackground[] invoked = new InvokedBackground[1];
        final AtomicInteger later = new AtomicInteger();
        final BackgroundTask failing = new BackgroundTask(agent("a", () ->
        {
            throw new RuntimeException("disk full");
        }), 0, (error) ->
        {
            invoked[0].close();
            assertEquals(0, invoked[0].doWork(), "a nested call returns at once");
        });
        final BackgroundTask next = new BackgroundTask(agent("b", later::incrementAndGet), 0, (error) -> fail(error));
        invoked[0] = new InvokedBackground(new BackgroundDuty("shared", failing, next));
        assertEquals(0, invoked[0].doWork());
        assertEquals(0, later.get(), "nothing runs after the store closed");
        assertEquals(0, invoked[0].doWork());
        assertFalse(invoked[0].inDutyCycle(Thread.currentThread()));
    }
}
