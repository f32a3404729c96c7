package io.varvedb.jmh;

import org.lmdbjava.Cursor;
import org.lmdbjava.Dbi;
import org.lmdbjava.DbiFlags;
import org.lmdbjava.Env;
import org.lmdbjava.EnvFlags;
import org.lmdbjava.PutFlags;
import org.lmdbjava.Txn;

import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicLong;

/**
 * LMDB through lmdbjava 0.9.1, as an event store: one write transaction per append reads the stream's version
 * from a {@code streams} database, checks the expectation, puts the event under the next global sequence number
 * in an {@code events} database ({@code MDB_APPEND}: keys are big-endian and increasing) and the new version under
 * the stream, and commits. {@code MDB_NOSYNC}, like every system here: nothing is fsynced. Keys and values are
 * reused direct buffers.
 */
final class LmdbStore implements EventStore
{
    /** Sparse map; large enough for any trial here. */
    private static final long MAP_SIZE = 64L * 1024 * 1024 * 1024;
    private static final int HEADER = Long.BYTES + Long.BYTES + Integer.BYTES;
    private static final int TYPE_OFFSET = 2 * Long.BYTES;

    private final Env<ByteBuffer> env;
    private final Dbi<ByteBuffer> events;
    private final Dbi<ByteBuffer> streams;
    /** Only advanced inside a write transaction, which LMDB serialises; atomic for visibility across threads. */
    private final AtomicLong sequence = new AtomicLong();

    LmdbStore(final Path directory)
    {
        env = Env.create().setMapSize(MAP_SIZE).setMaxDbs(2).setMaxReaders(16)
            .open(directory.toFile(), EnvFlags.MDB_NOSYNC);
        events = env.openDbi("events", DbiFlags.MDB_CREATE);
        streams = env.openDbi("streams", DbiFlags.MDB_CREATE);
    }

    @Override
    public Writer writer(final byte[] payload)
    {
        return new LmdbWriter(payload);
    }

    @Override
    public Reader reader()
    {
        return new LmdbReader();
    }

    @Override
    public void close()
    {
        env.close();
    }

    private final class LmdbWriter implements Writer
    {
        private final ByteBuffer streamKey = ByteBuffer.allocateDirect(Long.BYTES);
        private final ByteBuffer versionValue = ByteBuffer.allocateDirect(Long.BYTES);
        private final ByteBuffer sequenceKey = ByteBuffer.allocateDirect(Long.BYTES);
        private final ByteBuffer event;
        private long lastActualVersion;

        LmdbWriter(final byte[] payload)
        {
            event = ByteBuffer.allocateDirect(HEADER + payload.length);
            event.position(HEADER);
            event.put(payload);
            event.clear();
        }

        @Override
        public long tryAppend(final long streamId, final long expectedVersion)
        {
            return tryAppendBatch(streamId, expectedVersion, 1);
        }

        @Override
        public long tryAppendBatch(final long streamId, final long expectedVersion, final int count)
        {
            try (Txn<ByteBuffer> txn = env.txnWrite())
            {
                streamKey.putLong(0, streamId);
                final ByteBuffer stored = streams.get(txn, streamKey);
                final long current = stored == null ? 0 : stored.getLong(0);
                if (expectedVersion >= 0 && expectedVersion != current)
                {
                    lastActualVersion = current;
                    return CONFLICT; // closing without commit aborts
                }
                long version = current;
                for (int i = 0; i < count; i++)
                {
                    version++;
                    sequenceKey.putLong(0, sequence.incrementAndGet());
                    event.putLong(0, streamId).putLong(Long.BYTES, version).putInt(TYPE_OFFSET, Bench.EVENT_TYPE);
                    events.put(txn, sequenceKey, event, PutFlags.MDB_APPEND);
                }
                versionValue.putLong(0, version);
                streams.put(txn, streamKey, versionValue);
                txn.commit();
                return version;
            }
        }

        @Override
        public long lastActualVersion()
        {
            return lastActualVersion;
        }

        @Override
        public void close()
        {
        }
    }

    private final class LmdbReader implements Reader
    {
        private long digest;

        @Override
        public int readStream(final long streamId, final long fromVersion, final int maxCount)
        {
            throw new UnsupportedOperationException("events are keyed by global sequence only (see the issue)");
        }

        @Override
        public long readAll()
        {
            long count = 0;
            try (Txn<ByteBuffer> txn = env.txnRead(); Cursor<ByteBuffer> cursor = events.openCursor(txn))
            {
                boolean more = cursor.first();
                while (more)
                {
                    final ByteBuffer value = cursor.val();
                    final int length = value.remaining() - HEADER;
                    final long head = length >= Long.BYTES ? value.getLong(HEADER) : length;
                    digest += value.getLong(0) ^ value.getLong(Long.BYTES) ^ value.getInt(TYPE_OFFSET) ^ length ^ head;
                    count++;
                    more = cursor.next();
                }
            }
            return count;
        }

        @Override
        public int readLatest(final long streamId)
        {
            throw new UnsupportedOperationException("events are keyed by global sequence only (see the issue)");
        }

        @Override
        public long digest()
        {
            return digest;
        }

        @Override
        public void close()
        {
        }
    }
}
