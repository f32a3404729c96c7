package io.varvedb.tools;

import io.varvedb.Appender;
import io.varvedb.EventHandler;
import io.varvedb.ExpectedVersion;
import io.varvedb.RecordedEvent;
import io.varvedb.VarveConfig;
import io.varvedb.VarveDB;
import io.varvedb.internal.index.BlockDescriptor;
import io.varvedb.internal.index.StreamIndexDescriptor;
import io.varvedb.internal.log.RecordDescriptor;
import io.varvedb.internal.log.SegmentDescriptor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * info, dump and verify on real stores, including verify finding damage and leaving the files as they were.
 */
class StoreCommandsTest
{
    private static final int SEGMENT_SIZE = 64 * 1024;
    private static final int STREAMS = 5;
    private static final int EVENTS_PER_STREAM = 400;

    @TempDir
    Path temp;

    @Test
    void infoDescribesAClosedStore() throws IOException
    {
        final Path dir = writeStore();
        final Cli.Result info = Cli.run("info", dir.toString());
        assertEquals(ExitCode.OK, info.exit(), info::toString);
        assertTrue(info.out().contains("closed cleanly"), info::toString);
        assertTrue(info.out().contains("events         " + Format.count(STREAMS * EVENTS_PER_STREAM) + " in " +
            STREAMS + " streams"), info::toString);
        assertTrue(info.out().contains("x 64.0 KiB"), info::toString);
        assertTrue(info.out().contains("stream " + STREAMS + " version " + EVENTS_PER_STREAM), info::toString);
    }

    @Test
    void dumpPrintsEventsInLogOrderOneStreamAndHex() throws IOException
    {
        final Path dir = writeStore();
        final Cli.Result all = Cli.run("dump", dir.toString(), "--limit", "3");
        assertEquals(ExitCode.OK, all.exit(), all::toString);
        final String[] lines = all.out().split("\n");
        assertTrue(lines[0].startsWith("@0  stream 1  v 1  type 7  "), all::toString);
        assertTrue(lines[0].endsWith("event 1 of stream 1"), all::toString);
        assertTrue(lines[3].contains("--from"), all::toString);

        final Cli.Result stream = Cli.run("dump", dir.toString(), "--stream", "3", "--limit", "0");
        assertEquals(ExitCode.OK, stream.exit(), stream::toString);
        assertEquals(EVENTS_PER_STREAM, stream.out().split("\n").length, stream::toString);
        assertTrue(stream.out().contains("v 400  type 7"), stream::toString);

        final Cli.Result hex = Cli.run("dump", dir.toString(), "--from", "0", "--limit", "1", "--hex");
        assertEquals(ExitCode.OK, hex.exit(), hex::toString);
        assertTrue(hex.out().contains("# stream id 1"), hex::toString);
        assertTrue(hex.out().contains("# frame length"), hex::toString);
        assertTrue(hex.out().contains("|event 1 of strea|"), hex::toString);

        final Cli.Result inside = Cli.run("dump", dir.toString(), "--from", "32");
        assertEquals(ExitCode.USAGE, inside.exit(), inside::toString);
        assertTrue(inside.err().contains("inside the record at @0"), inside::toString);
    }

    @Test
    void verifyPassesASoundStore() throws IOException
    {
        final Path dir = writeStore();
        final Cli.Result verify = Cli.run("verify", dir.toString());
        assertEquals(ExitCode.OK, verify.exit(), verify::toString);
        assertTrue(verify.out().contains(Format.count(STREAMS * EVENTS_PER_STREAM) + " events"), verify::toString);
        assertTrue(verify.out().contains("OK: the store is sound"), verify::toString);
    }

    @Test
    void verifyFindsAFlippedPayloadByteAndChangesNothing() throws Exception
    {
        final Path dir = writeStore();
        final long position = positionOf(dir, 2, 150);
        final Path segment = dir.resolve("log").resolve(SegmentDescriptor.fileName(
            position / SEGMENT_SIZE * SEGMENT_SIZE));
        final int offset = SegmentDescriptor.HEADER_LENGTH + (int)(position % SEGMENT_SIZE) +
            RecordDescriptor.HEADER_LENGTH + 3;
        final byte[] bytes = Files.readAllBytes(segment);
        bytes[offset] ^= 0x20;
        Files.write(segment, bytes);
        final Map<String, String> before = digests(dir);

        final Cli.Result verify = Cli.run("verify", dir.toString());
        assertEquals(ExitCode.CHECK_FAILED, verify.exit(), verify::toString);
        assertTrue(verify.out().contains("position " + Format.count(position)), verify::toString);
        assertTrue(verify.out().contains("checksum mismatch"), verify::toString);
        assertTrue(verify.out().contains("stream 2 version 150"), verify::toString);
        assertTrue(verify.out().contains("FAILED: 1 problem(s)"), verify::toString);
        assertEquals(before, digests(dir), "verify must not change any file");
    }

    @Test
    void verifyFindsBrokenFraming() throws Exception
    {
        final Path dir = writeStore();
        final long position = positionOf(dir, 4, 10);
        final Path segment = dir.resolve("log").resolve(SegmentDescriptor.fileName(
            position / SEGMENT_SIZE * SEGMENT_SIZE));
        final byte[] bytes = Files.readAllBytes(segment);
        final int offset = SegmentDescriptor.HEADER_LENGTH + (int)(position % SEGMENT_SIZE);
        // a frame length that runs past the end of the segment
        bytes[offset + 2] = 0x7f;
        Files.write(segment, bytes);

        final Cli.Result verify = Cli.run("verify", dir.toString());
        assertEquals(ExitCode.CHECK_FAILED, verify.exit(), verify::toString);
        assertTrue(verify.out().contains("runs past the segment's end"), verify::toString);
    }

    @Test
    void verifyFindsSelfConsistentIndexDamage() throws Exception
    {
        final Path dir = writeStore();
        // stream 3 one version back and its last entry gone: two words that agree with each other, not with the log
        final long lastBlock = lowerStream3Version(dir);
        final Path table = dir.resolve("index").resolve(StreamIndexDescriptor.FILE_NAME);
        final int blocksPerChunk = java.nio.ByteBuffer.wrap(Files.readAllBytes(table))
            .order(java.nio.ByteOrder.LITTLE_ENDIAN).getInt(StreamIndexDescriptor.BLOCKS_PER_CHUNK_OFFSET);
        final Path chunk =
            dir.resolve("index").resolve(BlockDescriptor.fileName((int)((lastBlock - 1) / blocksPerChunk)));
        final long entry = BlockDescriptor.CHUNK_HEADER_LENGTH + ((lastBlock - 1) % blocksPerChunk) *
            BlockDescriptor.BLOCK_LENGTH + BlockDescriptor.entryOffset(EVENTS_PER_STREAM);
        try (java.nio.channels.FileChannel channel = java.nio.channels.FileChannel.open(chunk,
            java.nio.file.StandardOpenOption.WRITE))
        {
            channel.write(java.nio.ByteBuffer.allocate(Long.BYTES), entry);
        }

        final Cli.Result verify = Cli.run("verify", dir.toString());
        assertEquals(ExitCode.CHECK_FAILED, verify.exit(), verify::toString);
        assertTrue(verify.out().contains("the index has no entry for stream 3 version 400"), verify::toString);
    }

    /**
     * Rewrite stream 3's committed state in the slot table to one version less than the log holds.
     *
     * @return stream 3's last block.
     */
    private static long lowerStream3Version(final Path dir) throws IOException
    {
        final Path table = dir.resolve("index").resolve(StreamIndexDescriptor.FILE_NAME);
        final byte[] bytes = Files.readAllBytes(table);
        final java.nio.ByteBuffer buffer = java.nio.ByteBuffer.wrap(bytes).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        for (int slot = StreamIndexDescriptor.HEADER_LENGTH; slot + StreamIndexDescriptor.SLOT_LENGTH <= bytes.length;
            slot += StreamIndexDescriptor.SLOT_LENGTH)
        {
            if (buffer.getLong(slot + StreamIndexDescriptor.SLOT_STREAM_ID_OFFSET) == 3)
            {
                buffer.putLong(slot + StreamIndexDescriptor.SLOT_STATE_OFFSET, (EVENTS_PER_STREAM - 1L) << 1);
                Files.write(table, bytes);
                return buffer.getLong(slot + StreamIndexDescriptor.SLOT_LAST_BLOCK_OFFSET);
            }
        }
        throw new AssertionError("stream 3's slot not found");
    }

    @Test
    void verifyFindsAVersionGapInTheIndexAgreement() throws Exception
    {
        final Path dir = writeStore();
        // make the index lie about one stream: rewrite its committed state in the slot table
        lowerStream3Version(dir);

        final Cli.Result verify = Cli.run("verify", dir.toString());
        assertEquals(ExitCode.CHECK_FAILED, verify.exit(), verify::toString);
        assertTrue(verify.out().contains("stream 3: the index says version 399, the log holds versions up to 400"),
            verify::toString);
    }

    @Test
    void verifyAndInfoWorkWhileAWriterAppends() throws Exception
    {
        final Path dir = writeStore();
        try (VarveDB db = VarveDB.open(dir))
        {
            final java.util.concurrent.atomic.AtomicBoolean stop = new java.util.concurrent.atomic.AtomicBoolean();
            final Thread writer = new Thread(() ->
            {
                try (Appender appender = db.appender())
                {
                    long version = 0;
                    while (!stop.get())
                    {
                        version = appender.append(99, ExpectedVersion.exact(version), 1,
                            "live".getBytes(StandardCharsets.US_ASCII));
                    }
                }
            });
            writer.start();
            try
            {
                final Cli.Result info = Cli.run("info", dir.toString());
                assertEquals(ExitCode.OK, info.exit(), info::toString);
                assertTrue(info.out().contains("open for writing by process " + ProcessHandle.current().pid()),
                    info::toString);

                final Cli.Result verify = Cli.run("verify", dir.toString());
                assertEquals(ExitCode.OK, verify.exit(), verify::toString);
                assertTrue(verify.out().contains("note: a writer (process " + ProcessHandle.current().pid()),
                    verify::toString);
            }
            finally
            {
                stop.set(true);
                writer.join();
            }
        }
    }

    private Path writeStore()
    {
        final Path dir = temp.resolve("store");
        try (VarveDB db = VarveDB.open(VarveConfig.builder(dir).segmentSize(SEGMENT_SIZE).indexCapacity(64).build());
            Appender appender = db.appender())
        {
            for (int i = 1; i <= EVENTS_PER_STREAM; i++)
            {
                for (long stream = 1; stream <= STREAMS; stream++)
                {
                    final String text = "event " + i + " of stream " + stream;
                    appender.append(stream, ExpectedVersion.exact(i - 1), 7, text.getBytes(StandardCharsets.US_ASCII));
                }
            }
        }
        return dir;
    }

    private static long positionOf(final Path dir, final long stream, final long version)
    {
        final long[] position = {-1};
        try (VarveDB db = VarveDB.openReadOnly(dir))
        {
            final EventHandler handler = (RecordedEvent event) -> position[0] = event.position();
            db.readStream(stream, version, 1, handler);
        }
        assertTrue(position[0] >= 0);
        return position[0];
    }

    static Map<String, String> digests(final Path dir) throws IOException, NoSuchAlgorithmException
    {
        final Map<String, String> digests = new TreeMap<>();
        try (Stream<Path> files = Files.walk(dir))
        {
            for (final Path file : (Iterable<Path>)files.filter(Files::isRegularFile)::iterator)
            {
                final MessageDigest digest = MessageDigest.getInstance("SHA-256");
                digests.put(dir.relativize(file).toString(), HexFormat.of().formatHex(digest.digest(
                    Files.readAllBytes(file))) + "@" + Files.getLastModifiedTime(file));
            }
        }
        assertFalse(digests.isEmpty());
        return digests;
    }
}
