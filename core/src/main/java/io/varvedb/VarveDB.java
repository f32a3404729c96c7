package io.varvedb;

import io.varvedb.counters.ProcessCounters;
import io.varvedb.counters.VarveCounters;
import io.varvedb.internal.counters.CountersFileDescriptor;
import io.varvedb.internal.crypto.KeyFile;
import io.varvedb.internal.crypto.KeyFileDescriptor;
import io.varvedb.internal.crypto.StreamCiphers;
import io.varvedb.internal.counters.StoreCounters;
import io.varvedb.internal.index.BlockDescriptor;
import io.varvedb.internal.index.EventIdTable;
import io.varvedb.internal.index.NameTable;
import io.varvedb.internal.index.NameTableDescriptor;
import io.varvedb.internal.index.StreamIndex;
import io.varvedb.internal.index.StreamIndexDescriptor;
import io.varvedb.internal.io.FileHeaders;
import io.varvedb.internal.io.MappedFile;
import io.varvedb.internal.log.Log;
import io.varvedb.internal.log.ReaderGrace;
import io.varvedb.internal.log.RecordFilter;
import io.varvedb.internal.log.ReplaceResult;
import io.varvedb.internal.log.ScavengeProgress;
import io.varvedb.internal.log.RecordDescriptor;
import io.varvedb.internal.log.RecordStarts;
import io.varvedb.internal.util.WeakRegistry;
import io.varvedb.internal.store.CheckpointStore;
import io.varvedb.internal.store.Flusher;
import io.varvedb.internal.store.MetaDescriptor;
import io.varvedb.internal.process.ProcessRegistry;
import io.varvedb.internal.process.WriterLock;
import io.varvedb.internal.store.BackgroundTask;
import io.varvedb.internal.store.BackgroundWork;
import io.varvedb.internal.store.InvokedBackground;
import io.varvedb.internal.store.OpenRecovery;
import io.varvedb.internal.store.Repairer;
import io.varvedb.internal.store.StoreDirectory;
import io.varvedb.internal.store.Preallocator;
import io.varvedb.internal.store.Recovery;
import io.varvedb.internal.log.RecordChecksum;
import org.agrona.DirectBuffer;
import org.agrona.concurrent.Agent;
import org.agrona.concurrent.BackoffIdleStrategy;
import org.agrona.concurrent.IdleStrategy;
import org.agrona.concurrent.UnsafeBuffer;

import java.io.IOException;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static io.varvedb.internal.index.StreamIndexDescriptor.committedVersion;

/**
 * An embedded, append-only event store in one directory.
 * <pre>{@code
 * try (VarveDB db = VarveDB.open(Path.of("data")))
 * {
 *     Appender appender = db.appender();                   // one per thread
 *     long version = db.streamVersion(productId);          // 0 for a new stream
 *     appender.append(productId, ExpectedVersion.exact(version), STOCK_RESERVED, payload);
 * }
 * catch (ConcurrencyConflictException e)
 * {
 *     // someone appended in between: re-read and decide again
 * }
 * }</pre>
 * Thread-safe. One process at a time may open a directory for writing ({@link #open}); any number may open it
 * with {@link #openReadOnly} and read while the writer appends.
 * <p>
 * Files in the directory: {@code varve.meta} (identity, tail counter), {@code varve.lock} (writer lock),
 * {@code log/*.log} (the log, the source of truth), {@code index/} (the stream index, rebuilt from the log when
 * the store was not closed cleanly).
 */
public final class VarveDB implements AutoCloseable
{
    /** For {@link #readStreamBackward}: start from the stream's latest event. */
    public static final long LATEST_VERSION = Long.MAX_VALUE;
    /** For {@link #readAll} and subscriptions: the start of the log. */
    public static final long START_POSITION = 0;
    /**
     * For subscriptions and processors: start after everything committed so far, with the first event appended
     * from now on (for a stream subscription: the stream's next version).
     */
    public static final long FROM_NOW = -1;
    /** The longest stream name, in bytes of UTF-8 ({@link #streamId(String)}). */
    public static final int MAX_STREAM_NAME_LENGTH = NameTableDescriptor.MAX_NAME_LENGTH;

    private static final long PREALLOCATOR_IDLE_NS = TimeUnit.MILLISECONDS.toNanos(5);
    private static final String LOG_DIRECTORY = "log";
    private static final int SPINS_BEFORE_YIELD = 100;
    private static final int YIELDS_BEFORE_PARK = 100;
    /** How long close() sleeps between looks at a reader whose handler takes long. */
    private static final long READER_PARK_NS = TimeUnit.MICROSECONDS.toNanos(100);
    private static final String INDEX_DIRECTORY = "index";

    private final VarveConfig config;
    private final Path directory;
    private final boolean readOnly;
    private final WriterLock writerLock;
    /** Multi-process mode: the process table, and the watchdog that repairs what dead writer processes left. */
    private final ProcessRegistry registry;
    private final Repairer repairer;
    private final MappedFile meta;
    /** The data keys of an encrypted store opened with its master key; null otherwise. */
    private final KeyFile keys;
    /** Encrypts stream names in an encrypted store opened with its key; null otherwise. */
    private final io.varvedb.internal.crypto.NameCipher nameCipher;
    /** An encrypted store opened read-only without its key ({@link VarveConfig.Builder#readCiphertext}). */
    private final boolean ciphertextOnly;
    private final Log log;
    private final RecordStarts recordStarts;
    private final StreamIndex index;
    /** The event id table, for exactly-once appends; null in a read-only store. */
    private final EventIdTable eventIds;
    /** The open made the event id table again from the whole log (for tests). */
    private boolean eventIdsRebuilt;
    /** Named streams; null until a read-only store finds the file (a store made by an older build has none). */
    private volatile NameTable names;
    /** Guards {@link #names} for a read-only store's late open, and {@link #nameAppender}. */
    private final Object nameLock = new Object();
    /** Writes name records for {@link #streamId(String)}; made at its first use. */
    private Appender nameAppender;
    /** Metadata limits and the log start, as stream reads apply them. */
    private final io.varvedb.internal.store.StreamLifecycle lifecycle =
        new io.varvedb.internal.store.StreamLifecycle(new LifecycleHost());
    private final Flusher flusher;
    /** This instance's counters in varve.counters; null with counters off, or when the file could not be made. */
    private final StoreCounters storeCounters;
    /** The flusher, the pre-allocator and the repairer, run as {@link VarveConfig#backgroundThreading()} says. */
    private final BackgroundWork background;
    /** To count its failures; null without pre-allocation. */
    private final BackgroundTask preallocating;
    private final boolean openedCleanly;
    private final boolean createdNew;
    private final Recovery.Result recovery;
    private final WeakRegistry<Appender> appenders = new WeakRegistry<>();
    private final Set<AutoCloseable> consumers = ConcurrentHashMap.newKeySet();
    private final CheckpointStore checkpoints;
    private final WeakRegistry<ReadContext> allReadContexts = new WeakRegistry<>();
    private final ThreadLocal<ReadContext> readContexts = ThreadLocal.withInitial(() ->
    {
        final ReadContext context = new ReadContext(isReadOnly(), keys());
        allReadContexts.add(context);
        return context;
    });
    private final boolean verifyChecksums;
    private final long committedAtOpen;
    private volatile boolean closed;
    /** Open until the first close() has released the store (its mappings, unless deferred, and its lock). */
    private final CountDownLatch closeDone = new CountDownLatch(1);
    /** Threads of this store (background, running subscriptions, started processors): close() may wait for them. */
    private final Set<Thread> storeThreads = ConcurrentHashMap.newKeySet();
    /** Set after {@link #closed}, once the store's consumers and appenders are done: readers are drained, then
     * the mappings released. */
    private volatile boolean releasing;

    private VarveDB(final VarveConfig requested, final boolean readOnly)
    {
        // before anything is created or locked: without the flag, the first Agrona buffer would fail half-way
        JvmFlags.check();
        if (ByteOrder.nativeOrder() != ByteOrder.LITTLE_ENDIAN)
        {
            throw new UnsupportedOperationException("VarveDB files are little-endian; this platform is not");
        }
        this.directory = requested.directory().toAbsolutePath();
        this.readOnly = readOnly;
        final long openStartNs = System.nanoTime();

        WriterLock heldLock = null;
        ProcessRegistry openedRegistry = null;
        boolean creating = false;
        boolean logExisted = true;
        boolean indexExisted = true;
        MappedFile metaFile = null;
        Log openedLog = null;
        StreamIndex openedIndex = null;
        EventIdTable openedIds = null;
        NameTable openedNames = null;
        BackgroundWork startedBackground = null;
        StoreCounters openedCounters = null;
        KeyFile openedKeys = null;
        try
        {
            if (!readOnly && requested.readCiphertext())
            {
                throw new IllegalArgumentException("readCiphertext is for read-only opens (VarveDB.openReadOnly)");
            }
            final Path metaPath = directory.resolve(MetaDescriptor.FILE_NAME);
            if (readOnly)
            {
                StoreDirectory.refuseNoStore(directory, metaPath);
            }
            else
            {
                StoreDirectory.createDirectory(directory);
                if (!Files.exists(metaPath))
                {
                    // before the lock file is created: a foreign directory is left exactly as it was
                    StoreDirectory.refuseForeignDirectory(directory);
                    // and a shape the config itself cannot hold (events larger than its segments)
                    requested.withShape(requested.segmentSize(), requested.indexCapacity());
                }
                // a wrong key (or none, for an encrypted store) is refused before this open writes anything at
                // all, its lock file included; checked again under the lock, which settles a rotation cut short
                refuseWrongKey(requested, metaPath);
                // single-process mode: exclusive, so this open recovers; multi-process mode: shared, and the
                // open mutex is held until the open is done (only the first opener recovers)
                heldLock = WriterLock.acquire(directory, requested.multiProcess());
                if (requested.replicaOf() == null)
                {
                    // a replica is written by its follower alone until an operator promotes it: refused under the
                    // lock, before recovery or anything else of this open writes
                    final String source = io.varvedb.internal.store.ReplicaMarker.read(directory);
                    if (source != null)
                    {
                        throw new ReplicaStoreException(directory + " is a replica store following " + source +
                            ": only its follower writes to it (open it read-only meanwhile). To make it a primary, " +
                            "stop the follower and promote it: VarveDB.promoteReplica(dir), KafkaReplica.promote(dir) " +
                            "or 'varve replicate --promote " + directory + "'");
                    }
                }
                if (heldLock.multiProcess())
                {
                    // registered at once, before any recovery: a writer refused meanwhile learns who holds the store
                    openedRegistry = ProcessRegistry.open(directory, heldLock.lockFile(), requested.forceObserver());
                    if (heldLock.first())
                    {
                        // nobody else is open: every entry left in the table is a process gone
                        openedRegistry.reset();
                    }
                    openedRegistry.register();
                }
                // under the lock, so that a failed open removes only the directories it made itself
                logExisted = Files.exists(directory.resolve(LOG_DIRECTORY));
                indexExisted = Files.exists(directory.resolve(INDEX_DIRECTORY));
                if (!Files.exists(metaPath))
                {
                    StoreDirectory.refuseForeignDirectory(directory);
                    creating = true;
                    if (requested.encrypted())
                    {
                        // before varve.meta, which says the store is encrypted: a key file without a meta file is
                        // what a creation cut short left, and nothing was ever encrypted with it
                        StoreDirectory.deleteQuietly(directory, KeyFileDescriptor.FILE_NAME,
                            KeyFileDescriptor.NEXT_FILE_NAME, KeyFileDescriptor.OLD_FILE_NAME);
                        openedKeys = KeyFile.create(directory, requested.encryptionKey(),
                            keyCapacity(requested.indexCapacity()), requested.forceObserver());
                    }
                    final byte[] keyFileId = openedKeys == null ? null : openedKeys.storeId();
                    // mapped again below, as for an existing store: this mapping is done with
                    MappedFile.create(metaPath, MetaDescriptor.LENGTH, (buffer) ->
                    {
                        MetaDescriptor.writeHeader(buffer, requested.segmentSize(), requested.indexCapacity(),
                            System.currentTimeMillis());
                        if (keyFileId != null)
                        {
                            buffer.putInt(MetaDescriptor.ENCRYPTED_OFFSET, 1);
                            buffer.putBytes(MetaDescriptor.KEY_FILE_ID_OFFSET, keyFileId);
                        }
                    }, true, requested.forceObserver()).unmap();
                }
            }

            metaFile = MappedFile.open(metaPath, readOnly, requested.forceObserver());
            final UnsafeBuffer metaBuffer = metaFile.buffer();
            FileHeaders.check(metaBuffer, metaPath, MetaDescriptor.LENGTH, MetaDescriptor.MAGIC_OFFSET,
                MetaDescriptor.MAGIC, MetaDescriptor.FORMAT_VERSION_OFFSET, MetaDescriptor.FORMAT_VERSION,
                "store (" + MetaDescriptor.FILE_NAME + ")");
            final int segmentSize = metaBuffer.getInt(MetaDescriptor.SEGMENT_LENGTH_OFFSET);
            final int capacity = metaBuffer.getInt(MetaDescriptor.INDEX_CAPACITY_OFFSET);
            if (Integer.bitCount(segmentSize) != 1 || segmentSize < Log.MIN_SEGMENT_LENGTH ||
                segmentSize > Log.MAX_SEGMENT_LENGTH || capacity < 1 || capacity > StreamIndexDescriptor.MAX_CAPACITY)
            {
                throw new CorruptStoreException(metaPath + ": impossible segment size " + segmentSize +
                    " or index capacity " + capacity);
            }
            if (openedKeys == null)
            {
                // an encrypted store is refused without its key, or with a wrong one, before this open writes
                // anything of it (recovery comes later); a writer joining others settles nothing of the key file
                openedKeys = openKeys(requested, metaBuffer, readOnly, heldLock != null && !heldLock.first());
            }
            this.keys = openedKeys;
            this.nameCipher = keys == null ? null : new io.varvedb.internal.crypto.NameCipher(keys.nameKey());
            this.ciphertextOnly = keys == null && isEncrypted(metaBuffer, directory);
            this.config = requested.withShape(segmentSize, capacity);
            this.createdNew = creating;
            this.verifyChecksums = config.verifyChecksumsOnRead();
            this.writerLock = heldLock;
            this.meta = metaFile;
            openedLog = new Log(directory.resolve(LOG_DIRECTORY), metaBuffer, segmentSize, readOnly,
                config.forceObserver());
            final boolean multi = heldLock != null && heldLock.multiProcess();
            if (multi)
            {
                openedLog.shareWith(heldLock.lockFile());
            }
            this.log = openedLog;
            // replaced segment mappings are released once every read section that may hold them has ended
            openedLog.readerGrace(this::readersNow);
            openedLog.stableBound(this::stableBound);
            if (!readOnly)
            {
                // a rewrite killed before its rename left a temporary file that was never part of the log
                openedLog.deleteCompactionLeftovers();
            }
            this.recordStarts = new RecordStarts(log, readOnly);
            this.checkpoints = new CheckpointStore(directory);

            final Path indexDirectory = directory.resolve(INDEX_DIRECTORY);
            if (readOnly)
            {
                if (log.tail() == 0 && !StreamIndex.exists(indexDirectory))
                {
                    // a writer is creating the store (varve.meta comes first): there is no store to read yet, and a
                    // follower waiting for one retries on this, not on a disk error
                    throw new NoStoreException("no VarveDB store at " + directory + " yet: a writer is creating it " +
                        "(it has " + MetaDescriptor.FILE_NAME + " but no stream index)");
                }
                openedIndex = StreamIndex.open(indexDirectory, true);
                this.index = openedIndex;
                openedNames = NameTable.exists(indexDirectory) ?
                    NameTable.open(indexDirectory, true, config.forceObserver()) : null;
                withNameCipher(openedNames);
                this.names = openedNames;
                final String damage = config.verifyIndexOnOpen() ?
                    OpenRecovery.checkReadOnlyIndex(metaBuffer, log, index) : null;
                if (damage != null)
                {
                    throw new CorruptStoreException("the stream index of " + directory + " disagrees with the log: " +
                        damage + "; open the store for writing once to rebuild the index from the log");
                }
                this.openedCleanly = metaBuffer.getIntVolatile(MetaDescriptor.CLEAN_SHUTDOWN_OFFSET) ==
                    MetaDescriptor.CLEAN;
                this.recovery = null;
                this.flusher = null;
                this.background = null;
                this.preallocating = null;
                this.registry = null;
                this.repairer = null;
                // a durable position beyond the tail is damage to varve.meta, not a promise: never trust it further
                final long durable = OpenRecovery.durableWithinTail(meta.buffer(), log);
                // refuse what the writer refuses: a missing segment, or log directory, is never the end of the log
                OpenRecovery.checkSegmentsPresent(log, durable);
                log.checkNoGap();
                this.committedAtOpen = durable;
                this.eventIds = null;
                // taken once the open can no longer fail: a failed open leaves no instance in varve.counters
                openedCounters = openCounters();
                this.storeCounters = openedCounters;
            }
            else
            {
                if (!heldLock.first())
                {
                    // Multi-process mode, and other writers have the store open: it is live, and theirs as much as
                    // ours. Nothing is recovered, truncated, rebuilt or re-zeroed; this process maps what they use.
                    openedIndex = StreamIndex.open(indexDirectory, false, config.forceObserver());
                    this.index = openedIndex;
                    index.shareWith(heldLock.lockFile());
                    openedIds = EventIdTable.open(indexDirectory, false, config.forceObserver());
                    openedIds.shareWith(heldLock.lockFile());
                    // the first writer made (and recovered) it; the table is shared as the index is, by its CASes
                    openedNames = NameTable.open(indexDirectory, false, config.forceObserver());
                    withNameCipher(openedNames);
                    this.names = openedNames;
                    // sound as the others keep it, with nothing to recover: see openedCleanly()
                    this.openedCleanly = true;
                    this.recovery = null;
                    // every record below the durable position is published (it was forced from a published frontier)
                    this.committedAtOpen = OpenRecovery.durableWithinTail(meta.buffer(), log);
                    log.creatableFrom(log.segmentOf(log.tail()));
                }
                else
                {
                    // the only writer: check the index, recover the log after a crash, make ready for appends.
                    // A single-process store makes its name table at its first name, not here: a store that never
                    // names a stream spends no disk on it, and an open on a full disk never fails for it. Writer
                    // processes of a shared store make it at once, under the open mutex, so that they share one.
                    openedNames = multi || NameTable.exists(indexDirectory) ? NameTable.openForWriter(
                        indexDirectory, config.nameCapacity(), config.forceObserver()) : null;
                    withNameCipher(openedNames);
                    this.names = openedNames;
                    final OpenRecovery recovered = OpenRecovery.run(metaFile, log, recordStarts, checkpoints,
                        indexDirectory, capacity, config.indexBlocksPerChunk(), config.verifyIndexOnOpen(),
                        config.forceObserver(), multi ? heldLock.lockFile() : null, config.durability().ordinal(),
                        config.eventIdCapacity(), openedNames);
                    openedIndex = recovered.index();
                    openedIds = recovered.eventIds();
                    this.eventIdsRebuilt = recovered.eventIdsRebuilt();
                    this.index = openedIndex;
                    this.openedCleanly = recovered.openedCleanly();
                    this.recovery = recovered.recovery();
                    this.committedAtOpen = recovered.committedAtOpen();
                    if (recovery != null && recovery.scannedFrom() == 0 && log.hasCompactedSegments())
                    {
                        // the index was rebuilt from a scavenged log: deleted streams' versions are in metadata
                        restoreDeletedVersions();
                    }
                }
                this.eventIds = openedIds;
                this.registry = openedRegistry;
                // taken once recovery is done (what fails an open on a damaged store): a failed open leaves no
                // instance in varve.counters, and no history of the last one is pushed out for it
                openedCounters = openCounters();
                this.storeCounters = openedCounters;
                log.counters(openedCounters);
                this.flusher = newFlusher(metaBuffer);
                if (keys != null)
                {
                    if (heldLock.first())
                    {
                        // nobody else writes: shreds cut short are finished, claims never completed discarded
                        keys.settleAsSoleWriter();
                    }
                    // a generation of this open's own for its nonces, durable before its first append
                    keys.takeGeneration();
                    // no event is forced before the key it is encrypted with
                    flusher.beforeLogForce(keys::forceDirty);
                }
                if (heldLock.first())
                {
                    // what recovery repaired, and the dirty mark, reach the disk before anything new is appended
                    flusher.checkpoint();
                    metaFile.force();
                }
                this.repairer = multi ? new Repairer(log, index, registry, committedAtOpen) : null;
                if (repairer != null)
                {
                    repairer.eventIds(eventIds);
                }
                this.background = new BackgroundWork(config.backgroundThreading(), config.threadFactory(),
                    config.backgroundIdleStrategy(), config.backgroundErrorHandler());
                if (openedCounters != null)
                {
                    final StoreCounters counting = openedCounters;
                    background.countFailures((task, error) ->
                        counting.error(task + ": " + error.getClass().getSimpleName()));
                }
                if (NameTable.exists(directory.resolve(INDEX_DIRECTORY)))
                {
                    // a store from before the flag: processes without the table open learn of it here
                    meta.buffer().putIntRelease(MetaDescriptor.NAMES_MADE_OFFSET, 1);
                }
                this.preallocating = startBackground();
                startedBackground = background;
            }
            if (openedCounters != null)
            {
                openedCounters.opened(recovery == null ? 0 : recovery.events(),
                    recovery == null ? 0 : recovery.discarded(),
                    TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - openStartNs));
            }
            if (heldLock != null)
            {
                // multi-process mode: a member now; the next opener may come in
                heldLock.openDone();
            }
        }
        catch (final Throwable ex)
        {
            // A failed open, whatever failed (an Error too), leaves no mapping behind for the collector to find (no
            // other thread has seen them), and nothing it created on disk; what existed before stays as it was.
            if (startedBackground != null)
            {
                // its threads use the mappings released below
                startedBackground.close();
            }
            if (openedLog != null)
            {
                openedLog.close();
            }
            if (openedIndex != null)
            {
                openedIndex.close();
            }
            if (openedIds != null)
            {
                openedIds.close();
            }
            if (openedNames != null)
            {
                openedNames.close();
            }
            if (metaFile != null)
            {
                metaFile.unmap();
            }
            if (openedKeys != null)
            {
                openedKeys.close();
            }
            if (openedCounters != null)
            {
                openedCounters.abandon();
            }
            if (creating)
            {
                // a store that could not be created whole (a full disk, say) must not leave a meta file whose
                // shape every later open would have to take: remove what this open made, under the lock
                StoreDirectory.deleteQuietly(directory, MetaDescriptor.FILE_NAME, INDEX_DIRECTORY, LOG_DIRECTORY,
                    CountersFileDescriptor.FILE_NAME, openedKeys != null ? KeyFileDescriptor.FILE_NAME : null);
            }
            else
            {
                // an existing store refused (its log directory gone, say): the directories this open made go
                StoreDirectory.deleteQuietly(directory, logExisted ? null : LOG_DIRECTORY,
                    indexExisted ? null : INDEX_DIRECTORY);
            }
            if (openedRegistry != null)
            {
                openedRegistry.unregister();
                openedRegistry.close();
            }
            if (heldLock != null)
            {
                // a lock file this open created is removed while still held: an open that opened this file
                // meanwhile and locks it after the release finds its name gone or another file's, and starts again
                heldLock.release(heldLock.created());
            }
            if (ex instanceof IOException)
            {
                throw new StoreIOException("cannot open " + directory + ": " + ex.getMessage(), ex);
            }
            if (ex instanceof Error)
            {
                throw (Error)ex;
            }
            throw (RuntimeException)ex;
        }
    }

    private StoreCounters openCounters()
    {
        return config.counters() ? StoreCounters.open(directory, readOnly ? CountersFileDescriptor.ROLE_READER :
            config.multiProcess() ? CountersFileDescriptor.ROLE_SHARED_WRITER : CountersFileDescriptor.ROLE_WRITER,
            config.recordAppendLatency()) : null;
    }

    /**
     * @param indexCapacity the store's index capacity.
     * @return the entries of a new key file: a key per stream the index can hold, and room for the keys made and
     * discarded when writer processes race to make the same stream's.
     */
    private static int keyCapacity(final int indexCapacity)
    {
        return (int)Math.min((long)indexCapacity + 4096,
            (Integer.MAX_VALUE - KeyFileDescriptor.HEADER_LENGTH) / KeyFileDescriptor.ENTRY_LENGTH);
    }

    private NameTable withNameCipher(final NameTable table)
    {
        if (table != null)
        {
            table.cipher(nameCipher);
            if (ciphertextOnly)
            {
                table.hideNames();
            }
        }
        return table;
    }

    private static boolean isEncrypted(final UnsafeBuffer metaBuffer, final Path directory)
    {
        return metaBuffer.getIntVolatile(MetaDescriptor.ENCRYPTED_OFFSET) == 1 || KeyFile.exists(directory);
    }

    /**
     * The checks of {@link #openKeys}, reading only, before the lock: an existing store's {@code varve.meta} flag
     * and key file against the key given.
     */
    private void refuseWrongKey(final VarveConfig requested, final Path metaPath) throws IOException
    {
        if (!Files.exists(metaPath))
        {
            return;
        }
        final UnsafeBuffer flag = new UnsafeBuffer(new byte[Integer.BYTES + KeyFileDescriptor.STORE_ID_LENGTH]);
        try (java.nio.channels.FileChannel channel = java.nio.channels.FileChannel.open(metaPath))
        {
            channel.read(java.nio.ByteBuffer.wrap(flag.byteArray()), MetaDescriptor.ENCRYPTED_OFFSET);
        }
        catch (final java.nio.file.NoSuchFileException ex)
        {
            return;
        }
        final boolean encrypted = flag.getInt(0) == 1 || KeyFile.exists(directory);
        if (refuseKeyMismatch(requested, encrypted, false))
        {
            KeyFile.check(directory, requested.encryptionKey());
            final byte[] id = KeyFile.storeIdOf(directory);
            if (id != null && !java.util.Arrays.equals(id, java.util.Arrays.copyOfRange(flag.byteArray(),
                Integer.BYTES, Integer.BYTES + KeyFileDescriptor.STORE_ID_LENGTH)))
            {
                throw foreignKeyFile();
            }
        }
    }

    /**
     * @return true if the store is encrypted and a key was given (to be checked against the key file).
     * @throws EncryptionKeyException if a key was given for a clear store, or none for an encrypted one.
     */
    private boolean refuseKeyMismatch(final VarveConfig requested, final boolean encrypted, final boolean readOnly)
    {
        if (!encrypted)
        {
            if (requested.encrypted())
            {
                throw new EncryptionKeyException(directory + " was created without encryption, and a store is " +
                    "encrypted (or not) from its creation: open it without a master key, or copy its events into a " +
                    "new store created with VarveConfig.Builder.encryption(masterKey). Nothing was written");
            }
            return false;
        }
        if (!requested.encrypted())
        {
            if (readOnly && requested.readCiphertext())
            {
                return false;
            }
            throw new EncryptionKeyException(directory + " is an encrypted store: open it with its master key " +
                "(VarveConfig.Builder.encryption(masterKey)). Nothing was written");
        }
        return true;
    }

    private EncryptionKeyException foreignKeyFile()
    {
        return new EncryptionKeyException(directory.resolve(KeyFileDescriptor.FILE_NAME) + " is the key file of " +
            "another store (its store id is not the one " + MetaDescriptor.FILE_NAME + " records): its keys cannot " +
            "decrypt this store's events. Restore this store's own key file. Nothing was written");
    }

    private KeyFile openKeys(
        final VarveConfig requested, final UnsafeBuffer metaBuffer, final boolean readOnly, final boolean joining)
    {
        final boolean encrypted = isEncrypted(metaBuffer, directory);
        if (!refuseKeyMismatch(requested, encrypted, readOnly))
        {
            return null;
        }
        final KeyFile opened = joining ? KeyFile.join(directory, requested.encryptionKey(), requested.forceObserver()) :
            KeyFile.open(directory, requested.encryptionKey(), readOnly, requested.forceObserver());
        final byte[] expected = new byte[KeyFileDescriptor.STORE_ID_LENGTH];
        metaBuffer.getBytes(MetaDescriptor.KEY_FILE_ID_OFFSET, expected);
        if (!java.util.Arrays.equals(expected, opened.storeId()))
        {
            opened.close();
            throw foreignKeyFile();
        }
        return opened;
    }

    private Flusher newFlusher(final UnsafeBuffer metaBuffer)
    {
        return new Flusher(log, metaBuffer, committedAtOpen,
            config.durability() == Durability.GROUP_COMMIT ?
                TimeUnit.MICROSECONDS.toNanos(config.flushIntervalMicros()) : 0,
            TimeUnit.MILLISECONDS.toNanos(config.checkpointIntervalMillis()), this::oldestInFlight,
            config.durability() != Durability.OS, storeCounters);
    }

    /**
     * Make the first appends' space, then start the flusher, (if configured) the pre-allocator and (in multi-process
     * mode) the repairer, on the threads the configuration asks for.
     *
     * @return the pre-allocator's task, or null.
     */
    private BackgroundTask startBackground()
    {
        // An open must succeed on a full disk (to serve reads, and appends that fit the current segment): the
        // segment appends go to next, the space of the first appends and the first index blocks are made now only
        // if the disk has room for them, so the first appends need not wait; the rest of the lead and the segments
        // beyond are made in the background. What cannot be made now the pre-allocator keeps trying, and reports;
        // an appender that needs a file nobody could make tries itself and gets the file system's error.
        try
        {
            log.allocateAtOpen();
            index.preallocate();
        }
        catch (final StoreIOException ex)
        {
            // no room: counted and reported by the pre-allocator's first duty cycle, which meets it too
        }
        // the counters' levels ride on the flusher's duty cycle (at most 100 ms apart): no thread of their own
        background.add(storeCounters == null ? flusher : new FlusherAndCounters(new CountersAgent()),
            flusher.idleNs());
        BackgroundTask preallocatorTask = null;
        if (config.preallocate())
        {
            final Preallocator preallocator = new Preallocator(log, index);
            preallocator.eventIds(eventIds);
            final BackgroundTask task = background.add(preallocator, PREALLOCATOR_IDLE_NS);
            // a segment roll, or an appender that had to allocate for itself, wakes the pre-allocator at once, even
            // while it pauses after a failure: it is behind, and that appender found room (in INVOKED mode it runs
            // at the application's next duty cycle)
            log.onBehind(() ->
            {
                preallocator.retryNow();
                background.wake(task);
            });
            preallocatorTask = task;
        }
        if (repairer != null)
        {
            background.add(repairer, Repairer.PERIOD_NS);
        }

        if (config.retainLogFor() != null || config.retainLogBytes() > 0)
        {
            background.add(new Agent()
            {
                @Override
                public int doWork()
                {
                    return enforceRetention();
                }

                @Override
                public String roleName()
                {
                    return "varve-retention";
                }
            }, RETENTION_PERIOD_NS);
        }
        background.start();
        storeThreads.addAll(background.threads());
        return preallocatorTask;
    }


    /**
     * Open the store in {@code directory} for reading and writing, creating it with the defaults if needed.
     *
     * @param directory the store's directory.
     * @return the open store.
     * @throws StoreLockedException if another process (or this one) has it open for writing.
     * @throws StoreFormatException if the directory holds something that is not a VarveDB store.
     * @throws JvmFlagMissingException if the JVM was started without
     *                                 {@code --add-exports java.base/jdk.internal.misc=ALL-UNNAMED}.
     */
    public static VarveDB open(final Path directory)
    {
        return open(VarveConfig.builder(directory).build());
    }

    /**
     * Open (or create) a store as configured.
     *
     * @param config the configuration.
     * @return the open store.
     */
    public static VarveDB open(final VarveConfig config)
    {
        final VarveDB db = new VarveDB(config, false);
        if (config.replicaOf() != null)
        {
            try
            {
                db.becomeReplica(config.replicaOf());
            }
            catch (final RuntimeException | Error ex)
            {
                db.close();
                throw ex;
            }
        }
        return db;
    }

    private void becomeReplica(final String source)
    {
        try
        {
            final String current = io.varvedb.internal.store.ReplicaMarker.read(directory);
            if (current == null)
            {
                if (streamCount() > 0)
                {
                    throw new ReplicaStoreException(directory + " holds events of its own (" + streamCount() +
                        " streams) and is no replica: a replica of " + source + " starts from an empty store");
                }
                io.varvedb.internal.store.ReplicaMarker.write(directory, source);
            }
            else if (!current.equals(source))
            {
                throw new ReplicaStoreException(directory + " is a replica of " + current + ", not of " + source);
            }
        }
        catch (final IOException ex)
        {
            throw new StoreIOException("cannot mark " + directory + " as a replica: " + ex.getMessage(), ex);
        }
    }

    /**
     * What a store directory's replica follows.
     *
     * @param directory a store directory.
     * @return the source its replica follows ({@link VarveConfig.Builder#replicaOf}), or null if it is no replica.
     * @throws StoreIOException if the mark exists but cannot be read.
     */
    public static String replicaSource(final Path directory)
    {
        try
        {
            return io.varvedb.internal.store.ReplicaMarker.read(directory);
        }
        catch (final IOException ex)
        {
            throw new StoreIOException("cannot read " + directory + "'s replica mark: " + ex.getMessage(), ex);
        }
    }

    /**
     * Promote a replica store to a primary: remove its mark, durably, so that ordinary writers may open it and go on
     * from the versions it holds. Its follower must be stopped first: the store must not be open for writing.
     *
     * @param directory the replica's directory.
     * @return the source it followed, or null if it was no replica (nothing changed).
     * @throws StoreLockedException if the store is open for writing (its follower still runs).
     * @throws StoreIOException     if the mark cannot be removed.
     */
    public static String promoteReplica(final Path directory)
    {
        final Path dir = directory.toAbsolutePath();
        final String source = replicaSource(dir);
        if (source == null)
        {
            return null;
        }
        WriterLock lock = null;
        try
        {
            lock = WriterLock.acquire(dir, false);
            io.varvedb.internal.store.ReplicaMarker.remove(dir);
            return source;
        }
        catch (final IOException ex)
        {
            throw new StoreIOException("cannot promote " + dir + ": " + ex.getMessage(), ex);
        }
        finally
        {
            if (lock != null)
            {
                lock.release(false);
            }
        }
    }

    /**
     * Open an existing store for reading only, for example from another process while the writer appends.
     * Takes no lock and repairs nothing: it never writes the log, the index or {@code varve.meta}. The one thing
     * it may write in the store's directory is what its processors need, which a projection in another process
     * is for: {@link #processor} (and {@link #resetCheckpoint}, {@link #deleteCheckpoint}) create and update
     * {@code checkpoints/<name>.ckpt} and {@code checkpoints/<name>.lock}, and only those. Where this process
     * cannot write, they throw {@link ReadOnlyStoreException} naming the directory; subscriptions write nothing.
     *
     * @param directory the store's directory.
     * @return the open store.
     * @throws NoStoreException if there is no store in {@code directory} (no such directory, or no
     *                          {@code varve.meta} in it): nothing to open yet, not a disk error.
     * @throws StoreIOException if the file system refuses to read the store's files.
     */
    public static VarveDB openReadOnly(final Path directory)
    {
        return openReadOnly(VarveConfig.builder(directory).build());
    }

    /**
     * {@link #openReadOnly(Path)} with settings that apply to readers, such as
     * {@link VarveConfig#verifyChecksumsOnRead()}; the store's shape comes from its files.
     *
     * @param config the configuration; its directory names the store.
     * @return the open store.
     * @throws NoStoreException if there is no store in the configured directory.
     */
    public static VarveDB openReadOnly(final VarveConfig config)
    {
        return new VarveDB(config, true);
    }

    /**
     * A new appender. Cheap; keep one per thread and reuse it.
     *
     * @return the appender.
     */
    public Appender appender()
    {
        checkOpen();
        if (readOnly)
        {
            throw new ReadOnlyStoreException("the store at " + directory + " is open read-only");
        }
        final Appender appender = new Appender(this, log, index, flusher, config, registry, repairer, eventIds);
        // held weakly: an appender dropped without close() is collected, and so is its entry here
        appender.registration = appenders.add(appender);
        if (closed)
        {
            appender.closeGuard();
            appenders.remove(appender.registration);
            throw closedException();
        }
        return appender;
    }

    void release(final Appender appender)
    {
        appenders.remove(appender.registration);
    }

    /**
     * @return appenders this store still tracks (for tests: forgotten ones must not pile up).
     */
    int trackedAppenders()
    {
        return appenders.size();
    }

    private long oldestInFlight()
    {
        if (registry != null)
        {
            // every process's appenders, this one's included (their lanes carry the same marks)
            return registry.oldestInFlight();
        }
        final long[] oldest = { Long.MAX_VALUE };
        appenders.forEach((appender) -> oldest[0] = Math.min(oldest[0], appender.inFlightFrom()));
        return oldest[0];
    }

    /**
     * The version the stream's next append follows: its last version, whatever its metadata hides (a stream
     * deleted softly, or with limits, keeps counting, so optimistic concurrency holds across a delete).
     *
     * @param streamId a positive stream id, or a named stream's.
     * @return the stream's version: the number of events appended to it, 0 if none.
     * @throws StreamDeletedException if the stream is tombstoned.
     */
    public long streamVersion(final long streamId)
    {
        checkStreamId(streamId);
        final ReadContext context = enterRead();
        try
        {
            final int slot = index.findSlot(streamId);
            if (slot < 0)
            {
                return 0;
            }
            final long state = index.state(slot);
            refuseTombstoned(streamId, state, "its version cannot be read");
            return committedVersion(state);
        }
        finally
        {
            exitRead(context);
        }
    }

    // -------------------------------------------------------------------------------------- stream lifecycle

    /**
     * Set a stream's metadata limits ({@link StreamMetadata}: max count, max age, truncate before). They apply at
     * once, in every process, to {@link #readStream}, {@link #readStreamBackward} and stream subscriptions: the
     * events they hide are invisible from the moment this returns, though their space comes back only with
     * {@link #scavenge()}. The metadata is appended as an event of the stream's metadata stream
     * ({@link StreamMetadata#metadataStreamName}), so it is durable as the store's durability mode makes events,
     * recovered from the log, and visible to subscriptions to all. The last metadata set wins. Costs one append
     * (and, the first time, the creation of the metadata stream's name).
     *
     * @param streamId the stream (it need not exist yet).
     * @param metadata its limits; {@link StreamMetadata#NONE} lifts them (what was scavenged stays gone).
     * @return the metadata event's version in the metadata stream.
     * @throws StreamDeletedException  if the stream is tombstoned.
     * @throws ReadOnlyStoreException  if the store is open read-only.
     * @throws IllegalArgumentException if the stream is itself a metadata stream.
     */
    public long setStreamMetadata(final long streamId, final StreamMetadata metadata)
    {
        java.util.Objects.requireNonNull(metadata, "metadata");
        checkStreamId(streamId);
        checkWritable("set stream metadata");
        refuseSystemStream(streamId);
        refuseTombstoned(streamId, streamState(streamId), "its metadata cannot be set");
        final String name = streamId < 0 ? streamName(streamId) : null;
        final long metadataStream = systemStreamId(StreamMetadata.metadataStreamName(streamId, name));
        final byte[] payload = new byte[io.varvedb.internal.store.StreamMetadataDescriptor.LENGTH];
        io.varvedb.internal.store.StreamMetadataDescriptor.write(new UnsafeBuffer(payload), 0, streamId,
            metadata.maxCount(), metadata.maxAgeNanos(), metadata.truncateBefore(), metadata.deleted());
        synchronized (nameLock)
        {
            checkOpen();
            return systemAppender().append(metadataStream, ExpectedVersion.ANY, StreamMetadata.EVENT_TYPE, payload);
        }
    }

    /**
     * @param stream   a named stream (created if new).
     * @param metadata its limits.
     * @return the metadata event's version.
     * @see #setStreamMetadata(long, StreamMetadata)
     */
    public long setStreamMetadata(final String stream, final StreamMetadata metadata)
    {
        return setStreamMetadata(streamId(stream), metadata);
    }

    /**
     * @param streamId a stream.
     * @return its metadata now, {@link StreamMetadata#NONE} if none was set.
     */
    public StreamMetadata streamMetadata(final long streamId)
    {
        checkStreamId(streamId);
        final ReadContext context = enterRead();
        try
        {
            return lifecycle.metadata(streamId);
        }
        finally
        {
            exitRead(context);
        }
    }

    /**
     * @param stream a named stream.
     * @return its metadata now, {@link StreamMetadata#NONE} if none was set or the name does not exist.
     */
    public StreamMetadata streamMetadata(final String stream)
    {
        final long streamId = findStreamId(stream);
        return streamId == 0 ? StreamMetadata.NONE : streamMetadata(streamId);
    }

    /**
     * Delete a stream softly, the way KurrentDB does: its events up to its current version become invisible (it
     * reads as empty, {@link #streamMetadata} says {@code deleted}), and the next append continues its version
     * numbering, so optimistic concurrency holds: {@code ExpectedVersion.exact(streamVersion(id))} still works,
     * and a writer that read the stream before the delete still conflicts. Appends after the delete are visible.
     * It is metadata ({@code truncateBefore = version + 1}, {@code deleted}): one append, and
     * {@link #scavenge()} gives the space back. An event appended concurrently with the delete, after the
     * version it checked, stays visible.
     *
     * @param streamId the stream.
     * @param expected what its version must be ({@link ExpectedVersion#ANY} for whatever it is).
     * @return the version deleted up to (the stream's version at the delete).
     * @throws ConcurrencyConflictException if the stream is not at the expected version; nothing is written.
     * @throws StreamDeletedException       if it is tombstoned.
     */
    public long deleteStream(final long streamId, final ExpectedVersion expected)
    {
        java.util.Objects.requireNonNull(expected, "expected");
        checkStreamId(streamId);
        checkWritable("delete a stream");
        refuseSystemStream(streamId);
        synchronized (lifecycleLock)
        {
            final long state = streamState(streamId);
            refuseTombstoned(streamId, state, "it cannot be deleted again");
            final long version = state < 0 ? 0 : committedVersion(state);
            if (!ExpectedVersion.isSatisfiedBy(expected.value(), version))
            {
                throw new ConcurrencyConflictException(streamId, expected.value(), version);
            }
            final StreamMetadata current = streamMetadata(streamId);
            setStreamMetadata(streamId, StreamMetadata.of(current.maxCount(), current.maxAgeNanos(), version + 1,
                true));
            return version;
        }
    }

    /**
     * @param stream   a named stream.
     * @param expected what its version must be.
     * @return the version deleted up to.
     * @see #deleteStream(long, ExpectedVersion)
     */
    public long deleteStream(final String stream, final ExpectedVersion expected)
    {
        return deleteStream(streamId(stream), expected);
    }

    /**
     * Delete a stream for good (hard delete, KurrentDB's tombstone): a tombstone event is appended as its last
     * event, with the same single compare-and-swap an append takes, so it is atomic with appends in every process:
     * after it, every append to the stream throws {@link StreamDeletedException}, whatever its expected version, and
     * so do reads of it, stream subscriptions and {@link #streamVersion}. The tombstone shows in the global log
     * ({@link RecordedEvent#isTombstone()}) and survives every scavenge, so a rebuilt index still knows; the
     * stream's other events are dropped by the next {@link #scavenge()}. The id (or name) is never reused.
     *
     * @param streamId the stream (it need not exist: then it can never be created).
     * @param expected what its version must be.
     * @return the tombstone's version (the stream's version before it, plus one).
     * @throws ConcurrencyConflictException if the stream is not at the expected version; nothing is written.
     * @throws StreamDeletedException       if it is tombstoned already.
     */
    public long tombstoneStream(final long streamId, final ExpectedVersion expected)
    {
        java.util.Objects.requireNonNull(expected, "expected");
        checkStreamId(streamId);
        checkWritable("tombstone a stream");
        refuseSystemStream(streamId);
        synchronized (nameLock)
        {
            checkOpen();
            return systemAppender().appendTombstone(streamId, expected);
        }
    }

    /**
     * @param stream   a named stream.
     * @param expected what its version must be.
     * @return the tombstone's version.
     * @see #tombstoneStream(long, ExpectedVersion)
     */
    public long tombstoneStream(final String stream, final ExpectedVersion expected)
    {
        return tombstoneStream(streamId(stream), expected);
    }

    /**
     * @param streamId a stream.
     * @return true if it is tombstoned (deleted for good).
     */
    public boolean isTombstoned(final long streamId)
    {
        checkStreamId(streamId);
        final long state = streamState(streamId);
        return state >= 0 && StreamIndexDescriptor.isTombstoned(state);
    }

    /**
     * Crypto-shred a stream of an encrypted store: destroy its data key, durably (the key file's entry is
     * overwritten with zeros and forced; a rotation cut short leaves no other copy, see the README). From then on
     * its events can never be decrypted, by anyone: reads of the stream ({@link #readStream},
     * {@link #readStreamBackward}, {@link #readEvent}, subscriptions to it) throw
     * {@link StreamShreddedException}, appends to it too; {@link #readAll} and subscriptions to all skip its events;
     * {@link #scavenge} drops them. The stream's id (or name), version and metadata stay. The store stays
     * consistent: the index and the log are untouched. A stream with no event yet is shredded too, so that it can
     * never get a key. Readers in other processes that have the key in memory stop at their next event of the
     * stream, as they check the key's state at each.
     *
     * @param streamId the stream.
     * @return true if a key was destroyed now; false if it had none or was shredded before.
     * @throws IllegalStateException  if the store is not encrypted (or was opened without its key).
     * @throws ReadOnlyStoreException if the store is open read-only.
     */
    public boolean shredStream(final long streamId)
    {
        checkStreamId(streamId);
        checkOpen();
        checkWritable("shred a stream");
        refuseSystemStream(streamId);
        requireKeys("shred a stream");
        return keys.shred(streamId);
    }

    /**
     * {@link #shredStream(long)} by name.
     *
     * @param stream the stream's name.
     * @return true if a key was destroyed now.
     */
    public boolean shredStream(final String stream)
    {
        return shredStream(streamId(stream));
    }

    /**
     * @param streamId a stream.
     * @return true if it was shredded ({@link #shredStream}); false in a store that is not encrypted.
     */
    public boolean isShredded(final long streamId)
    {
        checkStreamId(streamId);
        checkOpen();
        return keys != null && keys.isStreamShredded(streamId);
    }

    /**
     * @return true if the store is encrypted at rest ({@link VarveConfig.Builder#encryption}).
     */
    public boolean isEncrypted()
    {
        return keys != null || ciphertextOnly;
    }

    /**
     * Rotate the master key: wrap every stream's data key under {@code newMasterKey}, in one crash-safe step. A
     * new key file is written whole and forced beside the old one, then takes its place by renames; the old one
     * is overwritten with zeros and deleted. A crash at any moment leaves one whole key set: the next writable open
     * settles it with whichever key it is given (the old key if the new file was not complete, else either).
     * From the return on, opens need {@code newMasterKey}. Readers in other processes go on with the data keys
     * they hold; a stream they have not read yet needs the new key ({@link EncryptionKeyException}: open again).
     * Appends and reads of this process go on meanwhile; the events are not touched (their data keys do not
     * change).
     *
     * @param newMasterKey 32 bytes.
     */
    public void rotateMasterKey(final byte[] newMasterKey)
    {
        if (newMasterKey == null || newMasterKey.length != 32)
        {
            throw new IllegalArgumentException("an AES-256 master key has 32 bytes");
        }
        rotateMasterKey(new javax.crypto.spec.SecretKeySpec(newMasterKey, "AES"));
    }

    /**
     * {@link #rotateMasterKey(byte[])} with a key from a key store or KMS.
     *
     * @param newMasterKey an AES-256 key.
     * @throws IllegalStateException  if the store is not encrypted, or other writer processes have it open.
     * @throws ReadOnlyStoreException if the store is open read-only.
     */
    public void rotateMasterKey(final javax.crypto.SecretKey newMasterKey)
    {
        checkOpen();
        checkWritable("rotate the master key");
        requireKeys("rotate the master key");
        if (newMasterKey == null || !"AES".equalsIgnoreCase(newMasterKey.getAlgorithm()))
        {
            throw new IllegalArgumentException("the new master key must be an AES key");
        }
        if (newMasterKey.getEncoded() != null && newMasterKey.getEncoded().length != 32)
        {
            // a shorter key would be taken, and then every open refused: VarveConfig takes AES-256 keys only
            throw new IllegalArgumentException("the new master key must be an AES-256 key (32 bytes), not " +
                newMasterKey.getEncoded().length + " bytes");
        }
        if (registry == null)
        {
            // single-process mode: the writer lock keeps every other writer out
            keys.rotate(newMasterKey);
            return;
        }
        // a shared store: the open mutex keeps new writer processes out while this one rotates (one that had
        // joined would make keys in the file the rotation replaces), and the others must have left
        final io.varvedb.internal.process.LockFile.Mutex opening =
            writerLock.lockFile().mutex(io.varvedb.internal.process.LockFileDescriptor.OPEN);
        opening.lock();
        try
        {
            if (ProcessRegistry.activeParticipants(registry.buffer(), writerLock.lockFile()).size() > 1)
            {
                throw new IllegalStateException("other writer processes have " + directory + " open: a master " +
                    "key rotation needs the store's only writer (they would keep making keys under the old one)");
            }
            keys.rotate(newMasterKey);
        }
        finally
        {
            opening.unlock();
        }
    }

    /**
     * @param streamId a stream an append is about to make the first data key of.
     * @return true if it holds events already: their key is missing (a key file replaced or damaged), and a new
     * key would leave them unreadable for good.
     */
    boolean hasEventsWithoutKey(final long streamId)
    {
        final long state = streamState(streamId);
        return state >= 0 && committedVersion(state) > 0;
    }

    /** The key file, for appenders; null unless the store is encrypted and open with its key. */
    KeyFile keys()
    {
        return keys;
    }

    private void requireKeys(final String what)
    {
        if (keys == null)
        {
            throw new IllegalStateException("cannot " + what + ": the store at " + directory + (ciphertextOnly ?
                " was opened without its master key" : " is not encrypted (VarveConfig.Builder.encryption)"));
        }
    }

    /** A stream read that found nothing to deliver: because the stream was shredded? */
    private void refuseShredded(final long streamId)
    {
        if (keys != null && keys.isStreamShredded(streamId))
        {
            throw new StreamShreddedException(streamId, "stream " + streamId + " was shredded (" + directory +
                "): its data key is destroyed and its events can never be read again");
        }
    }

    /**
     * @param streamId a stream.
     * @return true if it is deleted softly and nothing was appended since ({@link #deleteStream}).
     */
    public boolean isDeleted(final long streamId)
    {
        final StreamMetadata metadata = streamMetadata(streamId);
        final long state = streamState(streamId);
        return metadata.deleted() && (state < 0 ? 0 : committedVersion(state)) < metadata.truncateBefore();
    }

    /**
     * The first version reads of a stream deliver now: 1 unless metadata or retention hide older events.
     *
     * @param streamId a stream.
     * @return the first visible version; above the stream's version when none is visible.
     */
    public long firstVisibleVersion(final long streamId)
    {
        checkStreamId(streamId);
        final ReadContext context = enterRead();
        try
        {
            final int slot = index.findSlot(streamId);
            if (slot < 0)
            {
                return 1;
            }
            return lifecycle.firstVisible(streamId, slot, committedVersion(index.state(slot)));
        }
        finally
        {
            exitRead(context);
        }
    }

    /** Serialises soft deletes within this process (a check of the version, then the metadata append). */
    private final Object lifecycleLock = new Object();

    /** @return the stream's slot state, or -1 if it has no slot. */
    private long streamState(final long streamId)
    {
        final ReadContext context = enterRead();
        try
        {
            final int slot = index.findSlot(streamId);
            return slot < 0 ? -1 : index.state(slot);
        }
        finally
        {
            exitRead(context);
        }
    }

    private void refuseTombstoned(final long streamId, final long state, final String what)
    {
        if (state >= 0 && StreamIndexDescriptor.isTombstoned(state))
        {
            throw new StreamDeletedException(streamId, "stream " + streamId + " was deleted for good " +
                "(tombstoned at version " + committedVersion(state) + "): " + what);
        }
    }

    private void refuseSystemStream(final long streamId)
    {
        if (isSystemStream(streamId))
        {
            throw new IllegalArgumentException("stream " + streamId + " (\"" + streamName(streamId) + "\") is a " +
                "metadata stream: its own lifecycle is the store's");
        }
    }

    private void checkWritable(final String what)
    {
        checkOpen();
        if (readOnly)
        {
            throw new ReadOnlyStoreException("cannot " + what + ": the store at " + directory + " is open read-only");
        }
    }

    /** The store as {@link io.varvedb.internal.store.StreamLifecycle} sees it. */
    private final class LifecycleHost implements io.varvedb.internal.store.StreamLifecycle.Host
    {
        @Override
        public NameTable names()
        {
            final NameTable table = names;
            if (table == null && meta.buffer().getIntVolatile(MetaDescriptor.NAMES_MADE_OFFSET) != 0)
            {
                // another process made the table (metadata may be in it): open it as a name operation would
                return nameTable();
            }
            return table;
        }

        @Override
        public long findName(final String name)
        {
            final NameTable table = names;
            return table == null ? 0 : table.find(name.getBytes(java.nio.charset.StandardCharsets.UTF_8));
        }

        @Override
        public long committedVersion(final long streamId)
        {
            final int slot = index.findSlot(streamId);
            return slot < 0 ? -1 : StreamIndexDescriptor.committedVersion(index.state(slot));
        }

        @Override
        public StreamMetadata metadataAt(final long metadataStream, final long version, final long target)
        {
            final StreamMetadata[] found = new StreamMetadata[1];
            // the last valid metadata event at or before the version: an event written to the metadata stream by
            // other means than setStreamMetadata is passed over
            readStreamBackward(metadataStream, version, Integer.MAX_VALUE, (event) ->
            {
                if (found[0] == null && event.eventType() == StreamMetadata.EVENT_TYPE &&
                    io.varvedb.internal.store.StreamMetadataDescriptor.isValid(event.payload(), 0,
                        event.payloadLength()) && event.payload().getLong(
                        io.varvedb.internal.store.StreamMetadataDescriptor.TARGET_OFFSET) == target)
                {
                    final DirectBuffer payload = event.payload();
                    found[0] = StreamMetadata.of(
                        payload.getLong(io.varvedb.internal.store.StreamMetadataDescriptor.MAX_COUNT_OFFSET),
                        payload.getLong(io.varvedb.internal.store.StreamMetadataDescriptor.MAX_AGE_OFFSET),
                        payload.getLong(io.varvedb.internal.store.StreamMetadataDescriptor.TRUNCATE_BEFORE_OFFSET),
                        (payload.getInt(io.varvedb.internal.store.StreamMetadataDescriptor.FLAGS_OFFSET) &
                            io.varvedb.internal.store.StreamMetadataDescriptor.FLAG_DELETED) != 0);
                }
            });
            return found[0] == null ? StreamMetadata.NONE : found[0];
        }

        @Override
        public long positionOf(final long streamId, final int slot, final long version)
        {
            final long position = index.positionOf(slot, version);
            return position < 0 || !eventPresent(position) ? -1 : position;
        }

        @Override
        public long timestampOf(final long streamId, final int slot, final long version)
        {
            final long position = index.positionOf(slot, version);
            return position < 0 ? Long.MIN_VALUE : eventTimestamp(position);
        }

        @Override
        public long logStart()
        {
            return logStartInRead();
        }

        @Override
        public long nowNanos()
        {
            return config.clock().nanoTime();
        }
    }

    // ------------------------------------------------------------------------------------------ named streams

    /**
     * The stream id of a name, created on first use. Named streams get negative ids ({@code -1} for the first name
     * created, {@code -2} for the next, ...), so they never meet numeric (positive) ones; an id, once given, is
     * the name's for good, in every process and after every restart. When this returns, the log holds the name's
     * record (forced, in {@link Durability#SYNC} mode), so no event of the stream can outlive its name.
     * <p>
     * Appending by id is the fast path: resolve a name once and keep its id. Creations from this method are
     * serialised within the process; {@link Appender#streamId(String)} creates on the appender's own thread.
     *
     * @param name the stream's name, 1 to {@link #MAX_STREAM_NAME_LENGTH} bytes of UTF-8.
     * @return its stream id (negative).
     * @throws NameTableFullException  if the name is new and the store holds its name capacity.
     * @throws ReadOnlyStoreException   if the name is new and the store is open read-only.
     * @throws IllegalArgumentException if the name is empty, too long, or not valid UTF-16.
     */
    public long streamId(final String name)
    {
        final long system = systemName(name);
        if (system != 0)
        {
            return system;
        }
        final byte[] utf8 = encodeName(name);
        if (readOnly)
        {
            return requireNamed(utf8, name);
        }
        synchronized (nameLock)
        {
            checkOpen();
            return streamId(utf8, systemAppender());
        }
    }

    long streamId(final String name, final Appender appender)
    {
        final long system = systemName(name);
        return system != 0 ? system : streamId(encodeName(name), appender);
    }

    /**
     * Names starting with '$' belong to the store's system streams (metadata streams, {@code "$$" + name}): users
     * may find them but not create them, so no user stream can pose as one.
     *
     * @return the id of an existing system name, 0 for a user name.
     * @throws IllegalArgumentException for a system name that does not exist.
     */
    private long systemName(final String name)
    {
        if (name == null || !name.startsWith("$"))
        {
            return 0;
        }
        final long existing = findStreamId(name);
        if (existing == 0)
        {
            throw new IllegalArgumentException("stream names starting with '$' are reserved for the store's system " +
                "streams (\"$$<name>\" holds a stream's metadata; set it with VarveDB.setStreamMetadata): \"" +
                (name.length() > 40 ? name.substring(0, 40) + "..." : name) + "\"");
        }
        return existing;
    }

    /** A system stream's id, created on first use (its name starts with '$'). */
    private long systemStreamId(final String name)
    {
        synchronized (nameLock)
        {
            checkOpen();
            return streamId(encodeName(name), systemAppender());
        }
    }

    private Appender systemAppender()
    {
        // guarded by nameLock
        if (nameAppender == null)
        {
            nameAppender = appender();
            nameAppender.writesSystemStreams();
        }
        return nameAppender;
    }

    /**
     * @param streamId a named stream's id.
     * @return true if it is a system stream (a metadata stream), which only the store itself appends to.
     */
    boolean isSystemStream(final long streamId)
    {
        return streamId < 0 && lifecycle.isMetadataStream(streamId);
    }

    private long streamId(final byte[] utf8, final Appender appender)
    {
        checkOpen();
        final NameTable table = creatingNameTable();
        if (table == null)
        {
            throw new IllegalStateException("the store at " + directory + " has no name table");
        }
        return table.streamId(utf8, (id, bytes) -> appender.appendStreamName(id, bytes));
    }

    private long requireNamed(final byte[] utf8, final String name)
    {
        final long streamId = findStreamId(utf8);
        if (streamId == 0)
        {
            throw new ReadOnlyStoreException("no stream is named \"" + name + "\" yet, and the store at " + directory +
                " is open read-only: a writer creates names");
        }
        return streamId;
    }

    /**
     * The stream id of a name, if the name has one. Read-only stores may call it.
     *
     * @param name the stream's name.
     * @return its stream id (negative), or 0 if no stream has that name.
     */
    public long findStreamId(final String name)
    {
        return findStreamId(encodeName(name));
    }

    private long findStreamId(final byte[] utf8)
    {
        checkOpen();
        final NameTable table = nameTable();
        return table == null ? 0 : table.find(utf8);
    }

    /**
     * @param streamId a stream id.
     * @return the stream's name, or null for a numeric id or one no name has.
     */
    public String streamName(final long streamId)
    {
        checkOpen();
        final NameTable table = streamId < 0 ? nameTable() : null;
        return table == null ? null : table.name(streamId);
    }

    /**
     * List the named streams whose names start with {@code prefix}, in the order they were created. For tools: it
     * reads every entry of the name table.
     *
     * @param prefix  the names' start; "" for all.
     * @param handler receives each name and its id.
     */
    public void streams(final String prefix, final StreamNameHandler handler)
    {
        java.util.Objects.requireNonNull(prefix, "prefix");
        java.util.Objects.requireNonNull(handler, "handler");
        checkOpen();
        final NameTable table = nameTable();
        if (table != null)
        {
            table.forEach(prefix, handler::onStream);
        }
    }

    /**
     * @return how many named streams the store has.
     */
    public long namedStreamCount()
    {
        checkOpen();
        final NameTable table = nameTable();
        return table == null ? 0 : table.count();
    }

    /**
     * @return most names the store's name table holds (fixed when it was created), 0 if it has none.
     */
    public int nameCapacity()
    {
        checkOpen();
        final NameTable table = nameTable();
        return table == null ? 0 : table.capacity();
    }

    /**
     * {@link #streamVersion(long)} by name.
     *
     * @param name the stream's name.
     * @return the stream's version: 0 if it has no events, or no stream has that name.
     */
    public long streamVersion(final String name)
    {
        final long streamId = findStreamId(name);
        return streamId == 0 ? 0 : streamVersion(streamId);
    }

    /**
     * {@link #readStream(long, long, int, EventHandler)} by name.
     *
     * @param name        the stream's name.
     * @param fromVersion the first version to deliver, from 1.
     * @param maxCount    most events to deliver.
     * @param handler     receives each event.
     * @return events delivered: 0 if no stream has that name.
     */
    public int readStream(final String name, final long fromVersion, final int maxCount, final EventHandler handler)
    {
        checkRead(fromVersion, maxCount, handler);
        final long streamId = findStreamId(name);
        return streamId == 0 ? 0 : readStream(streamId, fromVersion, maxCount, handler);
    }

    /**
     * {@link #subscribeToStream(long, long, EventHandler)} by name. A writer creates the name if it has none yet
     * (the subscription then waits for the stream's first event); a read-only store needs it to exist.
     *
     * @param name        the stream's name.
     * @param fromVersion the first version to deliver (from 1), or {@link #FROM_NOW}.
     * @param handler     receives each event on the subscription's thread.
     * @return the running subscription; close it to stop.
     * @throws ReadOnlyStoreException if the store is read-only and no stream has that name.
     */
    public RunningSubscription subscribeToStream(final String name, final long fromVersion, final EventHandler handler)
    {
        return subscribeToStream(streamId(name), fromVersion, handler);
    }

    private static byte[] encodeName(final String name)
    {
        java.util.Objects.requireNonNull(name, "stream name");
        final java.nio.ByteBuffer encoded;
        try
        {
            // strict: a lone surrogate would otherwise become '?', and two different names one stream
            encoded = java.nio.charset.StandardCharsets.UTF_8.newEncoder()
                .onMalformedInput(java.nio.charset.CodingErrorAction.REPORT)
                .onUnmappableCharacter(java.nio.charset.CodingErrorAction.REPORT)
                .encode(java.nio.CharBuffer.wrap(name));
        }
        catch (final java.nio.charset.CharacterCodingException ex)
        {
            throw new IllegalArgumentException("stream name is not valid UTF-16 (a lone surrogate?): " + name, ex);
        }
        final int length = encoded.remaining();
        if (length < 1 || length > MAX_STREAM_NAME_LENGTH)
        {
            throw new IllegalArgumentException("stream names are 1 to " + MAX_STREAM_NAME_LENGTH + " bytes of " +
                "UTF-8, got " + length + " bytes: \"" + (name.length() > 40 ? name.substring(0, 40) + "..." : name) +
                "\"");
        }
        final byte[] utf8 = new byte[length];
        encoded.get(utf8);
        return utf8;
    }

    /**
     * Read the event that was appended with an event id, if the store holds one: O(1), through the event id table.
     * With exactly-once appends ({@link Appender#append(long, ExpectedVersion, int, long, long, byte[])}) this
     * answers "was this message recorded before?" ahead of a decision that depends on it, such as a retried order
     * that finds the product sold out by its own first attempt.
     *
     * @param eventIdHigh the id's high 64 bits.
     * @param eventIdLow  the id's low 64 bits.
     * @param handler     receives the event, if there is one.
     * @return true if the store holds an event with this id (delivered to the handler).
     * @throws IllegalArgumentException if the id is 0, 0 (no id).
     * @throws ReadOnlyStoreException   in a read-only store, which does not map the id table (read the log instead:
     *                                  {@link RecordedEvent#eventIdHigh()}).
     */
    public boolean readEvent(final long clearIdHigh, final long clearIdLow, final EventHandler handler)
    {
        if ((clearIdHigh | clearIdLow) == 0)
        {
            throw new IllegalArgumentException("0, 0 is no event id");
        }
        java.util.Objects.requireNonNull(handler, "handler");
        if (eventIds == null)
        {
            throw new ReadOnlyStoreException("readEvent needs the event id table, which a read-only store (" +
                directory + ") does not map; read the events' ids from readAll or readStream instead");
        }
        final ReadContext context = enterRead();
        try
        {
            // an encrypted store keeps ids encrypted: look up the stored form
            final io.varvedb.internal.crypto.IdCipher ids = context.ids();
            final long eventIdHigh;
            final long eventIdLow;
            if (ids != null)
            {
                ids.seal(clearIdHigh, clearIdLow);
                eventIdHigh = ids.high();
                eventIdLow = ids.low();
            }
            else
            {
                eventIdHigh = clearIdHigh;
                eventIdLow = clearIdLow;
            }
            final long found = eventIds.find(eventIdHigh, eventIdLow, repairer == null ? null :
                repairer::repairHolder);
            if (found == EventIdTable.NOT_FOUND)
            {
                return false;
            }
            final long position = eventIds.positionAt(EventIdTable.slotOf(found));
            final long tail = log.tail();
            final UnsafeBuffer buffer = position >= 0 && position < tail &&
                (position & (RecordDescriptor.ALIGNMENT - 1)) == 0 ? log.readBuffer(position) : null;
            final int offset = buffer == null ? -1 : log.eventOffset(buffer, position);
            if (offset < 0 && buffer != null && !eventIds.isCommitted(EventIdTable.slotOf(found)))
            {
                // scavenged since the lookup found it (the scavenger kills the slot before it drops the event)
                return false;
            }
            if (offset < 0 || !RecordDescriptor.carriesEventId(buffer, offset, eventIdHigh, eventIdLow))
            {
                throw new CorruptStoreException("the event id table " + eventIds.path() + " says event id " +
                    new java.util.UUID(clearIdHigh, clearIdLow) + " is the event at log position " + position +
                    ", which does not carry it; reopen the store to rebuild the table from the log");
            }
            return deliver(context, context.event(), position, tail,
                buffer.getLong(offset + RecordDescriptor.STREAM_ID_OFFSET),
                buffer.getLong(offset + RecordDescriptor.VERSION_OFFSET), handler);
        }
        finally
        {
            exitRead(context);
        }
    }

    /**
     * {@link #readEvent(long, long, EventHandler)} with a {@link java.util.UUID}.
     *
     * @param eventId the event's id.
     * @param handler receives the event, if there is one.
     * @return true if the store holds an event with this id.
     */
    public boolean readEvent(final java.util.UUID eventId, final EventHandler handler)
    {
        return readEvent(eventId.getMostSignificantBits(), eventId.getLeastSignificantBits(), handler);
    }

    /**
     * @return true once every page of the event id table has been touched (for benchmarks: the first ids of a new
     * table otherwise make its pages as they land).
     */
    boolean eventIdPagesTouched()
    {
        return eventIds != null && eventIds.pagesTouched();
    }

    /**
     * @return true if this open made the event id table again from the whole log (it could not be trusted).
     */
    boolean eventIdsRebuilt()
    {
        return eventIdsRebuilt;
    }

    /**
     * Read a stream forward.
     *
     * @param streamId    a positive stream id.
     * @param fromVersion the first version to deliver, from 1.
     * @param maxCount    most events to deliver.
     * @param handler     receives each event.
     * @return events delivered.
     */
    public int readStream(final long streamId, final long fromVersion, final int maxCount, final EventHandler handler)
    {
        checkStreamId(streamId);
        checkRead(fromVersion, maxCount, handler);
        final ReadContext context = enterRead();
        try
        {
            final int slot = index.findSlot(streamId);
            if (slot < 0)
            {
                refuseShredded(streamId);
                return 0;
            }
            // acquire: every version up to the committed one has its entry and record published, and lies below
            // the tail read after it; the read delivers that snapshot, and the next read what came since
            final long state = index.state(slot);
            refuseTombstoned(streamId, state, "it cannot be read");
            final long committed = committedVersion(state);
            // what metadata and retention hide is a prefix of the stream: start after it
            final long from = Math.max(fromVersion, lifecycle.firstVisible(streamId, slot, committed));
            if (from > committed)
            {
                refuseShredded(streamId);
                return 0;
            }
            long block = index.findBlock(slot, from);
            if (block == 0)
            {
                refuseShredded(streamId);
                return 0;
            }
            final long tail = log.tail();
            int count = 0;
            long version = from;
            while (count < maxCount && version <= committed)
            {
                if (count > 0)
                {
                    checkOpen();
                }
                final long position = index.positionAt(block, version);
                if (position < 0)
                {
                    throw new CorruptStoreException("stream " + streamId + " version " + version +
                        " is committed but the index has no position for it (" + directory + ")");
                }
                // an event scavenged (its position gone from the index, or its segment compacted without it) is
                // skipped: only delivered events count
                if (position != BlockDescriptor.GONE_POSITION &&
                    deliver(context, context.event(), position, tail, streamId, version, handler))
                {
                    count++;
                }
                version++;
                if (version <= committed &&
                    BlockDescriptor.ordinalOf(version) != BlockDescriptor.ordinalOf(version - 1))
                {
                    block = index.blockAfter(slot, block, streamId, version);
                }
            }
            return count;
        }
        finally
        {
            exitRead(context);
        }
    }

    /**
     * Read a stream backward, from {@code fromVersion} down to version 1.
     *
     * @param streamId    a positive stream id.
     * @param fromVersion the first version to deliver; {@link #LATEST_VERSION} for the latest.
     * @param maxCount    most events to deliver.
     * @param handler     receives each event.
     * @return events delivered.
     */
    public int readStreamBackward(
        final long streamId, final long fromVersion, final int maxCount, final EventHandler handler)
    {
        checkStreamId(streamId);
        checkRead(fromVersion, maxCount, handler);
        final ReadContext context = enterRead();
        try
        {
            final int slot = index.findSlot(streamId);
            if (slot < 0)
            {
                refuseShredded(streamId);
                return 0;
            }
            final long state = index.state(slot);
            refuseTombstoned(streamId, state, "it cannot be read");
            final long committed = committedVersion(state);
            long version = Math.min(fromVersion, committed);
            // what metadata and retention hide is a prefix of the stream: stop before it
            final long first = lifecycle.firstVisible(streamId, slot, committed);
            if (version < first)
            {
                refuseShredded(streamId);
                return 0;
            }
            long block = index.findBlock(slot, version);
            if (block == 0)
            {
                refuseShredded(streamId);
                return 0;
            }
            final long tail = log.tail();
            int count = 0;
            while (count < maxCount && version >= first)
            {
                if (count > 0)
                {
                    checkOpen();
                }
                final long position = index.positionAt(block, version);
                if (position < 0)
                {
                    throw new CorruptStoreException("stream " + streamId + " version " + version +
                        " is committed but has no index entry (" + directory + ")");
                }
                if (position != BlockDescriptor.GONE_POSITION &&
                    deliver(context, context.event(), position, tail, streamId, version, handler))
                {
                    count++;
                }
                version--;
                if (version >= first && BlockDescriptor.ordinalOf(version) != BlockDescriptor.ordinalOf(version + 1))
                {
                    block = index.blockBefore(slot, block, streamId, version);
                }
            }
            return count;
        }
        finally
        {
            exitRead(context);
        }
    }

    /**
     * Read committed events in global log order.
     *
     * @param fromPosition where to start: {@link #START_POSITION}, or a position this store gave, such as an event's
     *                     {@link RecordedEvent#nextPosition()}, to continue after it; the tail itself reads nothing.
     * @param maxCount     most events to deliver.
     * @param handler      receives each event.
     * @return events delivered.
     * @throws IllegalArgumentException if {@code fromPosition} is not where a record starts: negative, not a
     *                                  multiple of 32, inside a record, or beyond the end of the log.
     * @throws IllegalStateException    in the rare case the answer depends on an append before the position that
     *                                  claimed its space and stalled for a second without writing its length.
     * @throws CorruptStoreException    if a damaged record is met (naming its file and position).
     * @throws LogTruncatedException    if {@code fromPosition} lies below the {@link #logStart()} (retention dropped
     *                                  the events there); {@link #START_POSITION} reads from the log start.
     */
    public int readAll(final long fromPosition, final int maxCount, final EventHandler handler)
    {
        checkRead(1, maxCount, handler);
        if (fromPosition == FROM_NOW)
        {
            // what is appended from now on: nothing yet, by the time this returns
            checkOpen();
            return 0;
        }
        final ReadContext context = enterRead();
        try
        {
            // below the log start (retention dropped it): the oldest kept event for START_POSITION, else refused
            final long start = logStartInRead();
            final long from = fromPosition >= start || fromPosition < 0 ? fromPosition :
                fromPosition == START_POSITION ? start : -1;
            if (from == -1)
            {
                throw new LogTruncatedException(fromPosition, start);
            }
            // a thread continuing where its last read stopped gave a position known to be a record start
            if (from != context.lastReadAllEnd)
            {
                checkRecordStart(from, "fromPosition");
            }
            return scanAll(context, from, maxCount, handler);
        }
        finally
        {
            exitRead(context);
        }
    }

    /**
     * {@link #readAll} from a position known to be a record start (a subscription's own cursor).
     */
    int readAllFrom(final long position, final int maxCount, final EventHandler handler)
    {
        final ReadContext context = enterRead();
        try
        {
            return scanAll(context, position, maxCount, handler);
        }
        finally
        {
            exitRead(context);
        }
    }

    /**
     * {@link #readAllFrom(long, int, EventHandler)} for a subscription to all, which may stand below the log start.
     *
     * @param startAt told the log start before any event is delivered, if the read skips ahead to it.
     * @throws LogTruncatedException if {@code position} lies below the log start (but is not
     *                               {@link #START_POSITION}) and {@code skipTruncated} is false.
     */
    void readAllFrom(
        final long position, final int maxCount, final EventHandler handler, final boolean skipTruncated,
        final java.util.function.LongConsumer startAt)
    {
        final ReadContext context = enterRead();
        try
        {
            final long start = logStartInRead();
            long from = position;
            if (position < start)
            {
                if (position != START_POSITION && !skipTruncated)
                {
                    throw new LogTruncatedException(position, start);
                }
                from = start;
                startAt.accept(from);
            }
            scanAll(context, from, maxCount, handler);
        }
        finally
        {
            exitRead(context);
        }
    }

    private int scanAll(
        final ReadContext context, final long fromPosition, final int maxCount, final EventHandler handler)
    {
        final RecordedEvent event = context.event();
        long position = fromPosition;
        int count = 0;
        try
        {
            while (count < maxCount)
            {
                if (count > 0)
                {
                    checkOpen();
                }
                final UnsafeBuffer buffer = log.readBuffer(position);
                if (buffer == null)
                {
                    log.checkMissingSegment(position, OpenRecovery.durableWithinTail(meta.buffer(), log));
                    break;
                }
                final int offset = log.offset(buffer, position);
                if (offset < 0)
                {
                    // a dropped range of a compacted segment: go on at its next kept record (or segment)
                    position = log.ceiling(buffer, position);
                    continue;
                }
                // acquire: pairs with the appender's release of the frame length
                final int frameLength = buffer.getIntAcquire(offset + RecordDescriptor.FRAME_LENGTH_OFFSET);
                if (frameLength <= 0)
                {
                    if (position < committedAtOpen)
                    {
                        throw new CorruptStoreException("no record at log position " + position + " in " +
                            log.segmentPath(log.segmentOf(position)) + ", below " + committedAtOpen +
                            " where every record was committed when the store was opened");
                    }
                    break;
                }
                // the framing checks of Log.frameDamage, inlined on this hot loop for the common case, an event
                // the buffer maps the segment's header and data: what is left of it is what is left of the segment
                final int room = buffer.capacity() - offset;
                if (buffer.getShort(offset + RecordDescriptor.RECORD_TYPE_OFFSET) == RecordDescriptor.TYPE_EVENT &&
                    frameLength >= RecordDescriptor.minFrameLength(
                        buffer.getShort(offset + RecordDescriptor.FLAGS_OFFSET)) && frameLength <= room)
                {
                    checkRecord(context, buffer, offset, frameLength, position);
                    // a shredded stream's events are skipped: readAll shows the store as if they were scavenged
                    if (wrapEvent(context, event, buffer, offset, frameLength, position))
                    {
                        handler.onEvent(event);
                        count++;
                    }
                }
                else
                {
                    // a padding's checksum is checked even with checksums off: 16 bytes, once per padding, and what
                    // readers skip by
                    final String damage = Log.frameDamage(buffer, offset, frameLength, room, context.checksum);
                    if (damage != null)
                    {
                        throw new CorruptStoreException(damage + ", at log position " + position + " in " +
                            log.segmentPath(log.segmentOf(position)));
                    }
                }
                position += RecordDescriptor.alignedLength(frameLength);
            }
        }
        finally
        {
            // where this read stopped is a record start, whatever the handler threw
            context.lastReadAllEnd = position;
        }
        return count;
    }

    /**
     * Refuse a log position from outside (an argument) that is not where a record starts.
     */
    private void checkRecordStart(final long position, final String what)
    {
        final String problem = recordStartProblem(position);
        if (problem != null)
        {
            throw new IllegalArgumentException(what + " " + problem);
        }
    }

    private static boolean onRecordGrid(final long position)
    {
        return position >= 0 && (position & (RecordDescriptor.ALIGNMENT - 1)) == 0;
    }

    /** An answer that depends on an append still in progress: not the caller's mistake. */
    private static final String UNDECIDED = " cannot be checked yet: ";

    /**
     * @return null if a record starts at {@code position} (or the log ends there), else why not.
     */
    String recordStartProblem(final long position)
    {
        if (!onRecordGrid(position))
        {
            return position + " is not a record position (>= 0, a multiple of " + RecordDescriptor.ALIGNMENT + ")";
        }
        final int verdict;
        final long tail;
        final ReadContext context = enterRead();
        try
        {
            verdict = recordStarts.check(position);
            tail = log.tail();
        }
        finally
        {
            exitRead(context);
        }
        return switch (verdict)
        {
            case RecordStarts.RECORD_START -> null;
            case RecordStarts.INSIDE_RECORD -> position + " lies inside a record, not at its start; use a position " +
                "this store gave: START_POSITION, FROM_NOW, RecordedEvent.nextPosition(), Subscription.position()";
            case RecordStarts.BEYOND_TAIL -> position + " is beyond the end of the log (" + tail + ")";
            default -> throw new IllegalStateException("log position " + position + UNDECIDED + "an append " +
                "before it has claimed its space but not written it for a second (an appender stalled or killed " +
                "mid-append); try again");
        };
    }

    /**
     * Deliver the event an index entry (or id slot) points at.
     *
     * @return false if it was scavenged (its segment was compacted without it): the caller skips it.
     */
    private boolean deliver(
        final ReadContext context, final RecordedEvent event, final long position, final long tail,
        final long streamId, final long version, final EventHandler handler)
    {
        final UnsafeBuffer buffer = (position & (RecordDescriptor.ALIGNMENT - 1)) == 0 && position >= 0 &&
            position < tail ? log.readBuffer(position) : null;
        final int offset = buffer == null ? -1 : log.eventOffset(buffer, position);
        if (offset < 0 && buffer != null && !log.insideKept(buffer, position))
        {
            return false;
        }
        final int frameLength = offset < 0 ? 0 :
            buffer.getIntAcquire(offset + RecordDescriptor.FRAME_LENGTH_OFFSET);
        if (frameLength < RecordDescriptor.HEADER_LENGTH || frameLength > log.room(buffer, offset, position) ||
            buffer.getShort(offset + RecordDescriptor.RECORD_TYPE_OFFSET) != RecordDescriptor.TYPE_EVENT ||
            frameLength < RecordDescriptor.minFrameLength(buffer.getShort(offset + RecordDescriptor.FLAGS_OFFSET)) ||
            buffer.getLong(offset + RecordDescriptor.STREAM_ID_OFFSET) != streamId ||
            buffer.getLong(offset + RecordDescriptor.VERSION_OFFSET) != version)
        {
            throw new CorruptStoreException("the stream index points stream " + streamId + " version " + version +
                " at log position " + position + (position >= 0 && position < tail ? " in " +
                log.segmentPath(log.segmentOf(position)) : "") + ", which holds something else (" + directory + ")");
        }
        checkRecord(context, buffer, offset, frameLength, position);
        if (!wrapEvent(context, event, buffer, offset, frameLength, position))
        {
            throw new StreamShreddedException(streamId, "stream " + streamId + " was shredded (" + directory +
                "): its data key is destroyed and its events can never be read again");
        }
        handler.onEvent(event);
        return true;
    }

    /**
     * Point the flyweight at an event: at its bytes in the log, or, for an encrypted event, at its payload
     * decrypted into the flyweight's own buffer (after the checksum, checked by the caller).
     *
     * @return false if the event is of a shredded stream: nothing to deliver.
     */
    private boolean wrapEvent(
        final ReadContext context, final RecordedEvent event, final UnsafeBuffer buffer, final int offset,
        final int frameLength, final long position)
    {
        final short flags = buffer.getShort(offset + RecordDescriptor.FLAGS_OFFSET);
        if ((flags & RecordDescriptor.FLAG_ENCRYPTED) == 0)
        {
            if (keys != null && (flags & RecordDescriptor.FLAG_TOMBSTONE) == 0 &&
                !isSystemStream(buffer.getLong(offset + RecordDescriptor.STREAM_ID_OFFSET)))
            {
                // every event of a user's stream is encrypted here: a clear one was put there by someone without
                // the key (its checksum is no secret), and is no event of the store
                throw new CorruptStoreException("a clear event at log position " + position + " in " +
                    log.segmentPath(log.segmentOf(position)) + " (stream " +
                    buffer.getLong(offset + RecordDescriptor.STREAM_ID_OFFSET) + "), in an encrypted store where " +
                    "every event of a stream is encrypted: it was forged, or its flag changed");
            }
            event.wrap(buffer, offset, frameLength, position);
            return true;
        }
        if (keys == null)
        {
            if (!ciphertextOnly)
            {
                throw new EncryptionKeyException("an encrypted event at log position " + position + " in " +
                    directory + ", a store opened without a master key");
            }
            event.wrap(buffer, offset, frameLength, position);
            return true;
        }
        final long streamId = buffer.getLong(offset + RecordDescriptor.STREAM_ID_OFFSET);
        final io.varvedb.internal.crypto.Gcm cipher = context.ciphers().forRead(streamId);
        if (cipher == null)
        {
            return false;
        }
        final int length = StreamCiphers.open(cipher, position, buffer, offset, frameLength,
            event.clearBuffer(RecordDescriptor.payloadLength(flags, frameLength)));
        event.ids((flags & RecordDescriptor.FLAG_EVENT_ID) != 0 ? context.ids() : null);
        if (length < 0)
        {
            throw new CorruptStoreException("the event at log position " + position + " in " +
                log.segmentPath(log.segmentOf(position)) + " (stream " + streamId + ", version " +
                buffer.getLong(offset + RecordDescriptor.VERSION_OFFSET) + ") fails its authentication tag: its " +
                "checksum holds, so it was not damaged by chance; it was forged, or copied from another position");
        }
        event.wrapDecrypted(buffer, offset, frameLength, position, length);
        return true;
    }

    private void checkRecord(
        final ReadContext context, final UnsafeBuffer buffer, final int offset, final int frameLength,
        final long position)
    {
        if (verifyChecksums && buffer.getInt(offset + RecordDescriptor.CHECKSUM_OFFSET) != context.checksum.compute(
            buffer, offset + RecordDescriptor.CHECKSUM_START, frameLength - RecordDescriptor.CHECKSUM_START))
        {
            throw new CorruptStoreException("checksum mismatch at log position " + position + " in " +
                log.segmentPath(log.segmentOf(position)));
        }
    }

    // ---------------------------------------------------------------------------------------------- subscriptions

    /**
     * A poll-driven cursor over the global log: history from {@code fromPosition}, then live events, in log order.
     *
     * @param fromPosition {@link #START_POSITION}, {@link #FROM_NOW}, or a record position (an event's
     *                     {@link RecordedEvent#nextPosition()}, a {@link Subscription#position()}).
     * @return the subscription; poll it from one thread.
     * @throws IllegalArgumentException if {@code fromPosition} is not where a record starts (inside a record, or
     *                                  beyond the end of the log).
     */
    public Subscription subscription(final long fromPosition)
    {
        checkOpen();
        return new Subscription(this, 0, resolveStart(fromPosition));
    }

    /**
     * A poll-driven cursor over one stream: its events from {@code fromVersion}, then live ones, in version order.
     *
     * @param streamId    a positive stream id.
     * @param fromVersion the first version to deliver (from 1), or {@link #FROM_NOW} for the next one appended.
     * @return the subscription; poll it from one thread.
     */
    public Subscription streamSubscription(final long streamId, final long fromVersion)
    {
        checkStreamId(streamId);
        checkOpen();
        final long start = fromVersion == FROM_NOW ? streamVersion(streamId) + 1 : fromVersion;
        if (start < 1)
        {
            throw new IllegalArgumentException("versions start at 1, got fromVersion " + fromVersion);
        }
        return new Subscription(this, streamId, start);
    }

    /**
     * Catch-up subscription to the global log on a thread of its own: history from {@code fromPosition}, then live
     * events, each exactly once, in order, until closed.
     *
     * @param fromPosition {@link #START_POSITION}, {@link #FROM_NOW}, or a record position.
     * @param handler      receives each event on the subscription's thread.
     * @return the running subscription; close it to stop.
     * @throws IllegalArgumentException if {@code fromPosition} is not where a record starts.
     */
    public RunningSubscription subscribeToAll(final long fromPosition, final EventHandler handler)
    {
        return subscribeToAll(fromPosition, handler, SubscriptionOptions.defaults());
    }

    /**
     * {@link #subscribeToAll(long, EventHandler)} with options.
     *
     * @param fromPosition {@link #START_POSITION}, {@link #FROM_NOW}, or a record position.
     * @param handler      receives each event on the subscription's thread.
     * @param options      idle strategy, error handler, thread name.
     * @return the running subscription; close it to stop.
     */
    public RunningSubscription subscribeToAll(
        final long fromPosition, final EventHandler handler, final SubscriptionOptions options)
    {
        return track(new RunningSubscription(this, subscription(fromPosition), requireHandler(handler), options));
    }

    /**
     * Catch-up subscription to one stream on a thread of its own.
     *
     * @param streamId    a positive stream id.
     * @param fromVersion the first version to deliver (from 1), or {@link #FROM_NOW}.
     * @param handler     receives each event on the subscription's thread.
     * @return the running subscription; close it to stop.
     */
    public RunningSubscription subscribeToStream(final long streamId, final long fromVersion, final EventHandler handler)
    {
        return subscribeToStream(streamId, fromVersion, handler, SubscriptionOptions.defaults());
    }

    /**
     * {@link #subscribeToStream(long, long, EventHandler)} with options.
     *
     * @param streamId    a positive stream id.
     * @param fromVersion the first version to deliver (from 1), or {@link #FROM_NOW}.
     * @param handler     receives each event on the subscription's thread.
     * @param options     idle strategy, error handler, thread name.
     * @return the running subscription; close it to stop.
     */
    public RunningSubscription subscribeToStream(
        final long streamId, final long fromVersion, final EventHandler handler, final SubscriptionOptions options)
    {
        return track(new RunningSubscription(this, streamSubscription(streamId, fromVersion), requireHandler(handler), options));
    }

    /**
     * A named, checkpointed processor of the global log (see {@link Processor}); not started yet. It keeps its
     * position in {@code checkpoints/<name>.ckpt} (and its lock in {@code checkpoints/<name>.lock}) in the
     * store's directory, also in a store opened with {@link #openReadOnly}: those two files are all a read-only
     * process writes.
     *
     * @param name    1-100 letters, digits, '.', '_' or '-'.
     * @param handler receives each event.
     * @return the processor; {@link Processor#start()} it or {@link Processor#poll(int)} it.
     * @throws StoreLockedException   if a processor of that name runs already, here or in another process.
     * @throws ReadOnlyStoreException if this process cannot write the checkpoints directory (or, when it does
     *                                not exist yet, the store's directory); it names the directory.
     */
    public Processor processor(final String name, final EventHandler handler)
    {
        return processor(name, handler, ProcessorOptions.defaults());
    }

    /**
     * {@link #processor(String, EventHandler)} with options.
     *
     * @param name    1-100 letters, digits, '.', '_' or '-'.
     * @param handler receives each event.
     * @param options checkpoint frequency, start position, thread options.
     * @return the processor.
     */
    public Processor processor(final String name, final EventHandler handler, final ProcessorOptions options)
    {
        checkOpen();
        CheckpointStore.checkName(name);
        requireHandler(handler);
        if (options == null)
        {
            throw new NullPointerException("options must not be null (use ProcessorOptions.defaults())");
        }
        requireWritableCheckpoints("processor '" + name + "'");
        // A refused processor leaves nothing behind: the position it will start from (its resumeFrom position, or
        // its start position when it has no checkpoint yet) is checked before its name is locked, which creates
        // checkpoints/<name>.lock. (A checkpoint made in between by another process is still checked by the
        // processor itself.)
        if (options.resume())
        {
            resolveStart(options.resumePosition());
        }
        else if (options.startPosition() != FROM_NOW && Files.notExists(checkpoints.path(name)))
        {
            resolveStart(options.startPosition());
        }
        return track(new Processor(this, checkpoints, name, handler, options));
    }

    /**
     * @return every processor checkpoint in this store: name to the next position it will process.
     */
    public Map<String, Long> checkpoints()
    {
        checkOpen();
        return checkpoints.list();
    }

    /**
     * Move a processor's checkpoint, for example to replay a projection from the start.
     *
     * @param name     the processor, which must not be running.
     * @param position {@link #START_POSITION}, {@link #FROM_NOW}, or a record position.
     * @throws IllegalArgumentException if {@code position} is not where a record starts; the checkpoint is
     *                                  unchanged, and nothing is created in the checkpoints directory.
     */
    @SuppressWarnings("try") // the hold is the point: no processor of that name may run meanwhile
    public void resetCheckpoint(final String name, final long position)
    {
        checkOpen();
        CheckpointStore.checkName(name);
        // checked before the hold, which creates checkpoints/<name>.lock: a refused call leaves nothing behind
        final long start = resolveStart(position);
        requireWritableCheckpoints("resetCheckpoint(\"" + name + "\")");
        try (CheckpointStore.Hold ignored = checkpoints.hold(name))
        {
            checkpoints.write(name, start);
        }
    }

    /**
     * Forget a processor's checkpoint; it will start from its options' start position.
     *
     * @param name the processor, which must not be running.
     * @return true if there was a checkpoint.
     */
    @SuppressWarnings("try") // the hold is the point: no processor of that name may run meanwhile
    public boolean deleteCheckpoint(final String name)
    {
        checkOpen();
        if (Files.notExists(checkpoints.path(name)))
        {
            // nothing to delete: no hold either, whose lock file would be all this call left behind
            return false;
        }
        try (CheckpointStore.Hold ignored = checkpoints.hold(name))
        {
            return checkpoints.delete(name);
        }
    }

    /**
     * Processors keep their checkpoints in {@code checkpoints/}, in read-only stores too: refuse, naming the
     * directory, when this process cannot write there (a read-only mount, a directory of another user), before
     * anything is attempted.
     */
    private void requireWritableCheckpoints(final String what)
    {
        final Path checkpointsDirectory = checkpoints.directory();
        final Path where = Files.isDirectory(checkpointsDirectory) ? checkpointsDirectory : directory;
        if (!Files.isWritable(where))
        {
            throw new ReadOnlyStoreException(what + " keeps its checkpoint in " + checkpointsDirectory + ", and " +
                "this process cannot write " + where + (readOnly ? " (a store opened read-only writes nothing " +
                "else; its processors write only there)" : "") + ": make it writable for this user, or use a " +
                "Subscription, which keeps no checkpoint");
        }
    }

    long resolveStart(final long position)
    {
        if (position == FROM_NOW)
        {
            final ReadContext context = enterRead();
            try
            {
                return liveEdge();
            }
            finally
            {
                exitRead(context);
            }
        }
        final String problem = recordStartProblem(position);
        if (problem != null)
        {
            throw new IllegalArgumentException("a start position is START_POSITION, FROM_NOW or where a record " +
                "starts: " + problem);
        }
        return position;
    }

    /**
     * The position a processor at {@code position} may checkpoint: in the durable modes never beyond the durable
     * position, so a power cut cannot leave a checkpoint pointing past the recovered log.
     *
     * @param position the processor's position, a record start.
     * @param last     the processor is closing: make the log durable up to its position first.
     * @return {@code position}, or the durable position if that is lower.
     */
    long checkpointablePosition(final long position, final boolean last)
    {
        final ReadContext context = enterRead(true);
        try
        {
            return checkpointable(position, last);
        }
        finally
        {
            exitRead(context);
        }
    }

    private long checkpointable(final long position, final boolean last)
    {
        final UnsafeBuffer metaBuffer = meta.buffer();
        // a read-only process follows the mode of the writer, which it records in the meta file
        final int writerMode = metaBuffer.getIntVolatile(MetaDescriptor.WRITER_DURABILITY_OFFSET);
        final boolean durableMode = readOnly ?
            writerMode == Durability.SYNC.ordinal() + 1 || writerMode == Durability.GROUP_COMMIT.ordinal() + 1 :
            config.durability() != Durability.OS;
        if (!durableMode)
        {
            return position;
        }
        if (!readOnly && last && metaBuffer.getLongVolatile(MetaDescriptor.DURABLE_POSITION_OFFSET) < position)
        {
            // a processor closes before the store does (close() closes them first), so the flusher is there
            flusher.forceUpTo(position);
        }
        return Math.min(position, metaBuffer.getLongVolatile(MetaDescriptor.DURABLE_POSITION_OFFSET));
    }

    /**
     * The position of the first record not yet committed: everything before it is readable now. Scans from one
     * segment before the tail's, which reaches back past any appender still writing unless one has been stalled
     * for a whole segment's worth of other appends.
     */
    private long liveEdge()
    {
        final long tail = log.tail();
        final long segment = log.segmentOf(tail);
        final long edge = log.publishedEnd(segment == 0 ? 0 : (segment - 1) * config.segmentSize(), tail);
        // everything below committedAtOpen was whole when the store was opened: a walk that stops short of it met
        // a damaged frame, and a start there would skip or forge events
        if (edge < Math.min(committedAtOpen, tail))
        {
            throw new CorruptStoreException("the log's records end at position " + edge + " in " +
                log.segmentPath(log.segmentOf(edge)) + ", below " + committedAtOpen + " where every record was " +
                "committed when the store was opened: a damaged frame (" + directory + ")");
        }
        return edge;
    }

    private <T extends AutoCloseable> T track(final T consumer)
    {
        consumers.add(consumer);
        if (closed)
        {
            closeQuietly(consumer);
            throw closedException();
        }
        return consumer;
    }

    void untrack(final AutoCloseable consumer)
    {
        consumers.remove(consumer);
    }

    private static void closeQuietly(final AutoCloseable closeable)
    {
        try
        {
            closeable.close();
        }
        catch (final Exception ignore)
        {
            // closing consumers on the way out must not stop the store from closing
        }
    }

    private static EventHandler requireHandler(final EventHandler handler)
    {
        if (handler == null)
        {
            throw new NullPointerException("handler");
        }
        return handler;
    }

    /**
     * @return the first log position retention kept: 0 until {@link #truncateLogBefore} (or the retention
     * settings) dropped the segments before it. Reads of the global log from below it (other than from
     * {@link #START_POSITION}) throw {@link LogTruncatedException}.
     */
    public long logStart()
    {
        final ReadContext context = enterRead();
        try
        {
            return logStartInRead();
        }
        finally
        {
            exitRead(context);
        }
    }

    /** {@link #logStart()} for a caller inside a read section (or before the store is shared). */
    private long logStartInRead()
    {
        return meta.buffer().getLongVolatile(MetaDescriptor.LOG_START_OFFSET);
    }

    /**
     * Whole-log retention: drop every segment of the log that lies wholly before {@code position}. The log start
     * moves to the first segment boundary at or below {@code position} (forced to disk first); from then on reads
     * of the global log from below it, subscriptions to all and processors that stand below it get
     * {@link LogTruncatedException} (or skip ahead if they asked to: {@link Subscription#skipTruncated}), never a
     * gap served as if it were the log. Stream reads skip the dropped events as if truncated. The events' disk
     * space comes back when the segments are rewritten: at once here, with {@link #scavenge()}'s guarantees
     * (positions unchanged, crash-safe, appends and reads go on). Stream names, tombstones and the latest metadata
     * of each stream in those segments are kept. Only segments wholly below the durable position, below every
     * append in flight and before the tail's segment can go: the start moves no further than that.
     *
     * @param position a log position (rounded down to a segment boundary).
     * @return the new log start.
     * @throws IllegalArgumentException if {@code position} is negative or beyond the tail.
     * @throws ReadOnlyStoreException   if the store is open read-only.
     */
    public long truncateLogBefore(final long position)
    {
        checkWritable("truncate the log");
        // what reads the mapped meta page does so in a read section: a close meanwhile waits for it
        final long tail = scavengerStore.reading(log::tail);
        if (position < 0 || position > tail)
        {
            throw new IllegalArgumentException("truncateLogBefore(" + position + "): a log position from 0 to the " +
                "tail (" + tail + ")");
        }
        synchronized (lifecycleLock)
        {
            final long start = scavengerStore.reading(() ->
                Math.min(log.segmentOf(position), lastDroppableSegment() + 1) * log.segmentLength());
            final long current = logStart();
            if (start > current)
            {
                forceThrough(log.segmentOf(start) - 1);
                moveLogStart(start);
            }
            final long now = logStart();
            scavengeBelow(now);
            return now;
        }
    }

    /** How often background work checks the retention settings. */
    private static final long RETENTION_PERIOD_NS = TimeUnit.SECONDS.toNanos(1);

    /**
     * Apply {@link VarveConfig#retainLogFor()} and {@link VarveConfig#retainLogBytes()}.
     *
     * @return 1 if the log start moved, else 0.
     */
    int enforceRetention()
    {
        if (closed)
        {
            return 0;
        }
        final long target = scavengerStore.reading(this::retentionTarget);
        if (target * log.segmentLength() <= logStart())
        {
            return 0;
        }
        truncateLogBefore(target * log.segmentLength());
        return 1;
    }

    /** The segment retention would start the log at now (inside a read section). */
    private long retentionTarget()
    {
        final long lastDroppable = lastDroppableSegment();
        final long segmentLength = log.segmentLength();
        final long startSegment = logStartInRead() / segmentLength;
        long target = startSegment;
        final long bytes = config.retainLogBytes();
        if (bytes > 0)
        {
            final long keep = Math.max(2, (bytes + segmentLength - 1) / segmentLength);
            target = Math.max(target, log.segmentOf(log.tail()) - keep + 1);
        }
        final java.time.Duration age = config.retainLogFor();
        if (age != null)
        {
            // saturated: an age beyond what nanoseconds hold keeps everything
            final long now = config.clock().nanoTime();
            final long ageNanos = age.compareTo(java.time.Duration.ofNanos(Long.MAX_VALUE)) >= 0 ? Long.MAX_VALUE :
                age.toNanos();
            final long cutoff = now - ageNanos < now ? now - ageNanos : Long.MIN_VALUE;
            // timestamps grow along the log (to within the appenders' races): a segment is all older than the
            // cutoff when the next one's first event is
            for (long segment = Math.max(target, startSegment); segment <= lastDroppable; segment++)
            {
                final long first = firstTimestamp((segment + 1) * segmentLength);
                if (first == Long.MIN_VALUE || first >= cutoff)
                {
                    break;
                }
                target = segment + 1;
            }
        }
        return Math.min(target, lastDroppable + 1);
    }

    /** The timestamp of the first event at or after a segment start, within that segment; MIN_VALUE if none. */
    private long firstTimestamp(final long segmentStart)
    {
        final long[] found = { Long.MIN_VALUE };
        final long end = segmentStart + log.segmentLength();
        readAll(segmentStart, 1, (event) -> found[0] = event.position() < end ? event.timestamp() : Long.MIN_VALUE);
        return found[0];
    }

    /** The last segment that retention or a scavenge may rewrite now; -1 if none. */
    long lastDroppableSegment()
    {
        final long tail = log.tail();
        final long bound = Math.min(tail, oldestInFlight());
        // the segment holding the bound, and the tail's, are still being written (or may be)
        return Math.min(log.segmentOf(bound), log.segmentOf(tail)) - 1;
    }

    /**
     * Force the log through a segment about to be rewritten: a rewritten segment is durable, and so must be all
     * that comes before it, or a power cut could leave the log's end (as recovery finds it) below a segment that
     * was rewritten and a log start that was forced.
     */
    private void forceThrough(final long segment)
    {
        scavengerStore.reading(() ->
        {
            flusher.forceUpTo((segment + 1) * log.segmentLength());
            return null;
        });
    }

    private void moveLogStart(final long start)
    {
        // inside a read section: a close meanwhile waits for it, rather than unmapping the page it writes
        scavengerStore.reading(() ->
        {
            moveLogStartInRead(start);
            return null;
        });
    }

    private void moveLogStartInRead(final long start)
    {
        final UnsafeBuffer buffer = meta.buffer();
        long current;
        do
        {
            current = buffer.getLongVolatile(MetaDescriptor.LOG_START_OFFSET);
            if (current >= start)
            {
                return;
            }
        }
        // CAS: writer processes truncating at once only ever move the start forward
        while (!buffer.compareAndSetLong(MetaDescriptor.LOG_START_OFFSET, current, start));
        // forced before any segment is rewritten: after a crash the start never lies below dropped events
        meta.force();
    }

    /** Rewrite the segments below the log start without their events. */
    private void scavengeBelow(final long start)
    {
        synchronized (scavengeLock)
        {
            scavenger().run(ScavengeListener.NONE, false, start / log.segmentLength() - 1);
        }
    }

    // ------------------------------------------------------------------------------------------- scavenging

    /**
     * {@link #scavenge(ScavengeListener)} without progress reports.
     *
     * @return what was done.
     */
    public ScavengeResult scavenge()
    {
        return scavenge(ScavengeListener.NONE);
    }

    /**
     * Give back the disk space of the events no stream shows any more: those hidden by metadata limits
     * ({@link #setStreamMetadata}), of streams deleted ({@link #deleteStream}) or tombstoned
     * ({@link #tombstoneStream}), and those below the log start ({@link #truncateLogBefore}). Each sealed segment
     * holding such events is rewritten without them, segment by segment, <b>while appends and reads go on</b>:
     * <ul>
     *   <li><b>positions unchanged</b>: every kept event keeps its log position, so checkpoints,
     *   {@link Appender#lastPosition()}, {@link RecordedEvent#position()} and {@code readAll(position)} mean the
     *   same event afterwards; a position of a dropped event reads on from the next kept one (see
     *   {@code SegmentDescriptor} for the position map of a rewritten segment);</li>
     *   <li><b>crash-safe</b>: a segment's copy is written beside it, forced, and renamed over it, so a kill at any
     *   moment leaves the old segment or the new one, whole;</li>
     *   <li>what is kept: every stream name, every tombstone, each stream's metadata in force, every event a stream
     *   still shows. Limits are taken as they stand when the scavenge starts; what it dropped stays gone if a limit
     *   is lifted later. Event ids of dropped events are forgotten: an append with such an id writes it anew.</li>
     * </ul>
     * Cost: it reads every sealed segment (the segment being appended to, and any with appends in flight, are left
     * for a later scavenge), and writes a copy of those with something to drop; readers of a rewritten segment
     * switch to the copy at their next read, and its old disk blocks are freed once no process maps it (other
     * processes remap at their next read). Runs on the calling thread; one scavenge at a time per process, and
     * segment by segment across processes.
     *
     * @param listener told of progress after each segment.
     * @return what was done.
     * @throws ReadOnlyStoreException if the store is open read-only.
     */
    public ScavengeResult scavenge(final ScavengeListener listener)
    {
        java.util.Objects.requireNonNull(listener, "listener");
        checkWritable("scavenge");
        synchronized (scavengeLock)
        {
            return scavenger().run(listener, false, Long.MAX_VALUE);
        }
    }

    /**
     * What a {@link #scavenge()} now would drop, without rewriting anything: the events and the bytes of log they
     * take ({@link ScavengeResult#bytesDropped()}: about the space a scavenge would give back). Reads every sealed
     * segment; read-only stores may call it.
     *
     * @return the estimate (its disk figures are 0).
     */
    public ScavengeResult reclaimable()
    {
        checkOpen();
        synchronized (scavengeLock)
        {
            return scavenger().run(ScavengeListener.NONE, true, Long.MAX_VALUE);
        }
    }

    private final Object scavengeLock = new Object();
    private final ScavengerStore scavengerStore = new ScavengerStore();

    private io.varvedb.internal.store.Scavenger scavenger()
    {
        return new io.varvedb.internal.store.Scavenger(log, scavengerStore);
    }

    /** The store as the scavenger sees it. */
    private final class ScavengerStore implements io.varvedb.internal.store.Scavenger.Store
    {
        @Override
        public long lastRewritableSegment()
        {
            return reading(VarveDB.this::lastDroppableSegment);
        }

        @Override
        public void forceThrough(final long segment)
        {
            VarveDB.this.forceThrough(segment);
        }

        @Override
        public long logStart()
        {
            return logStartInRead();
        }

        @Override
        public io.varvedb.internal.store.ScavengePolicy.Streams streams()
        {
            return new io.varvedb.internal.store.ScavengePolicy.Streams()
            {
                @Override
                public long firstKept(final long streamId)
                {
                    return VarveDB.this.firstKept(streamId);
                }

                @Override
                public long anchor(final long streamId)
                {
                    return VarveDB.this.anchor(streamId);
                }
            };
        }

        @Override
        public <T> T reading(final java.util.function.Supplier<T> read)
        {
            final ReadContext context = enterRead();
            try
            {
                return read.get();
            }
            finally
            {
                exitRead(context);
            }
        }

        @Override
        public EventIdTable eventIds()
        {
            return eventIds;
        }

        @Override
        public io.varvedb.internal.log.ReplaceResult replace(
            final long segment, final io.varvedb.internal.log.RecordFilter filter)
        {
            return replaceSegment(segment, filter, io.varvedb.internal.log.ScavengeProgress.NONE);
        }
    }

    /** The last event a scavenge must keep though hidden: see {@link io.varvedb.internal.store.ScavengePolicy}. */
    private long anchor(final long streamId)
    {
        final int slot = index.findSlot(streamId);
        if (slot < 0)
        {
            return -1;
        }
        final long state = index.state(slot);
        final long committed = committedVersion(state);
        if (StreamIndexDescriptor.isTombstoned(state) || keys != null && keys.isStreamShredded(streamId))
        {
            return -1;
        }
        final StreamMetadata metadata = lifecycle.metadata(streamId);
        return metadata.deleted() && metadata.truncateBefore() - 1 == committed ? -1 : committed;
    }

    /**
     * After the index was rebuilt from a scavenged log: a stream deleted softly whose events were all scavenged
     * has no event left to say its version; its metadata does ({@code truncateBefore = version + 1}). Raise it,
     * so appends go on numbering it from there.
     */
    private void restoreDeletedVersions()
    {
        lifecycle.forEach((streamId, metadata) ->
        {
            if (!metadata.deleted() || metadata.truncateBefore() <= 1)
            {
                return;
            }
            final long version = metadata.truncateBefore() - 1;
            final int slot = index.findOrCreateSlot(streamId);
            final long state = index.state(slot);
            final long current = committedVersion(state);
            if (current >= version || StreamIndexDescriptor.isPending(state) || StreamIndexDescriptor.isTombstoned(state))
            {
                return;
            }
            for (long gone = current + 1; gone <= version; gone++)
            {
                index.prepareBlock(slot, streamId, gone);
                index.putPosition(slot, gone, BlockDescriptor.GONE_POSITION);
            }
            index.releaseState(slot, StreamIndexDescriptor.committedState(version));
        });
    }

    /** What a scavenge keeps of a stream: see {@link io.varvedb.internal.store.ScavengePolicy}. */
    private long firstKept(final long streamId)
    {
        final int slot = index.findSlot(streamId);
        if (slot < 0)
        {
            // records of a stream with no slot: the failed first append of a stream, padded by recovery; keep
            return 1;
        }
        final long state = index.state(slot);
        final long committed = committedVersion(state);
        if (StreamIndexDescriptor.isTombstoned(state) || keys != null && keys.isStreamShredded(streamId))
        {
            // a shredded stream's events can never be read: all of them go
            return Long.MAX_VALUE;
        }
        if (isSystemStream(streamId))
        {
            return io.varvedb.internal.store.ScavengePolicy.metadataStream(committed);
        }
        return lifecycle.firstVisible(streamId, slot, committed);
    }

    /**
     * @return true if the event at {@code position} (from the stream index) is still in the log: not dropped by
     * retention or a scavenge.
     */
    private boolean eventPresent(final long position)
    {
        if (!inRetainedLog(position))
        {
            return false;
        }
        final UnsafeBuffer buffer = log.readBuffer(position);
        return buffer != null && log.eventOffset(buffer, position) >= 0;
    }

    /** @return false for a gone index entry, or a position below the log start or at or past the tail. */
    private boolean inRetainedLog(final long position)
    {
        return position != BlockDescriptor.GONE_POSITION && position >= logStartInRead() && position < log.tail();
    }

    /**
     * @return the timestamp of the event at a position the index gave, or {@link Long#MIN_VALUE} if it is gone
     * (scavenged, below the log start).
     */
    private long eventTimestamp(final long position)
    {
        if (!inRetainedLog(position))
        {
            return Long.MIN_VALUE;
        }
        final UnsafeBuffer buffer = log.readBuffer(position);
        final int offset = buffer == null ? -1 : log.eventOffset(buffer, position);
        return offset < 0 ? Long.MIN_VALUE : buffer.getLong(offset + RecordDescriptor.TIMESTAMP_OFFSET);
    }

    /**
     * @return the end of all claimed log space; every committed event lies before it.
     */
    public long tailPosition()
    {
        final ReadContext context = enterRead();
        try
        {
            return log.tail();
        }
        finally
        {
            exitRead(context);
        }
    }

    /**
     * How far the log is known to be on disk. Every record below this position is whole and was forced to disk
     * before the position moved past it, so those events survive a power cut; the position is always the end of
     * a record. It never goes backwards, in the writer or in a read-only follower, and it never passes a record
     * that another appender has claimed but not yet published: a {@link Durability#SYNC} append and
     * {@link Appender#awaitDurable(long)} return only once it covers their whole record (or batch). In
     * {@link Durability#OS} mode it moves only when someone calls {@code awaitDurable}, and at {@link #close()}.
     *
     * @return the log position below which every record is known to be forced to disk.
     */
    public long durablePosition()
    {
        final ReadContext context = enterRead();
        try
        {
            return OpenRecovery.durableWithinTail(meta.buffer(), log);
        }
        finally
        {
            exitRead(context);
        }
    }

    /**
     * @return the log, for tests in this package (the jcstress tests race its allocator against appenders).
     */
    io.varvedb.internal.log.Log log()
    {
        return log;
    }

    /**
     * @return how often the background pre-allocation of the next log segments and index blocks has failed since
     * the store was opened (a full disk, say); each failure is retried, and reported as
     * {@link VarveConfig.Builder#backgroundErrorHandler} says. 0 in a read-only store, or with pre-allocation off.
     */
    public long preallocationFailures()
    {
        return preallocating == null ? 0 : preallocating.failures();
    }

    /**
     * Run one duty cycle of the store's background work on the calling thread, in
     * {@link BackgroundThreading#INVOKED} mode: whichever of the flusher (group-commit force, index checkpoint), the
     * pre-allocator and, in multi-process mode, the repairer is due, each at its own cadence (see
     * {@link BackgroundThreading}); a call with nothing due returns at once, one with a force or an allocation due
     * does it on this thread (up to milliseconds on a slow disk). Call it from the application's duty cycle, or run
     * {@link #backgroundAgent()} on an Agrona runner, which does the same.
     * <p>
     * Safe from any thread: duty cycles never overlap, and a call made while another thread's is in progress returns
     * 0 at once (that work is being done). It never throws for a failed task: failures go to
     * {@link VarveConfig.Builder#backgroundErrorHandler}, called on this thread. Once the store is closed it does
     * nothing and returns 0; {@link #close()} waits for a duty cycle in progress on another thread to end.
     *
     * @return the work done, as Agrona's {@link Agent#doWork()}: 0 when nothing was due.
     * @throws IllegalStateException if the store runs its background work on its own threads
     *                               ({@link BackgroundThreading#DEDICATED}, {@link BackgroundThreading#SHARED}),
     *                               or was opened read-only (it has no background work).
     */
    public int doBackgroundWork()
    {
        return invokedBackground().doWork();
    }

    /**
     * The store's background work as an Agrona {@link Agent}, in {@link BackgroundThreading#INVOKED} mode: add it to
     * the application's {@code AgentRunner} or {@code CompositeAgent}. Its {@code doWork()} is
     * {@link #doBackgroundWork()} (never throws; 0 once the store is closed, so a runner may keep calling it after
     * {@link #close()}); its {@code onClose()} does nothing and does <b>not</b> close the store: close the store
     * yourself, before or after the runner. Its role name is {@code varve-background}. Every call returns the same
     * agent; several runners may run it, one duty cycle at a time.
     *
     * @return the agent.
     * @throws IllegalStateException as {@link #doBackgroundWork()}.
     */
    public Agent backgroundAgent()
    {
        return invokedBackground();
    }

    private InvokedBackground invokedBackground()
    {
        if (readOnly)
        {
            throw new IllegalStateException("the store at " + directory + " is open read-only: it has no " +
                "background work to run");
        }
        final InvokedBackground agent = background.invoked();
        if (agent == null)
        {
            throw new IllegalStateException("the store at " + directory + " runs its background work on its own " +
                "threads (BackgroundThreading." + config.backgroundThreading() + "); doBackgroundWork() and " +
                "backgroundAgent() are for a store opened with backgroundThreading(BackgroundThreading.INVOKED)");
        }
        return agent;
    }

    /**
     * @return the number of streams in the store.
     */
    public long streamCount()
    {
        final ReadContext context = enterRead();
        try
        {
            return index.streamCount();
        }
        finally
        {
            exitRead(context);
        }
    }

    /**
     * @return the store's directory.
     */
    public Path directory()
    {
        return directory;
    }

    /**
     * @return the configuration in force, with the shape the store was created with.
     */
    public VarveConfig config()
    {
        return config;
    }

    /**
     * @return true if opened with {@link #openReadOnly}.
     */
    public boolean isReadOnly()
    {
        return readOnly;
    }

    /**
     * @return true once {@link #close()} has been called.
     */
    public boolean isClosed()
    {
        return closed;
    }

    /**
     * Whether the store was in a clean state when opened: "did the last writer crash?" is
     * {@code !openedCleanly()}.
     *
     * @return true if the store had been closed cleanly before this open, or this open created it
     * ({@link #createdNew()}), or (multi-process mode) this open joined other writer processes that have it open
     * (nothing to recover: a writer that dies is repaired by the others while they run); false if the last writer
     * did not close it (then recovery ran, see {@link #recoveredEvents()}). Read-only: true if the store is closed
     * cleanly now.
     */
    public boolean openedCleanly()
    {
        return openedCleanly || createdNew;
    }

    /**
     * @return true if this open created the store (the directory held no {@code varve.meta}); always false for
     * {@link #openReadOnly}.
     */
    public boolean createdNew()
    {
        return createdNew;
    }

    /**
     * @return events recovered from the log at open when it was not closed cleanly; -1 when no recovery ran
     * (a clean open, a read-only open, or a store this open created).
     */
    public long recoveredEvents()
    {
        return recovery == null || createdNew ? -1 : recovery.events();
    }

    /**
     * @return where recovery at open started scanning the log (its last index checkpoint), or -1 when no
     * recovery ran.
     */
    public long recoveryScannedFrom()
    {
        return recovery == null || createdNew ? -1 : recovery.scannedFrom();
    }

    /**
     * @return unfinished records recovery dropped or padded at open; 0 when no recovery ran.
     */
    public long recoveryDiscarded()
    {
        return recovery == null || createdNew ? 0 : recovery.discarded();
    }

    /**
     * Close the store: closes its subscriptions and processors, waits for appends in flight, flushes the files,
     * marks the store closed cleanly, releases every memory mapping of its files and the writer lock. Idempotent.
     * <p>
     * A read in progress on another thread delivers nothing after the event being handled (it ends with
     * {@link StoreClosedException} if it had more to deliver); this waits for the handler call in progress to
     * return before it unmaps. Called from inside a handler, it cannot wait for that read: the mappings are
     * released when the read returns. Events and payload views kept past their callback point into released
     * memory: copy what you keep. A second call returns once the first is done, except on a thread the first may
     * be waiting for (a reader's, a consumer's, a background thread's, one inside {@link #doBackgroundWork()}), where
     * it returns at once. In {@link BackgroundThreading#INVOKED} mode it waits for a duty cycle in progress on another
     * thread; the application's runner may go on running {@link #backgroundAgent()} afterwards (each duty cycle
     * returns 0).
     */
    @Override
    public void close()
    {
        final boolean first;
        synchronized (this)
        {
            first = !closed;
            closed = true;
        }
        if (!first)
        {
            awaitFirstClose();
            return;
        }
        try
        {
            for (final AutoCloseable consumer : consumers)
            {
                closeQuietly(consumer);
            }
            consumers.clear();
            appenders.forEach(Appender::closeGuard);
            appenders.clear();
            if (background != null)
            {
                // threads joined, or an INVOKED duty cycle in progress waited for: nothing runs on the files now
                background.close();
            }
            if (!readOnly)
            {
                final long forceStartNs = System.nanoTime();
                if (keys != null)
                {
                    keys.forceDirty();
                }
                log.force();
                if (storeCounters != null)
                {
                    // the background work is stopped: this thread is the one writer of the force counters now
                    storeCounters.forced(System.nanoTime() - forceStartNs);
                }
                // multi-process mode: only the last writer out marks the store closed cleanly, and only once every
                // dead writer's leftovers are repaired and the log is whole (else the next open recovers)
                final boolean last = writerLock.closing();
                if (last && !log.hasDeferredPadding() && (repairer == null || settleDeadWriters()))
                {
                    index.indexedPosition(log.tail());
                    if (config.verifyIndexOnOpen())
                    {
                        // seal only an index this open checked (or rebuilt) and kept since: a seal over damage
                        // that an unchecked open let through would vouch for it at the next open
                        index.seal();
                    }
                    index.force();
                    eventIds.coveredPosition(log.tail());
                    eventIds.seal();
                    eventIds.force();
                    if (names != null)
                    {
                        names.closeCleanly();
                    }
                    // what the meta file vouches for is on disk before it says so: the log (forced above) below
                    // the durable position, the index below its checkpoint, and, last, all of it with the clean mark
                    meta.buffer().putLongVolatile(MetaDescriptor.DURABLE_POSITION_OFFSET, log.tail());
                    meta.buffer().putLongVolatile(MetaDescriptor.INDEX_CHECKPOINT_OFFSET, log.tail());
                    meta.buffer().putIntVolatile(MetaDescriptor.CLEAN_SHUTDOWN_OFFSET, MetaDescriptor.CLEAN);
                    meta.force();
                }
                if (storeCounters != null)
                {
                    // the last values stay in varve.counters: the levels as the store is left, not as last sampled
                    publishLevels();
                }
            }
        }
        finally
        {
            try
            {
                releaseMappingsWhenReadsEnd();
            }
            finally
            {
                if (!readOnly)
                {
                    if (registry != null)
                    {
                        registry.unregister();
                        registry.close();
                    }
                    writerLock.release(false);
                }
                closeDone.countDown();
            }
        }
    }

    /**
     * The last multi-process writer out, before it marks the store closed cleanly: repair what dead writers left, and
     * pad the holes nobody alive can own any more.
     *
     * @return true if the log is whole up to its tail.
     */
    private boolean settleDeadWriters()
    {
        repairer.repairDead();
        final long tail = log.tail();
        long position = log.publishedEnd(OpenRecovery.durableWithinTail(meta.buffer(), log), tail);
        while (position < tail && repairer.unblock(position))
        {
            position = log.publishedEnd(position, tail);
        }
        if (position < tail)
        {
            return false;
        }
        if (keys != null)
        {
            keys.forceDirty();
        }
        log.force();
        return true;
    }

    /**
     * A second close() returns once the first is done, so that whoever gets back from close() may reopen the store
     * at once; except on a thread the first may itself be waiting for (a reader, a consumer's thread, a background
     * thread whose error handler closed the store), which returns at once rather than deadlock.
     */
    private void awaitFirstClose()
    {
        final Thread self = Thread.currentThread();
        final boolean[] reading = new boolean[1];
        allReadContexts.forEach((context) -> reading[0] |= context.owner == self && context.active());
        if (reading[0] || storeThreads.contains(self) || (background != null && background.runsOn(self)))
        {
            return;
        }
        PollingThreads.awaitUninterruptibly(closeDone);
    }

    /**
     * Register (or forget) a thread of this store's own, which close() may wait for.
     */
    void storeThread(final Thread thread, final boolean running)
    {
        if (running)
        {
            storeThreads.add(thread);
        }
        else
        {
            storeThreads.remove(thread);
        }
    }

    /**
     * Wait for every read in progress on another thread to end, then release the mappings of the meta file, the
     * log and the index. A read on the closing thread itself (a handler that closed the store) cannot end while
     * close() runs: its thread releases the mappings when its outermost read returns.
     */
    private void releaseMappingsWhenReadsEnd()
    {
        // volatile store, then volatile loads of every reader's flag: see ReadContext.enter
        releasing = true;
        final Thread self = Thread.currentThread();
        final ReadContext[] own = new ReadContext[1];
        final IdleStrategy idle = new BackoffIdleStrategy(
            SPINS_BEFORE_YIELD, YIELDS_BEFORE_PARK, READER_PARK_NS, READER_PARK_NS);
        allReadContexts.forEach((context) ->
        {
            if (context.owner == self)
            {
                if (context.active())
                {
                    own[0] = context;
                }
                return;
            }
            // a read ends at its next event (it checks closed), or when its handler returns
            idle.reset();
            while (context.active())
            {
                idle.idle();
            }
            context.checksum.clear();
        });
        allReadContexts.clear();
        if (own[0] != null)
        {
            own[0].releaseOnExit = this::releaseMappings;
        }
        else
        {
            releaseMappings();
        }
    }

    private void releaseMappings()
    {
        log.close();
        index.close();
        if (eventIds != null)
        {
            eventIds.close();
        }
        synchronized (nameLock)
        {
            final NameTable table = names;
            if (table != null)
            {
                table.close();
            }
        }
        meta.unmap();
        if (keys != null)
        {
            // the keys this process unwrapped are zeroed
            keys.close();
        }
        if (storeCounters != null)
        {
            // last: nothing of this instance counts any more (appenders, consumers and background are done)
            storeCounters.close();
        }
    }

    // ---------------------------------------------------------------------------------------------- counters

    /** How often, at most, the levels (durable lag, index fill, lead) are published to varve.counters. */
    private static final long COUNTERS_PERIOD_NS = TimeUnit.MILLISECONDS.toNanos(100);
    /** How often the append latency histogram is published. */
    private static final long LATENCY_PERIOD_NS = TimeUnit.SECONDS.toNanos(1);

    /**
     * This instance's live counters (appends, conflicts, bytes, segment rolls, forces, subscription and processor
     * positions and lags, errors by kind...), as other processes read them from {@code varve.counters} with
     * {@link VarveCounters} or {@code varve stat}. Each open starts its own at zero. Counts are exact once the
     * operation that counts returned; levels (durable lag, index fill, segments ahead) are refreshed about every
     * 100 ms by the background work (in {@link BackgroundThreading#INVOKED} mode, by the application's duty cycle).
     * Allocates a snapshot: for monitoring, not for the hot path.
     *
     * @return the counters now, or null if this instance keeps none ({@link VarveConfig.Builder#counters}
     * off, no room for the file, or every region of it held by an open instance).
     * @throws StoreClosedException if the store is closed.
     */
    public ProcessCounters counters()
    {
        final ReadContext context = enterRead();
        try
        {
            final StoreCounters own = storeCounters;
            return own == null ? null : VarveCounters.read(own.fileBuffer(), own.region(), false);
        }
        catch (final InternalError ex)
        {
            // the JVM's report of a fault in a mapped page: varve.counters was cut short under this process
            throw new StoreIOException(directory.resolve(CountersFileDescriptor.FILE_NAME) + " changed under this " +
                "process (truncated?): " + ex.getMessage(), ex);
        }
        finally
        {
            exitRead(context);
        }
    }

    StoreCounters storeCounters()
    {
        return storeCounters;
    }

    /**
     * Count an error thrown to the application, by its kind (the counters refuse it themselves once closed).
     */
    void countError(final Throwable error)
    {
        final StoreCounters own = storeCounters;
        if (own != null)
        {
            own.error(error.getClass().getSimpleName());
        }
    }

    private final java.util.concurrent.atomic.AtomicInteger subscriptionNumbers = new java.util.concurrent.atomic.AtomicInteger();

    /**
     * Counters for a new subscription or processor; null without counters (or none free).
     */
    io.varvedb.internal.counters.PositionCounters positionCounters(final String processor, final long streamId)
    {
        final StoreCounters own = storeCounters;
        if (own == null)
        {
            return null;
        }
        return own.newPosition(processor != null, processor != null ? "processor " + processor :
            "subscription " + subscriptionNumbers.incrementAndGet() + (streamId == 0 ? " (all)" : " (stream " +
            streamId + ")"));
    }

    /**
     * After a subscription's poll: its position, and how far behind the end it is (log bytes to all, events in its
     * stream), inside a read section, so never on unmapped files.
     */
    void polled(final io.varvedb.internal.counters.PositionCounters counters, final long streamId, final long at)
    {
        if (closed)
        {
            return;
        }
        final ReadContext context;
        try
        {
            context = enterRead();
        }
        catch (final StoreClosedException ex)
        {
            return;
        }
        try
        {
            final long behind;
            if (streamId == 0)
            {
                behind = log.tail() - at;
            }
            else
            {
                final int slot = index.findSlot(streamId);
                behind = slot < 0 ? 0 : committedVersion(index.state(slot)) - (at - 1);
            }
            counters.update(at, behind);
        }
        finally
        {
            exitRead(context);
        }
    }

    private void publishLevels()
    {
        final NameTable table = names;
        storeCounters.levels(Math.max(0, log.tail() - flusher.durablePosition()), log.segmentsAhead(),
            index.streamCount(), index.capacity(), table == null ? 0 : table.count(),
            eventIds == null ? 0 : eventIds.used());
    }

    /** The flusher, then the counters' levels: one task, so no mode gets a thread for counters alone. */
    private final class FlusherAndCounters implements Agent
    {
        private final CountersAgent counters;

        FlusherAndCounters(final CountersAgent counters)
        {
            this.counters = counters;
        }

        @Override
        public int doWork() throws Exception
        {
            final int work = flusher.doWork();
            counters.doWork();
            return work;
        }

        @Override
        public String roleName()
        {
            return flusher.roleName();
        }
    }

    /** Publishes the levels, and the latency histogram, to varve.counters. */
    private final class CountersAgent implements Agent
    {
        private long lastLatencyNs = System.nanoTime();
        private long lastLevelsNs;

        @Override
        public int doWork()
        {
            final long now = System.nanoTime();
            if (now - lastLevelsNs < COUNTERS_PERIOD_NS)
            {
                return 0;
            }
            lastLevelsNs = now;
            publishLevels();
            if (storeCounters.latency() != null && now - lastLatencyNs >= LATENCY_PERIOD_NS)
            {
                lastLatencyNs = now;
                storeCounters.publishLatency();
            }
            return 0;
        }

        @Override
        public String roleName()
        {
            return "varve-counters";
        }
    }

    @Override
    public String toString()
    {
        return "VarveDB{" + directory + (readOnly ? ", read-only" : "") + (closed ? ", closed" : "") + "}";
    }

    // ------------------------------------------------------------------------------------------------ internals

    /**
     * Enter a section that touches the store's mappings; leave it with {@link #exitRead}, in a finally block.
     * {@link #close()} waits for every section in progress on other threads before it unmaps.
     *
     * @throws StoreClosedException if the store is closed (or closing).
     */
    ReadContext enterRead()
    {
        return enterRead(false);
    }

    /**
     * @param untilReleased for the store's own consumers, which may still need the mappings while {@code close()}
     *                      closes them (a processor's last checkpoint): refuse only once the mappings are being
     *                      released, not as soon as the store is closing.
     */
    private ReadContext enterRead(final boolean untilReleased)
    {
        final ReadContext context = readContexts.get();
        context.enter();
        // volatile load after the volatile store in enter(): see ReadContext.enter
        if (untilReleased ? releasing : closed)
        {
            exitRead(context);
            throw closedException();
        }
        // one volatile load: has any process replaced a segment file since this log mapped it (or are replaced
        // mappings waiting to be released)? Then map the new files; the old mappings go once their readers are gone
        if (log.mayNeedRefresh())
        {
            try
            {
                log.refreshReplaced();
            }
            catch (final RuntimeException | Error ex)
            {
                exitRead(context);
                throw ex;
            }
        }
        return context;
    }

    /**
     * The read sections in progress now, for {@link Log#readerGrace}: a replaced mapping may be released once each
     * of them has ended. The calling thread's own section is left out when it is its outermost: the log's
     * replacement (or refresh) running inside it publishes the new mapping before taking this snapshot, and holds
     * no old mapping after; an inner section's caller might, from its outer read.
     */
    private ReaderGrace.Token readersNow()
    {
        final Thread self = Thread.currentThread();
        final java.util.ArrayList<ReadContext> reading = new java.util.ArrayList<>();
        final org.agrona.collections.LongArrayList sequences = new org.agrona.collections.LongArrayList();
        // volatile loads, after the volatile store that published the new mapping: see ReadContext.enter
        allReadContexts.forEach((context) ->
        {
            final long sequence = context.sequence();
            if ((sequence & 1) != 0 && !(context.owner == self && context.depth == 1))
            {
                reading.add(context);
                sequences.addLong(sequence);
            }
        });
        if (reading.isEmpty())
        {
            return () -> true;
        }
        return () ->
        {
            for (int i = 0; i < reading.size(); i++)
            {
                // acquire: pairs with the release in exit(), after the last access of the old mapping
                if (reading.get(i).sequence() == sequences.getLong(i))
                {
                    return false;
                }
            }
            return true;
        };
    }

    /**
     * Rewrite a sealed log segment without the records {@code filter} drops ({@link Log#replaceSegment}), below
     * the stable bound (durable, no append in flight in any process), and wait until no reader of this process
     * can still hold the old mapping (unless called from inside a read: then it is released later, as reads begin).
     *
     * @param segment  the segment index.
     * @param filter   keeps or drops each event and stream name record.
     * @param progress told of each record; may abandon.
     * @return what was done.
     */
    ReplaceResult replaceSegment(final long segment, final RecordFilter filter, final ScavengeProgress progress)
    {
        if (readOnly)
        {
            throw new ReadOnlyStoreException("a read-only store cannot compact its log (" + directory + ")");
        }
        final ReadContext context = enterRead();
        final ReplaceResult result;
        final boolean outermost = context.depth == 1;
        try
        {
            result = log.replaceSegment(segment, filter, progress);
        }
        finally
        {
            exitRead(context);
        }
        if (outermost)
        {
            log.awaitRetired(Long.MAX_VALUE / 2);
        }
        return result;
    }

    /**
     * @return the position below which the log is stable: durable, and no append in flight in any process.
     */
    private long stableBound()
    {
        return Math.min(OpenRecovery.durableWithinTail(meta.buffer(), log), oldestInFlight());
    }

    void exitRead(final ReadContext context)
    {
        if (context.exit() && context.releaseOnExit != null)
        {
            // this thread closed the store from inside a read: now that the read is over, nobody uses the mappings
            final Runnable release = context.releaseOnExit;
            context.releaseOnExit = null;
            release.run();
        }
    }

    private StoreClosedException closedException()
    {
        return new StoreClosedException("the store at " + directory + " is closed");
    }

    /**
     * Also inside a read loop, between events: a read in progress when the store closes ends at the next event.
     */
    private void checkOpen()
    {
        if (closed)
        {
            throw closedException();
        }
    }

    private void checkStreamId(final long streamId)
    {
        // one branch for a numeric (positive) id; a negative one must name a stream whose name record is logged
        if (streamId <= 0 && !isNamedStream(streamId))
        {
            throw new IllegalArgumentException(badStreamIdMessage(streamId));
        }
    }

    /**
     * @param streamId a stream id, not positive.
     * @return true if it is the id of a name whose record is in the log.
     */
    boolean isNamedStream(final long streamId)
    {
        // a writer without a table makes it (and fills it from the log) when a named id comes: it may be one
        // handed out before the table was lost
        final NameTable table = streamId < 0 ? nameTable() : null;
        return table != null && table.isLogged(streamId);
    }

    static String badStreamIdMessage(final long streamId)
    {
        return streamId == 0 ? "stream ids are positive longs, or the negative id of a stream name " +
            "(VarveDB.streamId(String)); got 0" : streamId < 0 ? "stream id " + streamId + " is negative, the " +
            "form of a named stream's id, but no stream name has it (ids of names come from VarveDB.streamId" +
            "(String))" : "stream ids are positive longs, got " + streamId;
    }

    /**
     * @return the name table of a writer, made at the first call that needs one (a single-process store's first
     * name), and filled from the log below where it ended at open (every name created before is there).
     */
    private NameTable creatingNameTable()
    {
        NameTable table = names;
        if (table == null)
        {
            synchronized (nameLock)
            {
                checkOpen();
                table = names;
                if (table == null)
                {
                    table = NameTable.openForWriter(directory.resolve(INDEX_DIRECTORY), config.nameCapacity(),
                        config.forceObserver());
                    // release: a process that sees the flag finds the file
                    meta.buffer().putIntRelease(MetaDescriptor.NAMES_MADE_OFFSET, 1);
                    try
                    {
                        table.fillFromLog(log, committedAtOpen);
                    }
                    catch (final RuntimeException | Error ex)
                    {
                        table.close();
                        throw ex;
                    }
                    withNameCipher(table);
                    names = table;
                }
            }
        }
        return table;
    }

    /**
     * @return the name table, or null if a read-only store has none; a read-only store opened before a writer made
     * it looks again, a writer makes it ({@link #creatingNameTable()}).
     */
    private NameTable nameTable()
    {
        if (!readOnly)
        {
            // a writer's first name operation makes the table (filled from the log, which may name streams)
            return creatingNameTable();
        }
        NameTable table = names;
        if (table == null)
        {
            synchronized (nameLock)
            {
                table = names;
                final Path indexDirectory = directory.resolve(INDEX_DIRECTORY);
                if (table == null && !closed && NameTable.exists(indexDirectory))
                {
                    table = NameTable.open(indexDirectory, true, config.forceObserver());
                    withNameCipher(table);
                    names = table;
                }
            }
        }
        return table;
    }

    private static void checkRead(final long fromVersion, final int maxCount, final EventHandler handler)
    {
        if (fromVersion < 1)
        {
            throw new IllegalArgumentException("versions start at 1, got fromVersion " + fromVersion);
        }
        if (maxCount < 0)
        {
            throw new IllegalArgumentException("maxCount must be >= 0, got " + maxCount);
        }
        if (handler == null)
        {
            throw new NullPointerException("handler");
        }
    }




    /**
     * Per-thread reader state: the flyweight handed to handlers, and the flag that tells {@link #close()} this
     * thread is inside a read. A handler that reads again on the same thread gets a fresh flyweight, so the outer
     * one stays valid.
     */
    static final class ReadContext
    {
        private static final VarHandle SEQUENCE;

        static
        {
            try
            {
                SEQUENCE = MethodHandles.lookup().findVarHandle(ReadContext.class, "sequence", long.class);
            }
            catch (final ReflectiveOperationException ex)
            {
                throw new ExceptionInInitializerError(ex);
            }
        }

        private final RecordedEvent event = new RecordedEvent();
        private final RecordChecksum checksum;
        private final Thread owner = Thread.currentThread();
        private int depth;
        /**
         * Odd while the owner is inside a read, even outside; moved by one at each outermost entry and exit, by the
         * owner only. So a snapshot of it tells both whether the owner is reading and, later, whether that read has
         * ended (the value moved on): what {@link #close()} waits for, and what retiring a replaced segment mapping
         * waits for ({@link #readersNow()}).
         */
        @SuppressWarnings("unused")
        private volatile long sequence;
        /** Set by a close() from inside this thread's read: the mappings go when the outermost read ends. */
        private Runnable releaseOnExit;
        /** Where this thread's last scan of the log stopped: a record start, or -1. */
        /** Where this thread's last readAll stopped; none yet is a value no caller can pass (FROM_NOW is -1). */
        private long lastReadAllEnd = Long.MIN_VALUE;

        /** The store's data keys, for {@link #ciphers}; null unless the store is encrypted and opened with its key. */
        private final KeyFile keys;
        private StreamCiphers ciphers;
        private io.varvedb.internal.crypto.IdCipher ids;

        ReadContext(final boolean otherProcessWrites, final KeyFile keys)
        {
            checksum = otherProcessWrites ? RecordChecksum.copying() : new RecordChecksum();
            this.keys = keys;
        }

        /**
         * @return this thread's ciphers of stream keys (made at its first encrypted event).
         */
        StreamCiphers ciphers()
        {
            if (ciphers == null)
            {
                ciphers = new StreamCiphers(keys);
            }
            return ciphers;
        }

        /**
         * @return this thread's cipher of event ids, or null in a store without keys.
         */
        io.varvedb.internal.crypto.IdCipher ids()
        {
            if (ids == null && keys != null)
            {
                ids = new io.varvedb.internal.crypto.IdCipher(keys.idKey());
            }
            return ids;
        }

        RecordedEvent event()
        {
            return depth == 1 ? event : new RecordedEvent();
        }

        /**
         * Enter a read. The caller checks {@code closed} after this returns.
         * <p>
         * Memory ordering: a volatile store of the flag, then (in the caller) a volatile load of {@code closed};
         * close() does the mirror image, a volatile store of {@code closed}, then volatile loads of every flag.
         * Volatile accesses are totally ordered, so either this thread sees the store closed, and leaves without
         * touching a mapping, or close() sees this thread inside, and waits for it to leave before unmapping.
         */
        void enter()
        {
            if (depth++ == 0)
            {
                // plain read of the owner's own field, then a volatile store: as the store of the flag it replaces
                SEQUENCE.setVolatile(this, (long)SEQUENCE.get(this) + 1);
            }
        }

        /**
         * @return true when this was the outermost read and its thread may no longer touch the store's mappings.
         */
        boolean exit()
        {
            if (--depth == 0)
            {
                // a thread-local outlives the store: the flyweight holds no mapping between reads (the
                // checksum's view of the current segment stays, for allocation-free reads; close() drops it)
                event.clear();
                // release: every read of a mapping by this thread happens-before close() seeing it outside
                SEQUENCE.setRelease(this, (long)SEQUENCE.get(this) + 1);
                return true;
            }
            return false;
        }

        /**
         * @return true while the owner thread is inside a read.
         */
        boolean active()
        {
            // acquire: pairs with the release in exit()
            return (sequence() & 1) != 0;
        }

        /**
         * @return the sequence (volatile load): odd while the owner reads.
         */
        long sequence()
        {
            return (long)SEQUENCE.getVolatile(this);
        }
    }
}
