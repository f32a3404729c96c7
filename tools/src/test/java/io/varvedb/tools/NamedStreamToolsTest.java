package io.varvedb.tools;

import io.varvedb.Appender;
import io.varvedb.ExpectedVersion;
import io.varvedb.VarveConfig;
import io.varvedb.VarveDB;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * dump, tail, info and verify show a named stream's name beside its id, and take a name for --stream.
 */
class NamedStreamToolsTest
{
    @TempDir
    Path temp;

    private Path writeStore()
    {
        final Path dir = temp.resolve("store");
        try (VarveDB db = VarveDB.open(VarveConfig.builder(dir).segmentSize(64 * 1024).nameCapacity(100).build());
            Appender appender = db.appender())
        {
            appender.append("order-7781", ExpectedVersion.NO_STREAM, 7, "accepted".getBytes(StandardCharsets.UTF_8));
            appender.append(5, ExpectedVersion.NO_STREAM, 7, "numeric".getBytes(StandardCharsets.UTF_8));
            appender.append("order-7781", ExpectedVersion.exact(1), 8, "filled".getBytes(StandardCharsets.UTF_8));
        }
        return dir;
    }

    @Test
    void dumpShowsNamesAndTakesThemForStream()
    {
        final Path dir = writeStore();
        final Cli.Result all = Cli.run("dump", dir.toString());
        assertEquals(ExitCode.OK, all.exit(), all::toString);
        final String[] lines = all.out().split("\n");
        assertEquals(3, lines.length, all::toString);
        assertTrue(lines[0].contains("stream -1 \"order-7781\"  v 1  type 7"), all::toString);
        assertTrue(lines[1].contains("stream 5  v 1"), all::toString);

        final Cli.Result byName = Cli.run("dump", dir.toString(), "--stream", "order-7781");
        assertEquals(ExitCode.OK, byName.exit(), byName::toString);
        assertEquals(2, byName.out().split("\n").length, byName::toString);
        final Cli.Result byId = Cli.run("dump", dir.toString(), "--stream", "-1");
        assertEquals(byName.out(), byId.out());

        final Cli.Result unknown = Cli.run("dump", dir.toString(), "--stream", "order-1");
        assertEquals(ExitCode.USAGE, unknown.exit(), unknown::toString);
        assertTrue(unknown.err().contains("no stream is named \"order-1\""), unknown::toString);
        assertEquals(ExitCode.USAGE, Cli.run("dump", dir.toString(), "--stream", "-9").exit());

        final Cli.Result hex = Cli.run("dump", dir.toString(), "--stream", "order-7781", "--hex", "--limit", "1");
        assertEquals(ExitCode.OK, hex.exit(), hex::toString);
    }

    @Test
    void tailShowsNames()
    {
        final Path dir = writeStore();
        final Cli.Result tail = Cli.run("tail", dir.toString(), "--from", "start", "--count", "3");
        assertEquals(ExitCode.OK, tail.exit(), tail::toString);
        assertTrue(tail.out().contains("stream -1 \"order-7781\"  v 2  type 8"), tail::toString);
        final Cli.Result stream = Cli.run("tail", dir.toString(), "--stream", "order-7781", "--from", "start",
            "--count", "2");
        assertEquals(ExitCode.OK, stream.exit(), stream::toString);
        assertTrue(stream.err().contains("stream -1 \"order-7781\""), stream::toString);
        assertEquals(2, stream.out().split("\n").length, stream::toString);
    }

    @Test
    void infoCountsNamesAndVerifyAcceptsTheirRecords()
    {
        final Path dir = writeStore();
        final Cli.Result info = Cli.run("info", dir.toString());
        assertEquals(ExitCode.OK, info.exit(), info::toString);
        assertTrue(info.out().contains("names          1 named streams, 1 of 100 names (1.00% full)"), info::toString);
        assertTrue(info.out().contains("stream -1 \"order-7781\" version 2"), info::toString);

        final Cli.Result verify = Cli.run("verify", dir.toString());
        assertEquals(ExitCode.OK, verify.exit(), verify::toString);
    }
}
