package io.varvedb.tools;

import io.varvedb.ExpectedVersion;
import io.varvedb.StreamMetadata;
import io.varvedb.VarveConfig;
import io.varvedb.VarveDB;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A store with every stream lifecycle a scavenge acts on, in sealed segments: a plain stream, a soft-deleted one,
 * a tombstoned one, one limited by max count, a named one truncated before a version, and filler after them so
 * their segments are sealed.
 */
final class LifecycleStores
{
    static final int SEGMENT = 64 * 1024;
    static final long PLAIN = 1;
    static final long DELETED = 2;
    static final long TOMBSTONED = 3;
    static final long MAX_COUNT = 4;
    static final String TRUNCATED = "orders-truncated";
    static final int EVENTS_EACH = 300;
    static final int MAX_COUNT_KEPT = 10;
    static final int TRUNCATE_BEFORE = 251;

    private LifecycleStores()
    {
    }

    static VarveConfig config(final Path dir)
    {
        return VarveConfig.builder(dir).segmentSize(SEGMENT).build();
    }

    /**
     * Build the store and close it cleanly.
     */
    static void create(final Path dir)
    {
        try (VarveDB db = VarveDB.open(config(dir)))
        {
            final long truncated = db.streamId(TRUNCATED);
            final byte[] payload = new byte[60];
            for (int i = 0; i < EVENTS_EACH; i++)
            {
                for (final long stream : new long[] {PLAIN, DELETED, TOMBSTONED, MAX_COUNT, truncated})
                {
                    payload[0] = (byte)i;
                    db.appender().append(stream, ExpectedVersion.ANY, 1, payload);
                }
            }
            db.deleteStream(DELETED, ExpectedVersion.exact(EVENTS_EACH));
            db.tombstoneStream(TOMBSTONED, ExpectedVersion.ANY);
            db.setStreamMetadata(MAX_COUNT, StreamMetadata.NONE.withMaxCount(MAX_COUNT_KEPT));
            db.setStreamMetadata(TRUNCATED, StreamMetadata.NONE.withTruncateBefore(TRUNCATE_BEFORE));
            // filler, so the segments holding all of the above are sealed
            for (int i = 0; i < 1500; i++)
            {
                db.appender().append(PLAIN, ExpectedVersion.ANY, 2, payload);
            }
        }
    }

    /**
     * @return every event each stream shows, as "stream version position", and the metadata and tombstones'
     * positions, read through the public API.
     */
    static List<String> visible(final VarveDB db)
    {
        final List<String> lines = new ArrayList<>();
        for (final long stream : new long[] {PLAIN, DELETED, MAX_COUNT, db.findStreamId(TRUNCATED)})
        {
            db.readStream(stream, 1, Integer.MAX_VALUE, (e) -> lines.add(e.streamId() + " v" + e.version() + " @" +
                e.position()));
        }
        db.readAll(VarveDB.START_POSITION, Integer.MAX_VALUE, (e) ->
        {
            if (e.isTombstone() || e.isStreamMetadata())
            {
                lines.add("all " + e.streamId() + " v" + e.version() + " @" + e.position());
            }
        });
        return lines;
    }
}
