package io.varvedb.tools;

import io.varvedb.VarveConfig;
import io.varvedb.VarveDB;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

/**
 * Every {@code varve latency} option outside its documented bounds: one line on stderr, exit status 2, and no
 * store created, before anything is allocated or measured.
 */
class LatencyCommandBoundsTest
{
    /** Keeps a run that wrongly goes ahead short, unless the test gives these options itself. */
    private static final String[] SHORT = {"--seconds", "0.1", "--warmup", "0"};

    @TempDir
    Path temp;

    @Test
    void threads()
    {
        final String bounds = "--threads must be at least 1 and at most 256, got ";
        refused(bounds + "257", "--threads", "257");
        refused(bounds + "2000000000", "--threads", "2000000000");
        refused(bounds + "0", "--threads", "0");
        refused(bounds + "-3", "--threads", "-3");
    }

    @Test
    void seconds()
    {
        final String bounds = "--seconds must be more than 0 and at most 86,400, got ";
        refused(bounds + "1.0E12", "--warmup", "0", "--seconds", "1e12");
        refused(bounds + "Infinity", "--warmup", "0", "--seconds", "Infinity");
        refused(bounds + "86400.5", "--warmup", "0", "--seconds", "86400.5");
        refused(bounds + "0.0", "--warmup", "0", "--seconds", "0");
        refused(bounds + "NaN", "--warmup", "0", "--seconds", "NaN");
        refused("--seconds 1.0E-4 at --rate 1,000 measures no append: their product must be at least 1",
            "--warmup", "0", "--rate", "1000", "--seconds", "0.0001");
    }

    @Test
    void warmup()
    {
        final String bounds = "--warmup must be at least 0 and at most 86,400, got ";
        refused(bounds + "1.0E12", "--seconds", "0.1", "--warmup", "1e12");
        refused(bounds + "Infinity", "--seconds", "0.1", "--warmup", "Infinity");
        refused(bounds + "-1.0", "--seconds", "0.1", "--warmup", "-1");
        refused(bounds + "NaN", "--seconds", "0.1", "--warmup", "NaN");
    }

    @Test
    void rate()
    {
        final String bounds = "--rate must be at least 1 and at most 1,000,000,000 appends per second, got ";
        refused(bounds + "2,000,000,000", "--rate", "2000000000");
        refused(bounds + "0", "--rate", "0");
        refused(bounds + "-7", "--rate", "-7");
    }

    @Test
    void payload()
    {
        final String bounds = "--payload must be at least 0 and at most " +
            Format.count(VarveConfig.DEFAULT_MAX_EVENT_SIZE) + " bytes (this store's largest event), got ";
        refused(bounds + Format.count(VarveConfig.DEFAULT_MAX_EVENT_SIZE + 1L), "--payload",
            Integer.toString(VarveConfig.DEFAULT_MAX_EVENT_SIZE + 1));
        refused(bounds + "2,000,000,000", "--payload", "2000000000");
        refused(bounds + "-1", "--payload", "-1");

        // an existing store keeps its own segment size, and so its own largest event
        final int segmentSize = 64 * 1024;
        final Path small = temp.resolve("small");
        try (VarveDB db = VarveDB.open(VarveConfig.builder(small).segmentSize(segmentSize).build()))
        {
            assertEquals(VarveConfig.maxPayloadFor(segmentSize), db.config().maxEventSize());
        }
        final Cli.Result run = Cli.run(args(small, "--payload",
            Integer.toString(VarveConfig.maxPayloadFor(segmentSize) + 1)));
        oneLine(run, "--payload must be at least 0 and at most 32,728 bytes (this store's largest event), " +
            "got 32,729");
    }

    @Test
    void outputFiles() throws Exception
    {
        final Path directory = Files.createDirectories(temp.resolve("out.png"));
        refused("--histogram " + directory + " is a directory; give a file name", "--histogram",
            directory.toString());
        refused("--plot " + directory + " is a directory; give a file name", "--plot", directory.toString());
        final String same = temp.resolve("same.png").toString();
        refused("--histogram and --plot name the same file, " + same, "--histogram", same, "--plot", same);
        refused("--plot writes a PNG; give a file name ending in .png, got chart.jpg", "--plot", "chart.jpg");
        final Path file = Files.writeString(temp.resolve("a-file"), "not a directory");
        final String under = file.resolve("chart.png").toString();
        refused("--plot " + under + ": " + file + " is not a directory", "--plot", under);
        final String deeper = file.resolve("sub/h.hgrm").toString();
        refused("--histogram " + deeper + ": " + file + " is not a directory", "--histogram", deeper);
    }

    private void refused(final String expected, final String... options)
    {
        final Path dir = temp.resolve("store");
        final Cli.Result run = Cli.run(args(dir, options));
        assertEquals(ExitCode.USAGE, run.exit(), run::toString);
        assertFalse(Files.exists(dir), () -> "a refused run created the store:\n" + run);
        oneLine(run, expected);
    }

    private static String[] args(final Path dir, final String... options)
    {
        final List<String> args = new ArrayList<>(List.of("latency", dir.toString()));
        args.addAll(List.of(options));
        for (int i = 0; i < SHORT.length; i += 2)
        {
            if (!args.contains(SHORT[i]))
            {
                args.add(SHORT[i]);
                args.add(SHORT[i + 1]);
            }
        }
        return args.toArray(new String[0]);
    }

    private static void oneLine(final Cli.Result result, final String expected)
    {
        assertEquals(ExitCode.USAGE, result.exit(), result::toString);
        assertEquals("varve latency: " + expected, result.err().strip(), result::toString);
        assertEquals(1, result.err().lines().count(), result::toString);
    }
}
