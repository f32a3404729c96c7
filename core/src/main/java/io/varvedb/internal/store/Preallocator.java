package io.varvedb.internal.store;

import io.varvedb.internal.index.StreamIndex;
import io.varvedb.internal.log.Log;
import org.agrona.concurrent.Agent;

/**
 * Agent that creates the next log segments and index chunk before appenders reach them, so an appender crossing
 * into a new segment finds it allocated, zero-filled and its pages already faulted in (see shared FACTS: first
 * touches of a sparse mapping cost microseconds each; here they cost the appender nothing).
 * <p>
 * If the file system refuses (a full disk), the error goes to the runner's error handler and the work is tried
 * again on the next duty cycle; an appender that then needs the missing file tries to create it itself and gets
 * the error as a clear exception.
 */
public final class Preallocator implements Agent
{
    private final Log log;
    private final StreamIndex index;

    /**
     * @param log   to keep ahead of.
     * @param index to keep ahead of.
     */
    public Preallocator(final Log log, final StreamIndex index)
    {
        this.log = log;
        this.index = index;
    }

    @Override
    public int doWork()
    {
        log.preallocate();
        index.preallocate();
        return 0;
    }

    @Override
    public String roleName()
    {
        return "varve-preallocator";
    }
}
