package io.varvedb;

/**
 * What an appender expects of a stream's version for its append to go ahead. This is how VarveDB refuses to
 * oversell: read the stream, decide, then append with {@code exact(versionRead)}; if anyone appended in between,
 * the append fails with {@link ConcurrencyConflictException} and writes nothing.
 * <p>
 * Each expectation has a plain {@code long} encoding ({@link #value()}) used by the allocation-free
 * {@link Appender#tryAppend}: a version {@code n >= 0} means "exactly n", and the negative constants below
 * mean the other kinds.
 */
public final class ExpectedVersion
{
    /** Encoding of {@link #ANY}: append whatever the stream's version. */
    public static final long ANY_VALUE = -1;
    /** Encoding of {@link #STREAM_EXISTS}: the stream must hold at least one event. */
    public static final long STREAM_EXISTS_VALUE = -2;
    /** Encoding of {@link #NO_STREAM}: the stream must hold no event; the same as {@code exact(0)}. */
    public static final long NO_STREAM_VALUE = 0;

    /** Append whatever the stream's version. */
    public static final ExpectedVersion ANY = new ExpectedVersion(ANY_VALUE);
    /** The stream must hold at least one event. */
    public static final ExpectedVersion STREAM_EXISTS = new ExpectedVersion(STREAM_EXISTS_VALUE);
    /** The stream must hold no event. Equal to {@code exact(0)}. */
    public static final ExpectedVersion NO_STREAM = new ExpectedVersion(NO_STREAM_VALUE);

    private static final int CACHED_EXACT = 1024;
    private static final ExpectedVersion[] EXACT = new ExpectedVersion[CACHED_EXACT];

    static
    {
        EXACT[0] = NO_STREAM;
        for (int i = 1; i < CACHED_EXACT; i++)
        {
            EXACT[i] = new ExpectedVersion(i);
        }
    }

    private final long value;

    private ExpectedVersion(final long value)
    {
        this.value = value;
    }

    /**
     * The stream must be exactly at version {@code version}: it holds {@code version} events.
     *
     * @param version the version read before deciding; {@code 0} for a stream with no events.
     * @return the expectation; {@code exact(0)} is {@link #NO_STREAM}.
     * @throws IllegalArgumentException if {@code version} is negative.
     */
    public static ExpectedVersion exact(final long version)
    {
        if (version < 0)
        {
            throw new IllegalArgumentException("an exact expected version must be >= 0, got " + version);
        }
        return version < CACHED_EXACT ? EXACT[(int)version] : new ExpectedVersion(version);
    }

    /**
     * Decode a {@link #value()}.
     *
     * @param value an encoding: a version {@code >= 0}, {@link #ANY_VALUE} or {@link #STREAM_EXISTS_VALUE}.
     * @return the expectation it stands for.
     * @throws IllegalArgumentException for any other negative value.
     */
    public static ExpectedVersion of(final long value)
    {
        if (value == ANY_VALUE)
        {
            return ANY;
        }
        if (value == STREAM_EXISTS_VALUE)
        {
            return STREAM_EXISTS;
        }
        return exact(value);
    }

    /**
     * Check that an encoding is one of those defined here.
     *
     * @param value the encoding.
     * @throws IllegalArgumentException if not.
     */
    public static void validate(final long value)
    {
        if (value < STREAM_EXISTS_VALUE)
        {
            throw new IllegalArgumentException("invalid expected version " + value +
                ": use a version >= 0, ExpectedVersion.ANY_VALUE or ExpectedVersion.STREAM_EXISTS_VALUE");
        }
    }

    /**
     * Does a stream at {@code currentVersion} satisfy the expectation {@code expected}?
     *
     * @param expected       an encoding.
     * @param currentVersion the stream's version.
     * @return true when the append may go ahead.
     */
    public static boolean isSatisfiedBy(final long expected, final long currentVersion)
    {
        if (expected >= 0)
        {
            return expected == currentVersion;
        }
        return expected == ANY_VALUE || currentVersion > 0;
    }

    /**
     * @param value an encoding.
     * @return a readable form for messages.
     */
    public static String describe(final long value)
    {
        if (value == ANY_VALUE)
        {
            return "ANY";
        }
        if (value == STREAM_EXISTS_VALUE)
        {
            return "STREAM_EXISTS";
        }
        if (value == NO_STREAM_VALUE)
        {
            return "NO_STREAM (version 0)";
        }
        return "version " + value;
    }

    /**
     * @return the plain encoding for {@link Appender#tryAppend}.
     */
    public long value()
    {
        return value;
    }

    /**
     * @return true for an exact version, including {@link #NO_STREAM}.
     */
    public boolean isExact()
    {
        return value >= 0;
    }

    @Override
    public boolean equals(final Object o)
    {
        return o instanceof ExpectedVersion && ((ExpectedVersion)o).value == value;
    }

    @Override
    public int hashCode()
    {
        return Long.hashCode(value);
    }

    @Override
    public String toString()
    {
        return describe(value);
    }
}
