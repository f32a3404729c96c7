package io.varvedb.tools;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A short fixed-rate run: percentiles printed, histogram saved in HdrHistogram's format, chart drawn; with
 * {@code --subscriber}, every event delivered and append-to-delivery percentiles that make sense.
 */
class LatencyCommandTest
{
    @TempDir
    Path temp;

    @Test
    void measuresAtAFixedRateAndWritesHistogramAndChart() throws Exception
    {
        final Path dir = temp.resolve("store");
        final Path histogram = temp.resolve("out/latency.hgrm");
        final Path chart = temp.resolve("out/latency.png");
        final Cli.Result run = Cli.run("latency", dir.toString(), "--rate", "20000", "--seconds", "0.5",
            "--warmup", "0.1", "--threads", "2", "--payload", "100", "--histogram", histogram.toString(),
            "--plot", chart.toString());
        assertEquals(ExitCode.OK, run.exit(), run::toString);
        assertTrue(run.out().contains("p99.99"), run::toString);
        assertTrue(run.out().contains("max"), run::toString);
        assertTrue(run.out().matches("(?s).*sent [0-9,]+ appends in the measured 0.50 s.*"), run::toString);

        final String hgrm = Files.readString(histogram);
        assertTrue(hgrm.contains("Value     Percentile TotalCount 1/(1-Percentile)"), hgrm);
        assertTrue(hgrm.contains("#[Max"), hgrm);

        final BufferedImage image = ImageIO.read(chart.toFile());
        assertNotNull(image, "not a readable PNG");
        assertEquals(1200, image.getWidth());
        assertEquals(700, image.getHeight());

        // the appends went to the store: streams 1 and 2 (one per thread)
        final Cli.Result info = Cli.run("info", dir.toString());
        assertTrue(info.out().contains(" in 2 streams"), info::toString);
    }

    @Test
    void subscriberReceivesEveryEventAndReportsOrderedDeliveryPercentiles() throws Exception
    {
        final Path dir = temp.resolve("store");
        final Path histogram = temp.resolve("out/run.hgrm");
        final Path chart = temp.resolve("out/run.png");
        final Cli.Result run = Cli.run("latency", dir.toString(), "--rate", "20000", "--seconds", "0.5",
            "--warmup", "0.1", "--subscriber", "--histogram", histogram.toString(), "--plot", chart.toString());
        assertEquals(ExitCode.OK, run.exit(), run::toString);

        // every event appended (warm-up included) was delivered, and every measured one was timed
        final Matcher received = Pattern.compile(
            "subscriber received ([0-9,]+) of ([0-9,]+) events appended \\(warm-up included\\), ([0-9,]+) of " +
            "([0-9,]+) measured").matcher(run.out());
        assertTrue(received.find(), run::toString);
        assertEquals(count(received.group(2)), count(received.group(1)), run::toString);
        assertEquals(count(received.group(4)), count(received.group(3)), run::toString);
        assertTrue(count(received.group(3)) > 0, run::toString);
        assertTrue(count(received.group(2)) > count(received.group(4)), "warm-up appends are counted too");

        // the third column: positive, non-decreasing from p50 to max
        final String[] rows = {"p50", "p90", "p99", "p99.9", "p99.99", "max"};
        long previous = 0;
        for (final String row : rows)
        {
            final Matcher line = Pattern.compile("(?m)^  " + Pattern.quote(row) +
                " +\\S+ \\S+ +\\S+ \\S+ +(\\S+) (ns|us|ms|s)$").matcher(run.out());
            assertTrue(line.find(), () -> row + " row with a delivery column missing:\n" + run);
            final long nanos = nanos(line.group(1), line.group(2));
            assertTrue(nanos > 0, () -> row + " not positive:\n" + run);
            assertTrue(nanos >= previous, () -> row + " below the previous percentile:\n" + run);
            previous = nanos;
        }

        final Path deliveryHistogram = temp.resolve("out/run-delivery.hgrm");
        assertEquals(deliveryHistogram, LatencyCommand.deliveryFile(histogram));
        assertTrue(Files.readString(deliveryHistogram).contains("#[Max"), "delivery histogram not saved");
        assertNotNull(ImageIO.read(chart.toFile()), "not a readable PNG");
    }

    @Test
    void subscriberNeedsRoomForTheSendTimeInThePayload()
    {
        final Cli.Result run = Cli.run("latency", temp.resolve("store").toString(), "--subscriber", "--payload", "4");
        assertEquals(ExitCode.USAGE, run.exit(), run::toString);
        assertTrue(run.err().contains("--payload must be >= 8"), run::toString);
    }

    private static long count(final String digits)
    {
        return Long.parseLong(digits.replace(",", ""));
    }

    /** A figure as the latency tables print it ("1.5", "us") in nanoseconds; LatencySystemsTest reads them too. */
    static long nanos(final String value, final String unit)
    {
        final double number = Double.parseDouble(value);
        switch (unit)
        {
            case "ns":
                return (long)number;
            case "us":
                return (long)(number * 1e3);
            case "ms":
                return (long)(number * 1e6);
            default:
                return (long)(number * 1e9);
        }
    }
}
