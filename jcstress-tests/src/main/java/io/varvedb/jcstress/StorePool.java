package io.varvedb.jcstress;

import io.varvedb.Appender;
import io.varvedb.EventBatch;
import io.varvedb.ExpectedVersion;
import io.varvedb.JcstressAccess;
import io.varvedb.VarveConfig;
import io.varvedb.VarveDB;
import io.varvedb.internal.index.StreamIndex;
import io.varvedb.internal.io.ForceObserver;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Supplier;
import java.util.stream.Stream;

/**
 * Hands real, open {@link VarveDB} stores to jcstress {@code @State} objects without opening one per state.
 * <p>
 * jcstress creates millions of states per test; opening a store (several files, each forced) for each would
 * leave almost no time for the race itself. So states share a store and each takes fresh stream ids, so no two
 * states touch the same stream. A store is retired once it has served {@code statesPerStore} states or its log
 * passed {@code maxLogBytes}; a retired store is closed and deleted when the last state using it has been
 * judged by its {@code @Arbiter} ({@link Lease#release()}), so the disk (tmpfs when there is one) stays small.
 * Stores left behind by states jcstress made but never ran are deleted by a shutdown hook.
 * <p>
 * Appenders: jcstress runs each actor method of a test on one thread at a time, so a store keeps one
 * {@link Appender} per actor ({@link Lease#appender(int)}), created with the store and shared by all its states.
 */
public final class StorePool
{
    /** Set this system property to put the stores somewhere else than /dev/shm (or the temp directory). */
    public static final String DIRECTORY_PROPERTY = "varve.jcstress.dir";

    private static final Path SHARED_MEMORY = Path.of("/dev/shm");
    private static final Set<Path> LIVE_DIRECTORIES = ConcurrentHashMap.newKeySet();

    static
    {
        Runtime.getRuntime().addShutdownHook(new Thread(
            () -> LIVE_DIRECTORIES.forEach(StorePool::deleteQuietly), "varve-jcstress-cleanup"));
    }

    private final String name;
    private final int segmentSize;
    private final int indexCapacity;
    private final int blocksPerChunk;
    private final int statesPerStore;
    private final long maxLogBytes;
    private final int actors;
    private final boolean indexView;
    private final boolean preallocate;
    private final Supplier<? extends ForceObserver> forceObserver;
    private Store current;

    private StorePool(final Builder builder)
    {
        this.name = builder.name;
        this.segmentSize = builder.segmentSize;
        this.indexCapacity = builder.indexCapacity;
        this.blocksPerChunk = builder.blocksPerChunk;
        this.statesPerStore = builder.statesPerStore;
        this.maxLogBytes = builder.maxLogBytes;
        this.actors = builder.actors;
        this.indexView = builder.indexView;
        this.preallocate = builder.preallocate;
        this.forceObserver = builder.forceObserver;
    }

    /**
     * A pool of stores with the smallest segments the format allows, and room for events a third of a segment
     * long: for tests whose appends must race across segment boundaries.
     *
     * @param name of the pool (its directory).
     * @return the pool.
     */
    public static StorePool rollingSegments(final String name)
    {
        return builder(name)
            .segmentSize(ROLLING_SEGMENT)
            .indexCapacity(1 << 13)
            .statesPerStore(1 << 11)
            .blocksPerChunk(1 << 12)
            .maxLogBytes(128L << 20)
            .preallocate()
            .build();
    }

    /** Segment size of {@link #rollingSegments}: 64 KiB, the smallest allowed. */
    public static final int ROLLING_SEGMENT = 1 << 16;

    /**
     * @param name a short name for the store directories.
     * @return a builder with small defaults: 1 MiB segments, 16 Ki streams, 4096 states per store (so at most
     * four streams per state).
     */
    public static Builder builder(final String name)
    {
        return new Builder(name);
    }

    /**
     * Take a place in the current store for one state, opening a new store when the current one is used up.
     *
     * @return the lease; give it back with {@link Lease#release()} from the state's arbiter.
     */
    public synchronized Lease lease()
    {
        if (current == null || current.states >= statesPerStore || current.db.tailPosition() >= maxLogBytes)
        {
            if (current != null)
            {
                current.retire();
            }
            final ForceObserver observer = forceObserver.get();
            current = new Store(open(observer), observer);
        }
        current.references++;
        return new Lease(current, current.states++);
    }

    private VarveDB open(final ForceObserver observer)
    {
        final Path directory;
        try
        {
            directory = Files.createTempDirectory(baseDirectory(), "varve-jcstress-" + name + "-");
        }
        catch (final IOException ex)
        {
            throw new UncheckedIOException(ex);
        }
        LIVE_DIRECTORIES.add(directory);
        final VarveConfig.Builder config = VarveConfig.builder(directory)
            .segmentSize(segmentSize)
            .indexCapacity(indexCapacity)
            // as many ids as streams: a small table, where the default would give each store 64 MiB of /dev/shm
            .eventIdCapacity(indexCapacity)
            .indexBlocksPerChunk(blocksPerChunk)
            // every state's reads check checksums in core as well as in the test's own EventCheck
            .verifyChecksumsOnRead(true)
            // by default no pre-allocator thread per store: on 2 cores it would steal time from the actors
            .preallocate(preallocate);
        return VarveDB.open(JcstressAccess.forceObserver(config, observer).build());
    }

    /**
     * @return where stores are created: {@link #DIRECTORY_PROPERTY}, else /dev/shm, else the temp directory.
     * @throws IOException if the configured directory cannot be created.
     */
    static Path baseDirectory() throws IOException
    {
        final String configured = System.getProperty(DIRECTORY_PROPERTY);
        if (configured != null)
        {
            return Files.createDirectories(Path.of(configured));
        }
        // tmpfs: creating a segment forces it, which costs nothing in memory and milliseconds on a disk
        if (Files.isDirectory(SHARED_MEMORY) && Files.isWritable(SHARED_MEMORY))
        {
            return SHARED_MEMORY;
        }
        return Path.of(System.getProperty("java.io.tmpdir"));
    }

    /**
     * Have a directory deleted when the VM exits, unless {@link #delete} deletes it first.
     *
     * @param directory a store directory this run created.
     */
    static void track(final Path directory)
    {
        LIVE_DIRECTORIES.add(directory);
    }

    /**
     * Delete a store directory now.
     *
     * @param directory a closed store's directory.
     */
    static void delete(final Path directory)
    {
        deleteQuietly(directory);
        LIVE_DIRECTORIES.remove(directory);
    }

    private static void deleteQuietly(final Path directory)
    {
        try (Stream<Path> files = Files.walk(directory))
        {
            files.sorted(Comparator.reverseOrder()).forEach((p) -> p.toFile().delete());
        }
        catch (final IOException | UncheckedIOException ignore)
        {
            // already gone, or being deleted by another thread
        }
    }

    /**
     * One open store shared by many states.
     */
    private final class Store
    {
        private final VarveDB db;
        private final Appender[] appenders;
        private final Appender setupAppender;
        private final EventBatch setupBatch = new EventBatch();
        private final StreamIndex index;
        private final ForceObserver observer;
        private int references;
        private int states;
        private boolean retired;

        Store(final VarveDB db, final ForceObserver observer)
        {
            this.db = db;
            this.observer = observer;
            this.appenders = new Appender[actors];
            for (int i = 0; i < actors; i++)
            {
                appenders[i] = db.appender();
            }
            this.setupAppender = db.appender();
            // a second, read-only mapping of the live stream table, for tests that check which slot a stream got
            this.index = indexView ? StreamIndex.open(db.directory().resolve("index"), true) : null;
        }

        void retire()
        {
            synchronized (StorePool.this)
            {
                retired = true;
                closeIfDone();
            }
        }

        void release()
        {
            synchronized (StorePool.this)
            {
                references--;
                closeIfDone();
            }
        }

        private void closeIfDone()
        {
            if (retired && references == 0)
            {
                db.close();
                delete(db.directory());
            }
        }
    }

    /**
     * A state's place in a store.
     */
    public static final class Lease
    {
        private final Store store;
        private final int ordinal;
        private boolean released;

        private Lease(final Store store, final int ordinal)
        {
            this.store = store;
            this.ordinal = ordinal;
        }

        /**
         * @return the store.
         */
        public VarveDB db()
        {
            return store.db;
        }

        /**
         * @param actor the actor's number, from 0.
         * @return the appender reserved for that actor in this store.
         */
        public Appender appender(final int actor)
        {
            return store.appenders[actor];
        }

        /**
         * Append {@code count} events to a stream before the actors run, as one batch (one claim, cheap per
         * state). States may be built on any thread, so this uses the store's own appender under its lock.
         *
         * @param streamId  the stream, one of this lease's.
         * @param count     events to append.
         * @param eventType their type.
         * @param payload   their payload.
         */
        public void preload(final long streamId, final int count, final int eventType, final byte[] payload)
        {
            synchronized (store)
            {
                final EventBatch batch = store.setupBatch.clear();
                for (int i = 0; i < count; i++)
                {
                    batch.add(eventType, payload);
                }
                store.setupAppender.appendBatch(streamId, ExpectedVersion.NO_STREAM, batch);
            }
        }

        /**
         * @return this state's number within its store, from 0; stream ids derive from it, so they are unique.
         */
        public int ordinal()
        {
            return ordinal;
        }

        /**
         * @param streamsPerState streams each state of this pool uses.
         * @param i               which of them, from 0.
         * @return a stream id no other state of this store uses.
         */
        public long streamId(final int streamsPerState, final int i)
        {
            return (long)ordinal * streamsPerState + i + 1;
        }

        /**
         * @return a read-only view of the store's stream table, if the pool was built with {@link
         * Builder#indexView()}; else null.
         */
        public StreamIndex index()
        {
            return store.index;
        }

        /**
         * @return the store's force observer: {@link ForceObserver#NONE} unless the pool was built with {@link
         * Builder#forceObserver}.
         */
        public ForceObserver forceObserver()
        {
            return store.observer;
        }

        /**
         * Give the place back; called once by the state's arbiter, after which the store may be closed.
         */
        public void release()
        {
            if (!released)
            {
                released = true;
                store.release();
            }
        }
    }

    /**
     * Builder of {@link StorePool}.
     */
    public static final class Builder
    {
        private static final int DEFAULT_SEGMENT_SIZE = 1 << 20;
        private static final int DEFAULT_INDEX_CAPACITY = 1 << 14;
        private static final int DEFAULT_BLOCKS_PER_CHUNK = 4096;
        private static final int DEFAULT_STATES_PER_STORE = 4096;
        private static final long DEFAULT_MAX_LOG_BYTES = 64L << 20;
        private static final int DEFAULT_ACTORS = 4;

        private final String name;
        private int segmentSize = DEFAULT_SEGMENT_SIZE;
        private int indexCapacity = DEFAULT_INDEX_CAPACITY;
        private int blocksPerChunk = DEFAULT_BLOCKS_PER_CHUNK;
        private int statesPerStore = DEFAULT_STATES_PER_STORE;
        private long maxLogBytes = DEFAULT_MAX_LOG_BYTES;
        private int actors = DEFAULT_ACTORS;
        private boolean indexView;
        private boolean preallocate;
        private Supplier<? extends ForceObserver> forceObserver = () -> ForceObserver.NONE;

        private Builder(final String name)
        {
            this.name = name;
        }

        /**
         * @param bytes segment size of each store.
         * @return this.
         */
        public Builder segmentSize(final int bytes)
        {
            this.segmentSize = bytes;
            return this;
        }

        /**
         * @param streams index capacity of each store.
         * @return this.
         */
        public Builder indexCapacity(final int streams)
        {
            this.indexCapacity = streams;
            return this;
        }

        /**
         * @param blocks index blocks per chunk file.
         * @return this.
         */
        public Builder blocksPerChunk(final int blocks)
        {
            this.blocksPerChunk = blocks;
            return this;
        }

        /**
         * @param states states served by one store before it is retired.
         * @return this.
         */
        public Builder statesPerStore(final int states)
        {
            this.statesPerStore = states;
            return this;
        }

        /**
         * @param bytes log length after which a store is retired.
         * @return this.
         */
        public Builder maxLogBytes(final long bytes)
        {
            this.maxLogBytes = bytes;
            return this;
        }

        /**
         * @param actors appenders to keep per store, one per actor.
         * @return this.
         */
        public Builder actors(final int actors)
        {
            this.actors = actors;
            return this;
        }

        /**
         * Open a read-only view of each store's stream table (see {@link Lease#index()}).
         *
         * @return this.
         */
        public Builder indexView()
        {
            this.indexView = true;
            return this;
        }

        /**
         * Run each store's pre-allocator thread (off by default), which creates segments ahead of the appenders.
         *
         * @return this.
         */
        public Builder preallocate()
        {
            this.preallocate = true;
            return this;
        }

        /**
         * Give each store a force observer of its own (see {@link Lease#forceObserver()}).
         *
         * @param observers makes one observer per store, on the thread that opens it.
         * @return this.
         */
        public Builder forceObserver(final Supplier<? extends ForceObserver> observers)
        {
            this.forceObserver = observers;
            return this;
        }

        /**
         * @return the pool.
         */
        public StorePool build()
        {
            return new StorePool(this);
        }
    }
}
