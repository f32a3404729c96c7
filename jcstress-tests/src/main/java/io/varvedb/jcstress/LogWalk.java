package io.varvedb.jcstress;

import io.varvedb.EventHandler;
import io.varvedb.VarveDB;

import java.util.concurrent.TimeUnit;

/**
 * Walks the global log with {@link VarveDB#readAll} from one record boundary to a record at a known position,
 * the way a subscriber would, handing every event on the way to a handler.
 * <p>
 * The walk proves the log between the two points is tiled by records and padding: a padding record of the wrong
 * length, or two records overlapping, makes the walk land beside the target instead of on it. Appends of other
 * states may still be in flight when an arbiter runs (jcstress builds new states on one thread while it judges
 * old ones on another), so a walk that stops short is retried for a while before it is reported as stuck.
 */
final class LogWalk
{
    /** Result: the walk reached the target. */
    static final long REACHED = 1;
    /** Result: the walk passed the target without an event starting exactly there. */
    static final long MISSED = -30;
    /** Result: the walk stopped before the target and stayed stopped: a hole in the log. */
    static final long STUCK = -31;

    private static final int CHUNK = 64;
    private static final long PATIENCE_NS = TimeUnit.SECONDS.toNanos(2);

    private LogWalk()
    {
    }

    /**
     * @param db      store.
     * @param from    a record boundary at or before {@code target}.
     * @param target  position of an event.
     * @param handler receives the events from {@code from} up to and including the one at {@code target}.
     * @return {@link #REACHED}, {@link #MISSED} or {@link #STUCK}.
     */
    static long walk(final VarveDB db, final long from, final long target, final EventHandler handler)
    {
        final long[] next = {from};
        final long[] verdict = {0};
        final long deadline = System.nanoTime() + PATIENCE_NS;
        while (verdict[0] == 0)
        {
            final int delivered = db.readAll(next[0], CHUNK, (event) ->
            {
                if (verdict[0] != 0)
                {
                    return;
                }
                if (event.position() > target)
                {
                    verdict[0] = MISSED;
                    return;
                }
                handler.onEvent(event);
                next[0] = event.nextPosition();
                if (event.position() == target)
                {
                    verdict[0] = REACHED;
                }
            });
            if (verdict[0] == 0 && delivered < CHUNK)
            {
                if (System.nanoTime() - deadline > 0)
                {
                    return STUCK;
                }
                Thread.yield();
            }
        }
        return verdict[0];
    }
}
