package io.varvedb.internal.process;

import io.varvedb.StoreIOException;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The store's {@code varve.lock}, open once per JVM (see {@link LockFileDescriptor}): every store instance of this
 * JVM on the same directory shares one channel and one set of {@link Mutex mutexes}, counted by reference. A
 * second channel would be a trap: the kernel keeps record locks per process, and closing any descriptor of the file
 * drops all of them, those taken through other channels included.
 */
public final class LockFile
{
    private static final Map<Path, LockFile> OPEN = new HashMap<>();
    private static final long PARK_MIN_NS = TimeUnit.MICROSECONDS.toNanos(20);
    private static final long PARK_MAX_NS = TimeUnit.MILLISECONDS.toNanos(1);

    private final Path key;
    private final Path path;
    private final FileChannel channel;
    private final boolean created;
    private final Object fileKey;
    private final Mutex[] mutexes = new Mutex[LockFileDescriptor.NAMED_RANGES];
    private int references;
    /** Store instances of this JVM open (or opening) in multi-process mode; they share one WRITERS lock. */
    int multiWriters;
    FileLock writersLock;
    /** Of those, the ones whose open is done; they share one MEMBERS lock. */
    int members;
    FileLock membersLock;

    private LockFile(final Path key, final Path path, final FileChannel channel, final boolean created,
        final Object fileKey)
    {
        this.key = key;
        this.path = path;
        this.channel = channel;
        this.created = created;
        this.fileKey = fileKey;
        for (int i = 0; i < mutexes.length; i++)
        {
            mutexes[i] = new Mutex(this, i);
        }
    }

    /**
     * Open (or share) the lock file of the store in {@code directory}, creating it if there is none.
     *
     * @param directory the store's directory, which exists.
     * @return the lock file; {@link #release()} it once.
     * @throws IOException if it cannot be opened.
     */
    public static LockFile acquire(final Path directory) throws IOException
    {
        final Path key = directory.toRealPath();
        synchronized (OPEN)
        {
            final LockFile open = OPEN.get(key);
            if (open != null)
            {
                open.references++;
                return open;
            }
            final Path path = key.resolve(LockFileDescriptor.FILE_NAME);
            FileChannel channel;
            boolean created = false;
            try
            {
                channel = FileChannel.open(path,
                    StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE, StandardOpenOption.READ);
                created = true;
            }
            catch (final java.nio.file.FileAlreadyExistsException ex)
            {
                channel = FileChannel.open(path, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                    StandardOpenOption.READ);
            }
            final LockFile file = new LockFile(key, path, channel, created, fileKeyOf(path));
            file.references = 1;
            OPEN.put(key, file);
            return file;
        }
    }

    /**
     * Drop one reference; the last closes the channel, which drops every lock this JVM still holds on the file.
     */
    public void release()
    {
        synchronized (OPEN)
        {
            if (--references == 0)
            {
                OPEN.remove(key);
                try
                {
                    channel.close();
                }
                catch (final IOException ignore)
                {
                    // the locks go with the channel or the process
                }
            }
        }
    }

    /**
     * @return true if this JVM created the file (and is its only user so far).
     */
    public boolean created()
    {
        return created;
    }

    /**
     * @return true if the name {@code varve.lock} still is the file this channel has open (a failing open of a new
     * store removes the lock file it made; an opener that opened it just before must not lock a ghost). True where
     * files have no keys.
     */
    public boolean stillInPlace()
    {
        try
        {
            final Object now = fileKeyOf(path);
            return fileKey == null || fileKey.equals(now);
        }
        catch (final IOException ex)
        {
            return false;
        }
    }

    /**
     * @return the lock file's path.
     */
    public Path lockPath()
    {
        return path;
    }

    /**
     * @return the channel, for the single-process writer's pid hint.
     */
    public FileChannel channel()
    {
        return channel;
    }

    /**
     * Try to lock a range.
     *
     * @param position first byte.
     * @param size     bytes.
     * @param shared   shared (else exclusive).
     * @return the lock, or null if another process holds a conflicting one.
     * @throws OverlappingFileLockException if this JVM holds an overlapping lock.
     */
    public FileLock tryLock(final long position, final long size, final boolean shared)
    {
        try
        {
            return channel.tryLock(position, size, shared);
        }
        catch (final IOException ex)
        {
            throw new StoreIOException("cannot lock " + path + ": " + ex.getMessage(), ex);
        }
    }

    /**
     * Probe for an instant whether a shared lock on {@link LockFileDescriptor#WRITERS} can be had: a
     * single-process writer of another process holds the whole file exclusively, multi-process writers hold that
     * byte only shared.
     *
     * @return true if it can (no single-process writer elsewhere has the store); the probe is released at once.
     * @throws OverlappingFileLockException if this JVM holds a lock over that byte.
     */
    public boolean writersShareable()
    {
        final FileLock probe = tryLock(LockFileDescriptor.WRITERS, 1, true);
        releaseQuietly(probe);
        return probe != null;
    }

    /**
     * The pid a single-process writer writes into the file, read through this channel (a second descriptor's close
     * would drop this JVM's locks on the file).
     *
     * @return the pid's digits, or an empty string if there are none (not written yet, or no such writer).
     */
    public String pidHint()
    {
        try
        {
            final java.nio.ByteBuffer bytes = java.nio.ByteBuffer.allocate(32);
            channel.read(bytes, 0);
            bytes.flip();
            final String text = java.nio.charset.StandardCharsets.US_ASCII.decode(bytes).toString().trim();
            return text.chars().allMatch(Character::isDigit) ? text : "";
        }
        catch (final IOException ex)
        {
            return "";
        }
    }

    /**
     * @param participant a participant index.
     * @return true if the participant's range is locked by a process (this one included): its holder is alive.
     * Where the range is free, this returns false and leaves it free.
     */
    public boolean isLocked(final int participant)
    {
        final FileLock lock;
        try
        {
            lock = tryLock(LockFileDescriptor.participantRange(participant), 1, false);
        }
        catch (final OverlappingFileLockException ex)
        {
            // held in this JVM, by a store instance that is open
            return true;
        }
        if (lock == null)
        {
            return true;
        }
        releaseQuietly(lock);
        return false;
    }

    /**
     * @param range one of the named ranges of {@link LockFileDescriptor}.
     * @return the mutex over it, shared by every store instance of this JVM.
     */
    public Mutex mutex(final long range)
    {
        return mutexes[(int)range];
    }

    /**
     * Take a mutex of a store shared between writer processes; nothing in single-process mode.
     *
     * @param file  the store's lock file, or null in single-process mode.
     * @param range one of the named ranges of {@link LockFileDescriptor}.
     */
    public static void lockIfShared(final LockFile file, final long range)
    {
        if (file != null)
        {
            file.mutex(range).lock();
        }
    }

    /**
     * Release what {@link #lockIfShared} took.
     *
     * @param file  the store's lock file, or null in single-process mode.
     * @param range the range.
     */
    public static void unlockIfShared(final LockFile file, final long range)
    {
        if (file != null)
        {
            file.mutex(range).unlock();
        }
    }

    /**
     * Release a lock, ignoring a channel already closed.
     *
     * @param lock a lock, or null.
     */
    public static void releaseQuietly(final FileLock lock)
    {
        try
        {
            if (lock != null && lock.isValid())
            {
                lock.release();
            }
        }
        catch (final IOException ignore)
        {
            // the lock goes with the channel or the process
        }
    }

    private static Object fileKeyOf(final Path path) throws IOException
    {
        try
        {
            return Files.readAttributes(path, BasicFileAttributes.class).fileKey();
        }
        catch (final java.nio.file.NoSuchFileException ex)
        {
            return new Object();
        }
    }

    /**
     * A lock between the threads of this JVM and the processes that share the store: a {@link ReentrantLock} for
     * this JVM (record locks cannot exclude two threads of one process), then the range's record lock, taken by
     * polling ({@link FileChannel#lock} is interruptible, and an interrupt closes the channel, dropping every lock of
     * the JVM on the file). Held briefly, off the append path.
     */
    public static final class Mutex
    {
        private final LockFile file;
        private final long range;
        private final ReentrantLock jvm = new ReentrantLock();
        private FileLock held;

        private Mutex(final LockFile file, final long range)
        {
            this.file = file;
            this.range = range;
        }

        /**
         * Take the mutex, waiting as long as another thread or process holds it. Reentrant.
         */
        public void lock()
        {
            jvm.lock();
            if (jvm.getHoldCount() > 1)
            {
                return;
            }
            try
            {
                long parkNs = PARK_MIN_NS;
                while (true)
                {
                    final FileLock lock = file.tryLock(range, 1, false);
                    if (lock != null)
                    {
                        held = lock;
                        return;
                    }
                    LockSupport.parkNanos(parkNs);
                    parkNs = Math.min(PARK_MAX_NS, parkNs * 2);
                }
            }
            catch (final RuntimeException | Error ex)
            {
                jvm.unlock();
                throw ex;
            }
        }

        /**
         * Release the mutex.
         */
        public void unlock()
        {
            if (jvm.getHoldCount() == 1)
            {
                final FileLock lock = held;
                held = null;
                releaseQuietly(lock);
            }
            jvm.unlock();
        }
    }
}
