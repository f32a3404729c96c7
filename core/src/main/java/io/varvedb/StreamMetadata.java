package io.varvedb;

import java.time.Duration;
import java.util.Objects;

/**
 * The limits of one stream, the way EventStoreDB/KurrentDB's stream metadata sets them ({@code $maxCount},
 * {@code $maxAge}, {@code $tb}): events beyond a limit are invisible at once to {@link VarveDB#readStream},
 * {@link VarveDB#readStreamBackward} and stream subscriptions, and {@link VarveDB#scavenge()} later gives their
 * space back. A limit of 0 (or {@code null} for the age) is no limit. Immutable.
 * <ul>
 *   <li>{@link #maxCount()}: only the latest {@code maxCount} events are visible;</li>
 *   <li>{@link #maxAge()}: only events appended within that long ago are visible (by their timestamp);</li>
 *   <li>{@link #truncateBefore()}: events before that version are invisible;</li>
 *   <li>{@link #deleted()}: set by {@link VarveDB#deleteStream} together with {@code truncateBefore = version + 1};
 *   the stream reads as empty until it is appended to again.</li>
 * </ul>
 * What is invisible is always a prefix of the stream: the events a limit hides are its oldest. The global log
 * ({@link VarveDB#readAll}, subscriptions to all, processors) shows every event until it is scavenged.
 * <p>
 * Metadata is kept as events of the store itself, in the system stream {@link #metadataStreamName} of the stream,
 * so it is recovered, subscribed to and replicated like any event; setting it costs one append.
 */
public final class StreamMetadata
{
    /** No limits. */
    public static final StreamMetadata NONE = new StreamMetadata(0, 0, 0, false);

    /** Event type of the events of a metadata stream. */
    public static final int EVENT_TYPE = 0x7ffffff0;

    private final long maxCount;
    private final long maxAgeNanos;
    private final long truncateBefore;
    private final boolean deleted;

    private StreamMetadata(final long maxCount, final long maxAgeNanos, final long truncateBefore, final boolean deleted)
    {
        this.maxCount = maxCount;
        this.maxAgeNanos = maxAgeNanos;
        this.truncateBefore = truncateBefore;
        this.deleted = deleted;
    }

    /**
     * @param maxCount       most events visible, 0 for no limit.
     * @param maxAgeNanos    oldest visible event's age in nanoseconds, 0 for no limit.
     * @param truncateBefore first visible version, 0 (or 1) for no limit.
     * @param deleted        deleted softly.
     * @return the metadata.
     * @throws IllegalArgumentException if a value is negative.
     */
    public static StreamMetadata of(
        final long maxCount, final long maxAgeNanos, final long truncateBefore, final boolean deleted)
    {
        if (maxCount < 0 || maxAgeNanos < 0 || truncateBefore < 0)
        {
            throw new IllegalArgumentException("stream metadata limits must be >= 0 (0 = none), got maxCount " +
                maxCount + ", maxAge " + maxAgeNanos + " ns, truncateBefore " + truncateBefore);
        }
        return new StreamMetadata(maxCount, maxAgeNanos, truncateBefore, deleted);
    }

    /**
     * Read the metadata a metadata event's payload holds ({@link RecordedEvent#isStreamMetadata()}): what a follower
     * that copies the log needs to set it again.
     *
     * @param payload holding the event's payload.
     * @param offset  of the payload.
     * @param length  of the payload.
     * @return the metadata.
     * @throws IllegalArgumentException if the bytes are no stream metadata.
     */
    public static StreamMetadata decode(final org.agrona.DirectBuffer payload, final int offset, final int length)
    {
        if (!io.varvedb.internal.store.StreamMetadataDescriptor.isValid(payload, offset, length))
        {
            throw new IllegalArgumentException("not a stream metadata payload (" + length + " bytes)");
        }
        return of(
            payload.getLong(offset + io.varvedb.internal.store.StreamMetadataDescriptor.MAX_COUNT_OFFSET,
                java.nio.ByteOrder.LITTLE_ENDIAN),
            payload.getLong(offset + io.varvedb.internal.store.StreamMetadataDescriptor.MAX_AGE_OFFSET,
                java.nio.ByteOrder.LITTLE_ENDIAN),
            payload.getLong(offset + io.varvedb.internal.store.StreamMetadataDescriptor.TRUNCATE_BEFORE_OFFSET,
                java.nio.ByteOrder.LITTLE_ENDIAN),
            (payload.getInt(offset + io.varvedb.internal.store.StreamMetadataDescriptor.FLAGS_OFFSET,
                java.nio.ByteOrder.LITTLE_ENDIAN) & io.varvedb.internal.store.StreamMetadataDescriptor.FLAG_DELETED)
                != 0);
    }

    /**
     * @param maxCount most events visible, 0 for no limit.
     * @return a copy with that limit.
     */
    public StreamMetadata withMaxCount(final long maxCount)
    {
        return of(maxCount, maxAgeNanos, truncateBefore, deleted);
    }

    /**
     * @param maxAge oldest visible event's age, null or zero for no limit.
     * @return a copy with that limit.
     */
    public StreamMetadata withMaxAge(final Duration maxAge)
    {
        if (maxAge != null && maxAge.isNegative())
        {
            throw new IllegalArgumentException("maxAge must not be negative, got " + maxAge);
        }
        final long nanos = maxAge == null ? 0 : saturatedNanos(maxAge);
        return of(maxCount, nanos, truncateBefore, deleted);
    }

    /**
     * @param truncateBefore first visible version, 0 for no limit.
     * @return a copy with that limit.
     */
    public StreamMetadata withTruncateBefore(final long truncateBefore)
    {
        return of(maxCount, maxAgeNanos, truncateBefore, deleted);
    }

    /**
     * @return most events visible, 0 for no limit.
     */
    public long maxCount()
    {
        return maxCount;
    }

    /**
     * @return oldest visible event's age, null for no limit.
     */
    public Duration maxAge()
    {
        return maxAgeNanos == 0 ? null : Duration.ofNanos(maxAgeNanos);
    }

    /**
     * @return oldest visible event's age in nanoseconds, 0 for no limit.
     */
    public long maxAgeNanos()
    {
        return maxAgeNanos;
    }

    /**
     * @return first visible version, 0 for no limit.
     */
    public long truncateBefore()
    {
        return truncateBefore;
    }

    /**
     * @return true if set by {@link VarveDB#deleteStream}.
     */
    public boolean deleted()
    {
        return deleted;
    }

    /**
     * @return true if no limit is set.
     */
    public boolean isNone()
    {
        return maxCount == 0 && maxAgeNanos == 0 && truncateBefore <= 1 && !deleted;
    }

    /**
     * The first version of a stream these limits show, given what it holds.
     *
     * @param version       the stream's last version.
     * @return the first visible version; above {@code version} when none is visible. The age limit is not applied
     * here (it needs the events' timestamps).
     */
    public long firstVisible(final long version)
    {
        long first = Math.max(1, truncateBefore);
        if (maxCount > 0)
        {
            first = Math.max(first, version - maxCount + 1);
        }
        return first;
    }

    /**
     * The name of the system stream that holds the metadata of a stream: {@code "$$" + name} for a named stream,
     * {@code "$$$" + id} for a numeric one. Names starting with {@code '$'} are reserved for such streams.
     *
     * @param streamId   the stream.
     * @param streamName its name, or null for a numeric stream.
     * @return the metadata stream's name.
     */
    public static String metadataStreamName(final long streamId, final String streamName)
    {
        return streamName != null ? "$$" + streamName : "$$$" + streamId;
    }

    private static long saturatedNanos(final Duration duration)
    {
        try
        {
            return duration.toNanos();
        }
        catch (final ArithmeticException ex)
        {
            return Long.MAX_VALUE;
        }
    }

    @Override
    public boolean equals(final Object other)
    {
        return other instanceof StreamMetadata that && maxCount == that.maxCount &&
            maxAgeNanos == that.maxAgeNanos && truncateBefore == that.truncateBefore && deleted == that.deleted;
    }

    @Override
    public int hashCode()
    {
        return Objects.hash(maxCount, maxAgeNanos, truncateBefore, deleted);
    }

    @Override
    public String toString()
    {
        return "StreamMetadata{maxCount=" + maxCount + ", maxAge=" + maxAge() + ", truncateBefore=" +
            truncateBefore + (deleted ? ", deleted" : "") + "}";
    }
}
