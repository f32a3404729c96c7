package io.varvedb.tools;

import io.varvedb.internal.store.MetaDescriptor;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.plot.XYPlot;
import org.jfree.data.xy.XYDataset;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import javax.imageio.ImageIO;
import java.awt.Color;
import java.awt.image.BufferedImage;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.MatchResult;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code varve latency --system}: Chronicle Queue driven by the same sender as VarveDB, both systems in one run with
 * a comparison table, one chart with a curve per system and one histogram file per system, and the options that mean
 * nothing for Chronicle refused.
 */
class LatencySystemsTest
{
    private static final String[] ROWS = {"p50", "p90", "p99", "p99.9", "p99.99", "max"};
    private static final Pattern SENT = Pattern.compile("(?m)^sent ([0-9,]+) appends in the measured");
    private static final Pattern TEMPORARY = Pattern.compile("(?m) (/\\S+) \\(temporary, deleted after the run\\)");

    @TempDir
    Path temp;

    @Test
    void chronicleAloneRunsThroughTheSenderAndReportsItsFigures() throws Exception
    {
        final Path queue = temp.resolve("queue");
        final Cli.Result run = Cli.run("latency", queue.toString(), "--system", "chronicle", "--rate", "20000",
            "--seconds", "1", "--warmup", "0");
        assertEquals(ExitCode.OK, run.exit(), run::toString);
        assertTrue(run.out().contains("chronicle: Chronicle Queue in " + queue.toAbsolutePath()), run::toString);
        assertFalse(run.out().contains("varve: VarveDB"), () -> "VarveDB ran too:\n" + run);
        assertFalse(run.out().contains("comparison"), () -> "one system has nothing to compare:\n" + run);
        assertTrue(Pattern.compile("(?m)^  kept up     (yes|no): [0-9,]+ of 20,000 scheduled appends sent$")
            .matcher(run.out()).find(), run::toString);
        percentiles(run.out(), 0, 1);

        // the figures are Chronicle's: the queue holds exactly the appends measured (no warm-up), and no VarveDB
        final long sent = sent(run.out()).get(0);
        assertTrue(sent > 0, run::toString);
        try (ChronicleTarget target = new ChronicleTarget(queue, new byte[0], VarveTarget.EVENT_TYPE))
        {
            assertEquals(sent, target.entryCount(), run::toString);
        }
        assertFalse(Files.exists(queue.resolve(MetaDescriptor.FILE_NAME)), "a VarveDB store was created");
    }

    @Test
    void bothSystemsOnFreshStoresCompareAndDrawOneChartWithACurveEach() throws Exception
    {
        final Path histogram = temp.resolve("out/h");
        final Path chart = temp.resolve("out/x.png");
        final CommandLine cli = VarveCli.commandLine();
        final StringWriter out = new StringWriter();
        final StringWriter err = new StringWriter();
        cli.setOut(new PrintWriter(out, true));
        cli.setErr(new PrintWriter(err, true));
        final int exit = cli.execute("latency", "--system", "varve,chronicle", "--rate", "20000", "--seconds", "0.5",
            "--warmup", "0.1", "--plot", chart.toString(), "--histogram", histogram.toString());
        final String printed = out + "--- stderr\n" + err;
        assertEquals(ExitCode.OK, exit, printed);
        assertEquals("", err.toString(), "a clean run prints nothing on stderr (Chronicle's start-up noise)");

        // each ran on a fresh temporary store, deleted after
        final Matcher stores = TEMPORARY.matcher(out.toString());
        int temporary = 0;
        while (stores.find())
        {
            assertFalse(Files.exists(Path.of(stores.group(1))), () -> "not deleted: " + stores.group(1));
            temporary++;
        }
        assertEquals(2, temporary, printed);
        assertTrue(out.toString().indexOf("varve: VarveDB store") < out.toString().indexOf("chronicle: Chronicle"),
            printed);

        // a per-run table for each, then the comparison whose ratios are varve / chronicle
        percentiles(out.toString(), 0, 2);
        percentiles(out.toString(), 1, 2);
        comparison(out.toString());

        // two histograms, one per system, named after it, each holding what its run measured
        final List<Long> sent = sent(out.toString());
        assertEquals(sent.get(0), totalCount(temp.resolve("out/h-varve")), printed);
        assertEquals(sent.get(1), totalCount(temp.resolve("out/h-chronicle")), printed);
        assertFalse(Files.exists(histogram), "with two systems, no histogram goes to the bare name");

        // one chart, a series per system named after it, as the PNG shows
        final BufferedImage image = ImageIO.read(chart.toFile());
        assertNotNull(image, "not a readable PNG");
        assertEquals(LatencyChart.WIDTH, image.getWidth());
        assertEquals(LatencyChart.HEIGHT, image.getHeight());
        final LatencyCommand command = cli.getSubcommands().get("latency").getCommand();
        final JFreeChart drawn = command.chart();
        assertNotNull(drawn, "no chart kept");
        final XYDataset dataset = ((XYPlot)drawn.getPlot()).getDataset();
        assertEquals(2, dataset.getSeriesCount());
        assertEquals("varve", dataset.getSeriesKey(0));
        assertEquals("chronicle", dataset.getSeriesKey(1));
        assertTrue(dataset.getItemCount(0) > 2 && dataset.getItemCount(1) > 2, "empty curves");
        assertTrue(drawn.getTitle().getText().contains("20,000 appends/s"), drawn.getTitle().getText());
        assertTrue(drawn.getTitle().getText().contains("64-byte payloads"), drawn.getTitle().getText());
        assertNotNull(drawn.getLegend(), "no legend");
        // both curves (and legend entries) reached the pixels, each in its own colour
        assertTrue(pixels(image, LatencyChart.PALETTE[0]) > 20, "no varve curve in the PNG");
        assertTrue(pixels(image, LatencyChart.PALETTE[1]) > 20, "no chronicle curve in the PNG");
    }

    @Test
    void severalSystemsUnderADirectoryGetOneStoreEach() throws Exception
    {
        final Path dir = temp.resolve("runs");
        final Cli.Result run = Cli.run("latency", dir.toString(), "--system", "chronicle,varve", "--rate", "10000",
            "--seconds", "0.2", "--warmup", "0");
        assertEquals(ExitCode.OK, run.exit(), run::toString);
        assertTrue(Files.isRegularFile(dir.resolve("varve").resolve(MetaDescriptor.FILE_NAME)), run::toString);
        try (Stream<Path> files = Files.list(dir.resolve("chronicle")))
        {
            assertTrue(files.anyMatch((f) -> f.toString().endsWith(".cq4")), run::toString);
        }
        // chronicle ran first, and the ratio is still varve / chronicle
        assertTrue(run.out().indexOf("chronicle: Chronicle") < run.out().indexOf("varve: VarveDB"), run::toString);
        assertTrue(run.out().contains("     chronicle       varve  varve/chronicle"), run::toString);

        // a VarveDB store cannot hold the subdirectories of several systems
        final Cli.Result refused = Cli.run("latency", dir.resolve("varve").toString(), "--system",
            "varve,chronicle", "--seconds", "0.1", "--warmup", "0");
        assertEquals(ExitCode.STORE, refused.exit(), refused::toString);
        assertTrue(refused.err().contains("is a VarveDB store; with several systems"), refused::toString);
        assertFalse(Files.exists(dir.resolve("varve").resolve("chronicle")), "created inside the store");
    }

    @Test
    void chronicleRefusesWhatOnlyVarveDbCanDo()
    {
        refused("--await-durable waits for VarveDB's durable position; Chronicle Queue has none to wait for: " +
            "drop it, or run --system varve alone", "--system", "chronicle", "--await-durable");
        refused("--await-durable waits for VarveDB's durable position; Chronicle Queue has none to wait for: " +
            "drop it, or run --system varve alone", "--system", "varve,chronicle", "--await-durable");
        refused("--subscriber runs a VarveDB subscription; there is no Chronicle counterpart here: drop it, or run " +
            "--system varve alone", "--system", "varve,chronicle", "--subscriber");
        refused("--durability GROUP_COMMIT is a VarveDB mode; Chronicle Queue has none (its appends reach the page " +
            "cache, as VarveDB's do in OS mode): drop it, or run --system varve alone", "--system", "chronicle",
            "--durability", "GROUP_COMMIT");
    }

    @Test
    void theTestJvmHasTheFlagsChronicleNeeds()
    {
        // the surefire argLine carries them, as the launcher does: without them the chronicle runs are refused
        assertEquals(List.of(), ChronicleTarget.missingJvmFlags());
    }

    @Test
    void unknownSystemsAreRefused()
    {
        refused("unknown system 'kafka' in --system kafka: give varve, chronicle, or both as varve,chronicle",
            "--system", "kafka");
        refused("unknown system 'lmdb' in --system varve,lmdb: give varve, chronicle, or both as varve,chronicle",
            "--system", "varve,lmdb");
        refused("unknown system '' in --system varve,: give varve, chronicle, or both as varve,chronicle",
            "--system", "varve,");
        refused("--system chronicle,chronicle names chronicle twice", "--system", "chronicle,chronicle");
    }

    private void refused(final String message, final String... options)
    {
        final Path dir = temp.resolve("never");
        final String[] args = Stream.concat(Stream.of("latency", dir.toString(), "--seconds", "0.1", "--warmup", "0"),
            Stream.of(options)).toArray(String[]::new);
        final Cli.Result run = Cli.run(args);
        assertEquals(ExitCode.USAGE, run.exit(), run::toString);
        assertEquals("varve latency: " + message, run.err().strip(), run::toString);
        assertFalse(Files.exists(dir), () -> "a refused run created a store:\n" + run);
    }

    /**
     * The per-run table number {@code index} of {@code runs}: corrected and service columns positive and
     * non-decreasing from p50 to max.
     */
    private static void percentiles(final String out, final int index, final int runs)
    {
        for (int column = 1; column <= 2; column++)
        {
            long previous = 0;
            for (final String row : ROWS)
            {
                // two figures and nothing after: not the comparison table's rows, which have more
                final List<MatchResult> found = Pattern.compile("(?m)^  " + Pattern.quote(row) +
                    " +(\\S+) (ns|us|ms|s) +(\\S+) (ns|us|ms|s)$").matcher(out).results().toList();
                assertEquals(runs, found.size(), () -> row + " rows:\n" + out);
                final MatchResult mine = found.get(index);
                final long nanos = nanos(mine.group(2 * column - 1), mine.group(2 * column));
                assertTrue(nanos > 0, () -> row + " not positive:\n" + out);
                assertTrue(nanos >= previous, () -> row + " below the previous percentile:\n" + out);
                previous = nanos;
            }
        }
    }

    /**
     * Each comparison row shows varve's and chronicle's figure for corrected and service time, and their ratio,
     * computed from the unrounded values: within rounding of the ratio of the figures shown.
     */
    private static void comparison(final String out)
    {
        final String table = out.substring(out.indexOf("comparison, the same schedule"));
        assertTrue(table.contains("varve   chronicle  varve/chronicle"), table);
        for (final String row : ROWS)
        {
            final String cells = "(\\S+ \\S+) +(\\S+ \\S+) +([0-9.]+)x";
            final Matcher line = Pattern.compile("(?m)^  " + Pattern.quote(row) + " +" + cells + " +" + cells + "$")
                .matcher(table);
            assertTrue(line.find(), () -> row + " comparison row:\n" + table);
            for (int block = 0; block < 2; block++)
            {
                final double varve = nanos(line.group(block * 3 + 1));
                final double chronicle = nanos(line.group(block * 3 + 2));
                final double ratio = Double.parseDouble(line.group(block * 3 + 3));
                assertEquals(varve / chronicle, ratio, 0.02 * ratio + 0.01, () -> row + ":\n" + table);
            }
        }
        assertTrue(Pattern.compile("(?m)^  kept up +(yes|no) +(yes|no)$").matcher(table).find(), table);
    }

    private static List<Long> sent(final String out)
    {
        return SENT.matcher(out).results().map((r) -> Long.parseLong(r.group(1).replace(",", ""))).toList();
    }

    /**
     * Decode an HdrHistogram percentile file: the header, rows of value, percentile, count and 1/(1-p) with
     * non-decreasing values and counts, and the footer's total count, which the last row must reach.
     */
    private static long totalCount(final Path file) throws Exception
    {
        final List<String> lines = Files.readAllLines(file);
        assertEquals("Value     Percentile TotalCount 1/(1-Percentile)", lines.get(0).strip(), file::toString);
        double value = 0;
        long count = 0;
        int rows = 0;
        for (final String line : lines.subList(1, lines.size()))
        {
            if (line.isBlank() || line.startsWith("#"))
            {
                continue;
            }
            final String[] fields = line.strip().split(" +");
            // the 100th percentile's row has no 1/(1-p): it would be infinite
            assertTrue(fields.length == 4 || fields.length == 3 && Double.parseDouble(fields[1]) == 1.0, line);
            assertTrue(Double.parseDouble(fields[0]) >= value, line);
            assertTrue(Long.parseLong(fields[2]) >= count, line);
            value = Double.parseDouble(fields[0]);
            count = Long.parseLong(fields[2]);
            rows++;
        }
        assertTrue(rows > 2, file::toString);
        final Matcher footer = Pattern.compile("#\\[Max +=  *([0-9.]+), Total count +=  *([0-9]+)\\]")
            .matcher(String.join("\n", lines));
        assertTrue(footer.find(), file::toString);
        assertEquals(count, Long.parseLong(footer.group(2)), file::toString);
        return count;
    }

    private static int pixels(final BufferedImage image, final Color color)
    {
        int count = 0;
        for (int y = 0; y < image.getHeight(); y++)
        {
            for (int x = 0; x < image.getWidth(); x++)
            {
                if ((image.getRGB(x, y) & 0xFFFFFF) == (color.getRGB() & 0xFFFFFF))
                {
                    count++;
                }
            }
        }
        return count;
    }

    private static double nanos(final String figure)
    {
        final String[] parts = figure.split(" ");
        return nanos(parts[0], parts[1]);
    }

    private static long nanos(final String value, final String unit)
    {
        return LatencyCommandTest.nanos(value, unit);
    }
}
