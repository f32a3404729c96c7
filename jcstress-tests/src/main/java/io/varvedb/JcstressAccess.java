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
}
