package io.varvedb.jmh;

import io.varvedb.tools.LatencyTarget;

/**
 * Any benchmark {@link EventStore} (VarveDB in each durability variant, LMDB, SQLite) as a
 * {@link LatencyTarget}, so {@link FixedRateLatency} drives it with the same sender as {@code varve latency}: sender
 * i appends to stream i + 1 with the exact expected version, which a single writer per stream never loses.
 */
final class EventStoreTarget implements LatencyTarget
{
    private final String system;
    private final EventStore store;
    private final byte[] payload;

    /**
     * @param system  the system's name, for messages.
     * @param store   the opened store; closed with this target.
     * @param payload the bytes every event carries.
     */
    EventStoreTarget(final String system, final EventStore store, final byte[] payload)
    {
        this.system = system;
        this.store = store;
        this.payload = payload;
    }

    @Override
    public Writer writer(final int sender)
    {
        return new StoreWriter(system, store.writer(payload), sender + 1L);
    }

    @Override
    public void close()
    {
        store.close();
    }

    private static final class StoreWriter implements Writer
    {
        private final String system;
        private final EventStore.Writer writer;
        private final long streamId;
        private long version;

        StoreWriter(final String system, final EventStore.Writer writer, final long streamId)
        {
            this.system = system;
            this.writer = writer;
            this.streamId = streamId;
        }

        @Override
        public void append(final long intendedNanos)
        {
            final long result = writer.tryAppend(streamId, version);
            if (result == EventStore.CONFLICT)
            {
                throw new IllegalStateException(system + ": conflict with a single writer at version " + version);
            }
            version = result;
        }

        @Override
        public void close()
        {
            writer.close();
        }
    }
}
