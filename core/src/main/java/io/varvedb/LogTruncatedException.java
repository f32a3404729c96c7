package io.varvedb;

/**
 * Thrown when a read of the global log starts, or a subscription or processor stands, below the log's start: the
 * events there were dropped by whole-log retention ({@link VarveDB#truncateLogBefore}, or the
 * {@link VarveConfig.Builder#retainLogFor retention settings}) before this reader got to them. Nothing is served in
 * their place. To go on from the oldest event still kept, pass {@link #logStart()} as the position, or let the
 * subscription skip ahead by itself ({@link Subscription#skipTruncated}, {@link SubscriptionOptions#skipTruncated},
 * {@link ProcessorOptions#skipTruncated}).
 */
public final class LogTruncatedException extends VarveException
{
    private static final long serialVersionUID = 1L;

    private final long position;
    private final long logStart;

    /**
     * @param position where the reader stood.
     * @param logStart the first position retention kept.
     */
    public LogTruncatedException(final long position, final long logStart)
    {
        super("log position " + position + " lies before the start of the log (" + logStart + "): the events " +
            "there were dropped by log retention before this reader read them; continue from " + logStart +
            " (or let the subscription skip ahead: skipTruncated) to read what is kept");
        this.position = position;
        this.logStart = logStart;
    }

    /**
     * @return where the reader stood.
     */
    public long position()
    {
        return position;
    }

    /**
     * @return the first position retention kept: a record start to continue from.
     */
    public long logStart()
    {
        return logStart;
    }
}
