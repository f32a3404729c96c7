package io.varvedb.tools;

import java.time.Instant;
import java.util.Locale;

/**
 * Number, size, duration and time formatting shared by the commands, so every command prints the same units.
 */
public final class Format
{
    private static final long NANOS_PER_MICRO = 1_000L;
    private static final long NANOS_PER_MILLI = 1_000_000L;
    private static final long NANOS_PER_SECOND = 1_000_000_000L;
    private static final long KIB = 1024L;
    private static final int HEX_RADIX = 16;

    private Format()
    {
    }

    /**
     * @param value a count.
     * @return it with thousands separators: {@code 1,234,567}.
     */
    public static String count(final long value)
    {
        return String.format(Locale.ROOT, "%,d", value);
    }

    /**
     * @param bytes a size.
     * @return it in the largest binary unit that keeps it above one: {@code 64.0 MiB}.
     */
    public static String bytes(final long bytes)
    {
        if (bytes < KIB)
        {
            return bytes + " B";
        }
        final String[] units = {"KiB", "MiB", "GiB", "TiB"};
        double value = bytes;
        int unit = -1;
        while (value >= KIB && unit < units.length - 1)
        {
            value /= KIB;
            unit++;
        }
        return String.format(Locale.ROOT, "%.1f %s", value, units[unit]);
    }

    /**
     * @param nanos a duration.
     * @return it in ns, us, ms or s with three significant digits.
     */
    public static String nanos(final long nanos)
    {
        if (nanos < NANOS_PER_MICRO)
        {
            return nanos + " ns";
        }
        if (nanos < NANOS_PER_MILLI)
        {
            return significant((double)nanos / NANOS_PER_MICRO) + " us";
        }
        if (nanos < NANOS_PER_SECOND)
        {
            return significant((double)nanos / NANOS_PER_MILLI) + " ms";
        }
        return significant((double)nanos / NANOS_PER_SECOND) + " s";
    }

    /**
     * @param epochNanos a time in nanoseconds since the epoch.
     * @return it as an ISO-8601 instant with all nine fraction digits.
     */
    public static String timestamp(final long epochNanos)
    {
        final Instant instant = Instant.ofEpochSecond(
            Math.floorDiv(epochNanos, NANOS_PER_SECOND), Math.floorMod(epochNanos, NANOS_PER_SECOND));
        final String text = instant.toString();
        // Instant drops trailing zero digits; keep columns aligned in dumps
        final int dot = text.indexOf('.');
        if (dot < 0)
        {
            return text.substring(0, text.length() - 1) + ".000000000Z";
        }
        final int digits = text.length() - 1 - dot - 1;
        return text.substring(0, text.length() - 1) + "0".repeat(9 - digits) + "Z";
    }

    /**
     * @param value an int.
     * @return it as {@code 0x} and eight hex digits.
     */
    public static String hex(final int value)
    {
        final String digits = Integer.toHexString(value);
        return "0x" + "0".repeat(8 - digits.length()) + digits;
    }

    /**
     * @param value a number.
     * @return it with three significant digits and no exponent.
     */
    public static String significant(final double value)
    {
        if (value >= 100)
        {
            return String.format(Locale.ROOT, "%.0f", value);
        }
        if (value >= 10)
        {
            return String.format(Locale.ROOT, "%.1f", value);
        }
        return String.format(Locale.ROOT, "%.2f", value);
    }

    /**
     * @param seconds a duration in seconds.
     * @return it as {@code 1.23 s}.
     */
    public static String seconds(final double seconds)
    {
        return String.format(Locale.ROOT, "%.2f s", seconds);
    }

    /**
     * @param value a byte.
     * @return two lower-case hex digits.
     */
    public static String hexByte(final int value)
    {
        return Character.forDigit((value >>> 4) & 0xF, HEX_RADIX) + "" + Character.forDigit(value & 0xF, HEX_RADIX);
    }
}
