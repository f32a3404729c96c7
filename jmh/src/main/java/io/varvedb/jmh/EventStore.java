package io.varvedb.jmh;

/**
 * One system under test, seen as an event store: streams of versioned events and one global log. Each system
 * implements the same logical work in its own documented fast way; the benchmarks drive only this interface so
 * that every system is measured by the same code. One implementation is loaded per JMH fork, so the calls stay
 * monomorphic.
 */
public interface EventStore extends AutoCloseable
{
    /** {@link Writer#tryAppend} result when the stream was not at the expected version. */
    long CONFLICT = -1;
    /** Expected version meaning "append whatever the stream's version is". */
    long ANY = -1;

    /**
     * @param payload the payload every append of this writer carries; copied into the writer's own reused buffer.
     * @return a writer for the calling thread.
     */
    Writer writer(byte[] payload);

    /**
     * @return a reader for the calling thread.
     */
    Reader reader();

    /**
     * Release everything the store holds; its files stay (the benchmark deletes the directory).
     */
    @Override
    void close();

    /**
     * Appends for one thread.
     */
    interface Writer extends AutoCloseable
    {
        /**
         * Append one event carrying the writer's payload.
         *
         * @param streamId        a positive stream id.
         * @param expectedVersion the version the stream must be at, or {@link EventStore#ANY}.
         * @return the new version, or {@link EventStore#CONFLICT} (nothing written).
         */
        long tryAppend(long streamId, long expectedVersion);

        /**
         * Append {@code count} events atomically (as far as the system can) to one stream.
         *
         * @param streamId        a positive stream id.
         * @param expectedVersion the version the stream must be at, or {@link EventStore#ANY}.
         * @param count           events.
         * @return the version of the last event, or {@link EventStore#CONFLICT}.
         */
        long tryAppendBatch(long streamId, long expectedVersion, int count);

        /**
         * @return after a conflict: the stream's version at the time.
         */
        long lastActualVersion();

        @Override
        void close();
    }

    /**
     * Reads for one thread. Every read touches stream id, version, type, length and the first payload bytes of
     * each event, folding them into {@link #digest()} so nothing can be optimised away.
     */
    interface Reader extends AutoCloseable
    {
        /**
         * @param streamId    stream.
         * @param fromVersion first version, from 1.
         * @param maxCount    most events.
         * @return events read.
         */
        int readStream(long streamId, long fromVersion, int maxCount);

        /**
         * @return events read scanning the whole log from its start.
         */
        long readAll();

        /**
         * @param streamId stream.
         * @return 1 if the stream's latest event was read, else 0.
         */
        int readLatest(long streamId);

        /**
         * @return a value folded from everything read.
         */
        long digest();

        @Override
        void close();
    }
}
