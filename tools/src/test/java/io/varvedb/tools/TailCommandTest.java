package io.varvedb.tools;

import io.varvedb.Appender;
import io.varvedb.ExpectedVersion;
import io.varvedb.VarveConfig;
import io.varvedb.VarveDB;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Where {@code varve tail} starts: by default the last 10 events (like Unix tail), so a follower started just
 * after the writer sees what it just wrote; {@code --from start|end|POSITION} and {@code -n N} choose.
 */
@org.junit.jupiter.api.Timeout(120) // tail follows until --count: a regression must fail, not hang the build
class TailCommandTest
{
    private static final int EVENTS = 600;
    @TempDir
    Path temp;
    private Path dir;
    private final List<Long> positions = new ArrayList<>();

    @BeforeEach
    void store()
    {
        dir = temp.resolve("store");
        // 64 KiB segments: 600 events of ~350 bytes span several, so -n reads back across segment starts
        try (VarveDB db = VarveDB.open(VarveConfig.builder(dir).segmentSize(64 * 1024).build());
            Appender appender = db.appender())
        {
            for (int i = 1; i <= EVENTS; i++)
            {
                appender.append(1 + i % 3, ExpectedVersion.ANY, 1,
                    ("event " + i + " ".repeat(300)).getBytes(StandardCharsets.US_ASCII));
                positions.add(appender.lastPosition());
            }
            assertTrue(db.tailPosition() > 3 * 64 * 1024, "several segments");
        }
    }

    @Test
    void byDefaultTheLastTenEventsComeFirst()
    {
        final Cli.Result tail = Cli.run("tail", dir.toString(), "--count", "10");
        assertEquals(ExitCode.OK, tail.exit(), tail::toString);
        assertEvents(tail, EVENTS - 9, EVENTS);
    }

    @Test
    void lastNReadsBackAcrossSegments()
    {
        final Cli.Result tail = Cli.run("tail", dir.toString(), "-n", "450", "--count", "450");
        assertEquals(ExitCode.OK, tail.exit(), tail::toString);
        assertEvents(tail, EVENTS - 449, EVENTS);

        final Cli.Result all = Cli.run("tail", dir.toString(), "--last", "5000", "--count", "" + EVENTS);
        assertEquals(ExitCode.OK, all.exit(), all::toString);
        assertEvents(all, 1, EVENTS);
    }

    @Test
    void fromStartAndFromAPosition()
    {
        final Cli.Result start = Cli.run("tail", dir.toString(), "--from", "start", "--count", "5");
        assertEquals(ExitCode.OK, start.exit(), start::toString);
        assertEvents(start, 1, 5);

        final Cli.Result alias = Cli.run("tail", dir.toString(), "--from-start", "--count", "3");
        assertEvents(alias, 1, 3);

        final long position = positions.get(99);
        final Cli.Result at = Cli.run("tail", dir.toString(), "--from", Long.toString(position), "--count", "4");
        assertEquals(ExitCode.OK, at.exit(), at::toString);
        assertEvents(at, 100, 103);
        assertTrue(at.err().startsWith("following ") && at.err().contains(Format.count(position)), at::toString);
    }

    @Test
    void aStreamsLastEvents()
    {
        // stream 1 holds events 3, 6, ... 600: its last two are versions 199 and 200
        final Cli.Result tail = Cli.run("tail", dir.toString(), "--stream", "1", "-n", "2", "--count", "2");
        assertEquals(ExitCode.OK, tail.exit(), tail::toString);
        final List<String> lines = tail.out().lines().toList();
        assertEquals(2, lines.size(), tail::toString);
        assertTrue(lines.get(0).contains("stream 1  v 199 ") && lines.get(0).contains("event 597 "), tail::toString);
        assertTrue(lines.get(1).contains("stream 1  v 200 ") && lines.get(1).contains("event 600 "), tail::toString);

        final Cli.Result version = Cli.run("tail", dir.toString(), "--stream", "1", "--from", "10", "--count", "1");
        assertTrue(version.out().contains("stream 1  v 10 ") && version.out().contains("event 30 "), version::toString);
    }

    @Test
    void badStartsAreUsageErrors()
    {
        oneLine(Cli.run("tail", dir.toString(), "--from", "yesterday"), "--from takes start, end or a log position");
        oneLine(Cli.run("tail", dir.toString(), "--from", "8"), "--from 8: ");
        oneLine(Cli.run("tail", dir.toString(), "-n", "-1"), "--last must be >= 0");
        oneLine(Cli.run("tail", dir.toString(), "--from", "start", "-n", "5"), "--last goes with --from end");
        oneLine(Cli.run("tail", dir.toString(), "--stream", "1", "--from", "0"), "a version >= 1");
    }

    @Test
    void helpTellsTheDefault()
    {
        final Cli.Result help = Cli.run("tail", "--help");
        assertEquals(ExitCode.OK, help.exit(), help::toString);
        assertTrue(help.out().contains("--from") && help.out().contains("--last") &&
            help.out().contains("last 10 events"), help::toString);
    }

    private static void oneLine(final Cli.Result result, final String expected)
    {
        assertEquals(ExitCode.USAGE, result.exit(), result::toString);
        assertEquals(1, result.err().lines().count(), result::toString);
        assertTrue(result.err().contains(expected), result::toString);
    }

    private static void assertEvents(final Cli.Result tail, final int first, final int last)
    {
        final List<String> lines = tail.out().lines().toList();
        assertEquals(last - first + 1, lines.size(), tail::toString);
        for (int i = first; i <= last; i++)
        {
            final String line = lines.get(i - first);
            assertTrue(line.contains("  event " + i + " "), () -> "expected event " + line + "\n" + tail);
        }
    }
}
