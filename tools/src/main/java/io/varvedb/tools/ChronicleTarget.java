package io.varvedb.tools;

import net.openhft.chronicle.bytes.Bytes;
import net.openhft.chronicle.bytes.BytesStore;
import net.openhft.chronicle.queue.ChronicleQueue;
import net.openhft.chronicle.queue.ExcerptAppender;
import net.openhft.chronicle.queue.impl.single.SingleChronicleQueue;
import net.openhft.chronicle.wire.DocumentContext;
import org.agrona.concurrent.EpochNanoClock;
import org.agrona.concurrent.OffsetEpochNanoClock;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Chronicle Queue (5.27ea1) as a {@link LatencyTarget}: the peer {@code varve latency --system chronicle} puts beside
 * VarveDB, paced and timed by the same {@link FixedRateRun}.
 * <p>
 * One excerpt per event, written as raw bytes through {@code writingDocument()} (Chronicle's documented low-latency
 * path, no Wire marshalling): what a VarveDB record holds, so both do the same work per event: stream id, version,
 * type, payload length, a timestamp from the clock VarveDB stamps its events with ({@link OffsetEpochNanoClock}),
 * then the payload. Chronicle has no per-stream state, so there is no expected-version check: each sender writes
 * its own stream id and counts its versions itself. That makes it the floor of "just log it", not an equal.
 * <p>
 * Each sender gets its own appender on the one queue; with several senders Chronicle serialises their writes with
 * its write lock, where VarveDB's appenders run side by side.
 */
public final class ChronicleTarget implements LatencyTarget
{
    static
    {
        // Chronicle Core's documented switch: without it, it tries to reach its analytics host at start-up and logs
        // an UnknownHostException where there is no network. Set before any Chronicle class initialises.
        if (System.getProperty("chronicle.analytics.disable") == null)
        {
            System.setProperty("chronicle.analytics.disable", "true");
        }
    }

    /** Module and package pairs Chronicle Bytes reflects into on Java 17 ({@code --add-opens M/P=ALL-UNNAMED}). */
    private static final String[][] OPENS = {
        {"java.base", "java.lang.reflect"}, {"java.base", "java.lang"}, {"java.base", "java.nio"},
        {"java.base", "sun.nio.ch"}, {"java.base", "java.io"}, {"java.base", "java.util"}};
    /** Module and package pairs Chronicle Bytes uses without reflection ({@code --add-exports M/P=ALL-UNNAMED}). */
    private static final String[][] EXPORTS = {
        {"java.base", "jdk.internal.ref"}, {"java.base", "sun.nio.ch"}, {"jdk.unsupported", "sun.misc"}};

    private final ChronicleQueue queue;
    private final byte[] payload;
    private final int eventType;

    /**
     * Open (or create) a queue.
     *
     * @param directory the queue's directory: new, empty, or an existing queue (appended to).
     * @param payload   the bytes every event carries.
     * @param eventType the type written in every event.
     */
    public ChronicleTarget(final Path directory, final byte[] payload, final int eventType)
    {
        this.queue = ChronicleQueue.singleBuilder(directory).build();
        this.payload = payload.clone();
        this.eventType = eventType;
    }

    /**
     * The JVM flags Chronicle needs that this JVM was started without. Without them Chronicle fails in a static
     * initialiser, an {@link Error} with a page of stack trace; asked first, a command can say what is missing.
     *
     * @return the missing flags, e.g. {@code --add-opens java.base/java.lang=ALL-UNNAMED}; empty when all are given.
     */
    public static List<String> missingJvmFlags()
    {
        final Module self = ChronicleTarget.class.getModule();
        final List<String> missing = new ArrayList<>();
        for (final String[] open : OPENS)
        {
            final Optional<Module> module = ModuleLayer.boot().findModule(open[0]);
            if (module.isPresent() && !module.get().isOpen(open[1], self))
            {
                missing.add("--add-opens " + open[0] + "/" + open[1] + "=ALL-UNNAMED");
            }
        }
        for (final String[] export : EXPORTS)
        {
            final Optional<Module> module = ModuleLayer.boot().findModule(export[0]);
            if (module.isPresent() && !module.get().isExported(export[1], self))
            {
                missing.add("--add-exports " + export[0] + "/" + export[1] + "=ALL-UNNAMED");
            }
        }
        return missing;
    }

    /**
     * @return excerpts in the queue, over every cycle file (a run may cross a daily roll).
     */
    public long entryCount()
    {
        return ((SingleChronicleQueue)queue).entryCount();
    }

    @Override
    public Writer writer(final int sender)
    {
        return new ChronicleWriter(new EventWriter(queue.createAppender(), payload, eventType), sender + 1L);
    }

    @Override
    public void close()
    {
        queue.close();
    }

    /**
     * One sender: its own stream id, its own version count.
     */
    private static final class ChronicleWriter implements Writer
    {
        private final EventWriter events;
        private final long streamId;
        private long version;

        ChronicleWriter(final EventWriter events, final long streamId)
        {
            this.events = events;
            this.streamId = streamId;
        }

        @Override
        public void append(final long intendedNanos)
        {
            events.append(streamId, ++version);
        }

        @Override
        public void close()
        {
            events.close();
        }
    }

    /**
     * Writes one event as one Chronicle excerpt, in the layout the offsets below describe. The one definition of
     * a Chronicle event, shared with the benchmarks' Chronicle store so that both measure the same write. For one
     * thread: it holds that thread's appender.
     */
    public static final class EventWriter implements AutoCloseable
    {
        /** Where the event's type is, from the excerpt's start; the stream id and version are the two longs before. */
        public static final int TYPE_OFFSET = 2 * Long.BYTES;
        /** Where the payload's length is. */
        public static final int LENGTH_OFFSET = TYPE_OFFSET + Integer.BYTES;
        /** Where the timestamp (epoch nanoseconds) is. */
        public static final int TIMESTAMP_OFFSET = LENGTH_OFFSET + Integer.BYTES;
        /** Where the payload starts. */
        public static final int HEADER = TIMESTAMP_OFFSET + Long.BYTES;

        private final ExcerptAppender appender;
        private final BytesStore<?, Void> payload;
        private final long length;
        private final int eventType;
        private final EpochNanoClock clock = new OffsetEpochNanoClock();

        /**
         * @param appender  an appender of the calling thread; closed with this writer.
         * @param payload   the bytes every event carries, copied off-heap once.
         * @param eventType the type written in every event.
         */
        public EventWriter(final ExcerptAppender appender, final byte[] payload, final int eventType)
        {
            this.appender = appender;
            this.payload = BytesStore.nativeStoreFrom(payload);
            this.length = payload.length;
            this.eventType = eventType;
        }

        /**
         * Append one event.
         *
         * @param streamId the stream id to write.
         * @param version  the version to write.
         */
        public void append(final long streamId, final long version)
        {
            try (DocumentContext context = appender.writingDocument())
            {
                final Bytes<?> bytes = context.wire().bytes();
                bytes.writeLong(streamId).writeLong(version).writeInt(eventType).writeInt((int)length)
                    .writeLong(clock.nanoTime()).write(payload, 0L, length);
            }
        }

        @Override
        public void close()
        {
            try
            {
                appender.close();
            }
            finally
            {
                // off-heap and reference counted: released here, not left to a finaliser
                payload.releaseLast();
            }
        }
    }
}
