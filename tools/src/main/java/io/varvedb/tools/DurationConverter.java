package io.varvedb.tools;

import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.TypeConversionException;

import java.math.BigDecimal;
import java.time.Duration;
import java.util.Locale;

/**
 * A duration option: {@code 1s}, {@code 500ms}, {@code 2m}, or a plain number of seconds ({@code 0.5}, as
 * {@code stat --interval} takes).
 */
final class DurationConverter implements ITypeConverter<Duration>
{
    private static final BigDecimal NANOS_PER_SECOND = BigDecimal.valueOf(1_000_000_000L);

    @Override
    public Duration convert(final String value)
    {
        final String text = value.trim().toLowerCase(Locale.ROOT);
        final int unitAt = unitStart(text);
        final String number = text.substring(0, unitAt);
        final String unit = text.substring(unitAt);
        final BigDecimal seconds;
        try
        {
            final BigDecimal amount = new BigDecimal(number);
            seconds = switch (unit)
            {
                case "", "s" -> amount;
                case "ms" -> amount.movePointLeft(3);
                case "m" -> amount.multiply(BigDecimal.valueOf(60));
                default -> throw new NumberFormatException(unit);
            };
        }
        catch (final NumberFormatException ex)
        {
            throw new TypeConversionException("'" + value + "' is no duration: give seconds (1, 0.5) or a number " +
                "with ms, s or m (500ms, 2s, 1m)");
        }
        if (seconds.signum() < 0 || seconds.compareTo(BigDecimal.valueOf(86_400)) > 0)
        {
            throw new TypeConversionException("'" + value + "' is out of range (0 to a day)");
        }
        return Duration.ofNanos(seconds.multiply(NANOS_PER_SECOND).longValue());
    }

    private static int unitStart(final String text)
    {
        int i = text.length();
        while (i > 0 && Character.isLetter(text.charAt(i - 1)))
        {
            i--;
        }
        return i;
    }

    /**
     * @param duration a duration.
     * @return it as the options write it: {@code 1s}, {@code 250ms}, {@code 1.5s}.
     */
    static String format(final Duration duration)
    {
        final long nanos = duration.toNanos();
        if (nanos % 1_000_000_000L != 0 && nanos < 1_000_000_000L && nanos % 1_000_000L == 0)
        {
            return nanos / 1_000_000L + "ms";
        }
        return new BigDecimal(nanos).divide(NANOS_PER_SECOND).stripTrailingZeros().toPlainString() + "s";
    }
}
