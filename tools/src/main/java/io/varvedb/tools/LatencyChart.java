package io.varvedb.tools;

import org.HdrHistogram.Histogram;
import org.HdrHistogram.HistogramIterationValue;
import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.axis.LogAxis;
import org.jfree.chart.axis.NumberTickUnit;
import org.jfree.chart.plot.XYPlot;
import org.jfree.chart.renderer.xy.XYLineAndShapeRenderer;
import org.jfree.chart.title.TextTitle;
import org.jfree.chart.ui.RectangleInsets;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.io.IOException;
import java.nio.file.Path;
import java.text.DecimalFormat;
import java.text.DecimalFormatSymbols;
import java.text.FieldPosition;
import java.text.NumberFormat;
import java.text.ParsePosition;
import java.util.Locale;
import java.util.Map;

/**
 * The percentile distribution of latency histograms as a PNG, drawn with JFreeChart: one curve per histogram,
 * named in the legend, the usual HdrHistogram shape.
 * <p>
 * The x axis is {@code 1 / (1 - p)} on a log scale, labelled as percentiles (90%, 99%, 99.9%...), so each step to
 * the right adds a nine and the tail gets as much room as the median; the y axis is latency in microseconds on a log
 * scale, so nanosecond medians and millisecond stalls are both readable on one chart.
 */
public final class LatencyChart
{
    /** The PNG's width in pixels. */
    public static final int WIDTH = 1200;
    /** The PNG's height in pixels. */
    public static final int HEIGHT = 700;
    /** Points per halving of the distance to 100%: HdrHistogram's own default for percentile output. */
    private static final int TICKS_PER_HALF_DISTANCE = 5;
    private static final int MIN_NINES = 2;
    private static final int MAX_NINES = 6;
    private static final double PERCENT = 100.0;
    private static final double NANOS_PER_MICRO = 1000.0;
    /** A latency of 0 cannot be drawn on a log scale: 1 ns stands for it. */
    private static final double SMALLEST_MICROS = 1 / NANOS_PER_MICRO;
    private static final int TITLE_SIZE = 18;
    private static final float LINE_WIDTH = 2.2f;
    private static final double RIGHT_PADDING = 32;
    /** Series colours in order: the first system red, the second blue, a delivery curve green. */
    static final Color[] PALETTE = {
        new Color(0xC0, 0x30, 0x20), new Color(0x30, 0x60, 0xB0), new Color(0x20, 0x90, 0x40),
        new Color(0x90, 0x50, 0xA0)};

    private LatencyChart()
    {
    }

    /**
     * Draw the chart to a PNG of {@value #WIDTH} x {@value #HEIGHT}.
     *
     * @param file     the PNG to write.
     * @param chart    from {@link #chart}.
     * @throws IOException if the file cannot be written.
     */
    public static void write(final Path file, final JFreeChart chart) throws IOException
    {
        ChartUtils.saveChartAsPNG(file.toFile(), chart, WIDTH, HEIGHT);
    }

    /**
     * Build the chart: one series per histogram, in the map's order, named by its key.
     *
     * @param title    the chart's title.
     * @param subtitle a second line under it: where it was measured.
     * @param curves   the name of each curve (its legend entry) and its latencies in nanoseconds.
     * @return the chart.
     */
    public static JFreeChart chart(final String title, final String subtitle, final Map<String, Histogram> curves)
    {
        long count = 1;
        for (final Histogram histogram : curves.values())
        {
            count = Math.max(count, histogram.getTotalCount());
        }
        // as many nines as the data can resolve: 10,000 values say nothing about the 99.999th percentile
        final int nines = Math.max(MIN_NINES, Math.min(MAX_NINES, (int)Math.ceil(Math.log10(count))));
        final double right = Math.pow(10, nines);

        final LogAxis x = new LogAxis("percentile (log scale of 1/(1-p): each step adds a nine)");
        x.setBase(10);
        x.setTickUnit(new NumberTickUnit(1));
        x.setNumberFormatOverride(new PercentileFormat());
        x.setRange(1, right);

        final LogAxis y = new LogAxis("latency (microseconds, log scale)");
        y.setBase(10);
        y.setTickUnit(new NumberTickUnit(1));
        y.setSmallestValue(SMALLEST_MICROS);
        y.setNumberFormatOverride(new DecimalFormat("#,##0.###", DecimalFormatSymbols.getInstance(Locale.ROOT)));

        final XYLineAndShapeRenderer renderer = new XYLineAndShapeRenderer(true, false);
        for (int i = 0; i < curves.size(); i++)
        {
            renderer.setSeriesPaint(i, PALETTE[i % PALETTE.length]);
            renderer.setSeriesStroke(i, new BasicStroke(LINE_WIDTH, BasicStroke.CAP_ROUND, BasicStroke.JOIN_ROUND));
        }
        final XYPlot plot = new XYPlot(dataset(curves, right), x, y, renderer);
        plot.setBackgroundPaint(Color.WHITE);
        plot.setDomainGridlinePaint(Color.LIGHT_GRAY);
        plot.setRangeGridlinePaint(Color.LIGHT_GRAY);

        final JFreeChart chart = new JFreeChart(title, new Font(Font.SANS_SERIF, Font.BOLD, TITLE_SIZE), plot, true);
        chart.addSubtitle(new TextTitle(subtitle));
        chart.setBackgroundPaint(Color.WHITE);
        // room on the right for the last percentile label, which is centred on the axis's end
        chart.setPadding(new RectangleInsets(RIGHT_PADDING / 4, RIGHT_PADDING / 4, RIGHT_PADDING / 4, RIGHT_PADDING));
        return chart;
    }

    /**
     * @param curves name and histogram (nanoseconds) of each curve.
     * @param right  the x of the axis's right end: where the 100th percentile (the maximum) is drawn.
     * @return one series per curve: x = 1 / (1 - p), y = latency in microseconds.
     */
    static XYSeriesCollection dataset(final Map<String, Histogram> curves, final double right)
    {
        final XYSeriesCollection dataset = new XYSeriesCollection();
        for (final Map.Entry<String, Histogram> curve : curves.entrySet())
        {
            // autoSort off: the points come in percentile order; duplicates allowed: a step is two points at one x
            final XYSeries series = new XYSeries(curve.getKey(), false, true);
            final Histogram histogram = curve.getValue();
            if (histogram.getTotalCount() > 0)
            {
                for (final HistogramIterationValue value : histogram.percentiles(TICKS_PER_HALF_DISTANCE))
                {
                    final double remaining = 1.0 - value.getPercentileLevelIteratedTo() / PERCENT;
                    // 100% lies at infinity on this axis: the maximum is drawn at the right edge
                    final double at = remaining > 1.0 / right ? 1.0 / remaining : right;
                    series.add(at, micros(value.getValueIteratedTo()));
                }
                series.add(right, micros(histogram.getMaxValue()));
            }
            dataset.addSeries(series);
        }
        return dataset;
    }

    private static double micros(final long nanos)
    {
        return Math.max(SMALLEST_MICROS, nanos / NANOS_PER_MICRO);
    }

    /**
     * Labels a value {@code 1 / (1 - p)} of the x axis as the percentile p: 1 is 0%, 10 is 90%, 1,000 is 99.9%.
     */
    static final class PercentileFormat extends NumberFormat
    {
        private static final long serialVersionUID = 1L;

        @Override
        public StringBuffer format(final double number, final StringBuffer toAppendTo, final FieldPosition pos)
        {
            if (!(number > 1))
            {
                return toAppendTo.append("0%");
            }
            final int nines = (int)Math.max(0, Math.round(Math.log10(number)));
            final double percentile = PERCENT * (1.0 - 1.0 / number);
            return toAppendTo.append(String.format(Locale.ROOT, "%." + Math.max(0, nines - 2) + "f%%", percentile));
        }

        @Override
        public StringBuffer format(final long number, final StringBuffer toAppendTo, final FieldPosition pos)
        {
            return format((double)number, toAppendTo, pos);
        }

        @Override
        public Number parse(final String source, final ParsePosition parsePosition)
        {
            // labels are only written
            return null;
        }
    }
}
