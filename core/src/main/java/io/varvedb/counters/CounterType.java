package io.varvedb.counters;

/**
 * What a counter of {@code varve.counters} counts. Each is a monotonic count (reset when its process opens the
 * store) unless {@link #isGauge()}. Counters of one type may appear several times in a process (one per appender,
 * subscription, processor or error kind); {@link ProcessCounters#total(CounterType)} adds them up.
 */
public enum CounterType
{
    /** Events appended (batch events one each); tombstones and metadata events too. */
    APPENDS(1, "appends", "events", false, "events appended"),
    /** Batches appended ({@code appendBatch}, {@code tryAppendBatch}). */
    APPEND_BATCHES(2, "append_batches", "batches", false, "batches appended"),
    /** Bytes of log appended: records with their headers and alignment. */
    APPENDED_BYTES(3, "appended_bytes", "bytes", false, "bytes of log appended"),
    /** Appends refused because the stream was not at the expected version. */
    CONFLICTS(4, "conflicts", "appends", false, "appends refused for a stale expected version"),
    /** Appends answered as retries of an event id already written (nothing written). */
    DUPLICATES(5, "duplicates", "appends", false, "appends answered as duplicates of an event id"),
    /** Log segments this process started appending into. */
    SEGMENT_ROLLS(6, "segment_rolls", "segments", false, "log segments rolled to"),
    /** Segments created and ready beyond the one appends go to (the pre-allocator's lead). */
    SEGMENTS_AHEAD(7, "segments_ahead", "segments", true, "segments ready ahead of the tail"),
    /** Times an appender had to wait for, or make itself, space the pre-allocator had not made yet. */
    SEGMENT_WAITS(8, "segment_waits", "waits", false, "appends that waited for log space"),
    /** Forces of the log to disk. */
    FORCES(9, "forces", "forces", false, "forces of the log to disk"),
    /** Time spent forcing the log, in nanoseconds. */
    FORCE_NANOS(10, "force_time", "nanoseconds", false, "time spent forcing the log"),
    /** Bytes of log appended but not yet forced to disk (tail minus durable position). */
    DURABLE_LAG(11, "durable_lag", "bytes", true, "bytes of log not yet durable"),
    /** Streams in the stream index. */
    INDEX_STREAMS(12, "index_streams", "streams", true, "streams in the index"),
    /** Streams the index can hold. */
    INDEX_CAPACITY(13, "index_capacity", "streams", true, "streams the index can hold"),
    /** Events the last open recovered (re-indexed) from the log after a crash. */
    RECOVERED_EVENTS(14, "recovered_events", "events", true, "events recovered at open"),
    /** Unfinished records the last open's recovery dropped or turned into padding. */
    RECOVERY_DISCARDED(15, "recovery_discarded", "records", true, "records discarded at open"),
    /** Time the open took, recovery included, in milliseconds. */
    OPEN_MILLIS(16, "open_time", "milliseconds", true, "time the open took"),
    /** A subscription's position: the next log position (to all) or version (to a stream) it delivers. */
    SUBSCRIPTION_POSITION(17, "subscription_position", "position", true, "a subscription's position"),
    /** How far a subscription is behind: log bytes (to all) or events (to a stream), as of its last poll. */
    SUBSCRIPTION_LAG(18, "subscription_lag", "position", true, "how far a subscription is behind"),
    /** A processor's position in the log. */
    PROCESSOR_POSITION(19, "processor_position", "position", true, "a processor's position"),
    /** How far a processor is behind the log's tail, in bytes, as of its last poll. */
    PROCESSOR_LAG(20, "processor_lag", "bytes", true, "how far a processor is behind"),
    /** Checkpoints a processor wrote. */
    PROCESSOR_CHECKPOINTS(21, "processor_checkpoints", "checkpoints", false, "checkpoints written"),
    /** Errors, one counter per kind (the label names it). */
    ERRORS(22, "errors", "errors", false, "errors by kind"),
    /** Names in the name table (named streams, and system streams). */
    NAMES(23, "names", "names", true, "names in the name table"),
    /** Events appended with an id that the event id table holds. */
    EVENT_IDS(24, "event_ids", "ids", true, "event ids held");

    private static final CounterType[] BY_ID = new CounterType[64];

    static
    {
        for (final CounterType type : values())
        {
            BY_ID[type.id] = type;
        }
    }

    private final int id;
    private final String metricName;
    private final String unit;
    private final boolean gauge;
    private final String description;

    CounterType(final int id, final String metricName, final String unit, final boolean gauge, final String description)
    {
        this.id = id;
        this.metricName = metricName;
        this.unit = unit;
        this.gauge = gauge;
        this.description = description;
    }

    /**
     * @return the type id stored with each counter in the file.
     */
    public int id()
    {
        return id;
    }

    /**
     * @return a short snake_case name, as metrics systems want (without a prefix).
     */
    public String metricName()
    {
        return metricName;
    }

    /**
     * @return what it counts in.
     */
    public String unit()
    {
        return unit;
    }

    /**
     * @return true for a value that goes up and down (a level), false for a count that only grows while its
     * process has the store open.
     */
    public boolean isGauge()
    {
        return gauge;
    }

    /**
     * @return one line saying what it is.
     */
    public String description()
    {
        return description;
    }

    /**
     * @param id a type id from the file.
     * @return its type, or null for one this build does not know (a newer build's).
     */
    public static CounterType of(final int id)
    {
        return id > 0 && id < BY_ID.length ? BY_ID[id] : null;
    }
}
