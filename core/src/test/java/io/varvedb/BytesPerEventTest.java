package io.varvedb;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * What an event costs in the log: its 40-byte header and payload, rounded up to 16 bytes (format version 3; it was
 * 32, which made a 64-byte event take 128 bytes).
 */
class BytesPerEventTest
{
    @TempDir
    Path dir;

    @Test
    void anEventTakesItsHeaderAndPayloadRoundedUpTo16Bytes()
    {
        try (VarveDB db = VarveDB.open(dir))
        {
            final Appender appender = db.appender();
            // payload -> log bytes
            final int[][] cases = { { 0, 48 }, { 1, 48 }, { 8, 48 }, { 9, 64 }, { 64, 112 }, { 72, 112 }, { 73, 128 },
                { 256, 304 }, { 1024, 1072 } };
            long stream = 1;
            for (final int[] c : cases)
            {
                appender.append(stream, ExpectedVersion.NO_STREAM, 1, new byte[c[0]]);
                final long first = appender.lastPosition();
                appender.append(stream, ExpectedVersion.exact(1), 1, new byte[c[0]]);
                assertEquals(c[1], appender.lastPosition() - first, c[0] + "-byte payload");
                stream++;
            }
            final List<Long> positions = new java.util.ArrayList<>();
            db.readAll(VarveDB.START_POSITION, Integer.MAX_VALUE, (e) -> positions.add(e.position()));
            assertEquals(2 * cases.length, positions.size());
            // every record, hence every position a user sees, on a 16-byte boundary
            positions.forEach((p) -> assertEquals(0, p % 16, "position " + p));
        }
    }

    @Test
    void aStoreOfTheFormerLayoutIsRefusedNamingBothVersionsAndLeftAsItWas() throws Exception
    {
        try (VarveDB db = VarveDB.open(dir))
        {
            db.appender().append(1, ExpectedVersion.NO_STREAM, 1, new byte[64]);
        }
        final Path segment = RecoveryTest.segmentFile(dir, 0);
        // what a build of format 2 (32-byte alignment) wrote in the header
        try (java.nio.channels.FileChannel channel = java.nio.channels.FileChannel.open(segment,
            java.nio.file.StandardOpenOption.WRITE))
        {
            channel.write(java.nio.ByteBuffer.allocate(4).order(java.nio.ByteOrder.LITTLE_ENDIAN).putInt(0, 2),
                io.varvedb.internal.log.SegmentDescriptor.FORMAT_VERSION_OFFSET);
        }
        final byte[] before = java.nio.file.Files.readAllBytes(segment);
        final StoreFormatException refused = org.junit.jupiter.api.Assertions.assertThrows(
            StoreFormatException.class, () -> VarveDB.open(dir));
        org.junit.jupiter.api.Assertions.assertTrue(refused.getMessage().contains("format version 2") &&
            refused.getMessage().contains("reads version 3"), refused.getMessage());
        org.junit.jupiter.api.Assertions.assertArrayEquals(before, java.nio.file.Files.readAllBytes(segment));
    }
}
