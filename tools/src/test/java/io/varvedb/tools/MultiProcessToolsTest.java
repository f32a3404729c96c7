package io.varvedb.tools;

import io.varvedb.Appender;
import io.varvedb.ExpectedVersion;
import io.varvedb.VarveConfig;
import io.varvedb.VarveDB;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The tools beside multi-process writers: {@code demo --processes} races buyer processes and proves from disk that
 * nothing was oversold; {@code info} and {@code verify} see a multi-process writer of this very JVM as live, and
 * looking leaves its locks on {@code varve.lock} in place (a channel of the tools' own on that file, once closed,
 * would drop them, and another process could then open the store as a single-process writer beside it).
 */
class MultiProcessToolsTest
{
    private static final long PID = ProcessHandle.current().pid();

    @TempDir
    Path temp;

    @Test
    void demoWithBuyerProcessesSellsOutWithoutOverselling()
    {
        final Path dir = temp.resolve("demo");
        final Cli.Result demo = Cli.run("demo", "--dir", dir.toString(), "--processes", "2", "--products", "2",
            "--stock", "500", "--threads", "2", "--duration", "60");
        assertEquals(ExitCode.OK, demo.exit(), demo::toString);
        assertTrue(demo.out().contains("2 buyer processes x 2 threads"), demo::toString);
        assertTrue(demo.out().contains("Every product sold out"), demo::toString);
        assertTrue(demo.out().contains("units reserved    1,000 of 1,000"), demo::toString);
        assertTrue(demo.out().contains("OK: no product oversold"), demo::toString);

        // one row per buyer process, each its own process, and their reservations add up to the total
        final String table = demo.out().substring(demo.out().indexOf("  process        pid"),
            demo.out().indexOf("Proof:"));
        final Matcher rows = Pattern.compile("(?m)^ +([12]) +(\\d+) +([0-9,]+) +([0-9,]+) ").matcher(table);
        long units = 0;
        long firstPid = -1;
        int count = 0;
        while (rows.find())
        {
            final long pid = Long.parseLong(rows.group(2));
            assertNotEquals(PID, pid, demo::toString);
            assertNotEquals(firstPid, pid, demo::toString);
            firstPid = pid;
            units += Long.parseLong(rows.group(4).replace(",", ""));
            count++;
        }
        assertEquals(2, count, demo::toString);
        assertEquals(1000, units, demo::toString);

        // the proof again, by this test, from what the processes left on disk
        try (VarveDB db = VarveDB.openReadOnly(dir))
        {
            for (long stream = 1; stream <= 2; stream++)
            {
                final InventoryReplay replay = InventoryReplay.replay(db, stream);
                assertEquals(500, replay.stock());
                assertEquals(500, replay.reserved(), "stream " + stream + " sold out, and no more");
            }
        }
        final Cli.Result verify = Cli.run("verify", dir.toString());
        assertEquals(ExitCode.OK, verify.exit(), verify::toString);
    }

    @Test
    void infoListsTheMultiProcessWritersAndLeavesTheirLocks() throws Exception
    {
        final Path dir = temp.resolve("info");
        try (VarveDB db = openMultiProcess(dir))
        {
            final Cli.Result info = Cli.run("info", dir.toString());
            assertEquals(ExitCode.OK, info.exit(), info::toString);
            assertTrue(info.out().contains("state          open for writing by process " + PID +
                " in multi-process mode"), info::toString);
            assertTrue(info.out().contains("processes      1 registered in varve.procs"), info::toString);
            assertTrue(Pattern.compile("(?m)^  pid " + PID + " +started \\S+  open since \\S+  alive$")
                .matcher(info.out()).find(), info::toString);
            assertTrue(WriterProcess.lockedForOtherProcesses(dir), "info dropped this JVM's locks on varve.lock");
            db.streamVersion(1);
        }
        final Cli.Result closed = Cli.run("info", dir.toString());
        assertTrue(closed.out().contains("state          closed cleanly"), closed::toString);
        assertTrue(!closed.out().contains("processes "), closed::toString);
    }

    @Test
    void verifySeesALiveMultiProcessWriterAndLeavesItsLocks() throws Exception
    {
        final Path dir = temp.resolve("verify");
        try (VarveDB db = openMultiProcess(dir))
        {
            final Cli.Result verify = Cli.run("verify", dir.toString());
            assertEquals(ExitCode.OK, verify.exit(), verify::toString);
            assertTrue(verify.out().contains("a writer (process " + PID + " in multi-process mode) has the store " +
                "open"), verify::toString);
            assertTrue(WriterProcess.lockedForOtherProcesses(dir), "verify dropped this JVM's locks on varve.lock");
        }
    }

    @Test
    void freshRefusesAStoreAMultiProcessWriterOfThisProcessHasOpen() throws Exception
    {
        final Path dir = temp.resolve("fresh");
        try (VarveDB db = openMultiProcess(dir))
        {
            final Cli.Result fresh = Cli.run("demo", "--dir", dir.toString(), "--fresh", "--products", "1",
                "--stock", "10", "--threads", "1");
            assertEquals(ExitCode.STORE, fresh.exit(), fresh::toString);
            assertTrue(fresh.err().contains("is open for writing in this process"), fresh::toString);
            assertEquals(1, db.streamVersion(1), "nothing was deleted");
            assertTrue(WriterProcess.lockedForOtherProcesses(dir), "--fresh dropped this JVM's locks");
        }
    }

    private static VarveDB openMultiProcess(final Path dir)
    {
        final VarveDB db = VarveDB.open(VarveConfig.builder(dir).multiProcess(true).build());
        try (Appender appender = db.appender())
        {
            appender.append(1, ExpectedVersion.NO_STREAM, 1, "held open".getBytes(StandardCharsets.US_ASCII));
        }
        return db;
    }
}
