package io.varvedb.jmh;

import io.varvedb.Appender;
import io.varvedb.Durability;
import io.varvedb.VarveConfig;
import io.varvedb.VarveDB;
import io.varvedb.internal.index.StreamIndexDescriptor;
import io.varvedb.internal.store.MetaDescriptor;
import org.agrona.concurrent.UnsafeBuffer;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.TimeUnit;

/**
 * A clean open of an existing store, with and without the index check at open
 * ({@link VarveConfig.Builder#verifyIndexOnOpen}), {@code Mode.SingleShotTime}.
 * <p>
 * The store: {@code streams} streams of {@value #EVENTS_PER_STREAM} events of {@value #PAYLOAD} B, appended round-robin
 * over the streams (so the records of one stream lie far apart in the log), default segment size and index
 * capacity, {@link Durability#OS}, closed cleanly. It is built once and reused by every fork and run: it lives in
 * {@code jmh/target/open-stores/streams-<n>/} (next to {@code benchmarks.jar}; {@code -Dvarve.open.dir=<dir>}
 * overrides), with a marker file naming its shape; a missing or different marker means a rebuild.
 * <ul>
 * <li>{@code openClose}: {@code VarveDB.open(config)} then {@code close()}, both measured.</li>
 * <li>{@code open}: {@code VarveDB.open(config)} only; the close happens in an invocation tear-down.</li>
 * </ul>
 * Every measured open must find the store closed cleanly and run no recovery (checked after the measured call,
 * throws otherwise), so the operation is always the clean path. Page cache warm unless {@code -Dvarve.open.cold=true},
 * which drops the page cache ({@code sync; echo 3 > /proc/sys/vm/drop_caches}, needs root) before every invocation.
 * <p>
 * With the check on, every trial first proves on a small scratch store that the check does its work: a slot
 * whose version is damaged on disk is served as is with the check off, and rebuilt from the log with it on.
 * <p>
 * Not in the CI smoke run (an iteration of the 1 M store takes a noticeable fraction of a second); run it with
 * {@code jmh/run-open.sh}, which alternates the settings of {@code verify} fork by fork.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SingleShotTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 5)
@Measurement(iterations = 30)
@Fork(value = 1, jvmArgsAppend = {Flags.AGRONA, Flags.HEAP_MIN, Flags.HEAP_MAX})
public class OpenBenchmark
{
    /** System property: where the reusable stores live; default {@code open-stores} next to the benchmark jar. */
    public static final String DIR_PROPERTY = "varve.open.dir";
    /** System property: drop the page cache before every invocation (root only). */
    public static final String COLD_PROPERTY = "varve.open.cold";

    private static final int EVENTS_PER_STREAM = 2;
    private static final int PAYLOAD = 64;
    private static final int SCRATCH_STREAMS = 1000;

    /** Streams in the store. */
    @Param({"1000000", "10000"})
    public int streams;

    /**
     * {@code verifyIndexOnOpen}: "true" (the default path: the store was sealed at its clean close, so the open
     * checks the seal), "slots" (the check on, but the seal removed before every invocation, so the open checks
     * every slot against the log, as after a crash recovery or beside a live writer), "false" (no check).
     */
    @Param({"true", "slots", "false"})
    public String verify;

    private VarveConfig config;
    private Path table;
    private boolean cold;
    private VarveDB opened;

    /**
     * Make sure the store exists with its shape, open it once outside the measurement (which also creates the
     * segments the writer pre-allocates at open, so no measured open creates files), and, for verify=true, prove
     * the check works.
     */
    @Setup(Level.Trial)
    public void setUp()
    {
        cold = Boolean.getBoolean(COLD_PROPERTY);
        final boolean check = !"false".equals(verify);
        if (check)
        {
            proveCheckRebuildsDamagedSlot();
        }
        final Path directory = ensureStore(storesDirectory(), streams);
        config = config(directory, check);
        table = directory.resolve("index").resolve(StreamIndexDescriptor.FILE_NAME);
        try (VarveDB db = VarveDB.open(config))
        {
            if (!db.openedCleanly() || db.recoveredEvents() != -1)
            {
                throw new IllegalStateException(directory + " did not open cleanly: recovered " +
                    db.recoveredEvents() + "; delete it and run again");
            }
            for (final long id : new long[] {1, streams / 2, streams})
            {
                if (db.streamVersion(id) != EVENTS_PER_STREAM)
                {
                    throw new IllegalStateException(directory + ": stream " + id + " is at version " +
                        db.streamVersion(id) + ", expected " + EVENTS_PER_STREAM);
                }
            }
        }
    }

    /**
     * Cold runs: empty the page cache before the measured call.
     */
    @Setup(Level.Invocation)
    public void beforeInvocation()
    {
        if ("slots".equals(verify))
        {
            unseal(table);
        }
        if (cold)
        {
            dropCaches();
        }
    }

    /**
     * Close what {@link #open()} opened, outside the measurement.
     */
    @TearDown(Level.Invocation)
    public void afterInvocation()
    {
        if (opened != null)
        {
            opened.close();
            opened = null;
        }
    }

    /**
     * @return the open store (closed by the invocation tear-down).
     */
    @Benchmark
    public VarveDB open()
    {
        final VarveDB db = VarveDB.open(config);
        opened = db;
        checkClean(db);
        return db;
    }

    /**
     * @return the store, closed.
     */
    @Benchmark
    public VarveDB openClose()
    {
        final VarveDB db = VarveDB.open(config);
        try
        {
            checkClean(db);
        }
        finally
        {
            db.close();
        }
        return db;
    }

    /**
     * Remove the seal a clean close wrote into the index header, so the next open checks every slot instead.
     */
    private static void unseal(final Path table)
    {
        try (java.nio.channels.FileChannel channel = java.nio.channels.FileChannel.open(table,
            java.nio.file.StandardOpenOption.WRITE))
        {
            channel.write(ByteBuffer.allocate(Long.BYTES), StreamIndexDescriptor.SEALED_CHECKSUM_OFFSET);
        }
        catch (final IOException ex)
        {
            throw new UncheckedIOException(ex);
        }
    }

    private static void checkClean(final VarveDB db)
    {
        if (!db.openedCleanly() || db.recoveredEvents() != -1)
        {
            db.close();
            throw new IllegalStateException("not a clean open: opened cleanly " + db.openedCleanly() +
                ", recovered events " + db.recoveredEvents());
        }
    }

    // ------------------------------------------------------------------------------------------------ the store

    static VarveConfig config(final Path directory, final boolean verify)
    {
        return VarveConfig.builder(directory).durability(Durability.OS).verifyIndexOnOpen(verify).build();
    }

    private static Path storesDirectory()
    {
        final String property = System.getProperty(DIR_PROPERTY);
        if (property != null)
        {
            return Paths.get(property);
        }
        try
        {
            // jmh/target/benchmarks.jar -> jmh/target/open-stores
            final Path jar = Paths.get(OpenBenchmark.class.getProtectionDomain().getCodeSource().getLocation().toURI());
            return jar.getParent().resolve("open-stores");
        }
        catch (final Exception ex)
        {
            return Paths.get(System.getProperty("java.io.tmpdir"), "varve-jmh-open-stores");
        }
    }

    private static String shape(final int streams)
    {
        return "streams=" + streams + " eventsPerStream=" + EVENTS_PER_STREAM + " payload=" + PAYLOAD +
            " order=round-robin segmentSize=" + VarveConfig.DEFAULT_SEGMENT_SIZE + " indexCapacity=" +
            VarveConfig.DEFAULT_INDEX_CAPACITY + " durability=OS metaFormat=" + MetaDescriptor.FORMAT_VERSION +
            " indexFormat=" + StreamIndexDescriptor.FORMAT_VERSION + "\n";
    }

    /**
     * @return the store's directory, built if its marker is missing or names another shape.
     */
    static Path ensureStore(final Path base, final int streams)
    {
        final Path directory = base.resolve("streams-" + streams);
        final Path marker = base.resolve("streams-" + streams + ".shape");
        final String shape = shape(streams);
        try
        {
            if (Files.exists(marker) && Files.readString(marker).equals(shape) && Files.isDirectory(directory))
            {
                return directory;
            }
            Files.deleteIfExists(marker);
            Bench.delete(directory);
            Files.createDirectories(base);
            final long start = System.nanoTime();
            fill(directory, streams);
            Files.writeString(marker, shape, StandardCharsets.UTF_8);
            System.out.printf("%nbuilt %s (%s) in %.1f s%n", directory, shape.trim(), (System.nanoTime() - start) / 1e9);
            return directory;
        }
        catch (final IOException ex)
        {
            throw new UncheckedIOException(ex);
        }
    }

    private static void fill(final Path directory, final int streams)
    {
        final UnsafeBuffer payload = new UnsafeBuffer(ByteBuffer.allocateDirect(PAYLOAD));
        payload.putBytes(0, Bench.payload(PAYLOAD));
        try (VarveDB db = VarveDB.open(config(directory, true)))
        {
            final Appender appender = db.appender();
            for (int version = 0; version < EVENTS_PER_STREAM; version++)
            {
                // round-robin: the two events of a stream are a whole round (streams x 128 B) apart in the log
                for (long id = 1; id <= streams; id++)
                {
                    if (appender.tryAppend(id, version, Bench.EVENT_TYPE, payload, 0, PAYLOAD) != version + 1)
                    {
                        throw new IllegalStateException("append to stream " + id + " at version " + version +
                            " failed");
                    }
                }
            }
        }
    }

    // ---------------------------------------------------------------------------------------------- the proof

    /**
     * A scratch store, closed cleanly, then one slot's version damaged on disk (2 becomes 7): with the check off the
     * open serves the damaged version; with it on, the open rebuilds the index from the log and the version is 2.
     */
    static void proveCheckRebuildsDamagedSlot()
    {
        final Path directory = Bench.freshDirectory("open-proof");
        try
        {
            fill(directory, SCRATCH_STREAMS);
            final long damaged = damageOneSlot(directory.resolve("index").resolve(StreamIndexDescriptor.FILE_NAME), 7);
            try (VarveDB db = VarveDB.open(config(directory, false)))
            {
                if (db.recoveredEvents() != -1 || db.streamVersion(damaged) != 7)
                {
                    throw new IllegalStateException("verify=false: expected the damaged version 7 of stream " +
                        damaged + " served as is, got " + db.streamVersion(damaged) + " (recovered " +
                        db.recoveredEvents() + ")");
                }
            }
            try (VarveDB db = VarveDB.open(config(directory, true)))
            {
                if (db.recoveredEvents() != (long)SCRATCH_STREAMS * EVENTS_PER_STREAM ||
                    db.streamVersion(damaged) != EVENTS_PER_STREAM)
                {
                    throw new IllegalStateException("verify=true: expected a rebuild of " +
                        SCRATCH_STREAMS * EVENTS_PER_STREAM + " events and stream " + damaged + " at version " +
                        EVENTS_PER_STREAM + ", got " + db.recoveredEvents() + " events and version " +
                        db.streamVersion(damaged));
                }
            }
        }
        finally
        {
            Bench.delete(directory);
        }
    }

    /**
     * @return the stream whose slot (the first in use) now claims {@code version}.
     */
    private static long damageOneSlot(final Path table, final long version)
    {
        try (FileChannel channel = FileChannel.open(table, StandardOpenOption.READ, StandardOpenOption.WRITE))
        {
            final ByteBuffer slot = ByteBuffer.allocate(StreamIndexDescriptor.SLOT_LENGTH)
                .order(java.nio.ByteOrder.LITTLE_ENDIAN);
            for (long offset = StreamIndexDescriptor.HEADER_LENGTH; offset < channel.size();
                offset += StreamIndexDescriptor.SLOT_LENGTH)
            {
                slot.clear();
                channel.read(slot, offset);
                final long streamId = slot.getLong(StreamIndexDescriptor.SLOT_STREAM_ID_OFFSET);
                if (streamId != 0)
                {
                    final ByteBuffer state = ByteBuffer.allocate(Long.BYTES).order(java.nio.ByteOrder.LITTLE_ENDIAN)
                        .putLong(0, StreamIndexDescriptor.committedState(version));
                    channel.write(state, offset + StreamIndexDescriptor.SLOT_STATE_OFFSET);
                    channel.force(false);
                    return streamId;
                }
            }
            throw new IllegalStateException(table + " has no stream");
        }
        catch (final IOException ex)
        {
            throw new UncheckedIOException(ex);
        }
    }

    private static void dropCaches()
    {
        try
        {
            final Process sync = new ProcessBuilder("sync").inheritIO().start();
            if (sync.waitFor() != 0)
            {
                throw new IllegalStateException("sync failed");
            }
            Files.writeString(Paths.get("/proc/sys/vm/drop_caches"), "3");
        }
        catch (final IOException ex)
        {
            throw new UncheckedIOException("cannot drop the page cache (needs root): " + ex.getMessage(), ex);
        }
        catch (final InterruptedException ex)
        {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(ex);
        }
    }
}
