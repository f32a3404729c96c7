package io.varvedb.internal.store;

import io.varvedb.NoStoreException;
import io.varvedb.StoreFormatException;
import io.varvedb.StoreIOException;
import io.varvedb.internal.process.LockFileDescriptor;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.stream.Stream;

/**
 * The store directory as a whole, before and around an open: whether it holds a store, a foreign thing, or
 * nothing; making it; removing what a failed open made.
 */
public final class StoreDirectory
{
    private StoreDirectory()
    {
    }

    /**
     * For a read-only open: "there is no store here" is {@link NoStoreException}, told apart from a file system
     * that cannot say (a directory this process may not search), which stays a {@link StoreIOException}.
     */
    public static void refuseNoStore(final Path directory, final Path metaPath)
    {
        for (Path above = directory.toAbsolutePath().getParent(); above != null; above = above.getParent())
        {
            if (Files.isRegularFile(above))
            {
                throw new NoStoreException("no VarveDB store at " + directory + ": " + above + " is a file, not a " +
                    "directory");
            }
        }
        if (Files.notExists(directory))
        {
            throw new NoStoreException("no VarveDB store at " + directory + ": the directory does not exist");
        }
        if (Files.exists(directory) && !Files.isDirectory(directory))
        {
            throw new NoStoreException("no VarveDB store at " + directory + ": it is a file, not a directory");
        }
        if (Files.notExists(metaPath))
        {
            throw new NoStoreException("no VarveDB store at " + directory + " (it has no " +
                MetaDescriptor.FILE_NAME + ")");
        }
        if (!Files.exists(metaPath))
        {
            throw new StoreIOException("cannot tell whether " + metaPath + " exists (permissions?)", null);
        }
    }

    /**
     * Remove entries of {@code directory}, recursively, ignoring failures: the open that calls this is failing
     * already, and its own exception says why.
     *
     * @param directory the store directory.
     * @param names     entries to remove; nulls are skipped.
     */
    public static void deleteQuietly(final Path directory, final String... names)
    {
        for (final String name : names)
        {
            if (name == null)
            {
                continue;
            }
            final Path path = directory.resolve(name);
            if (!Files.exists(path))
            {
                continue;
            }
            try (Stream<Path> files = Files.walk(path))
            {
                for (final Path file : files.sorted(Comparator.reverseOrder()).toList())
                {
                    Files.deleteIfExists(file);
                }
            }
            catch (final IOException | RuntimeException ignore)
            {
                // the open is failing already: its own exception says why
            }
        }
    }

    public static void refuseForeignDirectory(final Path directory) throws IOException
    {
        try (Stream<Path> entries = Files.list(directory))
        {
            final var foreign = entries.map((p) -> p.getFileName().toString())
                .filter((n) -> !n.equals(LockFileDescriptor.FILE_NAME) &&
                    !n.equals(io.varvedb.internal.process.RegistryDescriptor.FILE_NAME) && !n.endsWith(".tmp") &&
                    !n.startsWith(io.varvedb.internal.crypto.KeyFileDescriptor.FILE_NAME))
                .sorted()
                .findFirst();
            // a writer process that opened the store meanwhile may have created it (varve.meta first, then the rest)
            if (foreign.isPresent() && !Files.exists(directory.resolve(MetaDescriptor.FILE_NAME)))
            {
                throw new StoreFormatException(directory + " is not a VarveDB store: it holds " + foreign.get() +
                    " but no " + MetaDescriptor.FILE_NAME + "; left untouched");
            }
        }
    }

    public static void createDirectory(final Path directory)
    {
        try
        {
            Files.createDirectories(directory);
        }
        catch (final IOException ex)
        {
            throw new StoreIOException("cannot create the store directory " + directory + ": " + ex, ex);
        }
        if (!Files.isWritable(directory))
        {
            throw new StoreIOException("the store directory " + directory + " is not writable; " +
                "use VarveDB.openReadOnly to read it", null);
        }
    }
}
