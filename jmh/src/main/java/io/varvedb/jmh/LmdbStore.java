package io.varvedb.jmh;

import org.agrona.concurrent.EpochNanoClock;
import org.agrona.concurrent.OffsetEpochNanoClock;
import org.agrona.concurrent.UnsafeBuffer;
import org.lmdbjava.Cursor;
import org.lmdbjava.Dbi;
import org.lmdbjava.DbiFlags;
import org.lmdbjava.Env;
import org.lmdbjava.EnvFlags;
import org.lmdbjava.GetOp;
import org.lmdbjava.PutFlags;
import org.lmdbjava.Txn;

import java.nio.ByteBuffer;
import java.nio.file.Path;

/**
 * LMDB through lmdbjava 0.9.1, as an LMDB user would build an event store, on LMDB's write fast path.
 * <p>
 * Schema: one {@code events} database keyed by {@code (stream id, version)}, both big-endian, so a stream's events
 * are adjacent and in version order; the value is a timestamp (the clock VarveDB stamps its events with), the type
 * and the payload. An append is one write transaction: a cursor seeks to the stream's last key (its version),
 * checks the expectation, puts the new event(s) with {@code MDB_NOOVERWRITE}, and commits. {@code readStream} and
 * the latest event of a stream are cursor seeks; {@code readAll} scans the database in key order, i.e. stream by
 * stream, not in append order (a global order would need a second database and a second put per append, which would
 * only slow LMDB down here).
 * <p>
 * Environment: {@code MDB_WRITEMAP | MDB_NOSYNC}: pages are written through a shared writable mapping, nothing is
 * forced, the same durability as VarveDB's {@code Durability.OS} (a process crash loses nothing, a power cut may).
 * Without {@code MDB_WRITEMAP} every commit copies its dirty pages with a {@code write} syscall, about 3x slower. Key
 * and value buffers are reused direct buffers; read transactions are reset and renewed, not reopened.
 */
final class LmdbStore implements EventStore
{
    /** Sparse map; large enough for any trial here. */
    private static final long MAP_SIZE = 64L * 1024 * 1024 * 1024;
    private static final int KEY_LENGTH = 2 * Long.BYTES;
    private static final int VERSION_OFFSET = Long.BYTES;
    private static final int TIMESTAMP_OFFSET = 0;
    private static final int TYPE_OFFSET = Long.BYTES;
    private static final int HEADER = TYPE_OFFSET + Integer.BYTES;
    private static final int MAX_READERS = 16;

    private final Env<ByteBuffer> env;
    private final Dbi<ByteBuffer> events;

    LmdbStore(final Path directory)
    {
        env = Env.create().setMapSize(MAP_SIZE).setMaxDbs(1).setMaxReaders(MAX_READERS)
            .open(directory.toFile(), EnvFlags.MDB_WRITEMAP, EnvFlags.MDB_NOSYNC);
        events = env.openDbi("events", DbiFlags.MDB_CREATE);
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

    /**
     * Position the cursor on the stream's last event.
     *
     * @param cursor   a cursor of {@code events}.
     * @param probe    a reusable key buffer.
     * @param streamId the stream.
     * @return its version (the cursor is on it), or 0 if it has no event.
     */
    private static long seekLast(final Cursor<ByteBuffer> cursor, final ByteBuffer probe, final long streamId)
    {
        probe.putLong(0, streamId).putLong(VERSION_OFFSET, Long.MAX_VALUE);
        // the first key >= (stream, MAX) belongs to a later stream, or there is none: step back once
        final boolean positioned = cursor.get(probe, GetOp.MDB_SET_RANGE) ? cursor.prev() : cursor.last();
        if (!positioned)
        {
            return 0;
        }
        final ByteBuffer key = cursor.key();
        return key.getLong(0) == streamId ? key.getLong(VERSION_OFFSET) : 0;
    }

    private final class LmdbWriter implements Writer
    {
        private final ByteBuffer probe = ByteBuffer.allocateDirect(KEY_LENGTH);
        private final ByteBuffer key = ByteBuffer.allocateDirect(KEY_LENGTH);
        private final ByteBuffer event;
        private final EpochNanoClock clock = new OffsetEpochNanoClock();
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
                long version;
                // a write transaction's cursor must be closed before its commit
                try (Cursor<ByteBuffer> cursor = events.openCursor(txn))
                {
                    final long current = seekLast(cursor, probe, streamId);
                    if (expectedVersion >= 0 && expectedVersion != current)
                    {
                        lastActualVersion = current;
                        return CONFLICT; // closing without commit aborts
                    }
                    version = current;
                    for (int i = 0; i < count; i++)
                    {
                        version++;
                        key.putLong(0, streamId).putLong(VERSION_OFFSET, version);
                        event.putLong(TIMESTAMP_OFFSET, clock.nanoTime()).putInt(TYPE_OFFSET, Bench.EVENT_TYPE);
                        if (!cursor.put(key, event, PutFlags.MDB_NOOVERWRITE))
                        {
                            throw new IllegalStateException("event " + streamId + "/" + version + " already exists");
                        }
                    }
                }
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
        private final ByteBuffer probe = ByteBuffer.allocateDirect(KEY_LENGTH);
        /** A view over each value, so the payload is read in native order as the other readers read it. */
        private final UnsafeBuffer view = new UnsafeBuffer(0, 0);
        private final Txn<ByteBuffer> txn = env.txnRead();
        private final Cursor<ByteBuffer> cursor = events.openCursor(txn);
        private long digest;

        LmdbReader()
        {
            txn.reset();
        }

        private void fold()
        {
            final ByteBuffer key = cursor.key();
            final ByteBuffer value = cursor.val();
            final int length = value.remaining() - HEADER;
            // the payload through a native-order view, as every other reader folds it (a ByteBuffer's getLong is
            // big-endian and bounds-checked); a user reading LMDB for speed wraps the value the same way, zero-copy
            view.wrap(value);
            digest += key.getLong(0) ^ key.getLong(VERSION_OFFSET) ^ value.getInt(TYPE_OFFSET) ^
                value.getLong(TIMESTAMP_OFFSET) ^ length ^ Bench.fold(view, HEADER, length);
        }

        private void begin()
        {
            txn.renew();
            cursor.renew(txn);
        }

        @Override
        public int readStream(final long streamId, final long fromVersion, final int maxCount)
        {
            begin();
            try
            {
                int count = 0;
                probe.putLong(0, streamId).putLong(VERSION_OFFSET, fromVersion);
                boolean more = cursor.get(probe, GetOp.MDB_SET_RANGE);
                while (more && count < maxCount && cursor.key().getLong(0) == streamId)
                {
                    fold();
                    count++;
                    more = cursor.next();
                }
                return count;
            }
            finally
            {
                txn.reset();
            }
        }

        @Override
        public long readAll()
        {
            begin();
            try
            {
                long count = 0;
                boolean more = cursor.first();
                while (more)
                {
                    fold();
                    count++;
                    more = cursor.next();
                }
                return count;
            }
            finally
            {
                txn.reset();
            }
        }

        @Override
        public int readLatest(final long streamId)
        {
            begin();
            try
            {
                if (seekLast(cursor, probe, streamId) == 0)
                {
                    return 0;
                }
                fold();
                return 1;
            }
            finally
            {
                txn.reset();
            }
        }

        @Override
        public long digest()
        {
            return digest;
        }

        @Override
        public void close()
        {
            cursor.close();
            txn.close();
        }
    }
}
