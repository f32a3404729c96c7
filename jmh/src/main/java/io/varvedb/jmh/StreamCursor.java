package io.varvedb.jmh;

/**
 * Walks a fixed shuffled order of streams, one append per step, remembering each stream's version so that
 * {@code exact(n)} appends always expect the right one. Single-threaded.
 */
public final class StreamCursor
{
    private final long[] streamIds;
    private final long[] versions;
    private final boolean exact;
    private int next;

    /**
     * @param streams how many streams to spread appends over.
     * @param exact   true for {@code exact(n)} expectations, false for ANY.
     */
    public StreamCursor(final int streams, final boolean exact)
    {
        this.streamIds = Bench.shuffledStreams(streams);
        this.versions = new long[streams];
        this.exact = exact;
    }

    /**
     * Append one event (or a batch of {@code count}) to the next stream.
     *
     * @param writer appends.
     * @param count  1 for a single append, more for a batch.
     * @return the new version.
     * @throws IllegalStateException on a conflict: one thread owns these streams, so a conflict is a bug.
     */
    public long append(final EventStore.Writer writer, final int count)
    {
        final int i = next;
        final long expected = exact ? versions[i] : EventStore.ANY;
        final long result = count == 1 ?
            writer.tryAppend(streamIds[i], expected) :
            writer.tryAppendBatch(streamIds[i], expected, count);
        if (result == EventStore.CONFLICT)
        {
            throw new IllegalStateException("unexpected conflict on stream " + streamIds[i] + " expecting " +
                expected + ", actual " + writer.lastActualVersion());
        }
        versions[i] = result;
        next = i + 1 == streamIds.length ? 0 : i + 1;
        return result;
    }
}
