package io.varvedb.attack;

import io.varvedb.*;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Promise broken: {@code scavenge()} rewrites "every sealed segment that holds events no stream shows (hidden by
 * limits, ...)" without them, and "ids of dropped events are forgotten"; README lists the only events a hidden
 * stream keeps on disk (its last event when nothing records its version).
 * <p>
 * How: a batch of 10 events (v1..10) then {@code truncateBefore(6)}: reads show 6..10, but the scavenge (segment
 * sealed) drops nothing of the batch: v1..5 stay on disk and in {@code readAll}, and their ids are still answered
 * as retries. Single appends under the same limit (and under {@code maxCount}) are dropped; a batch hidden whole
 * (soft delete, tombstone) is dropped; only a batch hidden in part is kept whole.
 * Expected: v1..5 dropped (their ids forgotten), as for single appends. Severity low (at most one batch per stream).
 */
class LifecycleBatchScavengeAttackTest
{
    @TempDir
    Path dir;

    @Test
    void theHiddenPartOfABatchIsDroppedByTheScavenge()
    {
        final VarveConfig config = VarveConfig.builder(dir).segmentSize(64 * 1024).indexCapacity(1024)
            .indexBlocksPerChunk(16).build();
        try (VarveDB db = VarveDB.open(config))
        {
            final Appender appender = db.appender();
            final EventBatch batch = new EventBatch();
            for (int i = 1; i <= 10; i++)
            {
                batch.add(1, new byte[200]).eventId(42, i);
            }
            assertEquals(10, appender.appendBatch(1, ExpectedVersion.NO_STREAM, batch));
            db.setStreamMetadata(1, StreamMetadata.NONE.withTruncateBefore(6));
            for (int i = 0; i < 1200; i++)
            {
                appender.append(999, ExpectedVersion.ANY, 1, new byte[200]);
            }
            final ScavengeResult result = db.scavenge();
            final List<Long> inLog = new ArrayList<>();
            db.readAll(VarveDB.START_POSITION, Integer.MAX_VALUE, e ->
            {
                if (e.streamId() == 1)
                {
                    inLog.add(e.version());
                }
            });
            assertEquals(List.of(6L, 7L, 8L, 9L, 10L), inLog, "hidden batch members still on disk; " + result);
            assertEquals(11, appender.append(1, ExpectedVersion.ANY, 1, new UUID(42, 3), new byte[200]),
                "the id of a dropped event writes anew");
        }
    }
}
