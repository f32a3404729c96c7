package io.varvedb.jcstress;

import io.varvedb.Appender;
import io.varvedb.ExpectedVersion;
import io.varvedb.JcstressAccess;
import io.varvedb.VarveConfig;
import io.varvedb.VarveDB;
import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Description;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.JJ_Result;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

/**
 * A reader fetching a segment's buffer and reading a kept record's frame length and payload, racing a replacer
 * that publishes a compacted copy of the segment (without another record) and retires the old mapping. The reader
 * sees the old record or its copy, byte for byte the same, never garbage; a read of a mapping after it was released
 * would crash the forked VM (an error in jcstress).
 * <p>
 * One store per forked VM, with sealed segments of 64-byte events alternating between a kept stream and a dropped
 * one; each state's replacer drops one more record of the dropped stream (once they are all gone, the rewrite is
 * skipped and only the read remains).
 * <p>
 * Result: r1 = 1 if the read was right, else what it read; r2 = records the replacer dropped (0, 1) or -1 when
 * another rewrite of the segment was in progress.
 */
@JCStressTest
@Description("segment replacement racing a raw read of a kept record: old or new copy, same bytes")
@Outcome(id = {"1, 1", "1, 0", "1, -1"}, expect = ACCEPTABLE, desc = "the record read whole, from either mapping")
@Outcome(expect = FORBIDDEN, desc = "garbage, or the record not found")
public class ReplaceVsReadTest
{
    private static final int EVENTS = 2400;
    private static final int LENGTH = 64;
    private static final VarveDB DB;
    private static final long[] KEPT = new long[EVENTS / 2];
    private static final long[] DROPPED = new long[EVENTS / 2];
    private static final long EXPECTED;
    private static final long SEALED;
    private static int next;

    static
    {
        try
        {
            final Path directory = Files.createTempDirectory(StorePool.baseDirectory(), "replace-read");
            StorePool.track(directory);
            DB = VarveDB.open(VarveConfig.builder(directory).segmentSize(StorePool.ROLLING_SEGMENT).build());
            final Appender appender = DB.appender();
            final byte[] payload = new byte[LENGTH];
            for (int i = 0; i < LENGTH; i++)
            {
                payload[i] = (byte)(i * 7 + 3);
            }
            for (int i = 0; i < EVENTS; i++)
            {
                appender.append(1 + i % 2, ExpectedVersion.ANY, 1, payload);
                (i % 2 == 0 ? KEPT : DROPPED)[i / 2] = appender.lastPosition();
            }
            appender.awaitDurable(appender.lastPosition());
            SEALED = DB.tailPosition() / StorePool.ROLLING_SEGMENT;
            long sum = 0;
            for (final byte b : payload)
            {
                sum += b & 0xff;
            }
            EXPECTED = ((long)(io.varvedb.internal.log.RecordDescriptor.HEADER_LENGTH + LENGTH) << 32) + sum;
        }
        catch (final java.io.IOException ex)
        {
            throw new ExceptionInInitializerError(ex);
        }
    }

    /** A kept record and a victim in the same sealed segment. */
    @State
    public static class S
    {
        final long kept;
        final long victim;

        public S()
        {
            synchronized (ReplaceVsReadTest.class)
            {
                int i = next;
                next = (next + 1) % KEPT.length;
                while (DROPPED[i] / StorePool.ROLLING_SEGMENT >= SEALED)
                {
                    i = (i + 1) % KEPT.length;
                }
                kept = KEPT[i];
                victim = DROPPED[i];
            }
        }
    }

    /**
     * @param s the state.
     * @param r result.
     */
    @Actor
    public void reader(final S s, final JJ_Result r)
    {
        final long read = JcstressAccess.readRecord(DB, s.kept);
        r.r1 = read == EXPECTED ? 1 : read;
    }

    /**
     * @param s the state.
     * @param r result.
     */
    @Actor
    public void replacer(final S s, final JJ_Result r)
    {
        r.r2 = JcstressAccess.replaceSegment(DB, s.kept / StorePool.ROLLING_SEGMENT, s.victim);
    }
}
