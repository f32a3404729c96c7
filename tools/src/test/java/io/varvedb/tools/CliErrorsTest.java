package io.varvedb.tools;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every command has help; misuse gives one clear line on stderr and a non-zero status, never a stack trace.
 */
class CliErrorsTest
{
    private static final String[] COMMANDS = {"demo", "info", "dump", "verify", "tail", "scavenge", "stat", "latency",
        "publish", "replicate"};

    @TempDir
    Path temp;

    @Test
    void everyCommandHasHelp()
    {
        for (final String command : COMMANDS)
        {
            final Cli.Result help = Cli.run(command, "--help");
            assertEquals(ExitCode.OK, help.exit(), help::toString);
            assertTrue(help.out().contains("Usage: varve " + command + " "), help::toString);
        }
        final Cli.Result top = Cli.run("--help");
        assertEquals(ExitCode.OK, top.exit(), top::toString);
        for (final String command : COMMANDS)
        {
            assertTrue(top.out().contains("  " + command + " "), top::toString);
        }
    }

    @Test
    void missingDirectory()
    {
        final String missing = temp.resolve("nowhere").toString();
        for (final String command : new String[] {"info", "dump", "verify", "tail", "stat"})
        {
            oneLine(Cli.run(command, missing), ExitCode.STORE, "no such directory: " + missing);
        }
    }

    @Test
    void foreignDirectories() throws Exception
    {
        final Path foreign = Files.createDirectories(temp.resolve("foreign"));
        Files.writeString(foreign.resolve("notes.txt"), "not a store");
        oneLine(Cli.run("info", foreign.toString()), ExitCode.STORE, "is not a VarveDB store (it has no varve.meta)");
        oneLine(Cli.run("verify", foreign.toString()), ExitCode.STORE, "is not a VarveDB store");
        // the writing commands must refuse to turn someone's directory into a store
        oneLine(Cli.run("demo", "--dir", foreign.toString(), "--stock", "1"), ExitCode.STORE,
            "is not a VarveDB store");
        oneLine(Cli.run("latency", foreign.toString(), "--seconds", "0.1"), ExitCode.STORE, "is not a VarveDB store");
        oneLine(Cli.run("demo", "--dir", foreign.toString(), "--fresh"), ExitCode.STORE, "is not a VarveDB store");
        // refused before any broker is asked (none listens on port 1)
        oneLine(Cli.run("replicate", "--bootstrap", "localhost:1", "--topic", "t", foreign.toString()),
            ExitCode.STORE, "is not a VarveDB store");
        assertTrue(Files.exists(foreign.resolve("notes.txt")), "--fresh deleted a foreign file");
        try (java.util.stream.Stream<Path> left = Files.list(foreign))
        {
            assertEquals(1, left.count(), "a refused directory must be left exactly as it was");
        }

        final Path file = Files.writeString(temp.resolve("file"), "x");
        oneLine(Cli.run("dump", file.toString()), ExitCode.STORE, "is a file, not a VarveDB store directory");

        final Path badMeta = Files.createDirectories(temp.resolve("badmeta"));
        Files.write(badMeta.resolve("varve.meta"), new byte[4096]);
        oneLine(Cli.run("info", badMeta.toString()), ExitCode.STORE, "wrong magic");
    }

    @Test
    void badArguments()
    {
        final String dir = temp.toString();
        oneLine(Cli.run("demo", "--products", "0"), ExitCode.USAGE, "--products must be at least 1");
        oneLine(Cli.run("demo", "--threads", "many"), ExitCode.USAGE, "'many' is not an int");
        oneLine(Cli.run("dump", dir, "--stream", "1", "--from", "0"), ExitCode.USAGE, "mutually exclusive");
        oneLine(Cli.run("dump", dir, "--from", "33"), ExitCode.USAGE,
            "multiple of " + io.varvedb.internal.log.RecordDescriptor.ALIGNMENT);
        oneLine(Cli.run("dump"), ExitCode.USAGE, "Missing required parameter: 'DIR'");
        oneLine(Cli.run("info", dir, "--bogus"), ExitCode.USAGE, "Unknown option: '--bogus'");
        oneLine(Cli.run("latency", dir, "--plot", "chart.jpg"), ExitCode.USAGE, "give a file name ending in .png");
        oneLine(Cli.run("latency", dir, "--rate", "0"), ExitCode.USAGE, "--rate must be at least 1");
        // a negative id may be a named stream's: only one that can name no stream is refused before the store opens
        oneLine(Cli.run("tail", dir, "--stream", "0"), ExitCode.USAGE, "--stream must be a positive stream id");
        oneLine(Cli.run("frobnicate"), ExitCode.USAGE, "Unmatched argument at index 0: 'frobnicate'");
    }

    private static void oneLine(final Cli.Result result, final int exit, final String expected)
    {
        assertEquals(exit, result.exit(), result::toString);
        final String err = result.err();
        assertTrue(err.contains(expected), result::toString);
        assertTrue(err.startsWith("varve"), result::toString);
        assertEquals(1, err.lines().count(), () -> "expected one line:\n" + result);
        assertFalse(err.contains("Exception") || err.contains("\tat "), result::toString);
    }
}
