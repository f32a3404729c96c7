package io.varvedb.jmh;

import io.varvedb.Durability;
import io.varvedb.VarveConfig;

import java.nio.file.Path;

/**
 * The systems benchmarks can name in their {@code system} parameter. The VarveDB durability variants are not in
 * any benchmark's default {@code @Param} list (they would multiply every benchmark); {@code run-all.sh} passes them
 * explicitly to the append throughput and latency benchmarks only. Nor are the counter variants
 * ({@link #VARVE_NOCOUNTERS}, {@link #VARVE_LATENCY}), which {@code run-counters.sh} runs beside {@link #VARVE}, nor
 * {@link #VARVE_ENCRYPTED}, which {@link EncryptionBenchmark} and {@link EncryptionKeyCacheBenchmark} run beside it.
 */
public final class Systems
{
    /** VarveDB. */
    public static final String VARVE = "varve";
    /** VarveDB in {@link Durability#GROUP_COMMIT}: the log forced every 1 ms in the background. */
    public static final String VARVE_GROUP = "varve-group";
    /** VarveDB in {@link Durability#GROUP_COMMIT}, each append followed by {@code awaitDurable(lastPosition())}. */
    public static final String VARVE_GROUP_AWAIT = "varve-group-await";
    /** VarveDB in {@link Durability#SYNC}: an append returns once forced. */
    public static final String VARVE_SYNC = "varve-sync";
    /**
     * VarveDB in {@link VarveConfig.Builder#multiProcess} mode: the same appends as {@link #VARVE}, with every writer
     * process sharing the store's slots and tail. Every process writing one store must open it with this name.
     */
    public static final String VARVE_MP = "varve-mp";
    /**
     * VarveDB reading without checking each record's CRC32C ({@link VarveConfig.Builder#verifyChecksumsOnRead}
     * off): the same work as the peers' readers, which check nothing. Appends are those of {@link #VARVE}.
     */
    public static final String VARVE_NOVERIFY = "varve-noverify";
    /**
     * VarveDB with its live counters off ({@link VarveConfig.Builder#counters} false); {@link #VARVE} keeps them on,
     * the default. Appends are otherwise those of {@link #VARVE}: the pair measures what counting costs.
     */
    public static final String VARVE_NOCOUNTERS = "varve-nocounters";
    /**
     * VarveDB with its counters on and every append's latency recorded ({@link
     * VarveConfig.Builder#recordAppendLatency}): two {@code System.nanoTime()} calls and a histogram record per append.
     */
    public static final String VARVE_LATENCY = "varve-latency";
    /**
     * VarveDB encrypted at rest ({@link VarveConfig.Builder#encryption(byte[])}, the fixed key
     * {@link Bench#masterKey()}): every payload AES-256-GCM encrypted under its stream's data key as it is appended,
     * decrypted as it is read. Otherwise {@link #VARVE}; the pair measures what encryption costs.
     */
    public static final String VARVE_ENCRYPTED = "varve-encrypted";
    /** Chronicle Queue. */
    public static final String CHRONICLE = "chronicle";
    /** LMDB through lmdbjava. */
    public static final String LMDB = "lmdb";
    /** SQLite through sqlite-jdbc. */
    public static final String SQLITE = "sqlite";

    private Systems()
    {
    }

    /**
     * @param name      one of the constants.
     * @param directory an empty directory for the store.
     * @return the opened store.
     */
    public static EventStore open(final String name, final Path directory)
    {
        switch (name)
        {
            case VARVE:
                return new VarveStore(directory, Durability.OS, false, false);
            case VARVE_NOVERIFY:
                return new VarveStore(directory, Durability.OS, false, false, false);
            case VARVE_NOCOUNTERS:
                return new VarveStore(directory, Durability.OS, false, false, true, VarveStore.Counters.OFF);
            case VARVE_LATENCY:
                return new VarveStore(directory, Durability.OS, false, false, true, VarveStore.Counters.LATENCY);
            case VARVE_ENCRYPTED:
                return new VarveStore(directory, Durability.OS, false, false, true, VarveStore.Counters.ON,
                    Bench.masterKey());
            case VARVE_MP:
                return new VarveStore(directory, Durability.OS, false, true);
            case VARVE_GROUP:
                return new VarveStore(directory, Durability.GROUP_COMMIT, false, false);
            case VARVE_GROUP_AWAIT:
                return new VarveStore(directory, Durability.GROUP_COMMIT, true, false);
            case VARVE_SYNC:
                return new VarveStore(directory, Durability.SYNC, false, false);
            case CHRONICLE:
                return new ChronicleStore(directory);
            case LMDB:
                return new LmdbStore(directory);
            case SQLITE:
                return new SqliteStore(directory);
            default:
                throw new IllegalArgumentException("unknown system: " + name);
        }
    }
}
