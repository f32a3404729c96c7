package io.varvedb.jmh;

import org.agrona.concurrent.EpochNanoClock;
import org.agrona.concurrent.OffsetEpochNanoClock;
import org.agrona.concurrent.UnsafeBuffer;
import org.sqlite.SQLiteConfig;

import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;

/**
 * SQLite through sqlite-jdbc, the way most teams build an event store: an {@code events} table with a
 * {@code UNIQUE(stream_id, version)} key, WAL, {@code synchronous=OFF}, one {@code BEGIN IMMEDIATE} transaction per
 * append that reads the stream's version through the unique index, checks it, inserts (with a timestamp, as every
 * system here stores one) and commits. Prepared
 * statements are prepared once per connection; one connection per thread.
 */
final class SqliteStore implements EventStore
{
    private static final int BUSY_TIMEOUT_MS = 60_000;
    private static final String CREATE = "CREATE TABLE IF NOT EXISTS events (" +
        "seq INTEGER PRIMARY KEY, stream_id INTEGER NOT NULL, version INTEGER NOT NULL, " +
        "type INTEGER NOT NULL, ts INTEGER NOT NULL, payload BLOB NOT NULL, UNIQUE (stream_id, version))";
    private static final String SELECT_VERSION =
        "SELECT coalesce(max(version), 0) FROM events WHERE stream_id = ?";
    private static final String INSERT =
        "INSERT INTO events (stream_id, version, type, ts, payload) VALUES (?, ?, ?, ?, ?)";
    private static final String READ_STREAM = "SELECT stream_id, version, type, ts, payload FROM events " +
        "WHERE stream_id = ? AND version >= ? ORDER BY version LIMIT ?";
    private static final String READ_ALL = "SELECT stream_id, version, type, ts, payload FROM events ORDER BY seq";
    private static final String READ_LATEST = "SELECT stream_id, version, type, ts, payload FROM events " +
        "WHERE stream_id = ? ORDER BY version DESC LIMIT 1";

    private final String url;
    private final Connection schema;

    SqliteStore(final Path directory)
    {
        url = "jdbc:sqlite:" + directory.resolve("events.db");
        try
        {
            schema = connect(true);
            try (Statement statement = schema.createStatement())
            {
                statement.executeUpdate(CREATE);
            }
        }
        catch (final SQLException ex)
        {
            throw new IllegalStateException(ex);
        }
    }

    private Connection connect(final boolean create) throws SQLException
    {
        final SQLiteConfig config = new SQLiteConfig();
        if (create)
        {
            // persistent in the file; switching it takes an exclusive lock, so only the first connection does
            config.setJournalMode(SQLiteConfig.JournalMode.WAL);
        }
        config.setSynchronous(SQLiteConfig.SynchronousMode.OFF);
        config.setBusyTimeout(BUSY_TIMEOUT_MS);
        return config.createConnection(url);
    }

    @Override
    public Writer writer(final byte[] payload)
    {
        try
        {
            return new SqliteWriter(connect(false), payload);
        }
        catch (final SQLException ex)
        {
            throw new IllegalStateException(ex);
        }
    }

    @Override
    public Reader reader()
    {
        try
        {
            return new SqliteReader(connect(false));
        }
        catch (final SQLException ex)
        {
            throw new IllegalStateException(ex);
        }
    }

    @Override
    public void close()
    {
        try
        {
            schema.close();
        }
        catch (final SQLException ex)
        {
            throw new IllegalStateException(ex);
        }
    }

    private static final class SqliteWriter implements Writer
    {
        private final Connection connection;
        private final PreparedStatement selectVersion;
        private final PreparedStatement insert;
        private final PreparedStatement begin;
        private final PreparedStatement commit;
        private final PreparedStatement rollback;
        private final byte[] payload;
        private final EpochNanoClock clock = new OffsetEpochNanoClock();
        private long lastActualVersion;

        SqliteWriter(final Connection connection, final byte[] payload) throws SQLException
        {
            this.connection = connection;
            this.payload = payload.clone();
            // explicit BEGIN IMMEDIATE / COMMIT: with setAutoCommit(false) sqlite-jdbc opens the next transaction
            // as soon as one commits, so an idle writer would hold the write lock and starve the others
            begin = connection.prepareStatement("BEGIN IMMEDIATE");
            commit = connection.prepareStatement("COMMIT");
            rollback = connection.prepareStatement("ROLLBACK");
            selectVersion = connection.prepareStatement(SELECT_VERSION);
            insert = connection.prepareStatement(INSERT);
        }

        @Override
        public long tryAppend(final long streamId, final long expectedVersion)
        {
            return tryAppendBatch(streamId, expectedVersion, 1);
        }

        @Override
        public long tryAppendBatch(final long streamId, final long expectedVersion, final int count)
        {
            try
            {
                begin.executeUpdate();
                final long current;
                selectVersion.setLong(1, streamId);
                try (ResultSet rows = selectVersion.executeQuery())
                {
                    rows.next();
                    current = rows.getLong(1);
                }
                if (expectedVersion >= 0 && expectedVersion != current)
                {
                    rollback.executeUpdate();
                    lastActualVersion = current;
                    return CONFLICT;
                }
                long version = current;
                for (int i = 0; i < count; i++)
                {
                    version++;
                    insert.setLong(1, streamId);
                    insert.setLong(2, version);
                    insert.setInt(3, Bench.EVENT_TYPE);
                    insert.setLong(4, clock.nanoTime());
                    insert.setBytes(5, payload);
                    if (count == 1)
                    {
                        insert.executeUpdate();
                    }
                    else
                    {
                        insert.addBatch();
                    }
                }
                if (count > 1)
                {
                    insert.executeBatch();
                }
                commit.executeUpdate();
                return version;
            }
            catch (final SQLException ex)
            {
                try
                {
                    if (!connection.getAutoCommit())
                    {
                        connection.rollback();
                    }
                    else
                    {
                        rollback.executeUpdate();
                    }
                }
                catch (final SQLException suppressed)
                {
                    ex.addSuppressed(suppressed);
                }
                throw new IllegalStateException(ex);
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
            try
            {
                connection.close();
            }
            catch (final SQLException ex)
            {
                throw new IllegalStateException(ex);
            }
        }
    }

    private static final class SqliteReader implements Reader
    {
        private final Connection connection;
        private final PreparedStatement readStream;
        private final PreparedStatement readAll;
        private final PreparedStatement readLatest;
        /** Native-order view over each payload, as the other readers fold theirs. */
        private final UnsafeBuffer view = new UnsafeBuffer(0, 0);
        private long digest;

        SqliteReader(final Connection connection) throws SQLException
        {
            this.connection = connection;
            readStream = connection.prepareStatement(READ_STREAM);
            readAll = connection.prepareStatement(READ_ALL);
            readLatest = connection.prepareStatement(READ_LATEST);
        }

        private int fold(final PreparedStatement query) throws SQLException
        {
            int count = 0;
            try (ResultSet rows = query.executeQuery())
            {
                while (rows.next())
                {
                    final byte[] payload = rows.getBytes(5);
                    view.wrap(payload);
                    digest += rows.getLong(1) ^ rows.getLong(2) ^ rows.getInt(3) ^ rows.getLong(4) ^ payload.length ^
                        Bench.fold(view, 0, payload.length);
                    count++;
                }
            }
            return count;
        }

        @Override
        public int readStream(final long streamId, final long fromVersion, final int maxCount)
        {
            try
            {
                readStream.setLong(1, streamId);
                readStream.setLong(2, fromVersion);
                readStream.setInt(3, maxCount);
                return fold(readStream);
            }
            catch (final SQLException ex)
            {
                throw new IllegalStateException(ex);
            }
        }

        @Override
        public long readAll()
        {
            try
            {
                return fold(readAll);
            }
            catch (final SQLException ex)
            {
                throw new IllegalStateException(ex);
            }
        }

        @Override
        public int readLatest(final long streamId)
        {
            try
            {
                readLatest.setLong(1, streamId);
                return fold(readLatest);
            }
            catch (final SQLException ex)
            {
                throw new IllegalStateException(ex);
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
            try
            {
                connection.close();
            }
            catch (final SQLException ex)
            {
                throw new IllegalStateException(ex);
            }
        }
    }
}
