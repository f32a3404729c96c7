package io.varvedb.tools;

import org.HdrHistogram.Histogram;
import org.HdrHistogram.HistogramIterationValue;

import javax.imageio.ImageIO;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.FontMetrics;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.geom.Path2D;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Locale;

/**
 * Draws a percentile-distribution chart of latency histograms to a PNG with Java2D, off-screen.
 * <p>
 * The x axis is the percentile on the usual "nines" scale ({@code log10(1 / (1 - p))}: 0%, 90%, 99%, 99.9%...),
 * so the tail gets as much room as the median; the y axis is latency on a log scale, so nanosecond medians and
 * millisecond stalls are both readable on one chart.
 */
public final class LatencyChart
{
    private static final int WIDTH = 1200;
    private static final int HEIGHT = 700;
    private static final int LEFT = 100;
    private static final int RIGHT = 40;
    private static final int TOP = 70;
    private static final int BOTTOM = 80;
    private static final int TICKS_PER_HALF_DISTANCE = 5;
    private static final int MIN_NINES = 2;
    private static final int MAX_NINES = 6;
    private static final double PERCENT = 100.0;
    private static final int TITLE_SIZE = 18;
    private static final int LABEL_SIZE = 14;
    private static final int SMALL_SIZE = 12;
    private static final Color GRID = new Color(0xDD, 0xDD, 0xDD);
    private static final Color MINOR_GRID = new Color(0xF0, 0xF0, 0xF0);
    private static final Color CORRECTED = new Color(0xC0, 0x30, 0x20);
    private static final Color SERVICE = new Color(0x30, 0x60, 0xB0);
    private static final Color DELIVERY = new Color(0x20, 0x90, 0x40);
    private static final int[] MINOR_STEPS = {2, 5};
    private static final double[] MARKED = {50, 99, 99.9, 99.99};

    private LatencyChart()
    {
    }

    /**
     * Draw the chart.
     *
     * @param file      the PNG to write.
     * @param title     the chart's title.
     * @param subtitle  a second line under it: where it was measured.
     * @param corrected latencies from intended send times, in nanoseconds.
     * @param service   service times of the calls, in nanoseconds.
     * @throws IOException if the file cannot be written.
     */
    public static void draw(
        final Path file, final String title, final String subtitle, final Histogram corrected, final Histogram service)
        throws IOException
    {
        draw(file, title, subtitle, corrected, service, null);
    }

    /**
     * Draw the chart with a third curve: append-to-delivery latency seen by a subscriber.
     *
     * @param file      the PNG to write.
     * @param title     the chart's title.
     * @param subtitle  a second line under it: where it was measured.
     * @param corrected latencies from intended send times, in nanoseconds.
     * @param service   service times of the calls, in nanoseconds.
     * @param delivery  from intended send time to delivery to a subscriber, in nanoseconds; null for none.
     * @throws IOException if the file cannot be written.
     */
    public static void draw(
        final Path file, final String title, final String subtitle, final Histogram corrected, final Histogram service,
        final Histogram delivery)
        throws IOException
    {
        final BufferedImage image = new BufferedImage(WIDTH, HEIGHT, BufferedImage.TYPE_INT_RGB);
        final Graphics2D g = image.createGraphics();
        try
        {
            g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
            g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
            g.setColor(Color.WHITE);
            g.fillRect(0, 0, WIDTH, HEIGHT);

            final long count = Math.max(corrected.getTotalCount(), 1);
            final int nines = Math.max(MIN_NINES, Math.min(MAX_NINES, (int)Math.ceil(Math.log10(count))));
            long low = Math.max(1, Math.min(corrected.getMinNonZeroValue(), service.getMinNonZeroValue()));
            long high = Math.max(Math.max(corrected.getMaxValue(), service.getMaxValue()), low * 10);
            if (delivery != null && delivery.getTotalCount() > 0)
            {
                low = Math.max(1, Math.min(low, delivery.getMinNonZeroValue()));
                high = Math.max(high, delivery.getMaxValue());
            }
            final int minDecade = (int)Math.floor(Math.log10(low));
            // headroom keeps the legend clear of the curves' tails: one decade, two with the third legend block
            final int maxDecade = (int)Math.ceil(Math.log10(high)) + (delivery != null ? 2 : 1);
            final Axes axes = new Axes(nines, minDecade, maxDecade);

            drawGrid(g, axes);
            drawCurve(g, axes, service, SERVICE);
            drawCurve(g, axes, corrected, CORRECTED);
            if (delivery != null)
            {
                drawCurve(g, axes, delivery, DELIVERY);
            }
            drawFrame(g, title, subtitle);
            drawLegend(g, corrected, delivery, count);
        }
        finally
        {
            g.dispose();
        }
        if (!ImageIO.write(image, "png", file.toFile()))
        {
            throw new IOException("no PNG writer available");
        }
    }

    private static void drawGrid(final Graphics2D g, final Axes axes)
    {
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, SMALL_SIZE));
        final FontMetrics metrics = g.getFontMetrics();
        for (int decade = axes.minDecade; decade <= axes.maxDecade; decade++)
        {
            if (decade < axes.maxDecade)
            {
                g.setColor(MINOR_GRID);
                for (final int step : MINOR_STEPS)
                {
                    final int y = axes.y(step * Math.pow(10, decade));
                    g.drawLine(LEFT, y, WIDTH - RIGHT, y);
                }
            }
            final int y = axes.y(Math.pow(10, decade));
            g.setColor(GRID);
            g.drawLine(LEFT, y, WIDTH - RIGHT, y);
            g.setColor(Color.DARK_GRAY);
            final String label = decadeLabel(decade);
            g.drawString(label, LEFT - 8 - metrics.stringWidth(label), y + metrics.getAscent() / 2);
        }
        for (int nine = 0; nine <= axes.nines; nine++)
        {
            final int x = axes.x(nine);
            g.setColor(GRID);
            g.drawLine(x, TOP, x, HEIGHT - BOTTOM);
            g.setColor(Color.DARK_GRAY);
            final String label = nineLabel(nine);
            g.drawString(label, x - metrics.stringWidth(label) / 2, HEIGHT - BOTTOM + 18);
        }
    }

    private static String decadeLabel(final int decade)
    {
        final String[] units = {"ns", "us", "ms", "s"};
        final int unit = Math.min(units.length - 1, Math.max(0, decade / 3));
        final long value = (long)Math.pow(10, decade - unit * 3);
        return value + " " + units[unit];
    }

    private static String nineLabel(final int nines)
    {
        if (nines == 0)
        {
            return "0%";
        }
        final double percentile = PERCENT - PERCENT / Math.pow(10, nines);
        final String text = String.format(Locale.ROOT, "%." + Math.max(0, nines - 2) + "f%%", percentile);
        return text;
    }

    private static void drawCurve(final Graphics2D g, final Axes axes, final Histogram histogram, final Color color)
    {
        if (histogram.getTotalCount() == 0)
        {
            return;
        }
        final Path2D.Double line = new Path2D.Double();
        boolean first = true;
        double lastX = 0;
        double lastY = 0;
        for (final HistogramIterationValue value : histogram.percentiles(TICKS_PER_HALF_DISTANCE))
        {
            final double percentile = value.getPercentileLevelIteratedTo();
            final double x = axes.xAt(percentile);
            final double y = axes.yAt(Math.max(1, value.getValueIteratedTo()));
            if (first)
            {
                line.moveTo(x, y);
                first = false;
            }
            else
            {
                // a step: the value holds until the next percentile level
                line.lineTo(x, lastY);
                line.lineTo(x, y);
            }
            lastX = x;
            lastY = y;
        }
        line.lineTo(Math.max(lastX, WIDTH - RIGHT), lastY);
        g.setColor(color);
        g.setStroke(new BasicStroke(2.2f, BasicStroke.CAP_ROUND, BasicStroke.JOIN_ROUND));
        g.draw(line);
        g.setStroke(new BasicStroke(1f));
    }

    private static void drawFrame(final Graphics2D g, final String title, final String subtitle)
    {
        g.setColor(Color.BLACK);
        g.drawRect(LEFT, TOP, WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM);
        g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, TITLE_SIZE));
        FontMetrics metrics = g.getFontMetrics();
        g.drawString(title, (WIDTH - metrics.stringWidth(title)) / 2, TOP - 38);
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, LABEL_SIZE));
        metrics = g.getFontMetrics();
        g.setColor(Color.DARK_GRAY);
        g.drawString(subtitle, (WIDTH - metrics.stringWidth(subtitle)) / 2, TOP - 14);
        g.setColor(Color.BLACK);
        final String xLabel = "percentile (log scale of 1/(1-p): each step adds a nine)";
        g.drawString(xLabel, LEFT + (WIDTH - LEFT - RIGHT - metrics.stringWidth(xLabel)) / 2, HEIGHT - 30);
        final String yLabel = "latency (log scale)";
        final Graphics2D rotated = (Graphics2D)g.create();
        try
        {
            rotated.rotate(-Math.PI / 2);
            rotated.drawString(yLabel, -(TOP + (HEIGHT - TOP - BOTTOM + metrics.stringWidth(yLabel)) / 2), 24);
        }
        finally
        {
            rotated.dispose();
        }
    }

    private static void drawLegend(
        final Graphics2D g, final Histogram corrected, final Histogram delivery, final long count)
    {
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, LABEL_SIZE));
        final int x = LEFT + 16;
        int y = TOP + 24;
        g.setColor(CORRECTED);
        g.fillRect(x, y - 10, 24, 4);
        g.setColor(Color.BLACK);
        g.drawString("from intended send time (coordinated omission corrected)", x + 32, y - 4);
        y += 22;
        g.setColor(SERVICE);
        g.fillRect(x, y - 10, 24, 4);
        g.setColor(Color.BLACK);
        g.drawString("service time of the append call alone", x + 32, y - 4);
        if (delivery != null)
        {
            y += 22;
            g.setColor(DELIVERY);
            g.fillRect(x, y - 10, 24, 4);
            g.setColor(Color.BLACK);
            g.drawString("append to delivery: intended send time to a busy-spinning subscriber's handler", x + 32,
                y - 4);
        }
        y += 26;
        g.setColor(Color.DARK_GRAY);
        g.drawString(marks("corrected:", corrected) + "   (" + Format.count(count) + " appends)", x, y);
        if (delivery != null)
        {
            y += 20;
            g.drawString(marks("delivery: ", delivery) + "   (" + Format.count(delivery.getTotalCount()) + " events)",
                x, y);
        }
    }

    private static String marks(final String label, final Histogram histogram)
    {
        final StringBuilder marks = new StringBuilder(label);
        for (final double percentile : MARKED)
        {
            marks.append("  p").append(percentile == Math.rint(percentile) ? Long.toString((long)percentile) :
                Double.toString(percentile)).append(' ').append(Format.nanos(histogram.getValueAtPercentile(percentile)));
        }
        marks.append("  max ").append(Format.nanos(histogram.getMaxValue()));
        return marks.toString();
    }

    /**
     * Maps percentiles and latencies to pixels.
     */
    private static final class Axes
    {
        private final int nines;
        private final int minDecade;
        private final int maxDecade;

        Axes(final int nines, final int minDecade, final int maxDecade)
        {
            this.nines = nines;
            this.minDecade = minDecade;
            this.maxDecade = maxDecade;
        }

        int x(final double ninesValue)
        {
            return (int)Math.round(LEFT + (WIDTH - LEFT - RIGHT) * ninesValue / nines);
        }

        double xAt(final double percentile)
        {
            final double remaining = Math.max(1.0 - percentile / PERCENT, Math.pow(10, -nines));
            return LEFT + (WIDTH - LEFT - RIGHT) * Math.log10(1.0 / remaining) / nines;
        }

        int y(final double nanos)
        {
            return (int)Math.round(yAt(nanos));
        }

        double yAt(final double nanos)
        {
            final double fraction = (Math.log10(nanos) - minDecade) / (maxDecade - minDecade);
            return HEIGHT - BOTTOM - (HEIGHT - TOP - BOTTOM) * fraction;
        }
    }
}
