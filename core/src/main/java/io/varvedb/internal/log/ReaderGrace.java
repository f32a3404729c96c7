package io.varvedb.internal.log;

/**
 * How {@link Log} learns when no reader can still touch a mapping it replaced: the store's readers announce their
 * reads (see {@code VarveDB.ReadContext}); a snapshot of the reads in progress at a moment is {@link #begin()}, and
 * it has {@link Token#passed()} once each of them has ended (or its thread has started a later read, which finds the
 * new mapping).
 */
public interface ReaderGrace
{
    /** For a log with no concurrent readers (tools, recovery): every snapshot has passed at once. */
    ReaderGrace NONE = () -> () -> true;

    /**
     * Call after the new mapping is published (a volatile store): the snapshot is then taken with volatile loads,
     * so a read it misses started after the publication and can only find the new mapping.
     *
     * @return the reads in progress now.
     */
    Token begin();

    /** The reads in progress at a moment. */
    @FunctionalInterface
    interface Token
    {
        /**
         * @return true once every one of them has ended.
         */
        boolean passed();
    }
}
