package io.varvedb.tools;

import io.varvedb.RecordedEvent;
import io.varvedb.StreamMetadata;
import io.varvedb.internal.store.StreamMetadataDescriptor;
import org.agrona.DirectBuffer;

import java.util.ArrayList;
import java.util.List;

/**
 * Stream lifecycle events as text, for {@code info}, {@code dump} and {@code tail}: a metadata event's limits, a
 * tombstone.
 */
final class Lifecycle
{
    private Lifecycle()
    {
    }

    /**
     * @param event a metadata event ({@link RecordedEvent#isStreamMetadata()}), inside its callback.
     * @return the stream its metadata is for, 0 if the payload is not valid metadata.
     */
    static long target(final RecordedEvent event)
    {
        final DirectBuffer payload = event.payload();
        return StreamMetadataDescriptor.isValid(payload, 0, event.payloadLength()) ?
            payload.getLong(StreamMetadataDescriptor.TARGET_OFFSET) : 0;
    }

    /**
     * @param event a metadata event, inside its callback.
     * @return the limits it sets, or null if the payload is not valid metadata.
     */
    static StreamMetadata metadata(final RecordedEvent event)
    {
        final DirectBuffer payload = event.payload();
        if (!StreamMetadataDescriptor.isValid(payload, 0, event.payloadLength()))
        {
            return null;
        }
        return StreamMetadata.of(
            payload.getLong(StreamMetadataDescriptor.MAX_COUNT_OFFSET),
            payload.getLong(StreamMetadataDescriptor.MAX_AGE_OFFSET),
            payload.getLong(StreamMetadataDescriptor.TRUNCATE_BEFORE_OFFSET),
            (payload.getInt(StreamMetadataDescriptor.FLAGS_OFFSET) & StreamMetadataDescriptor.FLAG_DELETED) != 0);
    }

    /**
     * @param metadata a stream's limits.
     * @return them as text: {@code maxCount 10, maxAge PT1H, truncateBefore 251, deleted}; {@code no limits}.
     */
    static String describe(final StreamMetadata metadata)
    {
        final List<String> parts = new ArrayList<>();
        if (metadata.maxCount() > 0)
        {
            parts.add("maxCount " + Format.count(metadata.maxCount()));
        }
        if (metadata.maxAgeNanos() > 0)
        {
            parts.add("maxAge " + metadata.maxAge());
        }
        if (metadata.truncateBefore() > 1)
        {
            parts.add("truncateBefore " + Format.count(metadata.truncateBefore()));
        }
        if (metadata.deleted())
        {
            parts.add("deleted");
        }
        return parts.isEmpty() ? "no limits" : String.join(", ", parts);
    }
}
