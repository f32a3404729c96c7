package io.varvedb;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Reads a whole store back and checks the invariants every store must hold, whatever was done to it:
 * each stream's versions are 1..n with no gap or duplicate, in log order; {@code streamVersion} is n;
 * {@code readStream} forward and backward agree with the log.
 */
final class StoreChecker
{
    /** One event as the log holds it. */
    record Event(long streamId, long version, long position, int eventType, byte[] payload)
    {
    }

    private StoreChecker()
    {
    }

    static List<Event> readAll(final VarveDB db)
    {
        final List<Event> events = new ArrayList<>();
        long position = 0;
        while (true)
        {
            final long[] next = { position };
            final int count = db.readAll(position, 1000, (e) ->
            {
                final byte[] payload = new byte[e.payloadLength()];
                e.payload().getBytes(0, payload);
                events.add(new Event(e.streamId(), e.version(), e.position(), e.eventType(), payload));
                next[0] = e.nextPosition();
            });
            if (count == 0)
            {
                return events;
            }
            position = next[0];
        }
    }

    /**
     * @return events per stream, in log order.
     */
    static Map<Long, List<Event>> check(final VarveDB db)
    {
        final List<Event> all = readAll(db);
        final Map<Long, List<Event>> streams = new HashMap<>();
        long lastPosition = -1;
        for (final Event event : all)
        {
            assertTrue(event.position() > lastPosition, "log order is position order");
            lastPosition = event.position();
            final List<Event> stream = streams.computeIfAbsent(event.streamId(), (k) -> new ArrayList<>());
            assertEquals(stream.size() + 1, event.version(),
                "stream " + event.streamId() + ": versions dense from 1 and in log order, at position " +
                event.position());
            stream.add(event);
        }
        assertEquals(streams.size(), db.streamCount(), "stream count");

        for (final Map.Entry<Long, List<Event>> entry : streams.entrySet())
        {
            final long streamId = entry.getKey();
            final List<Event> expected = entry.getValue();
            assertEquals(expected.size(), db.streamVersion(streamId), "streamVersion of " + streamId);

            final List<Long> forward = new ArrayList<>();
            assertEquals(expected.size(), db.readStream(streamId, 1, Integer.MAX_VALUE, (e) -> forward.add(e.position())));
            assertEquals(expected.stream().map(Event::position).toList(), forward, "readStream of " + streamId);

            final List<Long> backward = new ArrayList<>();
            db.readStreamBackward(streamId, VarveDB.LATEST_VERSION, Integer.MAX_VALUE, (e) -> backward.add(e.position()));
            final List<Long> reversed = new ArrayList<>(forward);
            java.util.Collections.reverse(reversed);
            assertEquals(reversed, backward, "readStreamBackward of " + streamId);

            final long middle = (expected.size() + 1) / 2;
            final long[] first = { -1 };
            db.readStream(streamId, middle, 1, (e) -> first[0] = e.version());
            assertEquals(middle, first[0], "readStream from the middle of " + streamId);
        }
        return streams;
    }
}
