package io.varvedb.tools;

import io.varvedb.VarveConfig;
import io.varvedb.VarveDB;
import io.varvedb.internal.store.MetaDescriptor;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * Finding and opening stores for the commands, with one-line explanations when a directory is not one.
 */
public final class Stores
{
    /** The writers' lock file (see {@link Writers}). */
    public static final String LOCK_FILE = "varve.lock";
    /** The log directory. */
    public static final String LOG_DIRECTORY = "log";
    /** The index directory. */
    public static final String INDEX_DIRECTORY = "index";

    private Stores()
    {
    }

    /**
     * Make sure {@code directory} holds a store, or explain in one line why not.
     *
     * @param directory the directory given on the command line.
     * @return its absolute path.
     */
    public static Path requireStore(final Path directory)
    {
        final Path absolute = directory.toAbsolutePath().normalize();
        if (!Files.exists(absolute))
        {
            throw CliException.store("no such directory: " + directory);
        }
        if (!Files.isDirectory(absolute))
        {
            throw CliException.store(directory + " is a file, not a VarveDB store directory");
        }
        if (!Files.isRegularFile(absolute.resolve(MetaDescriptor.FILE_NAME)))
        {
            throw CliException.store(directory + " is not a VarveDB store (it has no " +
                MetaDescriptor.FILE_NAME + ")");
        }
        return absolute;
    }

    /**
     * Before opening {@code directory} for writing: refuse a directory that holds files but no store. The engine
     * refuses too, but only after creating its lock file there; checking first leaves such a directory exactly as
     * it was.
     *
     * @param directory the directory given on the command line.
     */
    public static void refuseForeign(final Path directory)
    {
        final Path absolute = directory.toAbsolutePath().normalize();
        if (!Files.exists(absolute) || Files.isRegularFile(absolute.resolve(MetaDescriptor.FILE_NAME)))
        {
            return;
        }
        if (!Files.isDirectory(absolute))
        {
            throw CliException.store(directory + " is a file, not a VarveDB store directory");
        }
        try (Stream<Path> entries = Files.list(absolute))
        {
            // a lock file alone is what demo --fresh leaves, and the engine does not count it either
            final Optional<String> first = entries.map((p) -> p.getFileName().toString())
                .filter((name) -> !name.equals(LOCK_FILE))
                .sorted()
                .findFirst();
            if (first.isPresent())
            {
                throw CliException.store(directory + " is not a VarveDB store: it holds " + first.get() +
                    " but no " + MetaDescriptor.FILE_NAME + "; left untouched");
            }
        }
        catch (final IOException ex)
        {
            throw CliException.store("cannot list " + directory + ": " + ex.getMessage());
        }
    }

    /**
     * Refuse a {@code --stream} option that can name no stream in any store (an id of 0, an empty name) before the
     * store is opened.
     *
     * @param stream what the user gave, or null.
     * @throws CliException if it can name no stream.
     */
    public static void checkStreamOption(final String stream)
    {
        if (stream != null && (stream.isEmpty() || stream.replace(",", "").replace("_", "").matches("-?0+")))
        {
            throw CliException.usage("--stream must be a positive stream id, a named stream's (negative) id, " +
                "or a stream name; got '" + stream + "'");
        }
    }

    /**
     * Resolve a {@code --stream} option: a numeric id (a positive one, or a named stream's negative one) or a name.
     *
     * @param db     the store.
     * @param stream what the user gave.
     * @return the stream id.
     * @throws CliException if no stream has that name, or the id is 0 or names no stream.
     */
    public static long streamId(final VarveDB db, final String stream)
    {
        final String digits = stream.replace(",", "").replace("_", "");
        if (digits.matches("-?[0-9]{1,19}"))
        {
            final long id;
            try
            {
                id = Long.parseLong(digits);
            }
            catch (final NumberFormatException ex)
            {
                throw CliException.usage("--stream " + stream + " is out of a long's range");
            }
            if (id == 0 || (id < 0 && db.streamName(id) == null))
            {
                throw CliException.usage("--stream must be a positive stream id, a named stream's (negative) id, " +
                    "or a stream name; got " + stream);
            }
            return id;
        }
        final long id = stream.isEmpty() || stream.getBytes(java.nio.charset.StandardCharsets.UTF_8).length >
            VarveDB.MAX_STREAM_NAME_LENGTH ? 0 : db.findStreamId(stream);
        if (id == 0)
        {
            throw CliException.usage("no stream is named \"" + stream + "\" in " + db.directory());
        }
        return id;
    }

    /**
     * @param db       the store.
     * @param streamId a stream id.
     * @return its id and, for a named stream, its name in quotes: {@code -1 "order-7781"}.
     */
    public static String describeStream(final VarveDB db, final long streamId)
    {
        final String name = streamId < 0 ? db.streamName(streamId) : null;
        return name == null ? Long.toString(streamId) : streamId + " \"" + name + "\"";
    }

    /**
     * Settings for a read-only open that only looks at a store (info, dump, verify, scavenge --dry-run, the demo's
     * proof): without counters of its own. A read-only open otherwise takes a region of {@code varve.counters}
     * (16 in all), and once they are all taken each look would push out the last values of an instance that
     * closed or died, the very ones {@code varve stat} is there to show; it would also change a file of the store,
     * which verify promises never to do.
     *
     * @param directory the store's directory.
     * @return the settings, to change further or build.
     */
    public static VarveConfig.Builder lookOnly(final Path directory)
    {
        return VarveConfig.builder(directory).counters(false);
    }

    /**
     * Open an existing store read-only to look at it, without counters of its own ({@link #lookOnly}).
     *
     * @param directory a directory that {@link #requireStore} accepted.
     * @return the open store.
     */
    public static VarveDB openToLook(final Path directory)
    {
        return VarveDB.openReadOnly(lookOnly(directory).build());
    }

    /**
     * Is the store encrypted at rest? As the engine decides at open: {@code varve.meta} says so, or a key file is
     * there (a store whose key file went missing is still encrypted; one being created has its key file first).
     *
     * @param directory a directory that {@link #requireStore} accepted.
     * @return true if opening it needs its master key (or, read-only, {@code readCiphertext}).
     */
    public static boolean isEncrypted(final Path directory)
    {
        return readMetaPage(directory).getInt(MetaDescriptor.ENCRYPTED_OFFSET) == 1 ||
            io.varvedb.internal.crypto.KeyFile.exists(directory);
    }

    /**
     * Read the store's identity page from disk without mapping it.
     *
     * @param directory a directory that {@link #requireStore} accepted.
     * @return what {@code varve.meta} says.
     */
    public static Meta readMeta(final Path directory)
    {
        final ByteBuffer page = readMetaPage(directory);
        return new Meta(
            page.getInt(MetaDescriptor.FORMAT_VERSION_OFFSET),
            page.getInt(MetaDescriptor.SEGMENT_LENGTH_OFFSET),
            page.getInt(MetaDescriptor.INDEX_CAPACITY_OFFSET),
            page.getInt(MetaDescriptor.CLEAN_SHUTDOWN_OFFSET) == MetaDescriptor.CLEAN,
            page.getLong(MetaDescriptor.CREATED_OFFSET),
            page.getLong(MetaDescriptor.TAIL_POSITION_OFFSET));
    }

    /**
     * Read the whole of {@code varve.meta}'s page from disk without mapping it, for checks of every field.
     *
     * @param directory a directory that {@link #requireStore} accepted.
     * @return the page, {@link MetaDescriptor#LENGTH} bytes, little-endian.
     * @throws CliException if the file is shorter than a page or lacks the store's magic.
     */
    public static ByteBuffer readMetaPage(final Path directory)
    {
        final Path path = directory.resolve(MetaDescriptor.FILE_NAME);
        try (FileChannel channel = FileChannel.open(path, StandardOpenOption.READ))
        {
            final ByteBuffer page = ByteBuffer.allocate(MetaDescriptor.LENGTH).order(ByteOrder.LITTLE_ENDIAN);
            while (page.hasRemaining() && channel.read(page) >= 0)
            {
                // read the whole page, or as much as the file has
            }
            if (page.position() < MetaDescriptor.LENGTH)
            {
                throw CliException.store(path + " is not a VarveDB store file: " + page.position() +
                    " bytes, shorter than " + MetaDescriptor.LENGTH);
            }
            if (page.getLong(MetaDescriptor.MAGIC_OFFSET) != MetaDescriptor.MAGIC)
            {
                throw CliException.store(directory + " is not a VarveDB store (" + MetaDescriptor.FILE_NAME +
                    " has the wrong magic)");
            }
            return page.clear();
        }
        catch (final IOException ex)
        {
            throw CliException.store("cannot read " + path + ": " + ex.getMessage());
        }
    }

    /**
     * The fields of {@code varve.meta}.
     *
     * @param formatVersion   the store's format version.
     * @param segmentLength   data bytes per log segment.
     * @param indexCapacity   most streams.
     * @param closedCleanly   true if the last writer closed the store.
     * @param createdMillis   creation time.
     * @param tailPosition    end of all claimed log space.
     */
    public record Meta(
        int formatVersion,
        int segmentLength,
        int indexCapacity,
        boolean closedCleanly,
        long createdMillis,
        long tailPosition)
    {
    }
}
