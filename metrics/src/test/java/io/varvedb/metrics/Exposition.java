package io.varvedb.metrics;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * A small parser of the Prometheus text exposition format (0.0.4) and of OpenMetrics text, enough for the tests:
 * sample lines {@code name{label="value",...} value [timestamp]}, and the {@code # HELP} and {@code # TYPE} lines.
 */
final class Exposition
{
    /** One sample line. */
    static final class Sample
    {
        final String name;
        final Map<String, String> labels;
        final double value;

        Sample(final String name, final Map<String, String> labels, final double value)
        {
            this.name = name;
            this.labels = labels;
            this.value = value;
        }

        @Override
        public String toString()
        {
            return name + labels + " " + value;
        }
    }

    final List<Sample> samples = new ArrayList<>();
    /** Metric family name to its HELP text. */
    final Map<String, String> help = new LinkedHashMap<>();
    /** Metric family name to its TYPE. */
    final Map<String, String> types = new LinkedHashMap<>();

    static Exposition parse(final String text)
    {
        final Exposition exposition = new Exposition();
        for (final String line : text.split("\n"))
        {
            if (line.isBlank())
            {
                continue;
            }
            if (line.startsWith("# HELP "))
            {
                final String[] parts = line.substring(7).split(" ", 2);
                exposition.help.put(parts[0], parts.length > 1 ? parts[1] : "");
            }
            else if (line.startsWith("# TYPE "))
            {
                final String[] parts = line.substring(7).split(" ", 2);
                exposition.types.put(parts[0], parts[1]);
            }
            else if (!line.startsWith("#"))
            {
                exposition.samples.add(sample(line));
            }
        }
        return exposition;
    }

    private static Sample sample(final String line)
    {
        int i = 0;
        while (i < line.length() && line.charAt(i) != '{' && line.charAt(i) != ' ')
        {
            i++;
        }
        final String name = line.substring(0, i);
        final Map<String, String> labels = new LinkedHashMap<>();
        if (i < line.length() && line.charAt(i) == '{')
        {
            i++;
            while (line.charAt(i) != '}')
            {
                final int equals = line.indexOf('=', i);
                final String key = line.substring(i, equals).trim();
                if (line.charAt(equals + 1) != '"')
                {
                    throw new IllegalArgumentException("unquoted label value: " + line);
                }
                final StringBuilder value = new StringBuilder();
                int j = equals + 2;
                for (; line.charAt(j) != '"'; j++)
                {
                    char c = line.charAt(j);
                    if (c == '\\')
                    {
                        c = line.charAt(++j);
                        value.append(c == 'n' ? '\n' : c);
                    }
                    else
                    {
                        value.append(c);
                    }
                }
                labels.put(key, value.toString());
                i = j + 1;
                if (line.charAt(i) == ',')
                {
                    i++;
                }
            }
            i++;
        }
        final String[] rest = line.substring(i).trim().split(" ");
        return new Sample(name, labels, parseValue(rest[0]));
    }

    private static double parseValue(final String text)
    {
        switch (text)
        {
            case "+Inf":
                return Double.POSITIVE_INFINITY;
            case "-Inf":
                return Double.NEGATIVE_INFINITY;
            case "NaN":
                return Double.NaN;
            default:
                return Double.parseDouble(text);
        }
    }

    /**
     * @return the samples of that name whose labels include all of these ({@code key, value, key, value...}).
     */
    List<Sample> find(final String name, final String... labels)
    {
        return samples.stream().filter((sample) -> sample.name.equals(name) && has(sample, labels))
            .collect(Collectors.toList());
    }

    /**
     * @return the value of the one sample of that name with those labels.
     */
    double value(final String name, final String... labels)
    {
        final List<Sample> found = find(name, labels);
        if (found.size() != 1)
        {
            throw new AssertionError("expected one sample " + name + " " + String.join(",", labels) + ", found " +
                found + " among " + samples);
        }
        return found.get(0).value;
    }

    private static boolean has(final Sample sample, final String... labels)
    {
        for (int k = 0; k < labels.length; k += 2)
        {
            if (!labels[k + 1].equals(sample.labels.get(labels[k])))
            {
                return false;
            }
        }
        return true;
    }
}
