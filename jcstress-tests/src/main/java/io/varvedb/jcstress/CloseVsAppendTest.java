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

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

/**
 * {@code close()} racing an append on an appender taken before the close. The append either completes, and its
 * event is there after the store is reopened, or fails with {@link StoreClosedException} and leaves nothing; the
 * close waits for an append in flight, so the store is always closed cleanly (no recovery at reopen).
 * <p>
 * Each state needs a store of its own to close. Opening one costs about a millisecond, so the store is opened by
 * whichever actor comes first (the other waits for it, which also lines the two up) and directories are reused:
 * the arbiter reopens the store to judge, closes it again and hands the directory to a later state. Run this test
 * with small strides ({@code -strideCount 1 -strideSize 32}, as run-jcstress.sh does): jcstress builds a whole
 * epoch of states before running any, and each of them costs milliseconds here.
 * <p>
 * Result: r1 = the append's version, or -1 for {@link StoreClosedException}; r2 = the stream's version after
 * reopening; r3 = 1 when the reopen found a clean store and the event (if any) reads back whole, 0 when the store
 * was not closed cleanly, or a negative {@link Events} code.
 */
@JCStressTest
@Description("close() racing an append: the append is complete and survives reopening, or is refused and absent")
@Outcome(id = "1, 1, 1", expect = ACCEPTABLE, desc = "the append went first; close waited for it; it survived")
@Outcome(id = "-1, 0, 1", expect = ACCEPTABLE, desc = "the close went first; the append was refused, nothing written")
@Outcome(expect = FORBIDDEN, desc = "an acknowledged event lost, a refused one written, or an unclean close")
public class CloseVsAppendTest
{
    /** r1 when the append was refused because the store closed. */
    static final long REFUSED = -1;
    private static final int LENGTH = 64;
    private static final int WRITER = 1;
    private static final StoreDirectories STORES = new StoreDirectories("close");

    /**
     * A store of its own, opened by the first actor to arrive.
     */
    @State
    public static class S
    {
        final StoreDirectories.Directory directory = STORES.take();
        final long streamId = directory.nextStream++;
        final byte[] payload = Events.payload(streamId, WRITER, LENGTH);
        private VarveDB db;
        private Appender appender;

        synchronized VarveDB db()
        {
            if (db == null)
            {
                db = VarveDB.open(directory.config());
                appender = db.appender();
            }
            return db;
        }

        synchronized Appender appender()
        {
            db();
            return appender;
        }
    }

    /**
     * @param s the state.
     * @param r result.
     */
    @Actor
    public void append(final S s, final JJJ_Result r)
    {
        final Appender appender = s.appender();
        try
        {
            r.r1 = appender.append(s.streamId, ExpectedVersion.NO_STREAM, WRITER, s.payload);
        }
        catch (final StoreClosedException ex)
        {
            r.r1 = REFUSED;
        }
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
     * @param r result.
     */
    @Arbiter
    public void arbiter(final S s, final JJJ_Result r)
    {
        s.db().close();
        try (VarveDB reopened = VarveDB.open(s.directory.config()))
        {
            r.r2 = reopened.streamVersion(s.streamId);
            final long read = Probes.readStream(reopened, s.streamId, 1, LENGTH);
            r.r3 = read < 0 ? read : read != r.r2 ? OversellExactTest.WRONG_COUNT : reopened.openedCleanly() ? 1 : 0;
        }
        STORES.give(s.directory);
    }
}
