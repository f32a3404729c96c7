package io.varvedb;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A refused checkpoint call leaves nothing behind: no checkpoints directory, no {@code <name>.lock}.
 */
class RefusedCheckpointCallTest
{
    @TempDir
    Path dir;

    @Test
    void refusedCallsCreateNothingInAFreshStore()
    {
        try (VarveDB db = VarveDB.open(TestStores.small(dir)))
        {
            db.appender().append(1, ExpectedVersion.NO_STREAM, 1, new byte[8]);
            assertThrows(IllegalArgumentException.class, () -> db.resetCheckpoint("p", 12345));
            assertThrows(IllegalArgumentException.class, () -> db.resetCheckpoint("p", 8));
            assertThrows(IllegalArgumentException.class, () -> db.resetCheckpoint("bad name", 0));
            assertFalse(db.deleteCheckpoint("p"), "there was none");
            assertThrows(IllegalArgumentException.class, () -> db.processor("q", (e) -> { },
                ProcessorOptions.defaults().startPosition(12345)));
            assertThrows(IllegalArgumentException.class, () -> db.processor("r", (e) -> { },
                ProcessorOptions.defaults().resumeFrom(12345)));
            assertFalse(Files.exists(dir.resolve("checkpoints")), "no checkpoints directory was created");
            assertEquals(java.util.Map.of(), db.checkpoints());
        }
    }

    @Test
    void refusedCallsAddNothingToAnExistingCheckpointsDirectory() throws Exception
    {
        try (VarveDB db = VarveDB.open(TestStores.small(dir)))
        {
            db.appender().append(1, ExpectedVersion.NO_STREAM, 1, new byte[8]);
            db.processor("kept", (e) -> { }).close();
            final List<String> before = files(dir.resolve("checkpoints"));
            assertEquals(List.of("kept.ckpt", "kept.lock"), before);

            assertThrows(IllegalArgumentException.class, () -> db.resetCheckpoint("p", 12345));
            assertThrows(IllegalArgumentException.class, () -> db.resetCheckpoint("kept", 12345));
            assertFalse(db.deleteCheckpoint("p"));
            assertThrows(IllegalArgumentException.class, () -> db.processor("q", (e) -> { },
                ProcessorOptions.defaults().startPosition(12345)));
            assertThrows(IllegalArgumentException.class, () -> db.processor("kept", (e) -> { },
                ProcessorOptions.defaults().resumeFrom(12345)));
            assertEquals(before, files(dir.resolve("checkpoints")), "nothing new in checkpoints/");

            // the calls that are not refused still work
            db.resetCheckpoint("kept", VarveDB.START_POSITION);
            assertEquals(0L, db.checkpoints().get("kept"));
            try (Processor running = db.processor("kept", (e) -> { }))
            {
                assertThrows(StoreLockedException.class, () -> db.deleteCheckpoint("kept"));
            }
            assertTrue(db.deleteCheckpoint("kept"));
        }
    }

    private static List<String> files(final Path directory) throws Exception
    {
        try (Stream<Path> files = Files.list(directory))
        {
            return files.map((p) -> p.getFileName().toString()).sorted().toList();
        }
    }
}
