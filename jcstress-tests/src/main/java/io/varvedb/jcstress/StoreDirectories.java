package io.varvedb.jcstress;

import io.varvedb.VarveConfig;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.ConcurrentLinkedQueue;

/**
 * Store directories for tests whose states each close a store of their own ({@code CloseVs*Test}), where
 * {@link StorePool}'s shared stores do not fit. A state takes a directory, opens a store in it, takes a fresh
 * stream id in it, and its arbiter closes the store and gives the directory back for a later state; a directory
 * is deleted once it has served {@link #STREAMS_PER_DIRECTORY} streams, so the stream table never fills and
 * reopening stays cheap.
 */
final class StoreDirectories
{
    /** Index capacity of each store. */
    static final int CAPACITY = 1024;
    /** Streams one directory serves before it is deleted and a fresh one taken. */
    static final int STREAMS_PER_DIRECTORY = CAPACITY / 2;

    private final String prefix;
    private final ConcurrentLinkedQueue<Directory> idle = new ConcurrentLinkedQueue<>();

    /**
     * @param name names the directories ({@code varve-jcstress-NAME-...}).
     */
    StoreDirectories(final String name)
    {
        this.prefix = "varve-jcstress-" + name + "-";
    }

    /**
     * A store directory and the next stream id it has not used.
     */
    static final class Directory
    {
        final Path path;
        long nextStream = 1;

        Directory(final Path path)
        {
            this.path = path;
        }

        VarveConfig config()
        {
            return VarveConfig.builder(path)
                .segmentSize(1 << 16)
                .indexCapacity(CAPACITY)
                .indexBlocksPerChunk(CAPACITY / 8)
                .preallocate(false)
                .verifyChecksumsOnRead(true)
                .build();
        }
    }

    /**
     * @return an idle directory, or a new one.
     */
    Directory take()
    {
        final Directory directory = idle.poll();
        if (directory != null)
        {
            return directory;
        }
        try
        {
            final Path path = Files.createTempDirectory(StorePool.baseDirectory(), prefix);
            StorePool.track(path);
            return new Directory(path);
        }
        catch (final IOException ex)
        {
            throw new UncheckedIOException(ex);
        }
    }

    /**
     * @param directory a directory whose store is closed.
     */
    void give(final Directory directory)
    {
        if (directory.nextStream <= STREAMS_PER_DIRECTORY)
        {
            idle.add(directory);
            return;
        }
        StorePool.delete(directory.path);
    }
}
