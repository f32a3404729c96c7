package io.varvedb.jmh;

import java.nio.file.Path;

/**
 * The systems benchmarks can name in their {@code system} parameter.
 */
public final class Systems
{
    /** VarveDB. */
    public static final String VARVE = "varve";
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
                return new VarveStore(directory);
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
