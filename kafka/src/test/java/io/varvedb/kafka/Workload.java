package io.varvedb.kafka;

import java.nio.charset.StandardCharsets;
import java.util.Random;
import java.util.UUID;

import io.varvedb.Appender;
import io.varvedb.ConcurrencyConflictException;
import io.varvedb.EventBatch;
import io.varvedb.ExpectedVersion;
import io.varvedb.StreamDeletedException;
import io.varvedb.StreamMetadata;
import io.varvedb.VarveDB;

/**
 * A mixed workload on a primary: numeric and named streams, single appends with exact expected versions (and
 * deliberate stale ones, which conflict), batches, event ids, metadata, a soft delete and a tombstone. What a
 * replica must reproduce whole.
 */
final class Workload
{
    private final Random random;
    private final int streams;
    private int first;
    private int conflicts;

    Workload(final long seed, final int streams)
    {
        this.random = new Random(seed);
        this.streams = streams;
    }

    /**
     * Use streams {@code first + 1 .. first + streams} from now on (a long run moves on to fresh streams, as the
     * old ones get tombstoned).
     */
    Workload from(final int first)
    {
        this.first = first;
        return this;
    }

    int conflicts()
    {
        return conflicts;
    }

    /** Append {@code steps} operations; returns the events appended. */
    int run(final VarveDB db, final Appender appender, final int steps)
    {
        int events = 0;
        final EventBatch batch = new EventBatch();
        for (int i = 0; i < steps; i++)
        {
            final int pick = random.nextInt(100);
            final boolean named = random.nextInt(4) == 0;
            final int s = first + 1 + random.nextInt(streams);
            final long id = named ? appender.streamId("order-" + s) : s;
            final long version;
            try
            {
                version = db.streamVersion(id);
            }
            catch (final StreamDeletedException ex)
            {
                continue;
            }
            final byte[] payload = payload(id, version + 1);
            try
            {
                if (pick < 55)
                {
                    appender.append(id, ExpectedVersion.exact(version), 1 + random.nextInt(5), payload);
                    events++;
                }
                else if (pick < 65)
                {
                    final UUID eventId = new UUID(random.nextLong(), random.nextLong() | 1);
                    appender.append(id, ExpectedVersion.exact(version), 7, eventId, payload);
                    events++;
                }
                else if (pick < 80)
                {
                    batch.clear();
                    final int size = 2 + random.nextInt(4);
                    for (int b = 0; b < size; b++)
                    {
                        batch.add(10 + b, payload(id, version + 1 + b));
                    }
                    appender.appendBatch(id, ExpectedVersion.exact(version), batch);
                    events += size;
                }
                else if (pick < 90)
                {
                    // a stale writer: conflicts, writes nothing
                    if (version > 0)
                    {
                        appender.append(id, ExpectedVersion.exact(version - 1), 1, payload);
                        throw new AssertionError("a stale append did not conflict");
                    }
                }
                else if (pick < 96)
                {
                    db.setStreamMetadata(id, StreamMetadata.NONE.withMaxCount(5 + random.nextInt(20)));
                    events++;
                }
                else if (pick < 99)
                {
                    if (version > 0)
                    {
                        db.deleteStream(id, ExpectedVersion.exact(version));
                        events++;
                    }
                }
                else if (version > 2 && random.nextBoolean())
                {
                    db.tombstoneStream(id, ExpectedVersion.exact(version));
                    events++;
                }
            }
            catch (final ConcurrencyConflictException ex)
            {
                conflicts++;
            }
        }
        return events;
    }

    static byte[] payload(final long streamId, final long version)
    {
        return ("event " + streamId + "/" + version + " " + "x".repeat((int)(version % 17)))
            .getBytes(StandardCharsets.UTF_8);
    }
}
