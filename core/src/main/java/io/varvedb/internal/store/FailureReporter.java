package io.varvedb.internal.store;

import java.util.function.Consumer;

/**
 * Reports the failures of one background task. A failed duty cycle (no disk for the next segment, say) is tried
 * again on a later one, and whoever needs what it could not make gets the error themselves, so the user's handler
 * hears of the first failure of a run of them, then at most once per {@link Background#REPEAT_REPORT_NS} while
 * they go on: a disk that stays full is not a flood of log lines. {@link #failures()} counts every one.
 * <p>
 * One per task, not per thread: tasks that share a thread report apart, so one that keeps failing neither hides
 * another's first failure nor uses up its reports. Written by whoever runs the task's duty cycles, one at a time.
 */
final class FailureReporter
{
    private final Consumer<? super Throwable> errorHandler;
    /** Single writer: the thread running the task's duty cycle (serialised in every mode). */
    private volatile long failures;
    private boolean failing;
    private long lastReportNs;

    FailureReporter(final Consumer<? super Throwable> errorHandler)
    {
        this.errorHandler = errorHandler;
        this.counter = errorHandler instanceof Counted ? ((Counted)errorHandler).counter : null;
    }

    /** What counts every failure (the error handler hears of only some). */
    private final Consumer<? super Throwable> counter;

    /**
     * An error handler with a counter of every failure beside it.
     */
    static final class Counted implements Consumer<Throwable>
    {
        private final Consumer<? super Throwable> handler;
        private final Consumer<? super Throwable> counter;

        Counted(final Consumer<? super Throwable> handler, final Consumer<? super Throwable> counter)
        {
            this.handler = handler;
            this.counter = counter;
        }

        @Override
        public void accept(final Throwable error)
        {
            handler.accept(error);
        }
    }

    void failed(final Throwable error)
    {
        failures = failures + 1;
        if (counter != null)
        {
            try
            {
                counter.accept(error);
            }
            catch (final RuntimeException ignore)
            {
                // counting must not stop the work either
            }
        }
        final long now = System.nanoTime();
        if (!failing || now - lastReportNs >= Background.REPEAT_REPORT_NS)
        {
            failing = true;
            lastReportNs = now;
            try
            {
                errorHandler.accept(error);
            }
            catch (final RuntimeException ignore)
            {
                // a failing handler must not stop the work it reports on
            }
        }
    }

    /**
     * A duty cycle tried its work and it did not fail: the next failure starts a new run, reported at once.
     */
    void succeeded()
    {
        failing = false;
    }

    long failures()
    {
        return failures;
    }
}
