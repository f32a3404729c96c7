package io.varvedb.jmh;

import net.openhft.chronicle.bytes.Bytes;
import net.openhft.chronicle.bytes.BytesStore;
import net.openhft.chronicle.queue.ChronicleQueue;
import net.openhft.chronicle.queue.ExcerptAppender;
import net.openhft.chronicle.queue.ExcerptTailer;
import net.openhft.chronicle.queue.impl.single.SingleChronicleQueue;
import net.openhft.chronicle.wire.DocumentContext;

import org.agrona.concurrent.EpochNanoClock;
import org.agrona.concurrent.OffsetEpochNanoClock;

import java.nio.file.Path;

/**
 * Chronicle Queue 5.27ea1: one excerpt per event, written as raw bytes through {@code writingDocument()} (its
 * documented low-latency path, no Wire marshalling): stream id, version, type, payload length, a timestamp from the
 * clock VarveDB stamps its events with ({@link OffsetEpochNanoClock}), payload. Its reader touches every field and
 * every payload byte, as the others do.
 * <p>
 * Chronicle has no per-stream state, so there is no expected-version check: it writes
 * {@code expectedVersion + 1} as the version (0 under ANY) and never conflicts. That makes it the floor of
 * "just log it", not an equal: it does less work than an event store.
 */
final class ChronicleStore implements EventStore
{
    private static final int TYPE_OFFSET = 2 * Long.BYTES;
    private static final int LENGTH_OFFSET = TYPE_OFFSET + Integer.BYTES;
    private static final int TIMESTAMP_OFFSET = LENGTH_OFFSET + Integer.BYTES;
    private static final int HEADER = TIMESTAMP_OFFSET + Long.BYTES;
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
        private final ExcerptAppender appender;
        private final BytesStore<?, Void> payload;
        private final int length;
        private final EpochNanoClock clock = new OffsetEpochNanoClock();

        ChronicleWriter(final ExcerptAppender appender, final byte[] bytes)
        {
            this.appender = appender;
            this.length = bytes.length;
            this.payload = BytesStore.nativeStoreFrom(bytes);
        }

        @Override
        public long tryAppend(final long streamId, final long expectedVersion)
        {
            final long version = expectedVersion >= 0 ? expectedVersion + 1 : 0;
            try (DocumentContext context = appender.writingDocument())
            {
                write(context.wire().bytes(), streamId, version);
            }
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
                try (DocumentContext context = appender.writingDocument())
                {
                    write(context.wire().bytes(), streamId, version);
                }
            }
            return version;
        }

        private void write(final Bytes<?> bytes, final long streamId, final long version)
        {
            bytes.writeLong(streamId).writeLong(version).writeInt(Bench.EVENT_TYPE).writeInt(length)
                .writeLong(clock.nanoTime()).write(payload, 0L, (long)length);
        }

        @Override
        public long lastActualVersion()
        {
            return 0;
        }

        @Override
        public void close()
        {
            appender.close();
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
