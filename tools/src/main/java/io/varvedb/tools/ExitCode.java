package io.varvedb.tools;

/**
 * Exit statuses of the {@code varve} commands, so scripts can tell a failed check from a misuse.
 */
public final class ExitCode
{
    /** Everything asked for was done and every check passed. */
    public static final int OK = 0;
    /** The command ran but a check failed: a demo invariant, or {@code verify} found damage. */
    public static final int CHECK_FAILED = 1;
    /** Bad arguments. */
    public static final int USAGE = 2;
    /** The store cannot be used: missing, not a store, locked by a writer, or an I/O error. */
    public static final int STORE = 3;
    /** A bug in the tools. */
    public static final int INTERNAL = 4;
    /**
     * Kafka cannot be used ({@code publish}, {@code replicate}): no broker answers, the topic is missing or holds
     * another store's log, or Kafka refused.
     */
    public static final int KAFKA = 5;

    private ExitCode()
    {
    }
}
