package io.varvedb.internal.store;

import io.varvedb.CorruptStoreException;
import io.varvedb.StoreIOException;
import io.varvedb.StoreLockedException;
import io.varvedb.StoreFormatException;
import io.varvedb.VarveException;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.ClosedByInterruptException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Stream;
import java.util.zip.CRC32C;

import static io.varvedb.internal.store.CheckpointDescriptor.*;

/**
 * Durable checkpoints of named processors, one small file each ({@link CheckpointDescriptor}). Independent of the
 * log and index, so a process that opened the store read-only may keep checkpoints too.
 */
public final class CheckpointStore
{
    /** Names held by running processors in this JVM (see VarveDB on why locks need a JVM-wide registry). */
    private static final Set<Path> HELD_IN_THIS_JVM = ConcurrentHashMap.newKeySet();

    private final Path directory;

    /**
     * @param storeDirectory the store's directory.
     */
    public CheckpointStore(final Path storeDirectory)
    {
        this.directory = storeDirectory.resolve(DIRECTORY);
    }

    /**
     * @return the directory the checkpoints live in ({@code checkpoints/} in the store's directory).
     */
    public Path directory()
    {
        return directory;
    }

    /**
     * @param name a processor name.
     * @throws IllegalArgumentException if it is not a valid name.
     */
    public static void checkName(final String name)
    {
        if (name == null || !name.matches(NAME_PATTERN))
        {
            throw new IllegalArgumentException("processor names are 1-100 letters, digits, '.', '_' or '-', " +
                "not starting with '.'; got " + name);
        }
    }

    /**
     * @param name a processor name.
     * @return its checkpointed position, or -1 when it has none.
     */
    public long read(final String name)
    {
        checkName(name);
        final Path path = directory.resolve(name + SUFFIX);
        if (!Files.exists(path))
        {
            return -1;
        }
        try
        {
            final byte[] bytes = Files.readAllBytes(path);
            final ByteBuffer buffer = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
            if (bytes.length != LENGTH || buffer.getLong(MAGIC_OFFSET) != MAGIC)
            {
                throw new StoreFormatException(path + " is not a VarveDB checkpoint; left untouched");
            }
            if (buffer.getInt(FORMAT_VERSION_OFFSET) != FORMAT_VERSION)
            {
                throw new StoreFormatException(path + " is a checkpoint of format version " +
                    buffer.getInt(FORMAT_VERSION_OFFSET) + ", this build reads " + FORMAT_VERSION);
            }
            final CRC32C crc = new CRC32C();
            crc.update(bytes, 0, CHECKSUM_OFFSET);
            if ((int)crc.getValue() != buffer.getInt(CHECKSUM_OFFSET))
            {
                throw new CorruptStoreException(path + ": checkpoint checksum mismatch");
            }
            return buffer.getLong(POSITION_OFFSET);
        }
        catch (final IOException ex)
        {
            throw new StoreIOException("cannot read " + path + ": " + ex.getMessage(), ex);
        }
    }

    /**
     * Durably replace a processor's checkpoint.
     *
     * @param name     a processor name.
     * @param position the next log position to process.
     */
    public void write(final String name, final long position)
    {
        checkName(name);
        final ByteBuffer buffer = ByteBuffer.allocate(LENGTH).order(ByteOrder.LITTLE_ENDIAN);
        buffer.putLong(MAGIC_OFFSET, MAGIC);
        buffer.putInt(FORMAT_VERSION_OFFSET, FORMAT_VERSION);
        buffer.putLong(POSITION_OFFSET, position);
        buffer.putLong(UPDATED_OFFSET, System.currentTimeMillis());
        final CRC32C crc = new CRC32C();
        crc.update(buffer.array(), 0, CHECKSUM_OFFSET);
        buffer.putInt(CHECKSUM_OFFSET, (int)crc.getValue());

        final Path path = directory.resolve(name + SUFFIX);
        final Path temp = directory.resolve(name + SUFFIX + ".tmp");
        // A file channel closes itself when its thread is interrupted, which would lose the checkpoint a closing
        // processor owes: write with the interrupt put aside, and hand it back afterwards.
        boolean interrupted = Thread.interrupted();
        try
        {
            while (true)
            {
                try
                {
                    writeAndRename(buffer.clear(), temp, path);
                    return;
                }
                catch (final ClosedByInterruptException ex)
                {
                    interrupted = true;
                    Thread.interrupted();
                }
                catch (final IOException ex)
                {
                    throw new StoreIOException("cannot write checkpoint " + path + ": " + ex.getMessage(), ex);
                }
            }
        }
        finally
        {
            if (interrupted)
            {
                Thread.currentThread().interrupt();
            }
        }
    }

    private void writeAndRename(final ByteBuffer buffer, final Path temp, final Path path) throws IOException
    {
        Files.createDirectories(directory);
        try (FileChannel channel = FileChannel.open(temp, StandardOpenOption.CREATE,
            StandardOpenOption.TRUNCATE_EXISTING, StandardOpenOption.WRITE))
        {
            while (buffer.hasRemaining())
            {
                channel.write(buffer);
            }
            channel.force(true);
        }
        try
        {
            Files.move(temp, path, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        }
        catch (final AtomicMoveNotSupportedException ex)
        {
            Files.move(temp, path, StandardCopyOption.REPLACE_EXISTING);
        }
        forceDirectory();
    }

    /**
     * Remove a checkpoint.
     *
     * @param name a processor name.
     * @return true if there was one.
     */
    public boolean delete(final String name)
    {
        checkName(name);
        try
        {
            final boolean existed = Files.deleteIfExists(directory.resolve(name + SUFFIX));
            forceDirectory();
            return existed;
        }
        catch (final IOException ex)
        {
            throw new StoreIOException("cannot delete checkpoint " + name + ": " + ex.getMessage(), ex);
        }
    }

    /**
     * @param name a processor name.
     * @return the file holding its checkpoint.
     */
    public Path path(final String name)
    {
        checkName(name);
        return directory.resolve(name + SUFFIX);
    }

    /**
     * Move every checkpoint that lies beyond the end of the log back to it: after a power cut recovered a shorter
     * log than the processors had seen, events appended from the new end must not be skipped. A checkpoint that
     * cannot be read, or whose processor runs (in another process), is left to the processor's own check at start.
     *
     * @param end the end of the recovered log.
     * @return the names of the processors moved back.
     */
    public List<String> pullBackTo(final long end)
    {
        final List<String> moved = new ArrayList<>();
        for (final String name : names())
        {
            try (Hold ignored = hold(name))
            {
                if (read(name) > end)
                {
                    write(name, end);
                    moved.add(name);
                }
            }
            catch (final VarveException ex)
            {
                // damaged, or running elsewhere: the processor refuses a checkpoint it cannot resume from
            }
        }
        return moved;
    }

    private List<String> names()
    {
        if (!Files.isDirectory(directory))
        {
            return List.of();
        }
        try (Stream<Path> files = Files.list(directory))
        {
            return files.map((p) -> p.getFileName().toString())
                .filter((n) -> n.endsWith(SUFFIX))
                .map((n) -> n.substring(0, n.length() - SUFFIX.length()))
                .filter((n) -> n.matches(NAME_PATTERN))
                .sorted()
                .toList();
        }
        catch (final IOException ex)
        {
            throw new StoreIOException("cannot list " + directory + ": " + ex.getMessage(), ex);
        }
    }

    /**
     * @return every checkpoint, by processor name.
     */
    public Map<String, Long> list()
    {
        final Map<String, Long> checkpoints = new TreeMap<>();
        for (final String name : names())
        {
            checkpoints.put(name, read(name));
        }
        return checkpoints;
    }

    /**
     * Take the exclusive right to run the processor {@code name}, in this JVM and across processes.
     *
     * @param name a processor name.
     * @return the hold; close it to give the right back.
     * @throws StoreLockedException if a processor of that name runs already.
     */
    public Hold hold(final String name)
    {
        checkName(name);
        final Path lockPath = directory.resolve(name + LOCK_SUFFIX);
        try
        {
            Files.createDirectories(directory);
            final Path key = directory.toRealPath().resolve(name);
            if (!HELD_IN_THIS_JVM.add(key))
            {
                throw new StoreLockedException("processor '" + name + "' is already running in this process");
            }
            FileChannel channel = null;
            try
            {
                channel = FileChannel.open(lockPath, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
                final FileLock lock = channel.tryLock();
                if (lock == null)
                {
                    throw new StoreLockedException("processor '" + name + "' is already running in another process");
                }
                return new Hold(key, channel, lock);
            }
            catch (final IOException | RuntimeException ex)
            {
                HELD_IN_THIS_JVM.remove(key);
                if (channel != null)
                {
                    channel.close();
                }
                throw ex;
            }
        }
        catch (final IOException ex)
        {
            throw new StoreIOException("cannot lock " + lockPath + ": " + ex.getMessage(), ex);
        }
    }

    /**
     * @param name a processor name.
     * @return true if a processor of that name runs in this JVM.
     */
    public boolean isHeldHere(final String name)
    {
        try
        {
            return Files.isDirectory(directory) && HELD_IN_THIS_JVM.contains(directory.toRealPath().resolve(name));
        }
        catch (final IOException ex)
        {
            return false;
        }
    }

    private void forceDirectory() throws IOException
    {
        try (FileChannel channel = FileChannel.open(directory, StandardOpenOption.READ))
        {
            channel.force(true);
        }
    }

    /**
     * The right to run one named processor.
     */
    public static final class Hold implements AutoCloseable
    {
        private final Path key;
        private final FileChannel channel;
        private final FileLock lock;

        private Hold(final Path key, final FileChannel channel, final FileLock lock)
        {
            this.key = key;
            this.channel = channel;
            this.lock = lock;
        }

        @Override
        public void close()
        {
            try
            {
                lock.release();
                channel.close();
            }
            catch (final IOException ignore)
            {
                // the lock goes with the channel or the process
            }
            finally
            {
                HELD_IN_THIS_JVM.remove(key);
            }
        }
    }
}
