package io.varvedb.jcstress;

import io.varvedb.VarveDB;

/**
 * Reads a reader actor or an arbiter performs on one stream, each returning how many complete, correct events
 * it saw, or a negative {@link Events} code for the first wrong one.
 */
final class Probes
{
    /** Result: the read delivered events out of version order or of another stream. */
    static final long OUT_OF_ORDER = -10;
    private static final int OUT_OF_ORDER_CODE = (int)OUT_OF_ORDER;

    private Probes()
    {
    }

    /**
     * {@link VarveDB#readStream} from version 1.
     *
     * @param db        store.
     * @param streamId  stream.
     * @param batchSize the stream's events were appended as one batch of this size (1: a single event).
     * @param length    payload length of each.
     * @return events delivered, all checked, or a negative code.
     */
    static long readStream(final VarveDB db, final long streamId, final int batchSize, final int length)
    {
        final long[] result = {0};
        db.readStream(streamId, 1, Integer.MAX_VALUE, (event) ->
        {
            if (result[0] < 0)
            {
                return;
            }
            final int index = (int)result[0];
            final int check = index >= batchSize ? OUT_OF_ORDER_CODE :
                Events.check(event, streamId, index + 1, length, flags(index, batchSize));
            result[0] = check < 0 ? check : result[0] + 1;
        });
        return result[0];
    }

    /**
     * {@link VarveDB#readAll} from {@code from}, counting only {@code streamId}'s events.
     *
     * @param db        store.
     * @param from      a record boundary, such as the tail read earlier.
     * @param maxEvents most events (of any stream) to read.
     * @param streamId  stream.
     * @param batchSize as for {@link #readStream}.
     * @param length    payload length.
     * @return the stream's events delivered, all checked and in version order, or a negative code.
     */
    static long readAll(
        final VarveDB db, final long from, final int maxEvents, final long streamId, final int batchSize,
        final int length)
    {
        final long[] result = {0};
        db.readAll(from, maxEvents, (event) ->
        {
            if (result[0] < 0 || event.streamId() != streamId)
            {
                return;
            }
            final int index = (int)result[0];
            final int check = index >= batchSize ? OUT_OF_ORDER_CODE :
                Events.check(event, streamId, index + 1, length, flags(index, batchSize));
            result[0] = check < 0 ? check : result[0] + 1;
        });
        return result[0];
    }

    private static short flags(final int index, final int batchSize)
    {
        return batchSize == 1 ? Events.SINGLE : Events.batchFlags(index, batchSize);
    }
}
