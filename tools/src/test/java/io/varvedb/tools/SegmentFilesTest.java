package io.varvedb.tools;

import io.varvedb.internal.log.SegmentDescriptor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.MappedByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * {@link SegmentFiles#close()} unmaps the segments itself (issue 20), rather than leaving them mapped until the
 * garbage collector finds the buffers.
 */
class SegmentFilesTest
{
    private static final int SEGMENT_LENGTH = 64 * 1024;
    private static final Path MAPS = Path.of("/proc/self/maps");

    @TempDir
    Path dir;

    @Test
    void closeUnmapsEverySegmentItMapped() throws IOException
    {
        assumeTrue(Files.isReadable(MAPS), "needs /proc/self/maps");
        // plain files in the log's place, which nothing else in this JVM has mapped
        final Path log = Files.createDirectories(dir.resolve(Stores.LOG_DIRECTORY));
        for (long segment = 0; segment < 3; segment++)
        {
            final byte[] bytes = new byte[SegmentDescriptor.HEADER_LENGTH + SEGMENT_LENGTH];
            bytes[0] = (byte)(segment + 1);
            Files.write(log.resolve(SegmentDescriptor.fileName(segment * SEGMENT_LENGTH)), bytes);
        }
        final String logDirectory = log.toRealPath() + "/";

        final SegmentFiles segments = new SegmentFiles(dir, SEGMENT_LENGTH);
        for (long segment = 0; segment < 3; segment++)
        {
            final MappedByteBuffer file = segments.map(segment);
            assertNotNull(file);
            assertEquals(segment + 1, file.get(0));
            assertSame(file, segments.map(segment), "mapped once, then reused");
        }
        assertNull(segments.map(3), "no such segment");
        assertEquals(3, mappings(logDirectory));

        segments.close();
        assertEquals(0, mappings(logDirectory), "close() unmapped them");
        assertThrows(IllegalStateException.class, () -> segments.map(0));
        segments.close();
    }

    private static long mappings(final String prefix) throws IOException
    {
        try (var lines = Files.lines(MAPS))
        {
            return lines.filter((l) -> l.contains(prefix)).count();
        }
    }
}
