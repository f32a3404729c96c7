package io.varvedb;

import io.varvedb.internal.io.ForceObserver;

/**
 * Reaches the package-private parts of {@link VarveConfig.Builder} and {@link VarveDB} the jcstress tests need. It lives in core's
 * package {@code io.varvedb} but in the jcstress-tests module: both are on one class path, in one class loader
 * (the shaded jcstress jar), and there are no modules, so the split package is allowed.
 */
public final class JcstressAccess
{
    private JcstressAccess()
    {
    }

    /**
     * @param builder  a store's configuration.
     * @param observer to see every force of the store's files (see {@link ForceObserver}).
     * @return {@code builder}.
     */
    public static VarveConfig.Builder forceObserver(final VarveConfig.Builder builder, final ForceObserver observer)
    {
        return builder.forceObserver(observer);
    }

    /**
     * The pre-allocator's step, run from a test's thread: allocate the log of {@code db} beyond {@code end}.
     *
     * @param db  an open, writable store.
     * @param end a log position that must end up below the allocated end.
     */
    public static void allocate(final VarveDB db, final long end)
    {
        db.log().allocate(end, true);
    }

    /**
     * @param db an open store.
     * @return the end of its allocated log.
     */
    public static long allocatedEnd(final VarveDB db)
    {
        return db.log().allocatedEnd();
    }

    /**
     * Rewrite a sealed segment of {@code db} without the record at {@code victim} (see {@code Log.replaceSegment}),
     * waiting for this process's readers of the old mapping.
     *
     * @param db      an open, writable store.
     * @param segment the segment.
     * @param victim  the position of the record to drop.
     * @return records dropped, or -1 if another rewrite of the segment was in progress.
     */
    public static long replaceSegment(final VarveDB db, final long segment, final long victim)
    {
        try
        {
            return db.replaceSegment(segment, (buffer, offset, position) -> position != victim,
                io.varvedb.internal.log.ScavengeProgress.NONE).dropped();
        }
        catch (final IllegalStateException ex)
        {
            return -1;
        }
    }

    /**
     * A reader's raw access inside a read section: fetch the segment's buffer, find the record at
     * {@code position}, read its frame length and sum its payload bytes.
     *
     * @param db       an open store.
     * @param position a kept record's position.
     * @return its frame length times 2^32 plus the sum of its payload bytes, or -1 if no record starts there.
     */
    public static long readRecord(final VarveDB db, final long position)
    {
        final VarveDB.ReadContext context = db.enterRead();
        try
        {
            final org.agrona.concurrent.UnsafeBuffer buffer = db.log().readBuffer(position);
            final int offset = db.log().offset(buffer, position);
            if (offset < 0)
            {
                return -1;
            }
            final int frameLength = buffer.getIntAcquire(offset);
            long sum = 0;
            for (int i = io.varvedb.internal.log.RecordDescriptor.HEADER_LENGTH; i < frameLength; i++)
            {
                sum += buffer.getByte(offset + i) & 0xff;
            }
            return ((long)frameLength << 32) + sum;
        }
        finally
        {
            db.exitRead(context);
        }
    }
}
