package io.varvedb;

/**
 * Thrown when a store is opened for writing as what it is not: a replica store (one that follows a primary, see
 * {@link VarveConfig.Builder#replicaOf}) by an ordinary writer before it was {@link VarveDB#promoteReplica promoted},
 * or a store that already holds events of its own as a new replica. Nothing was written.
 */
public final class ReplicaStoreException extends VarveException
{
    private static final long serialVersionUID = 1L;

    /**
     * @param message what went wrong and what to do about it.
     */
    public ReplicaStoreException(final String message)
    {
        super(message);
    }
}
