package io.varvedb.jcstress;

import io.varvedb.Appender;
import io.varvedb.ExpectedVersion;
import io.varvedb.StoreClosedException;
import io.varvedb.Subscription;
import io.varvedb.VarveDB;
import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Arbiter;
import org.openjdk.jcstress.annotations.Description;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.JJ_Result;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

/**
 * {@code close()} racing subscription polls (issue 20: close unmaps the store's files). A stream subscription and
 * a subscription to all, both made before the race and both starting at a committed event, are polled once each
 * while another actor closes the store (which closes them). A poll delivers the event, whole and right, or
 * delivers nothing because the close came during it (then the store reports closed), or fails with
 * {@link StoreClosedException}; once the close has been seen, the later poll fails. A poll that touched a mapping
 * after the close had released it would crash the forked VM, which jcstress reports as an error.
 * <p>
 * Each state has a store of its own, as in {@link CloseVsReadTest}; run it with small strides.
 * <p>
 * Result: r1 = the stream subscription's poll, r2 = the subscription to all's: events delivered (1), 0 when
 * nothing was delivered and the store was closed by then, {@link CloseVsReadTest#CLOSED} for
 * {@link StoreClosedException}, {@link #NOT_DELIVERED} when nothing was delivered from a store still open, or a
 * negative {@link Events} code for a wrong event.
 */
@JCStressTest
@Description("close() racing subscription polls: each delivers the event whole, or nothing, or StoreClosedException")
@Outcome(id = "1, 1", expect = ACCEPTABLE, desc = "both polls went before the close")
@Outcome(id = "1, 0", expect = ACCEPTABLE, desc = "the close came during the second poll")
@Outcome(id = "1, -9", expect = ACCEPTABLE, desc = "the close went before the second poll")
@Outcome(id = "0, -9", expect = ACCEPTABLE, desc = "the close came during the first poll")
@Outcome(id = "-9, -9", expect = ACCEPTABLE, desc = "the close went first")
@Outcome(expect = FORBIDDEN, desc = "a wrong event, nothing from an open store, another exception, or a poll " +
    "delivering after one saw the close")
public class CloseVsSubscriptionPollTest
{
    /** A result: the poll delivered nothing although the store was still open after it. */
    static final long NOT_DELIVERED = -8;
    private static final int LENGTH = 64;
    private static final int WRITER = 1;
    private static final StoreDirectories STORES = new StoreDirectories("close-poll");

    /**
     * A store of its own with one event in a new stream and two subscriptions starting at it, opened by the first
     * actor to arrive.
     */
    @State
    public static class S
    {
        final StoreDirectories.Directory directory = STORES.take();
        final long streamId = directory.nextStream++;
        final byte[] payload = Events.payload(streamId, WRITER, LENGTH);
        private VarveDB db;
        private Subscription stream;
        private Subscription all;

        synchronized VarveDB db()
        {
            if (db == null)
            {
                db = VarveDB.open(directory.config());
                final Appender appender = db.appender();
                appender.append(streamId, ExpectedVersion.NO_STREAM, WRITER, payload);
                stream = db.streamSubscription(streamId, 1);
                all = db.subscription(appender.lastPosition());
            }
            return db;
        }

        synchronized Subscription stream()
        {
            db();
            return stream;
        }

        synchronized Subscription all()
        {
            db();
            return all;
        }
    }

    /**
     * @param s the state.
     * @param r result.
     */
    @Actor
    public void poller(final S s, final JJ_Result r)
    {
        final VarveDB db = s.db();
        final Subscription stream = s.stream();
        final Subscription all = s.all();
        r.r1 = poll(db, stream, s.streamId);
        r.r2 = poll(db, all, s.streamId);
    }

    /**
     * @param s the state.
     */
    @Actor
    public void close(final S s)
    {
        s.db().close();
    }

    /**
     * @param s the state.
     */
    @Arbiter
    public void arbiter(final S s)
    {
        s.db().close();
        STORES.give(s.directory);
    }

    private static long poll(final VarveDB db, final Subscription subscription, final long streamId)
    {
        final long[] check = { 0 };
        final int delivered;
        try
        {
            delivered = subscription.poll((event) ->
            {
                final int result = Events.check(event, streamId, 1, LENGTH, Events.SINGLE);
                check[0] = Math.min(check[0], result);
            }, 1);
        }
        catch (final StoreClosedException ex)
        {
            return CloseVsReadTest.CLOSED;
        }
        if (check[0] < 0)
        {
            return check[0];
        }
        // closed is never undone: a store open after the poll was open during all of it
        return delivered == 0 && !db.isClosed() ? NOT_DELIVERED : delivered;
    }
}
