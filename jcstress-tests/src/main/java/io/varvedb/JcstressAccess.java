package io.varvedb;

import io.varvedb.internal.io.ForceObserver;

/**
 * Reaches the package-private parts of {@link VarveConfig.Builder} the jcstress tests need. It lives in core's
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
}
