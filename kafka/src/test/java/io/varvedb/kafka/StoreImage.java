package io.varvedb.kafka;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

import io.varvedb.RecordedEvent;
import io.varvedb.VarveDB;

/**
 * Everything a store's global log says, in order, with each stream named the way both sides of a replication agree
 * on (a named stream by its name, a numeric one by its id): what "primary and replica compare equal" compares.
 */
final class StoreImage
{
    /** One event, as a follower must reproduce it. */
    record Event(String stream, long version, int type, long timestamp, String eventId, boolean tombstone,
        boolean inBatch, byte[] payload)
    {
        @Override
        public boolean equals(final Object o)
        {
            return o instanceof Event e && stream.equals(e.stream) && version == e.version && type == e.type &&
                timestamp == e.timestamp && Objects.equals(eventId, e.eventId) && tombstone == e.tombstone &&
                inBatch == e.inBatch && Arrays.equals(payload, e.payload);
        }

        @Override
        public int hashCode()
        {
            return Objects.hash(stream, version);
        }

        @Override
        public String toString()
        {
            return stream + "@" + version + " type " + type + " ts " + timestamp + " id " + eventId +
                (tombstone ? " tombstone" : "") + (inBatch ? " batch" : "") + " " +
                new String(payload, StandardCharsets.ISO_8859_1);
        }
    }

    final List<Event> log = new ArrayList<>();
    final List<Long> positions = new ArrayList<>();
    /** Indexes in {@link #log} of the events that end a batch. */
    final java.util.BitSet lastInBatch = new java.util.BitSet();

    static StoreImage of(final VarveDB db)
    {
        final StoreImage image = new StoreImage();
        long from = VarveDB.START_POSITION;
        final long[] next = {from};
        while (true)
        {
            final int read = db.readAll(next[0], 4096, (event) ->
            {
                if (event.isLastInBatch())
                {
                    image.lastInBatch.set(image.log.size());
                }
                image.log.add(toEvent(db, event));
                image.positions.add(event.position());
                next[0] = event.nextPosition();
            });
            if (read == 0)
            {
                return image;
            }
        }
    }

    static Event toEvent(final VarveDB db, final RecordedEvent event)
    {
        byte[] payload = new byte[event.payloadLength()];
        event.payload().getBytes(0, payload);
        if (event.isStreamMetadata())
        {
            // the metadata's target is named by its local id, which for a named stream is the store's own: compare
            // what it says
            payload = io.varvedb.StreamMetadata.decode(event.payload(), 0, event.payloadLength()).toString()
                .getBytes(StandardCharsets.UTF_8);
        }
        final String stream = event.streamId() < 0 ? db.streamName(event.streamId()) : Long.toString(event.streamId());
        return new Event(stream, event.version(), event.eventType(), event.timestamp(),
            event.hasEventId() ? event.eventId().toString() : null, event.isTombstone(), event.isInBatch(), payload);
    }

    /** @return each stream's events in version order. */
    Map<String, List<Event>> streams()
    {
        final Map<String, List<Event>> streams = new LinkedHashMap<>();
        for (final Event event : log)
        {
            streams.computeIfAbsent(event.stream(), (k) -> new ArrayList<>()).add(event);
        }
        return streams;
    }
}
