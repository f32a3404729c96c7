package io.varvedb.attack;

import io.varvedb.*;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Promise broken: "Names starting with {@code $} belong to the store" and a scavenge keeps "every ... metadata in
 * force" (README, Stream lifecycle; {@link VarveDB#scavenge} Javadoc), and metadata is "recovered from the log".
 * <p>
 * How: the metadata stream {@code "$$orders"} is refused by {@code streamId}, {@code setStreamMetadata},
 * {@code deleteStream} and {@code tombstoneStream}, but a plain {@code appender.append(id, ..)} with the id from the
 * public {@code findStreamId("$$orders")} is accepted. One such event (any type, 8 bytes) after the real metadata
 * makes the scavenge drop the real metadata event (apparently it keeps only the metadata stream's last event), while this
 * process keeps showing {@code maxCount=5}: after a reopen the limit is gone ({@code NONE}) and events it hid
 * (21..25, not yet scavenged) are visible again. (A soft delete is metadata too, so it is presumably lost the same way; not
 * checked.)
 * Expected: the append to a system stream is refused (IllegalArgumentException), or at least the metadata in force
 * survives the scavenge and the reopen.
 */
class LifecycleMetadataStreamAttackTest
{
    @TempDir
    Path dir;

    private VarveConfig config()
    {
        return VarveConfig.builder(dir).segmentSize(64 * 1024).indexCapacity(1024).indexBlocksPerChunk(16).build();
    }

    private static List<Long> versions(final VarveDB db, final long stream)
    {
        final List<Long> out = new ArrayList<>();
        db.readStream(stream, 1, Integer.MAX_VALUE, e -> out.add(e.version()));
        return out;
    }

    @Test
    void anEventAppendedToAMetadataStreamByIdMakesTheScavengeLoseTheMetadataInForce()
    {
        final long orders;
        boolean refused = false;
        try (VarveDB db = VarveDB.open(config()))
        {
            final Appender appender = db.appender();
            orders = db.streamId("orders");
            for (long v = 1; v <= 20; v++)
            {
                appender.append(orders, ExpectedVersion.ANY, 1, new byte[200]);
            }
            db.setStreamMetadata(orders, StreamMetadata.NONE.withMaxCount(5));
            final long metadataStream = db.findStreamId("$$orders");
            assertNotEquals(0, metadataStream);
            try
            {
                appender.append(metadataStream, ExpectedVersion.ANY, 1, new byte[8]);
            }
            catch (final IllegalArgumentException expected)
            {
                refused = true;
            }
            for (int i = 0; i < 1200; i++)
            {
                appender.append(999, ExpectedVersion.ANY, 1, new byte[200]);
            }
            for (long v = 21; v <= 30; v++)
            {
                appender.append(orders, ExpectedVersion.ANY, 1, new byte[200]);
            }
            assertEquals(List.of(26L, 27L, 28L, 29L, 30L), versions(db, orders));
            db.scavenge();
            assertEquals(StreamMetadata.NONE.withMaxCount(5), db.streamMetadata(orders));
            assertEquals(List.of(26L, 27L, 28L, 29L, 30L), versions(db, orders));
        }
        try (VarveDB db = VarveDB.open(config()))
        {
            assertEquals(StreamMetadata.NONE.withMaxCount(5), db.streamMetadata(orders),
                "metadata in force after scavenge + reopen (append to $$orders refused: " + refused + ")");
            assertEquals(List.of(26L, 27L, 28L, 29L, 30L), versions(db, orders), "hidden events came back");
        }
    }
}
