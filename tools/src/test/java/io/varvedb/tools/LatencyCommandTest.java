package io.varvedb.tools;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A short fixed-rate run: percentiles printed, histogram saved in HdrHistogram's format, chart drawn.
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
}
