package io.varvedb;

import io.varvedb.internal.index.BlockDescriptor;
import io.varvedb.internal.index.EventIdTableDescriptor;
import io.varvedb.internal.index.StreamIndexDescriptor;
import io.varvedb.internal.io.ForceObserver;
import io.varvedb.internal.log.Log;
import io.varvedb.internal.log.RecordDescriptor;
import org.agrona.concurrent.EpochNanoClock;
import org.agrona.concurrent.IdleStrategy;
import org.agrona.concurrent.OffsetEpochNanoClock;

import java.nio.file.Path;
import java.util.Objects;
import java.util.concurrent.ThreadFactory;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * How to open a store. Build with {@link #builder(Path)}; every setting but the directory has a default.
 * <p>
 * {@link Builder#segmentSize(int) segmentSize} and {@link Builder#indexCapacity(int) indexCapacity} shape the files
 * and are fixed when the store is created; opening an existing store uses the values it was created with.
 * <p>
 * <b>Threading.</b> A writable store has background work: the flusher (forces in {@link Durability#GROUP_COMMIT},
 * index checkpoints in every mode), the pre-allocator (log space and index blocks ahead of the appenders) and, in
 * {@link Builder#multiProcess multi-process} mode, the repairer of what dead writer processes left.
 * {@link Builder#backgroundThreading} chooses who runs it: a thread per task ({@link BackgroundThreading#DEDICATED},
 * the default), one thread for all ({@link BackgroundThreading#SHARED}), or the application's own duty cycle
 * ({@link BackgroundThreading#INVOKED}, through {@link VarveDB#doBackgroundWork()} or
 * {@link VarveDB#backgroundAgent()}), as Aeron's media driver does with its agents.
 * {@link Builder#threadFactory} makes the store's threads (to pin them to cores, name them, set their priority) and
 * {@link Builder#backgroundIdleStrategy} says how they wait between duty cycles. A read-only store has no background
 * work and starts no thread.
 */
public final class VarveConfig
{
    /** Default data bytes per log segment: 64 MiB. */
    public static final int DEFAULT_SEGMENT_SIZE = 64 * 1024 * 1024;
    /** Default most streams: 1,048,576 (a 64 MiB stream table). */
    public static final int DEFAULT_INDEX_CAPACITY = 1 << 20;
    /** Default most stream names: 65,536 (a name table of 9 MiB). */
    public static final int DEFAULT_NAME_CAPACITY = 1 << 16;
    /** Default interval of the group-commit flusher: 1 ms. */
    public static final long DEFAULT_FLUSH_INTERVAL_MICROS = 1000;
    /** Default interval of checkpoints: 1 s. */
    public static final long DEFAULT_CHECKPOINT_INTERVAL_MILLIS = 1000;
    /** Default largest payload: 4 MiB, or less where the segment is small. */
    public static final int DEFAULT_MAX_EVENT_SIZE = 4 * 1024 * 1024;

    private final Path directory;
    private final int segmentSize;
    private final int indexCapacity;
    private final int eventIdCapacity;
    private final int nameCapacity;
    private final java.time.Duration retainLogFor;
    private final long retainLogBytes;
    private final int maxEventSize;
    private final int requestedMaxEventSize;
    private final int indexBlocksPerChunk;
    private final boolean verifyChecksumsOnRead;
    private final boolean counters;
    private final boolean recordAppendLatency;
    private final boolean verifyIndexOnOpen;
    private final boolean preallocate;
    private final boolean multiProcess;
    private final String replicaOf;
    private final javax.crypto.SecretKey encryptionKey;
    private final boolean readCiphertext;
    private final EpochNanoClock clock;
    private final Durability durability;
    private final long flushIntervalMicros;
    private final long checkpointIntervalMillis;
    private final ForceObserver forceObserver;
    private final Consumer<? super Throwable> backgroundErrorHandler;
    private final BackgroundThreading backgroundThreading;
    private final ThreadFactory threadFactory;
    private final Supplier<? extends IdleStrategy> backgroundIdleStrategy;

    /**
     * The default {@link Builder#backgroundErrorHandler}: one warning through the platform logger
     * ({@link System#getLogger(String) System.getLogger("io.varvedb")}, which goes to java.util.logging unless the
     * application routes it elsewhere, such as to SLF4J).
     */
    public static final Consumer<Throwable> LOG_BACKGROUND_ERRORS = (error) ->
    {
        final String line = "VarveDB " + Thread.currentThread().getName() + ": " + error.getMessage() +
            " (tried again in the background)";
        // a file system's refusal says all in its message; anything else gets its stack trace
        if (error instanceof StoreIOException)
        {
            System.getLogger("io.varvedb").log(System.Logger.Level.WARNING, line);
        }
        else
        {
            System.getLogger("io.varvedb").log(System.Logger.Level.WARNING, line, error);
        }
    };

    private VarveConfig(final Builder builder)
    {
        forceObserver = builder.forceObserver;
        backgroundErrorHandler = builder.backgroundErrorHandler;
        backgroundThreading = builder.backgroundThreading;
        threadFactory = builder.threadFactory;
        backgroundIdleStrategy = builder.backgroundIdleStrategy;
        directory = builder.directory;
        segmentSize = builder.segmentSize;
        indexCapacity = builder.indexCapacity;
        eventIdCapacity = builder.eventIdCapacity;
        nameCapacity = builder.nameCapacity;
        retainLogFor = builder.retainLogFor;
        retainLogBytes = builder.retainLogBytes;
        requestedMaxEventSize = builder.maxEventSize;
        maxEventSize = builder.maxEventSize > 0 ? builder.maxEventSize : defaultMaxEventSize(segmentSize);
        indexBlocksPerChunk = builder.indexBlocksPerChunk;
        verifyChecksumsOnRead = builder.verifyChecksumsOnRead;
        counters = builder.counters;
        recordAppendLatency = builder.recordAppendLatency;
        verifyIndexOnOpen = builder.verifyIndexOnOpen;
        preallocate = builder.preallocate;
        multiProcess = builder.multiProcess;
        replicaOf = builder.replicaOf;
        encryptionKey = builder.encryptionKey;
        readCiphertext = builder.readCiphertext;
        clock = builder.clock != null ? builder.clock : new OffsetEpochNanoClock();
        durability = builder.durability;
        flushIntervalMicros = builder.flushIntervalMicros;
        checkpointIntervalMillis = builder.checkpointIntervalMillis;
        // Only the largest segments bound it here: an existing store keeps the segment size it was created with,
        // whatever this config names, so the limit is checked against the store's own segments at open.
        if (maxEventSize > maxPayloadFor(Log.MAX_SEGMENT_LENGTH))
        {
            throw new IllegalArgumentException("maxEventSize " + maxEventSize + " does not fit any segment: at most " +
                maxPayloadFor(Log.MAX_SEGMENT_LENGTH));
        }
    }

    /**
     * @param directory the store's directory; created if missing.
     * @return a builder with the defaults.
     */
    public static Builder builder(final Path directory)
    {
        return new Builder(directory);
    }

    /**
     * @param segmentSize a segment's data length.
     * @return the largest payload a record in such a segment may carry.
     */
    public static int maxPayloadFor(final int segmentSize)
    {
        return segmentSize / 2 - RecordDescriptor.HEADER_LENGTH;
    }

    static int defaultMaxEventSize(final int segmentSize)
    {
        return Math.min(DEFAULT_MAX_EVENT_SIZE, maxPayloadFor(segmentSize));
    }

    /**
     * @return the store's directory.
     */
    public Path directory()
    {
        return directory;
    }

    /**
     * @return data bytes per log segment.
     */
    public int segmentSize()
    {
        return segmentSize;
    }

    /**
     * @return most streams the store accepts.
     */
    public int indexCapacity()
    {
        return indexCapacity;
    }

    /**
     * @return most event ids the store remembers (see {@link Builder#eventIdCapacity(int)}).
     */
    public int eventIdCapacity()
    {
        return eventIdCapacity;
    }

    /**
     * @return largest payload of one event, in bytes.
     */
    public int maxEventSize()
    {
        return maxEventSize;
    }

    /**
     * @return stream-index blocks per chunk file.
     */
    public int indexBlocksPerChunk()
    {
        return indexBlocksPerChunk;
    }

    /**
     * @return true if this instance keeps live counters in {@code varve.counters} (the default).
     */
    public boolean counters()
    {
        return counters;
    }

    /**
     * @return true if this instance records a histogram of its append latencies.
     */
    public boolean recordAppendLatency()
    {
        return recordAppendLatency;
    }

    /**
     * @return true when every read checks the record's CRC32C.
     */
    public boolean verifyChecksumsOnRead()
    {
        return verifyChecksumsOnRead;
    }

    /**
     * @return true if every stream slot of the index is checked against the log at open.
     */
    public boolean verifyIndexOnOpen()
    {
        return verifyIndexOnOpen;
    }

    /**
     * @return true when several processes may open the store for writing at once (see
     * {@link Builder#multiProcess}).
     */
    public boolean multiProcess()
    {
        return multiProcess;
    }

    /**
     * @return what a replica store opened with this config follows, or null for an ordinary store (see
     * {@link Builder#replicaOf}).
     */
    public String replicaOf()
    {
        return replicaOf;
    }

    /**
     * @return true if this config carries a master key ({@link Builder#encryption}).
     */
    public boolean encrypted()
    {
        return encryptionKey != null;
    }

    /**
     * @return the master key, or null; the store itself uses it.
     */
    javax.crypto.SecretKey encryptionKey()
    {
        return encryptionKey;
    }

    /**
     * @return true if a read-only open of an encrypted store without its key shows cipher text
     * ({@link Builder#readCiphertext}).
     */
    public boolean readCiphertext()
    {
        return readCiphertext;
    }

    /**
     * @return true when a background thread creates segments ahead of the appenders.
     */
    public boolean preallocate()
    {
        return preallocate;
    }

    /**
     * @return the clock stamping events.
     */
    public EpochNanoClock clock()
    {
        return clock;
    }

    /**
     * @return what an acknowledged append survives.
     */
    public Durability durability()
    {
        return durability;
    }

    /**
     * @return in {@link Durability#GROUP_COMMIT}: how often the log is forced, in microseconds.
     */
    public long flushIntervalMicros()
    {
        return flushIntervalMicros;
    }

    /**
     * @return how often the log and index are forced and the recovery starting point moved, in milliseconds.
     */
    public long checkpointIntervalMillis()
    {
        return checkpointIntervalMillis;
    }

    /**
     * @return what hears of failures on the store's background threads; see {@link Builder#backgroundErrorHandler}.
     */
    public Consumer<? super Throwable> backgroundErrorHandler()
    {
        return backgroundErrorHandler;
    }

    /**
     * @return who runs the store's background work; see {@link Builder#backgroundThreading}.
     */
    public BackgroundThreading backgroundThreading()
    {
        return backgroundThreading;
    }

    /**
     * @return what makes the store's background threads, or null when not set: daemon threads named after their
     * role. See {@link Builder#threadFactory}.
     */
    public ThreadFactory threadFactory()
    {
        return threadFactory;
    }

    /**
     * @return what makes the idle strategy of each background thread, or null when not set: each thread parks until
     * its next task is due. See {@link Builder#backgroundIdleStrategy}.
     */
    public Supplier<? extends IdleStrategy> backgroundIdleStrategy()
    {
        return backgroundIdleStrategy;
    }

    /**
     * @return most stream names, for a name table this store creates.
     */
    public int nameCapacity()
    {
        return nameCapacity;
    }

    /**
     * @return how long whole-log retention keeps events, null for ever.
     */
    public java.time.Duration retainLogFor()
    {
        return retainLogFor;
    }

    /**
     * @return about how many bytes of log whole-log retention keeps, 0 for all.
     */
    public long retainLogBytes()
    {
        return retainLogBytes;
    }

    /**
     * @return what sees every force of the store's files; {@link ForceObserver#NONE} but in tests.
     */
    ForceObserver forceObserver()
    {
        return forceObserver;
    }

    VarveConfig withShape(final int segmentSize, final int indexCapacity)
    {
        final Builder builder = new Builder(directory)
            .segmentSize(segmentSize)
            .indexCapacity(indexCapacity)
            .eventIdCapacity(eventIdCapacity)
            .nameCapacity(nameCapacity)
            .retainLogFor(retainLogFor)
            .retainLogBytes(retainLogBytes)
            .indexBlocksPerChunk(indexBlocksPerChunk)
            .verifyChecksumsOnRead(verifyChecksumsOnRead)
            .counters(counters)
            .recordAppendLatency(recordAppendLatency)
            .verifyIndexOnOpen(verifyIndexOnOpen)
            .preallocate(preallocate)
            .multiProcess(multiProcess)
            .replicaOf(replicaOf)
            .encryption(encryptionKey)
            .readCiphertext(readCiphertext)
            .clock(clock)
            .durability(durability)
            .flushIntervalMicros(flushIntervalMicros)
            .checkpointIntervalMillis(checkpointIntervalMillis)
            .backgroundErrorHandler(backgroundErrorHandler)
            .backgroundThreading(backgroundThreading)
            .forceObserver(forceObserver);
        builder.maxEventSize = requestedMaxEventSize;
        // null means the default here, which the setters refuse to be given
        builder.threadFactory = threadFactory;
        builder.backgroundIdleStrategy = backgroundIdleStrategy;
        if (requestedMaxEventSize > maxPayloadFor(segmentSize))
        {
            throw new IllegalArgumentException("maxEventSize " + requestedMaxEventSize + " does not fit the " +
                "segments of the store at " + directory + ", " + segmentSize + " bytes each (fixed when it was " +
                "created): at most " + maxPayloadFor(segmentSize));
        }
        return builder.build();
    }

    @Override
    public String toString()
    {
        return "VarveConfig{directory=" + directory + ", segmentSize=" + segmentSize + ", indexCapacity=" +
            indexCapacity + ", maxEventSize=" + maxEventSize + ", indexBlocksPerChunk=" + indexBlocksPerChunk +
            ", verifyChecksumsOnRead=" + verifyChecksumsOnRead + ", verifyIndexOnOpen=" + verifyIndexOnOpen +
            ", preallocate=" + preallocate + ", multiProcess=" + multiProcess + ", durability=" +
            durability + ", flushIntervalMicros=" + flushIntervalMicros + ", checkpointIntervalMillis=" +
            checkpointIntervalMillis + ", backgroundThreading=" + backgroundThreading + ", encrypted=" +
            (encryptionKey != null) + "}";
    }

    /**
     * Builder of {@link VarveConfig}.
     */
    public static final class Builder
    {
        private final Path directory;
        private int segmentSize = DEFAULT_SEGMENT_SIZE;
        private int indexCapacity = DEFAULT_INDEX_CAPACITY;
        private int eventIdCapacity = EventIdTableDescriptor.DEFAULT_CAPACITY;
        private int nameCapacity = DEFAULT_NAME_CAPACITY;
        private java.time.Duration retainLogFor;
        private long retainLogBytes;
        private int maxEventSize;
        private int indexBlocksPerChunk = BlockDescriptor.DEFAULT_BLOCKS_PER_CHUNK;
        private boolean verifyChecksumsOnRead = true;
        private boolean counters = true;
        private boolean recordAppendLatency;
        private boolean verifyIndexOnOpen = true;
        private boolean preallocate = true;
        private boolean multiProcess;
        private String replicaOf;
        private javax.crypto.SecretKey encryptionKey;
        private boolean readCiphertext;
        private EpochNanoClock clock;
        private Durability durability = Durability.OS;
        private long flushIntervalMicros = DEFAULT_FLUSH_INTERVAL_MICROS;
        private long checkpointIntervalMillis = DEFAULT_CHECKPOINT_INTERVAL_MILLIS;
        private ForceObserver forceObserver = ForceObserver.NONE;
        private Consumer<? super Throwable> backgroundErrorHandler = LOG_BACKGROUND_ERRORS;
        private BackgroundThreading backgroundThreading = BackgroundThreading.DEDICATED;
        private ThreadFactory threadFactory;
        private Supplier<? extends IdleStrategy> backgroundIdleStrategy;

        private Builder(final Path directory)
        {
            this.directory = Objects.requireNonNull(directory, "directory");
        }

        /**
         * Data bytes per log segment file: a power of two from 64 KiB to 1 GiB. Fixed at creation.
         *
         * @param bytes segment size.
         * @return this builder.
         */
        public Builder segmentSize(final int bytes)
        {
            if (Integer.bitCount(bytes) != 1 || bytes < Log.MIN_SEGMENT_LENGTH || bytes > Log.MAX_SEGMENT_LENGTH)
            {
                throw new IllegalArgumentException("segmentSize must be a power of two from " +
                    Log.MIN_SEGMENT_LENGTH + " to " + Log.MAX_SEGMENT_LENGTH + ", got " + bytes);
            }
            this.segmentSize = bytes;
            return this;
        }

        /**
         * Most streams the store will hold. The stream table takes 64 bytes per stream of capacity. Fixed at
         * creation; appending to a new stream beyond it throws {@link StreamIndexFullException}.
         *
         * @param streams capacity, from 1 to 2^24 (16,777,216).
         * @return this builder.
         */
        public Builder indexCapacity(final int streams)
        {
            if (streams < 1 || streams > StreamIndexDescriptor.MAX_CAPACITY)
            {
                throw new IllegalArgumentException("indexCapacity must be from 1 to " +
                    StreamIndexDescriptor.MAX_CAPACITY + ", got " + streams);
            }
            this.indexCapacity = streams;
            return this;
        }

        /**
         * Most event ids the store remembers, for exactly-once appends ({@link Appender#append(long,
         * ExpectedVersion, int, long, long, byte[])}): every id appended stays in the store's id table for good,
         * so a retry is recognised however late it comes; once the table holds this many, an append with a new id
         * is refused with {@link EventIdTableFullException} (appends without ids go on). The table takes 64 bytes
         * per id of capacity on disk, from the first append with an id; a store that never uses ids spends a page.
         * An existing store keeps its table's capacity unless this asks for more: then the table is rebuilt,
         * larger, from the log at the open. Default 1,048,576 (a 64 MiB table).
         *
         * @param ids capacity, from 1 to 2^24 (16,777,216).
         * @return this builder.
         */
        public Builder eventIdCapacity(final int ids)
        {
            if (ids < 1 || ids > EventIdTableDescriptor.MAX_CAPACITY)
            {
                throw new IllegalArgumentException("eventIdCapacity must be from 1 to " +
                    EventIdTableDescriptor.MAX_CAPACITY + ", got " + ids);
            }
            this.eventIdCapacity = ids;
            return this;
        }

        /**
         * Most stream names the store will hold ({@link VarveDB#streamId(String)}). The name table takes 144 bytes
         * per name of capacity (a 128-byte entry, two 8-byte hash slots). Fixed when the table is made: at a writer's
         * first name operation, or when the first writer of a {@link #multiProcess} store opens it; creating a name beyond it throws
         * {@link NameTableFullException}.
         *
         * @param names capacity, from 1 to 2^23 (8,388,608). Default {@link #DEFAULT_NAME_CAPACITY}.
         * @return this builder.
         */
        public Builder nameCapacity(final int names)
        {
            if (names < 1 || names > io.varvedb.internal.index.NameTableDescriptor.MAX_CAPACITY)
            {
                throw new IllegalArgumentException("nameCapacity must be from 1 to " +
                    io.varvedb.internal.index.NameTableDescriptor.MAX_CAPACITY + ", got " + names);
            }
            this.nameCapacity = names;
            return this;
        }

        /**
         * Whole-log retention by age, for journal-style use: a writer's background work drops every segment whose
         * events are all older than this ({@link VarveDB#truncateLogBefore}: positions of what is kept unchanged,
         * readers left behind told with {@link LogTruncatedException}). Checked about once a second; needs background
         * work ({@link BackgroundThreading}: with {@code INVOKED}, at the application's duty cycles). The segment
         * being written and those not yet durable are never dropped, so what is kept may be older by a segment.
         *
         * @param age how long events are kept; null (the default) for ever.
         * @return this builder.
         */
        public Builder retainLogFor(final java.time.Duration age)
        {
            if (age != null && (age.isNegative() || age.isZero()))
            {
                throw new IllegalArgumentException("retainLogFor must be positive (or null for ever), got " + age);
            }
            this.retainLogFor = age;
            return this;
        }

        /**
         * Whole-log retention by size: a writer's background work drops the oldest segments while the log holds
         * more than this many bytes of segments (the tail's segment included; at least one more is kept). See
         * {@link #retainLogFor}.
         *
         * @param bytes most log kept, at least one segment; 0 (the default) for all.
         * @return this builder.
         */
        public Builder retainLogBytes(final long bytes)
        {
            if (bytes < 0)
            {
                throw new IllegalArgumentException("retainLogBytes must be >= 0 (0 for all), got " + bytes);
            }
            this.retainLogBytes = bytes;
            return this;
        }

        /**
         * Largest payload of one event; a larger one is refused with {@link EventTooLargeException}. At most
         * {@code segmentSize / 2 - 40} of the store's segments: for an existing store, those it was created with
         * (not {@link #segmentSize} here), checked when it is opened ({@link IllegalArgumentException}). Default:
         * 4 MiB, or that bound if smaller, again for the store's own segments.
         *
         * @param bytes largest payload.
         * @return this builder.
         */
        public Builder maxEventSize(final int bytes)
        {
            if (bytes < 0)
            {
                throw new IllegalArgumentException("maxEventSize must be >= 0, got " + bytes);
            }
            this.maxEventSize = bytes;
            return this;
        }

        /**
         * Stream-index blocks (256 bytes each) per chunk file. Default 65,536: 16 MiB files, which take disk only as
         * blocks are used (in 2 MiB steps, a little ahead). Fixed at creation.
         *
         * @param blocks per chunk, at least 2.
         * @return this builder.
         */
        public Builder indexBlocksPerChunk(final int blocks)
        {
            if (blocks < 2 || blocks > (1 << 22))
            {
                throw new IllegalArgumentException("indexBlocksPerChunk must be from 2 to " + (1 << 22));
            }
            this.indexBlocksPerChunk = blocks;
            return this;
        }

        /**
         * What an acknowledged append survives; see {@link Durability}. Default {@link Durability#OS}.
         *
         * @param durability the mode.
         * @return this builder.
         */
        public Builder durability(final Durability durability)
        {
            this.durability = Objects.requireNonNull(durability, "durability");
            return this;
        }

        /**
         * In {@link Durability#GROUP_COMMIT}, how often the background flusher forces the log. Default 1000 us.
         *
         * @param micros interval, at least 1.
         * @return this builder.
         */
        public Builder flushIntervalMicros(final long micros)
        {
            if (micros < 1)
            {
                throw new IllegalArgumentException("flushIntervalMicros must be >= 1, got " + micros);
            }
            this.flushIntervalMicros = micros;
            return this;
        }

        /**
         * How often the log and the index are forced and the point recovery scans from moves forward, in every
         * mode: the bound on how much log a recovery after a crash reads. Default 1000 ms.
         *
         * @param millis interval, at least 1.
         * @return this builder.
         */
        public Builder checkpointIntervalMillis(final long millis)
        {
            if (millis < 1)
            {
                throw new IllegalArgumentException("checkpointIntervalMillis must be >= 1, got " + millis);
            }
            this.checkpointIntervalMillis = millis;
            return this;
        }

        /**
         * Keep live counters (appends, conflicts, bytes, forces, subscription lag, errors...) in
         * {@code varve.counters} in the store's directory, where {@code varve stat}, {@link
         * io.varvedb.counters.VarveCounters} and {@link VarveDB#counters()} read them from any process. Default
         * true: the engine updates them with plain ordered stores, no allocation (see the README's measurements).
         * A store whose counters file cannot be made (no room, a read-only directory) runs without them.
         *
         * @param keep false to keep none.
         * @return this builder.
         */
        public Builder counters(final boolean keep)
        {
            this.counters = keep;
            return this;
        }

        /**
         * Record every append's latency (from the call to its return, conflicts and duplicates included) in an
         * HdrHistogram, published about once a second to {@code varve.counters}, where {@code varve stat} shows
         * its percentiles. Default false: it costs two clock reads and a histogram update per append. Needs
         * {@code org.hdrhistogram:HdrHistogram} on the class path, and counters on.
         *
         * @param record true to record.
         * @return this builder.
         */
        public Builder recordAppendLatency(final boolean record)
        {
            this.recordAppendLatency = record;
            return this;
        }

        /**
         * Check each record's CRC32C on every read, so a damaged record is reported
         * ({@link CorruptStoreException}) instead of served. Default true; recovery always checks.
         *
         * @param verify true to check.
         * @return this builder.
         */
        public Builder verifyChecksumsOnRead(final boolean verify)
        {
            this.verifyChecksumsOnRead = verify;
            return this;
        }

        /**
         * Check every stream slot of the index against the record it points to when the store is opened, so a
         * slot damaged on disk (a flipped bit, a torn page after a power cut) is found at once: a writer then
         * rebuilds the index from the log, a read-only open refuses with {@link CorruptStoreException}. Default
         * true. It reads one record per stream (see the README for what that adds to the open of a store with a
         * million streams). Without it such damage misreports that stream's version until the index is rebuilt;
         * reads still check every record they deliver.
         *
         * @param verify true to check.
         * @return this builder.
         */
        public Builder verifyIndexOnOpen(final boolean verify)
        {
            this.verifyIndexOnOpen = verify;
            return this;
        }

        /**
         * Create log segments and index blocks ahead of need on a background thread, so appenders never wait
         * for the file system. Default true.
         *
         * @param preallocate true to run the pre-allocator.
         * @return this builder.
         */
        public Builder preallocate(final boolean preallocate)
        {
            this.preallocate = preallocate;
            return this;
        }

        /**
         * Let any number of processes on this host open the store for writing at once, each with the same API and
         * guarantees as threads of one process: one CAS on the shared, memory-mapped stream slot decides every
         * conflict, whichever process wrote the other side. Every writer of a store must use the same mode: a store
         * open in one mode refuses a writer in the other with {@link StoreLockedException} (read-only opens work
         * beside either). A writer process that dies never stops the others: a survivor finishes or undoes what it
         * left half done (see the README's guarantees). Default false: one writer process, which costs nothing
         * for the coordination.
         *
         * @param multiProcess true to share the store between writer processes.
         * @return this builder.
         */
        public Builder multiProcess(final boolean multiProcess)
        {
            this.multiProcess = multiProcess;
            return this;
        }

        /**
         * Open the store as a <b>replica</b> that follows a primary (a {@code KafkaReplica} of the {@code varvedb-kafka}
         * module does): the store is marked (a {@code varve.replica} file naming the source) and, from then on, an
         * ordinary writer open is refused with {@link ReplicaStoreException} until {@link VarveDB#promoteReplica}
         * removes the mark. Read-only opens work as always, while the replica follows. A store that already holds
         * events and is no replica is refused as a new replica: a replica starts empty. Default null: an ordinary
         * store.
         *
         * @param source what the replica follows, such as {@code kafka://host:9092/topic} (one line); null for none.
         * @return this builder.
         */
        public Builder replicaOf(final String source)
        {
            if (source != null && (source.isBlank() || source.indexOf('\n') >= 0 ||
                source.length() > io.varvedb.internal.store.ReplicaMarker.MAX_SOURCE_LENGTH))
            {
                throw new IllegalArgumentException("replicaOf: one non-blank line of at most " +
                    io.varvedb.internal.store.ReplicaMarker.MAX_SOURCE_LENGTH + " characters, not \"" + source + "\"");
            }
            this.replicaOf = source;
            return this;
        }

        /**
         * Encrypt the store at rest with this master key: a 32-byte AES-256 key (keep it outside the store: a key
         * management service, a key store, a file only its owner reads). The bytes are copied. See
         * {@link #encryption(javax.crypto.SecretKey)}.
         *
         * @param masterKey 32 bytes; null for no encryption.
         * @return this builder.
         * @throws IllegalArgumentException if it is not 32 bytes.
         */
        public Builder encryption(final byte[] masterKey)
        {
            if (masterKey != null && masterKey.length != 32)
            {
                throw new IllegalArgumentException("encryption: an AES-256 master key has 32 bytes, not " +
                    masterKey.length);
            }
            return encryption(masterKey == null ? null : new javax.crypto.spec.SecretKeySpec(masterKey, "AES"));
        }

        /**
         * Encrypt the store at rest with this master key, from a key store or a KMS (a provider's key that never
         * leaves it works: it is only asked to wrap and unwrap). Each stream's payloads are encrypted with
         * AES-256-GCM under a data key of the stream's own, made at its first append and kept in
         * {@code varve.keys}, wrapped by this key; {@link VarveDB#shredStream} destroys one. Stream names and event
         * ids are encrypted too (deterministically, so they are still found by their stored form). Record headers
         * (stream id, version, type, timestamp, flags, payload length) and the store's own metadata events and
         * tombstones stay in clear (see the README's "Encryption at rest").
         * <p>
         * Encryption is chosen when the store is created, and every later open must give the same key (or the one
         * {@link VarveDB#rotateMasterKey} moved it to): an encrypted store opened without it, or with another, and
         * a store created clear opened with one, are refused with {@link EncryptionKeyException} before anything is
         * written. Default: none.
         *
         * @param masterKey an AES key of 256 bits; null for no encryption.
         * @return this builder.
         * @throws IllegalArgumentException if it is not an AES key.
         */
        public Builder encryption(final javax.crypto.SecretKey masterKey)
        {
            if (masterKey != null && !"AES".equalsIgnoreCase(masterKey.getAlgorithm()))
            {
                throw new IllegalArgumentException("encryption: the master key must be an AES key, not " +
                    masterKey.getAlgorithm());
            }
            if (masterKey != null && masterKey.getEncoded() != null && masterKey.getEncoded().length != 32)
            {
                throw new IllegalArgumentException("encryption: an AES-256 master key has 32 bytes, not " +
                    masterKey.getEncoded().length);
            }
            this.encryptionKey = masterKey;
            return this;
        }

        /**
         * For tools that inspect an encrypted store without its key (as {@code varve dump} does): a read-only open
         * without a master key is allowed, and each encrypted event is delivered with its cipher text as
         * {@link RecordedEvent#payload()} ({@link RecordedEvent#isEncrypted()} tells), of the clear payload's
         * length, and its event id in its encrypted form; stream names are unknown (none), and so is the streams'
         * metadata, which lives in named streams. Ignored with a master key; refused for a writable open. Default
         * false.
         *
         * @param ciphertext true to read cipher text.
         * @return this builder.
         */
        public Builder readCiphertext(final boolean ciphertext)
        {
            this.readCiphertext = ciphertext;
            return this;
        }

        /**
         * Clock that stamps events. Default: an {@link OffsetEpochNanoClock}, which reads {@code System.nanoTime}
         * without allocating.
         *
         * @param clock the clock.
         * @return this builder.
         */
        public Builder clock(final EpochNanoClock clock)
        {
            this.clock = Objects.requireNonNull(clock, "clock");
            return this;
        }

        /**
         * Who hears of work that failed on the store's background threads: chiefly the pre-allocator meeting a
         * full disk (a {@link StoreIOException}), also a failed force of the flusher. That work is tried again in
         * the background (the pre-allocator waits longer after each failure, up to ten seconds, and at once when an
         * appender moves into a new segment), and an append that needs what could not be made gets the error
         * itself. The handler runs on the thread that ran the work (a background thread, or in
         * {@link BackgroundThreading#INVOKED} the thread that called {@link VarveDB#doBackgroundWork()}), is called
         * for the first failure of a run of them and then about once a minute while they go on, for each task on its
         * own (the flusher, the pre-allocator, the repairer), and must not block; whatever it throws is ignored. It
         * may close the store.
         * Default: {@link #LOG_BACKGROUND_ERRORS}. {@link VarveDB#preallocationFailures()} counts every failure.
         *
         * @param handler receives each reported failure.
         * @return this builder.
         */
        public Builder backgroundErrorHandler(final Consumer<? super Throwable> handler)
        {
            this.backgroundErrorHandler = Objects.requireNonNull(handler, "backgroundErrorHandler");
            return this;
        }

        /**
         * Who runs the store's background work (group-commit forces, index checkpoints, pre-allocation, repairs
         * in multi-process mode); see {@link BackgroundThreading}. Default {@link BackgroundThreading#DEDICATED}: a
         * daemon thread per task. {@link BackgroundThreading#SHARED}: one thread for all.
         * {@link BackgroundThreading#INVOKED}: no thread; the application calls {@link VarveDB#doBackgroundWork()}
         * or runs {@link VarveDB#backgroundAgent()} on its own Agrona runner, often enough (every millisecond or so
         * in {@link Durability#GROUP_COMMIT}; see the README's "Threading"). A read-only store ignores this.
         *
         * @param threading the mode.
         * @return this builder.
         * @throws NullPointerException naming {@code backgroundThreading} if null.
         */
        public Builder backgroundThreading(final BackgroundThreading threading)
        {
            this.backgroundThreading = Objects.requireNonNull(threading, "backgroundThreading");
            return this;
        }

        /**
         * What makes every thread the store starts for its background work (not the threads of subscriptions and
         * processors, which their options name): to pin them to cores, name them, set their priority. It is called
         * at open, once per thread: three times at most in {@link BackgroundThreading#DEDICATED} (the flusher, the
         * pre-allocator, the repairer in multi-process mode), once in {@link BackgroundThreading#SHARED}, never in
         * {@link BackgroundThreading#INVOKED} (where it may be set, and is not used). The {@link Runnable} it is
         * given is an Agrona {@link org.agrona.concurrent.AgentRunner} whose {@code agent().roleName()} names the
         * role: {@code varve-flusher}, {@code varve-preallocator}, {@code varve-repairer}, or
         * {@code varve-background} for the shared thread. The store starts the thread and keeps the name the
         * factory gave it. Make <b>daemon threads</b>, or close the store before the JVM is to exit: a store left
         * open keeps non-daemon threads, and so the JVM, alive. A factory that returns null, or a thread it started
         * itself, fails the open with {@link IllegalStateException} (a started one is stopped first). Default: daemon
         * threads named after their role.
         *
         * @param factory makes the store's background threads.
         * @return this builder.
         * @throws NullPointerException naming {@code threadFactory} if null.
         */
        public Builder threadFactory(final ThreadFactory factory)
        {
            this.threadFactory = Objects.requireNonNull(factory, "threadFactory");
            return this;
        }

        /**
         * How the store's background threads wait between duty cycles: the supplier is called once per thread, at
         * open, and each thread idles with its own strategy (an Agrona {@link IdleStrategy} keeps state). A duty
         * cycle with nothing due returns at once, so the strategy decides how soon the thread looks again, not how
         * often each task runs: the flusher still forces once per {@link #flushIntervalMicros flush interval}.
         * A {@link org.agrona.concurrent.BusySpinIdleStrategy} answers at once when an appender falls behind but
         * <b>burns a whole core per thread</b> (use it with {@link BackgroundThreading#SHARED} and a pinned
         * {@link #threadFactory}); {@link org.agrona.concurrent.BackoffIdleStrategy} spins, yields, then parks.
         * Not used in {@link BackgroundThreading#INVOKED}, where it may be set. Default: each thread parks until
         * its next task is due, and is woken early when an appender is behind (had to allocate log space itself).
         *
         * @param idleStrategy makes one idle strategy per background thread; must not supply null.
         * @return this builder.
         * @throws NullPointerException naming {@code backgroundIdleStrategy} if null.
         */
        public Builder backgroundIdleStrategy(final Supplier<? extends IdleStrategy> idleStrategy)
        {
            this.backgroundIdleStrategy = Objects.requireNonNull(idleStrategy, "backgroundIdleStrategy");
            return this;
        }

        /**
         * For tests that simulate a power cut: route every file creation, rename and force through an observer.
         *
         * @param observer the observer.
         * @return this builder.
         */
        Builder forceObserver(final ForceObserver observer)
        {
            this.forceObserver = Objects.requireNonNull(observer, "observer");
            return this;
        }

        /**
         * @return the configuration.
         */
        public VarveConfig build()
        {
            return new VarveConfig(this);
        }
    }
}
