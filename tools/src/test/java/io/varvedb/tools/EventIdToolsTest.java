package io.varvedb.tools;

import io.varvedb.Appender;
import io.varvedb.EventBatch;
import io.varvedb.ExpectedVersion;
import io.varvedb.VarveDB;
import io.varvedb.internal.index.EventIdTableDescriptor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.UUID;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The command line shows event ids ({@code dump}, {@code tail}'s line, {@code info}), {@code verify} checks the id
 * table of a closed store against the log, and the demo's buyers retry their last order safely.
 */
class EventIdToolsTest
{
    private static final UUID ID = UUID.fromString("0000c0de-0000-0000-0000-000000000042");

    @TempDir
    Path dir;

    private void store() throws Exception
    {
        try (VarveDB db = VarveDB.open(dir); Appender appender = db.appender())
        {
            appender.append(3, ExpectedVersion.ANY, 1, ID, "with id".getBytes());
            appender.append(3, ExpectedVersion.ANY, 1, "without".getBytes());
            appender.appendBatch(4, ExpectedVersion.ANY, new EventBatch().add(1, new byte[]{ 1 }).eventId(5, 6)
                .add(1, new byte[]{ 2 }).eventId(5, 7));
        }
    }

    @Test
    void dumpAndInfoShowTheIds() throws Exception
    {
        store();
        final Cli.Result dump = Cli.run("dump", dir.toString());
        assertEquals(ExitCode.OK, dump.exit(), dump::toString);
        assertTrue(dump.out().contains("v 1  type 1") && dump.out().contains("id " + ID + "  with id"), dump::toString);
        assertTrue(dump.out().contains("id " + new UUID(5, 7)), dump::toString);
        final String withoutLine = dump.out().lines().filter((l) -> l.contains("without")).findFirst().orElseThrow();
        assertFalse(withoutLine.contains(" id "), withoutLine);

        final Cli.Result hex = Cli.run("dump", "--hex", "--stream", "3", dir.toString());
        assertEquals(ExitCode.OK, hex.exit(), hex::toString);
        assertTrue(hex.out().contains("event id, high 64 bits (" + ID + ")"), hex::toString);
        assertTrue(hex.out().contains("header 56 + payload 7"), hex::toString);

        final Cli.Result info = Cli.run("info", dir.toString());
        assertEquals(ExitCode.OK, info.exit(), info::toString);
        assertTrue(info.out().contains("event ids      3 events carry one; id table 3 of 1,048,576 ids"),
            info::toString);
    }

    @Test
    void verifyChecksTheIdTableOfAClosedStore() throws Exception
    {
        store();
        final Cli.Result sound = Cli.run("verify", dir.toString());
        assertEquals(ExitCode.OK, sound.exit(), sound::toString);

        // a committed slot pointed at another event: a retry of its id would be refused or misreported
        final Path table = dir.resolve("index").resolve(EventIdTableDescriptor.FILE_NAME);
        final ByteBuffer bytes = ByteBuffer.wrap(Files.readAllBytes(table)).order(ByteOrder.LITTLE_ENDIAN);
        int slot = -1;
        for (int offset = EventIdTableDescriptor.HEADER_LENGTH; offset < bytes.capacity();
            offset += EventIdTableDescriptor.SLOT_LENGTH)
        {
            if (bytes.getLong(offset + EventIdTableDescriptor.ID_HIGH_OFFSET) == ID.getMostSignificantBits() &&
                bytes.getLong(offset + EventIdTableDescriptor.ID_LOW_OFFSET) == ID.getLeastSignificantBits())
            {
                slot = offset;
            }
        }
        assertTrue(slot > 0);
        try (FileChannel channel = FileChannel.open(table, StandardOpenOption.WRITE))
        {
            channel.write(ByteBuffer.allocate(Long.BYTES).order(ByteOrder.LITTLE_ENDIAN).putLong(0, 16),
                slot + EventIdTableDescriptor.POSITION_OFFSET);
        }
        final Cli.Result damaged = Cli.run("verify", dir.toString());
        assertNotEquals(ExitCode.OK, damaged.exit(), damaged::toString);
        assertTrue(damaged.out().contains("says event id " + ID + " is at position 16"), damaged::toString);
    }

    @Test
    void theDemosBuyersRetryTheirLastOrderAndNothingIsWritten() throws Exception
    {
        final Cli.Result demo = Cli.run("demo", "--dir", dir.resolve("demo").toString(), "--products", "2",
            "--stock", "2000", "--threads", "2");
        assertEquals(ExitCode.OK, demo.exit(), demo::toString);
        assertTrue(demo.out().contains("retried orders    2 buyers sent their last order again with its event id"),
            demo::toString);
        assertTrue(demo.out().contains("nothing written"), demo::toString);
        final Cli.Result verify = Cli.run("verify", dir.resolve("demo").toString());
        assertEquals(ExitCode.OK, verify.exit(), verify::toString);
    }
}
