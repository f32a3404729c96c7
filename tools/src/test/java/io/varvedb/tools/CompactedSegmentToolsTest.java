package io.varvedb.tools;

import io.varvedb.ExpectedVersion;
import io.varvedb.VarveConfig;
import io.varvedb.VarveDB;
import io.varvedb.internal.io.ForceObserver;
import io.varvedb.internal.io.MappedFile;
import io.varvedb.internal.log.Log;
import io.varvedb.internal.log.RecordDescriptor;
import io.varvedb.internal.log.ScavengeProgress;
import io.varvedb.internal.store.MetaDescriptor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

import static org.junit.jupiter.api.Assertions.*;

/**
 * {@code verify} and {@code dump} over a log whose sealed segments were compacted.
 */
class CompactedSegmentToolsTest
{
    private static final int SEGMENT = 64 * 1024;

    @TempDir
    Path dir;

    @Test
    void verifyChecksCompactedSegmentsAndDumpShowsOriginalPositions() throws Exception
    {
        long droppedPosition = -1;
        long keptPosition = -1;
        try (VarveDB db = VarveDB.open(VarveConfig.builder(dir).segmentSize(SEGMENT).build()))
        {
            for (int i = 0; i < 2000; i++)
            {
                final long stream = 1 + i % 2;
                db.appender().append(stream, ExpectedVersion.ANY, 1, new byte[60]);
            }
        }
        // compact the closed store's sealed segments, keeping stream 1, through the log itself
        final MappedFile meta = MappedFile.open(dir.resolve(MetaDescriptor.FILE_NAME), false, ForceObserver.NONE);
        try
        {
            final Log log = new Log(dir.resolve("log"), meta.buffer(), SEGMENT, false, ForceObserver.NONE);
            try
            {
                final long sealed = log.segmentOf(log.tail());
                assertTrue(sealed >= 2);
                for (long segment = 0; segment < sealed; segment++)
                {
                    assertTrue(log.replaceSegment(segment, (buffer, offset, position) ->
                        buffer.getLong(offset + RecordDescriptor.STREAM_ID_OFFSET) == 1, ScavengeProgress.NONE)
                        .dropped() > 0);
                }
            }
            finally
            {
                log.close();
            }
        }
        finally
        {
            meta.unmap();
        }
        try (VarveDB db = VarveDB.openReadOnly(dir))
        {
            final long[] positions = new long[2];
            db.readAll(VarveDB.START_POSITION, 2, (e) -> positions[e.position() == 0 ? 0 : 1] = e.position());
            keptPosition = positions[1];
            droppedPosition = keptPosition + 112;
            assertEquals(0, positions[0], "stream 1's first event, at 0");
        }

        final Cli.Result verify = Cli.run("verify", dir.toString());
        assertEquals(ExitCode.OK, verify.exit(), verify::toString);

        final Cli.Result dump = Cli.run("dump", dir.toString(), "--limit", "3", "--hex");
        assertEquals(ExitCode.OK, dump.exit(), dump::toString);
        assertTrue(dump.out().contains("@" + keptPosition), dump::toString);

        final Cli.Result fromDropped = Cli.run("dump", dir.toString(), "--from", Long.toString(droppedPosition),
            "--limit", "1");
        assertEquals(ExitCode.OK, fromDropped.exit(), fromDropped::toString);
        assertTrue(fromDropped.out().contains("@" + (droppedPosition + 112)), fromDropped::toString);

        // a flipped byte in a kept record's payload is found
        try (FileChannel channel = FileChannel.open(dir.resolve("log").resolve("00000000000000000000.log"),
            StandardOpenOption.READ, StandardOpenOption.WRITE))
        {
            final java.nio.ByteBuffer one = java.nio.ByteBuffer.allocate(1);
            final long at = channel.size() - 40;
            channel.read(one, at);
            one.put(0, (byte)(one.get(0) ^ 0x5a)).rewind();
            channel.write(one, at);
        }
        final Cli.Result damaged = Cli.run("verify", dir.toString());
        assertNotEquals(ExitCode.OK, damaged.exit(), damaged::toString);
    }
}
