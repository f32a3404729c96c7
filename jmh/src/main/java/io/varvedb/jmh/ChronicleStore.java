package io.varvedb.jmh;

import io.varvedb.tools.ChronicleTarget;
import net.openhft.chronicle.bytes.Bytes;
import net.openhft.chronicle.queue.ChronicleQueue;
import net.openhft.chronicle.queue.ExcerptAppender;
import net.openhft.chronicle.queue.ExcerptTailer;
import net.openhft.chronicle.queue.impl.single.SingleChronicleQueue;
import net.openhft.chronicle.wire.DocumentContext;

import java.nio.file.Path;

/**
 * Chronicle Queue 5.27ea1: one excerpt per event, written as raw bytes through {@code writingDocument()} (its
 * documented low-latency path, no Wire marshalling): stream id, version, type, payload length, a timestamp from the
 * clock VarveDB stamps its events with, payload. The write is the tools' {@link ChronicleTarget.EventWriter}, the one
 * {@code varve latency --system chronicle} and {@link FixedRateLatency} time, so every Chronicle figure measures the
 * same record. Its reader touches every field and every payload byte, as the others do.
 * <p>
 * Chronicle has no per-stream state, so there is no expected-version check: it writes
 * {@code expectedVersion + 1} as the version (0 under ANY) and never conflicts. That makes it the floor of
 * "just log it", not an equal: it does less work than an event store.
 */
final class ChronicleStore implements EventStore
{
    private static final int TYPE_OFFSET = ChronicleTarget.EventWriter.TYPE_OFFSET;
    private static final int LENGTH_OFFSET = ChronicleTarget.EventWriter.LENGTH_OFFSET;
    private static final int TIMESTAMP_OFFSET = ChronicleTarget.EventWriter.TIMESTAMP_OFFSET;
    private static final int HEADER = ChronicleTarget.EventWriter.HEADER;
    private final ChronicleQueue queue;

    ChronicleStore(final Path directory)
    {
        queue = ChronicleQueue.singleBuilder(directory).build();
    }

    /**
     * @return excerpts in the queue, over every cycle file (a run may cross a daily roll).
     */
    long entryCount()
    {
        return ((SingleChronicleQueue)queue).entryCount();
    }

    @Override
    public Writer writer(final byte[] payload)
    {
        return new ChronicleWriter(queue.createAppender(), payload);
    }

    @Override
    public Reader reader()
    {
        return new ChronicleReader(queue.createTailer());
    }

    @Override
    public void close()
    {
        queue.close();
    }

    private static final class ChronicleWriter implements Writer
    {
        private final ChronicleTarget.EventWriter events;

        ChronicleWriter(final ExcerptAppender appender, final byte[] bytes)
        {
            this.events = new ChronicleTarget.EventWriter(appender, bytes, Bench.EVENT_TYPE);
        }

        @Override
        public long tryAppend(final long streamId, final long expectedVersion)
        {
            final long version = expectedVersion >= 0 ? expectedVersion + 1 : 0;
            events.append(streamId, version);
            return version;
        }

        @Override
        public long tryAppendBatch(final long streamId, final long expectedVersion, final int count)
        {
            // no multi-excerpt atomicity in Chronicle: one excerpt per event, as a user would do
            long version = expectedVersion >= 0 ? expectedVersion : 0;
            for (int i = 0; i < count; i++)
            {
                version++;
                events.append(streamId, version);
            }
            return version;
        }

        @Override
        public long lastActualVersion()
        {
            return 0;
        }

        @Override
        public void close()
        {
            events.close();
        }
    }

    private static final class ChronicleReader implements Reader
    {
        private final ExcerptTailer tailer;
        private long digest;

        ChronicleReader(final ExcerptTailer tailer)
        {
            this.tailer = tailer;
        }

        @Override
        public int readStream(final long streamId, final long fromVersion, final int maxCount)
        {
            throw new UnsupportedOperationException("Chronicle Queue has no per-stream index");
        }

        @Override
        public long readAll()
        {
            tailer.toStart();
            long count = 0;
            while (true)
            {
                try (DocumentContext context = tailer.readingDocument())
                {
                    if (!context.isPresent())
                    {
                        return count;
                    }
                    final Bytes<?> bytes = context.wire().bytes();
                    final long start = bytes.readPosition();
                    final long streamId = bytes.readLong(start);
                    final long version = bytes.readLong(start + Long.BYTES);
                    final int type = bytes.readInt(start + TYPE_OFFSET);
                    final int length = bytes.readInt(start + LENGTH_OFFSET);
                    final long timestamp = bytes.readLong(start + TIMESTAMP_OFFSET);
                    digest += streamId ^ version ^ type ^ length ^ timestamp ^ fold(bytes, start + HEADER, length);
                    count++;
                }
            }
        }

        /** {@link Bench#fold(org.agrona.DirectBuffer, int, int)} over Chronicle's bytes, by absolute index. */
        private static long fold(final Bytes<?> bytes, final long offset, final int length)
        {
            long sum = 0;
            int i = 0;
            for (; i + Long.BYTES <= length; i += Long.BYTES)
            {
                sum += bytes.readLong(offset + i);
            }
            for (; i < length; i++)
            {
                sum += bytes.readByte(offset + i);
            }
            return sum;
        }

        @Override
        public int readLatest(final long streamId)
        {
            throw new UnsupportedOperationException("Chronicle Queue has no per-stream index");
        }

        @Override
        public long digest()
        {
            return digest;
        }

        @Override
        public void close()
        {
            tailer.close();
        }
    }
}
