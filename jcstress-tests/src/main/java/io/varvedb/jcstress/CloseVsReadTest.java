package io.varvedb.jcstress;

import io.varvedb.Appender;
import io.varvedb.ExpectedVersion;
import io.varvedb.StoreClosedException;
import io.varvedb.VarveDB;
import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Arbiter;
import org.openjdk.jcstress.annotations.Description;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.JJJ_Result;

import java.util.function.LongSupplier;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

/**
 * {@code close()} racing reads of an open store (issue 20: close unmaps the store's files). The reader asks for
 * the version of a stream that holds one event, reads the stream, then reads the log from that event's position.
 * Each read either completes with exactly the right data, or fails with {@link StoreClosedException}; once one
 * read has seen the store closed, the later ones see it too. A read that touched a mapping after the close had
 * released it would crash the forked VM, which jcstress reports as an error.
 * <p>
 * Each state has a store of its own, opened (and the event appended) by whichever actor comes first, as in
 * {@link CloseVsAppendTest}; run it with small strides, as run-jcstress.sh does.
 * <p>
 * Result: r1 = {@code streamVersion}, r2 = events {@code readStream} delivered, r3 = events of the stream
 * {@code readAll} delivered; each 1 when right, {@link #CLOSED} for {@link StoreClosedException}, else a wrong
 * count or a negative {@link Events} code.
 */
@JCStressTest
@Description("close() racing reads: each read is complete and right, or refused with StoreClosedException")
@Outcome(id = "1, 1, 1", expect = ACCEPTABLE, desc = "all three reads went before the close")
@Outcome(id = "1, 1, -9", expect = ACCEPTABLE, desc = "the close went before readAll")
@Outcome(id = "1, -9, -9", expect = ACCEPTABLE, desc = "the close went before readStream")
@Outcome(id = "-9, -9, -9", expect = ACCEPTABLE, desc = "the close went first")
@Outcome(expect = FORBIDDEN, desc = "wrong or missing data, another exception, or a read after one saw the close")
public class CloseVsReadTest
{
    /** A result: the read threw {@link StoreClosedException}. */
    static final long CLOSED = -9;
    private static final int LENGTH = 64;
    private static final int WRITER = 1;
    private static final StoreDirectories STORES = new StoreDirectories("close-read");

    /**
     * A store of its own with one event in a new stream, opened by the first actor to arrive.
     */
    @State
    public static class S
    {
        final StoreDirectories.Directory directory = STORES.take();
        final long streamId = directory.nextStream++;
        final byte[] payload = Events.payload(streamId, WRITER, LENGTH);
        private VarveDB db;
        private long position;

        synchronized VarveDB db()
        {
            if (db == null)
            {
                db = VarveDB.open(directory.config());
                final Appender appender = db.appender();
                appender.append(streamId, ExpectedVersion.NO_STREAM, WRITER, payload);
                position = appender.lastPosition();
            }
            return db;
        }

        /**
         * @return the log position of the stream's event; call {@link #db()} first.
         */
        synchronized long position()
        {
            return position;
        }
    }

    /**
     * @param s the state.
     * @param r result.
     */
    @Actor
    public void reader(final S s, final JJJ_Result r)
    {
        final VarveDB db = s.db();
        final long position = s.position();
        r.r1 = attempt(() -> db.streamVersion(s.streamId));
        r.r2 = attempt(() -> Probes.readStream(db, s.streamId, 1, LENGTH));
        r.r3 = attempt(() -> Probes.readAll(db, position, 1, s.streamId, 1, LENGTH));
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

    /**
     * @param read a read returning what it saw.
     * @return its result, or {@link #CLOSED} if it threw {@link StoreClosedException}; any other exception is let
     *         through, and jcstress reports it as an error.
     */
    static long attempt(final LongSupplier read)
    {
        try
        {
            return read.getAsLong();
        }
        catch (final StoreClosedException ex)
        {
            return CLOSED;
        }
    }
}
