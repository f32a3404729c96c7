package io.varvedb.jmh;

import io.varvedb.Appender;
import io.varvedb.Durability;
import io.varvedb.EventBatch;
import io.varvedb.EventHandler;
import io.varvedb.RecordedEvent;
import io.varvedb.VarveConfig;
import io.varvedb.VarveDB;
import io.varvedb.counters.AppendLatency;
import io.varvedb.counters.CounterType;
import io.varvedb.counters.ProcessCounters;
import io.varvedb.counters.VarveCounters;
import org.agrona.concurrent.UnsafeBuffer;

import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * VarveDB through its allocation-free API: {@link Appender#tryAppend} from a direct buffer,
 * {@link Appender#tryAppendBatch} with a reused {@link EventBatch}, and flyweight reads.
 */
final class VarveStore implements EventStore
{
    private final VarveDB db;
    private final boolean awaitDurable;
    private final Counters counters;
    private final Path directory;

    /** Optional override of the checkpoint interval (ms), for experiments; unset means the engine's default. */
    static final String CHECKPOINT_PROPERTY = "varve.bench.checkpointMillis";

    /**
     * @param directory    an empty directory.
     * @param durability   the store's durability mode.
     * @param awaitDurable after every successful append, wait until it is forced ({@link Appender#awaitDurable}).
     * @param multiProcess open with {@link VarveConfig.Builder#multiProcess}, so other processes may write too.
     */
    VarveStore(final Path directory, final Durability durability, final boolean awaitDurable,
        final boolean multiProcess)
    {
        this(directory, durability, awaitDurable, multiProcess, true);
    }

    /**
     * @param directory    an empty directory.
     * @param durability   the store's durability mode.
     * @param awaitDurable after every successful append, wait until it is forced ({@link Appender#awaitDurable}).
     * @param multiProcess open with {@link VarveConfig.Builder#multiProcess}, so other processes may write too.
     * @param verifyOnRead check each record's CRC32C as it is read (the default); off for the
     *                     {@link Systems#VARVE_NOVERIFY} variant, which reads as the peers do.
     */
    VarveStore(final Path directory, final Durability durability, final boolean awaitDurable,
        final boolean multiProcess, final boolean verifyOnRead)
    {
        this(directory, durability, awaitDurable, multiProcess, verifyOnRead, Counters.ON);
    }

    /**
     * What a store counts: the engine's default ({@link #ON}), nothing, or its counters and every append's latency.
     */
    enum Counters
    {
        /** Live counters in {@code varve.counters}: {@link VarveConfig.Builder#counters} left at its default, on. */
        ON,
        /** {@code counters(false)}: no counters file, no counting on the append path. */
        OFF,
        /** Counters, and {@link VarveConfig.Builder#recordAppendLatency}: every append timed into a histogram. */
        LATENCY
    }

    /**
     * @param directory    an empty directory.
     * @param durability   the store's durability mode.
     * @param awaitDurable after every successful append, wait until it is forced ({@link Appender#awaitDurable}).
     * @param multiProcess open with {@link VarveConfig.Builder#multiProcess}, so other processes may write too.
     * @param verifyOnRead check each record's CRC32C as it is read.
     * @param counters     what the store counts; {@link Counters#ON} leaves the builder at its default.
     */
    VarveStore(final Path directory, final Durability durability, final boolean awaitDurable,
        final boolean multiProcess, final boolean verifyOnRead, final Counters counters)
    {
        this(directory, durability, awaitDurable, multiProcess, verifyOnRead, counters, null);
    }

    /**
     * @param directory    an empty directory.
     * @param durability   the store's durability mode.
     * @param awaitDurable after every successful append, wait until it is forced ({@link Appender#awaitDurable}).
     * @param multiProcess open with {@link VarveConfig.Builder#multiProcess}, so other processes may write too.
     * @param verifyOnRead check each record's CRC32C as it is read.
     * @param counters     what the store counts; {@link Counters#ON} leaves the builder at its default.
     * @param masterKey    32 bytes: encrypt the store at rest ({@link VarveConfig.Builder#encryption(byte[])});
     *                     null leaves the builder at its default, no encryption.
     */
    VarveStore(final Path directory, final Durability durability, final boolean awaitDurable,
        final boolean multiProcess, final boolean verifyOnRead, final Counters counters, final byte[] masterKey)
    {
        this.awaitDurable = awaitDurable;
        this.counters = counters;
        this.directory = directory;
        final VarveConfig.Builder builder = VarveConfig.builder(directory)
            .segmentSize(Bench.SEGMENT_SIZE)
            .indexCapacity(Bench.INDEX_CAPACITY)
            .durability(durability)
            .multiProcess(multiProcess)
            .verifyChecksumsOnRead(verifyOnRead);
        // ON sets nothing: the builder's default, so "varve" opens exactly the store it opened before counters
        if (counters == Counters.OFF)
        {
            builder.counters(false);
        }
        else if (counters == Counters.LATENCY)
        {
            builder.recordAppendLatency(true);
        }
        if (masterKey != null)
        {
            builder.encryption(masterKey);
        }
        final String checkpointMillis = System.getProperty(CHECKPOINT_PROPERTY);
        if (checkpointMillis != null)
        {
            builder.checkpointIntervalMillis(Long.parseLong(checkpointMillis));
        }
        db = VarveDB.open(builder.build());
    }

    VarveDB db()
    {
        return db;
    }

    /**
     * @param streamId a stream.
     * @return the version of its latest event, 0 if it has none: after appends under ANY, how many went in.
     */
    long latestVersion(final long streamId)
    {
        final long[] version = new long[1];
        db.readStreamBackward(streamId, VarveDB.LATEST_VERSION, 1, (event) -> version[0] = event.version());
        return version[0];
    }

    @Override
    public Writer writer(final byte[] payload)
    {
        // a separate class, not a flag tested per append, so that plain "varve" runs exactly the code it ran before
        return awaitDurable ? new AwaitingVarveWriter(db.appender(), payload) : new VarveWriter(db.appender(), payload);
    }

    @Override
    public Reader reader()
    {
        return new VarveReader(db);
    }

    @Override
    public void close()
    {
        db.close();
        checkCounters();
    }

    /**
     * Fail the trial if the store did not count as its system's name says (a store whose counters file cannot be
     * made runs without counters, silently): after the close, outside the score. With latencies recorded, print
     * what the engine's own histogram saw over the whole trial (the close publishes the last of it), beside JMH's
     * score.
     */
    private void checkCounters()
    {
        final Path file = directory.resolve(io.varvedb.internal.counters.CountersFileDescriptor.FILE_NAME);
        if (counters == Counters.OFF || !Files.exists(file))
        {
            if (counters == Counters.OFF && Files.exists(file))
            {
                throw new IllegalStateException("counters(false), yet the store made " + file);
            }
            if (counters != Counters.OFF)
            {
                throw new IllegalStateException("counters on, yet the store made no " + file);
            }
            return;
        }
        if (counters == Counters.LATENCY)
        {
            try (VarveCounters reader = VarveCounters.open(directory))
            {
                final ProcessCounters last = reader.snapshot().processes().get(0);
                final AppendLatency latency = last.appendLatency();
                if (latency == null)
                {
                    throw new IllegalStateException("recordAppendLatency(true), yet no append latency was published");
                }
                System.out.printf("varve counters: appends=%d, latency count=%d mean=%.1f ns p50=%d p99=%d " +
                    "p99.9=%d max=%d ns%n", last.total(CounterType.APPENDS), latency.count(), latency.mean(),
                    latency.valueAtPercentile(50), latency.valueAtPercentile(99), latency.valueAtPercentile(99.9),
                    latency.max());
            }
        }
    }

    /**
     * Appends, then waits until each successful append is forced: the acknowledged-and-durable round trip of
     * {@link Durability#GROUP_COMMIT}.
     */
    private static final class AwaitingVarveWriter implements Writer
    {
        private final VarveWriter writer;
        private final Appender appender;

        AwaitingVarveWriter(final Appender appender, final byte[] bytes)
        {
            this.appender = appender;
            this.writer = new VarveWriter(appender, bytes);
        }

        @Override
        public long tryAppend(final long streamId, final long expectedVersion)
        {
            final long version = writer.tryAppend(streamId, expectedVersion);
            if (version != CONFLICT)
            {
                appender.awaitDurable(appender.lastPosition());
            }
            return version;
        }

        @Override
        public long tryAppendBatch(final long streamId, final long expectedVersion, final int count)
        {
            final long version = writer.tryAppendBatch(streamId, expectedVersion, count);
            if (version != CONFLICT)
            {
                appender.awaitDurable(appender.lastPosition());
            }
            return version;
        }

        @Override
        public long lastActualVersion()
        {
            return writer.lastActualVersion();
        }

        @Override
        public void close()
        {
            writer.close();
        }
    }

    private static final class VarveWriter implements Writer
    {
        private final Appender appender;
        private final UnsafeBuffer payload;
        private final int length;
        private final EventBatch batch = new EventBatch();

        VarveWriter(final Appender appender, final byte[] bytes)
        {
            this.appender = appender;
            this.length = bytes.length;
            this.payload = new UnsafeBuffer(ByteBuffer.allocateDirect(Math.max(1, bytes.length)));
            payload.putBytes(0, bytes);
        }

        @Override
        public long tryAppend(final long streamId, final long expectedVersion)
        {
            return appender.tryAppend(streamId, expectedVersion, Bench.EVENT_TYPE, payload, 0, length);
        }

        @Override
        public long tryAppendBatch(final long streamId, final long expectedVersion, final int count)
        {
            // refilled on every call, as a caller with new events each time must: the copy into the batch is the
            // user's work, and the peers copy each event too
            batch.clear();
            for (int i = 0; i < count; i++)
            {
                batch.add(Bench.EVENT_TYPE, payload, 0, length);
            }
            return appender.tryAppendBatch(streamId, expectedVersion, batch);
        }

        @Override
        public long lastActualVersion()
        {
            return appender.lastActualVersion();
        }

        @Override
        public void close()
        {
            appender.close();
        }
    }

    private static final class VarveReader implements Reader, EventHandler
    {
        private final VarveDB db;
        private long digest;

        VarveReader(final VarveDB db)
        {
            this.db = db;
        }

        @Override
        public void onEvent(final RecordedEvent event)
        {
            final int length = event.payloadLength();
            digest += event.streamId() ^ event.version() ^ event.eventType() ^ event.timestamp() ^ length ^
                Bench.fold(event.payload(), 0, length);
        }

        @Override
        public int readStream(final long streamId, final long fromVersion, final int maxCount)
        {
            return db.readStream(streamId, fromVersion, maxCount, this);
        }

        @Override
        public long readAll()
        {
            // one call scans to the end of what is committed
            return db.readAll(VarveDB.START_POSITION, Integer.MAX_VALUE, this);
        }

        @Override
        public int readLatest(final long streamId)
        {
            return db.readStreamBackward(streamId, VarveDB.LATEST_VERSION, 1, this);
        }

        @Override
        public long digest()
        {
            return digest;
        }

        @Override
        public void close()
        {
        }
    }
}
