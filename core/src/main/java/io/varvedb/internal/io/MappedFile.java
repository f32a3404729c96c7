package io.varvedb.internal.io;

import io.varvedb.StoreIOException;
import org.agrona.IoUtil;
import org.agrona.concurrent.UnsafeBuffer;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileStore;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.function.Consumer;

/**
 * A whole file mapped into memory and viewed through an {@link UnsafeBuffer}.
 * <p>
 * Files are created allocated: every byte (or, for a file that grows into its length, every byte of a prefix, the
 * rest being allocated later by {@link #allocate(int, int)} before anyone writes there) is written with zeros
 * through the channel before it is used, and the file appears under its final name only once complete (written to a temporary name, forced,
 * then renamed). Two reasons: a full disk then surfaces as an {@link IOException} at creation, never as a
 * {@code SIGBUS} when a thread first writes to a page of a sparse mapping; and first writes to the pages of an
 * allocated file are minor faults (see shared FACTS: 0.1-0.8 us instead of 2.6-11 us per page).
 * <p>
 * The mapping is released explicitly by {@link #unmap()}, not left to the garbage collector: a process that opens
 * and closes stores would otherwise pile up mappings (the kernel's limit is 65,530 by default) and keep the disk
 * space of deleted files pinned. Touching an unmapped address crashes the JVM, so the owner unmaps only once no
 * thread can reach the mapping any more (see {@code VarveDB.close()}).
 * <p>
 * Forcing a file's data does not make the file's name durable: after a power cut a file whose directory was
 * never forced may be gone, forced data and all. So the first force of each writable file in this process also
 * forces its directory, before the data: a file created by a process that crashed before forcing its directory
 * is covered too, once per file per process.
 */
public final class MappedFile
{
    private static final int ZERO_CHUNK = 1 << 20;
    /**
     * Zeros to write, shared by every zero-fill through its own duplicate: a direct buffer allocated per fill would
     * be freed only when the collector runs, and a process that opens many stores (each allocates a first chunk)
     * would pile up native memory and mappings meanwhile.
     */
    private static final ByteBuffer ZEROS = ByteBuffer.allocateDirect(ZERO_CHUNK).asReadOnlyBuffer();
    private static final String TEMP_SUFFIX = ".tmp";
    private static final byte[] EMPTY = new byte[0];

    private final Path path;
    private final MappedByteBuffer mapped;
    private final UnsafeBuffer buffer;
    private final boolean readOnly;
    private final ForceObserver observer;
    private volatile boolean nameDurable;
    private boolean unmapped;
    /** The file's identity (device and inode) when it was mapped, or null if unknown. */
    private Object fileKey;

    private MappedFile(
        final Path path, final MappedByteBuffer mapped, final boolean readOnly, final ForceObserver observer)
    {
        this(path, mapped, readOnly, observer, new UnsafeBuffer(mapped));
    }

    private MappedFile(
        final Path path, final MappedByteBuffer mapped, final boolean readOnly, final ForceObserver observer,
        final UnsafeBuffer buffer)
    {
        this.path = path;
        this.mapped = mapped;
        this.buffer = buffer;
        this.readOnly = readOnly;
        this.observer = observer;
    }

    /**
     * @return the identity (device and inode) the file had when this mapped it, or null if the file system has none:
     * a file renamed over {@link #path()} since has another.
     */
    public Object fileKey()
    {
        return fileKey;
    }

    /**
     * @param path a file.
     * @return its identity, or null if it has none or does not exist.
     */
    public static Object fileKeyOf(final Path path)
    {
        try
        {
            return Files.readAttributes(path, java.nio.file.attribute.BasicFileAttributes.class).fileKey();
        }
        catch (final IOException ex)
        {
            return null;
        }
    }

    /**
     * Create a new file of {@code length} zero bytes, let {@code initialiser} write its header through the
     * mapping, force it, and move it into place atomically.
     *
     * @param path        final name of the file; must not exist.
     * @param length      length in bytes; at most {@link Integer#MAX_VALUE}.
     * @param initialiser writes the header into the buffer before the file becomes visible.
     * @param forceHeader force the header page to disk before the file becomes visible, and its directory after
     *                    it got its name. On ext4 this costs a journal commit that writes the whole zero-filled
     *                    file, so files made on the hot path's behalf (segments, index chunks) skip it: a crash
     *                    can then leave them with a zero header, which their owners recognise as a file never
     *                    used and initialise again, or no file at all, which held nothing durable.
     * @param observer    sees the creation and every force.
     * @return the mapped file, read-write.
     */
    public static MappedFile create(
        final Path path, final long length, final Consumer<UnsafeBuffer> initialiser, final boolean forceHeader,
        final ForceObserver observer)
    {
        return create(path, length, length, initialiser, forceHeader, observer);
    }

    /**
     * {@link #create(Path, long, Consumer, boolean, ForceObserver)} for a file whose disk blocks are allocated only
     * up to {@code allocated}: the rest of its {@code length} is a hole, which takes no disk space until
     * {@link #allocate(int, int)} gives it blocks. Nobody may write into the hole before that (a write to a hole of a
     * shared mapping on a full disk is a {@code SIGBUS}, not an exception); reading it reads zeros.
     *
     * @param path        final name of the file; must not exist.
     * @param length      length in bytes; at most {@link Integer#MAX_VALUE}.
     * @param allocated   bytes from the start that get disk blocks now, at least the header the initialiser writes.
     * @param initialiser writes the header into the buffer before the file becomes visible.
     * @param forceHeader see {@link #create(Path, long, Consumer, boolean, ForceObserver)}.
     * @param observer    sees the creation and every force.
     * @return the mapped file, read-write.
     */
    public static MappedFile create(
        final Path path, final long length, final long allocated, final Consumer<UnsafeBuffer> initialiser,
        final boolean forceHeader, final ForceObserver observer)
    {
        if (length <= 0 || length > Integer.MAX_VALUE)
        {
            throw new IllegalArgumentException("mapped file length out of range: " + length + " for " + path);
        }
        if (allocated <= 0 || allocated > length)
        {
            throw new IllegalArgumentException("allocated prefix " + allocated + " out of range (file of " + length +
                " bytes): " + path);
        }

        final Path temp = path.resolveSibling(path.getFileName() + TEMP_SUFFIX);
        MappedByteBuffer mapped = null;
        try
        {
            Files.deleteIfExists(temp);
            try (FileChannel channel = FileChannel.open(
                temp, StandardOpenOption.CREATE_NEW, StandardOpenOption.READ, StandardOpenOption.WRITE))
            {
                zeroFill(channel, 0, allocated);
                // a READ_WRITE map of a shorter file extends it to the mapping's length: the rest is a hole
                mapped = channel.map(FileChannel.MapMode.READ_WRITE, 0, length);
            }
            observer.created(temp, length);
            final MappedFile file = new MappedFile(path, mapped, false, observer);
            initialiser.accept(file.buffer);
            if (forceHeader)
            {
                final int headerLength = (int)Math.min(length, PAGE_SIZE);
                mapped.force(0, headerLength);
                observer.forced(temp, file.buffer, 0, headerLength);
            }
            moveIntoPlace(temp, path);
            observer.moved(temp, path);
            file.fileKey = fileKeyOf(path);
            if (forceHeader)
            {
                forceDirectory(path.getParent(), observer);
                file.nameDurable = true;
            }
            return file;
        }
        catch (final Throwable ex)
        {
            // whatever failed (an Error too: an initialiser's, or Agrona's without its JVM flag), the temporary
            // file goes, before anything else that may fail
            deleteQuietly(temp);
            if (mapped != null)
            {
                // a file that never came into place was seen by nobody
                try
                {
                    IoUtil.unmap(mapped);
                }
                catch (final RuntimeException | LinkageError unmapFailed)
                {
                    ex.addSuppressed(unmapFailed);
                }
            }
            if (ex instanceof RuntimeException)
            {
                throw (RuntimeException)ex;
            }
            if (ex instanceof Error)
            {
                throw (Error)ex;
            }
            throw new StoreIOException("cannot create " + path + " (" + length + " bytes): " + ex.getMessage(), ex);
        }
    }

    /**
     * Map an existing file whole.
     *
     * @param path     of the file.
     * @param readOnly map read-only (for stores opened with {@code openReadOnly}).
     * @param observer sees every force.
     * @return the mapped file.
     */
    public static MappedFile open(final Path path, final boolean readOnly, final ForceObserver observer)
    {
        return open(path, readOnly, observer, (java.util.function.Function<MappedByteBuffer, UnsafeBuffer>)UnsafeBuffer::new);
    }

    /**
     * {@link #open(Path, boolean, ForceObserver)} with the view over the mapping made by {@code view} (which may
     * look at the mapped bytes to choose it).
     *
     * @param path     of the file.
     * @param readOnly map read-only.
     * @param observer sees every force.
     * @param view     makes the buffer over the whole mapping.
     * @return the mapped file.
     */
    public static MappedFile open(
        final Path path, final boolean readOnly, final ForceObserver observer,
        final java.util.function.Function<MappedByteBuffer, UnsafeBuffer> view)
    {
        // looked up before the file is opened: should it be replaced in between, the key is the old file's, and
        // the next look for replaced files maps it again (harmless); never the other way round
        final Object key = fileKeyOf(path);
        try (FileChannel channel = readOnly ?
            FileChannel.open(path, StandardOpenOption.READ) :
            FileChannel.open(path, StandardOpenOption.READ, StandardOpenOption.WRITE))
        {
            final long length = channel.size();
            if (length <= 0 || length > Integer.MAX_VALUE)
            {
                throw new StoreIOException("file has an impossible length " + length + ": " + path, null);
            }
            final MappedByteBuffer mapped = channel.map(
                readOnly ? FileChannel.MapMode.READ_ONLY : FileChannel.MapMode.READ_WRITE, 0, length);
            final MappedFile file;
            try
            {
                file = new MappedFile(path, mapped, readOnly, observer, view.apply(mapped));
            }
            catch (final RuntimeException ex)
            {
                IoUtil.unmap(mapped);
                throw ex;
            }
            file.fileKey = key;
            return file;
        }
        catch (final IOException ex)
        {
            throw new StoreIOException("cannot map " + path + ": " + ex.getMessage(), ex);
        }
    }

    /**
     * {@link #open(Path, boolean, ForceObserver)}, then {@code check} the file; a file the check refuses is
     * unmapped at once (nobody has seen it) and the check's exception thrown.
     *
     * @param path     of the file.
     * @param readOnly map read-only.
     * @param observer sees every force.
     * @param check    throws if the file is not what its owner expects; may initialise a blank header.
     * @return the mapped, checked file.
     */
    public static MappedFile open(
        final Path path, final boolean readOnly, final ForceObserver observer, final Consumer<MappedFile> check)
    {
        return open(path, readOnly, observer, (java.util.function.Function<MappedByteBuffer, UnsafeBuffer>)UnsafeBuffer::new,
            check);
    }

    /**
     * {@link #open(Path, boolean, ForceObserver, java.util.function.Function)}, then {@code check} the file.
     *
     * @param path     of the file.
     * @param readOnly map read-only.
     * @param observer sees every force.
     * @param view     makes the buffer over the whole mapping.
     * @param check    throws if the file is not what its owner expects.
     * @return the mapped, checked file.
     */
    public static MappedFile open(
        final Path path, final boolean readOnly, final ForceObserver observer,
        final java.util.function.Function<MappedByteBuffer, UnsafeBuffer> view, final Consumer<MappedFile> check)
    {
        final MappedFile file = open(path, readOnly, observer, view);
        try
        {
            check.accept(file);
        }
        catch (final RuntimeException ex)
        {
            file.unmap();
            throw ex;
        }
        return file;
    }

    /**
     * Write zeros over {@code [0, length)} of the channel so that every block is allocated on disk.
     *
     * @param channel to fill.
     * @param length  bytes to write.
     * @throws IOException when the file system refuses, for example when the disk is full.
     */
    public static void zeroFill(final FileChannel channel, final long length) throws IOException
    {
        zeroFill(channel, 0, length);
    }

    /**
     * Write zeros over {@code [from, to)} of the channel so that every block of it is allocated on disk.
     *
     * @param channel to fill.
     * @param from    first byte.
     * @param to      end, exclusive.
     * @throws IOException when the file system refuses, for example when the disk is full.
     */
    public static void zeroFill(final FileChannel channel, final long from, final long to) throws IOException
    {
        if (to <= from)
        {
            return;
        }
        final ByteBuffer zeros = ZEROS.duplicate();
        long position = from;
        while (position < to)
        {
            zeros.clear().limit((int)Math.min(zeros.capacity(), to - position));
            while (zeros.hasRemaining())
            {
                position += channel.write(zeros, position);
            }
        }
    }

    /**
     * Give disk blocks to {@code [offset, offset + length)} of this file by writing zeros over it through the file
     * channel (the page cache is shared with the mapping, so the mapping sees them), then touch its pages through
     * the mapping so that their page-table entries exist before latency-sensitive threads write there.
     * <p>
     * The caller guarantees that no thread, in this process or another, writes into the range until this returns
     * (it is a hole or bytes nobody uses yet): the zeros overwrite what is there, which the index relies on when
     * it reuses a file (a rebuild). A full disk is a {@link StoreIOException} here, never a {@code SIGBUS} later.
     *
     * @param offset first byte.
     * @param length bytes.
     * @throws StoreIOException if the file system refuses.
     */
    public void allocate(final int offset, final int length)
    {
        allocate(offset, length, true);
        pretouch(offset, offset + length);
    }

    /**
     * Give disk blocks to {@code [offset, offset + length)} the cheapest way this JVM can ({@link FileSpace}:
     * {@code fallocate}, else the zero-fill), without touching its pages: whoever writes there first makes them
     * (about a microsecond each) unless they were touched before. With {@code fallocate} the bytes already there
     * stay: only for a range known to hold zeros or a hole (the log beyond its tail: recovery zeroes what lies
     * after the end it keeps).
     *
     * @param offset first byte.
     * @param length bytes.
     * @throws StoreIOException if the file system refuses.
     */
    public void allocateBlocks(final int offset, final int length)
    {
        allocate(offset, length, false);
    }

    private void allocate(final int offset, final int length, final boolean zeroFill)
    {
        if (readOnly)
        {
            throw new IllegalStateException("read-only mapping: " + path);
        }
        if (offset < 0 || length < 0 || (long)offset + length > buffer.capacity())
        {
            throw new IndexOutOfBoundsException("range [" + offset + ", " + ((long)offset + length) +
                ") outside " + path + " of " + buffer.capacity() + " bytes");
        }
        try
        {
            if (zeroFill)
            {
                try (FileChannel channel = FileChannel.open(path, StandardOpenOption.WRITE))
                {
                    zeroFill(channel, offset, (long)offset + length);
                }
            }
            else
            {
                // opens the file itself, once, the way the method it uses needs
                FileSpace.allocate(path, offset, (long)offset + length);
            }
        }
        catch (final IOException ex)
        {
            throw new StoreIOException("cannot allocate " + length + " bytes at " + offset + " of " + path + ": " +
                ex.getMessage(), ex);
        }
    }

    private static void moveIntoPlace(final Path from, final Path to) throws IOException
    {
        try
        {
            Files.move(from, to, StandardCopyOption.ATOMIC_MOVE);
        }
        catch (final AtomicMoveNotSupportedException ex)
        {
            Files.move(from, to);
        }
    }

    private static void deleteQuietly(final Path path)
    {
        try
        {
            Files.deleteIfExists(path);
        }
        catch (final IOException ignore)
        {
            // best effort: a leftover temporary file is removed on the next open
        }
    }

    /**
     * @param buffer over a file.
     * @param length of its header.
     * @return true if the header is all zeros: a file created but never initialised on disk before a crash.
     */
    public static boolean isBlank(final UnsafeBuffer buffer, final int length)
    {
        for (int i = 0; i < Math.min(length, buffer.capacity()); i += Long.BYTES)
        {
            if (buffer.getLong(i) != 0)
            {
                return false;
            }
        }
        return true;
    }

    /**
     * Touch every page of {@code [from, to)} with a write of zero, so the page-table entries exist before the
     * latency-sensitive threads write there. Only for regions no other thread writes yet.
     *
     * @param from first byte offset.
     * @param to   end offset, exclusive.
     */
    public void pretouch(final int from, final int to)
    {
        final int page = PAGE_SIZE;
        for (int offset = from; offset < to; offset += page)
        {
            buffer.putByte(offset, (byte)0);
        }
    }

    /**
     * Flush dirty pages of this mapping to the storage device.
     */
    public void force()
    {
        force(0, buffer.capacity());
    }

    /**
     * Flush the dirty pages of one range of this mapping, after making the file's name durable if this process
     * has not yet.
     *
     * @param offset first byte.
     * @param length bytes.
     */
    public void force(final int offset, final int length)
    {
        if (!readOnly && length > 0)
        {
            if (!nameDurable)
            {
                forceDirectory(path.getParent(), observer);
                nameDurable = true;
            }
            mapped.force(offset, length);
            observer.forced(path, buffer, offset, length);
        }
    }

    /**
     * Force a directory, so that the names of the files in it survive a power cut.
     *
     * @param directory the directory.
     * @param observer  sees it.
     */
    public static void forceDirectory(final Path directory, final ForceObserver observer)
    {
        observer.directoryForcing(directory);
        try (FileChannel channel = FileChannel.open(directory, StandardOpenOption.READ))
        {
            channel.force(true);
        }
        catch (final IOException ex)
        {
            throw new StoreIOException("cannot force the directory " + directory + ": " + ex.getMessage(), ex);
        }
        observer.directoryForced(directory);
    }

    /**
     * Release the mapping now. The view is first pointed at an empty array, so a use that slipped past its owner's
     * guard meets an {@link IndexOutOfBoundsException} rather than an unmapped address, where the race allows.
     * Idempotent. The caller must make sure no thread is inside an access to the mapping, and none can start one.
     */
    public synchronized void unmap()
    {
        if (!unmapped)
        {
            unmapped = true;
            buffer.wrap(EMPTY);
            IoUtil.unmap(mapped);
        }
    }

    /**
     * {@link #unmap()} each file given; null entries (files never mapped) are skipped.
     *
     * @param files to release.
     */
    public static void unmapAll(final MappedFile[] files)
    {
        for (final MappedFile file : files)
        {
            if (file != null)
            {
                file.unmap();
            }
        }
    }

    /**
     * Refuse to create {@code file}, of {@code length} bytes, when it does not exist yet and the file system says it
     * has less room than that: a creation that would fail anyway must not first fill the disk to the last block
     * (other writers of the same disk, such as processor checkpoints, would fail meanwhile).
     *
     * @param file   the file to be created.
     * @param length its length.
     * @param what   names the file in the message.
     * @throws StoreIOException if the file is missing and there is not enough usable space for it.
     */
    public static void requireSpaceUnlessExists(final Path file, final long length, final String what)
    {
        if (!Files.exists(file))
        {
            requireSpace(file.getParent(), length, what);
        }
    }

    /**
     * Refuse to allocate {@code length} bytes in {@code directory} when its file system says it has less room than
     * that (see {@link #requireSpaceUnlessExists}).
     *
     * @param directory where the bytes go.
     * @param length    bytes.
     * @param what      names them in the message.
     * @throws StoreIOException if there is not enough usable space.
     */
    public static void requireSpace(final Path directory, final long length, final String what)
    {
        try
        {
            requireSpace(Files.getFileStore(directory), length, what);
        }
        catch (final IOException ex)
        {
            throw new StoreIOException("cannot read the free space of " + directory + ": " + ex.getMessage(), ex);
        }
    }

    /**
     * {@link #requireSpace(Path, long, String)} on a file store already looked up (looking one up reads the mount
     * table).
     *
     * @param store  the file system.
     * @param length bytes.
     * @param what   names them in the message.
     * @throws StoreIOException if there is not enough usable space.
     */
    public static void requireSpace(final FileStore store, final long length, final String what)
    {
        final long usable;
        try
        {
            usable = store.getUsableSpace();
        }
        catch (final IOException ex)
        {
            throw new StoreIOException("cannot read the free space of " + store + ": " + ex.getMessage(), ex);
        }
        if (usable < length)
        {
            throw new StoreIOException("No space left on device for " + what + ": it needs " + length +
                " bytes, the file system has " + usable + " usable", null);
        }
    }

    /**
     * @return the view over the whole file.
     */
    public UnsafeBuffer buffer()
    {
        return buffer;
    }

    /**
     * @return the length of the mapping in bytes.
     */
    public int length()
    {
        return buffer.capacity();
    }

    /**
     * @return the file's path.
     */
    public Path path()
    {
        return path;
    }


    /** The page size assumed for pre-touching; touching more often than needed is harmless. */
    public static final int PAGE_SIZE = 4096;
}
