package io.varvedb.internal.crypto;

import io.varvedb.CorruptStoreException;
import io.varvedb.EncryptionKeyException;
import io.varvedb.StoreIOException;
import io.varvedb.StreamShreddedException;
import io.varvedb.internal.io.ForceObserver;
import io.varvedb.internal.io.MappedFile;
import org.agrona.collections.Long2LongHashMap;
import org.agrona.collections.Long2ObjectHashMap;
import org.agrona.concurrent.UnsafeBuffer;

import javax.crypto.Cipher;
import javax.crypto.SecretKey;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.SecretKeySpec;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static io.varvedb.internal.crypto.KeyFileDescriptor.*;

/**
 * The data keys of an encrypted store ({@link KeyFileDescriptor}): one per stream, made at the stream's first
 * encrypted append, wrapped under the master key, destroyed by a shred. Lookups by stream are answered from a map
 * this process keeps of the file (refreshed from the file when a stream is not in it), so the per-event work of
 * readers and appenders is a volatile read of the entry's state ({@link #isShredded}).
 * <p>
 * Thread-safe: changes and map refreshes are serialised on this object; other processes are kept in step by the
 * entry protocol of the descriptor.
 */
public final class KeyFile implements AutoCloseable
{
    private static final SecureRandom RANDOM = new SecureRandom();
    private static final byte[] CHECK_LABEL = "varve.keys master key check".getBytes(StandardCharsets.US_ASCII);
    private static final String WRAP = "AESWrap";
    private static final long SETTLE_TIMEOUT_NS = TimeUnit.SECONDS.toNanos(30);

    private final Path directory;
    private final boolean readOnly;
    private final ForceObserver observer;
    private final long claimState = claimedBy(ProcessHandle.current().pid());
    private final int capacity;
    /** The mapping of {@code varve.keys}; replaced by a rotation (the old one is kept until close). */
    private volatile MappedFile file;
    private volatile UnsafeBuffer buffer;
    private final List<MappedFile> retired = new ArrayList<>();
    private SecretKey master;
    private int generation = -1;
    /** Guarded by this: each stream's entry, as far as {@link #scanned}. */
    private final Long2LongHashMap entries = new Long2LongHashMap(-1);
    /** Guarded by this: unwrapped keys, by entry. */
    private final Long2ObjectHashMap<byte[]> keys = new Long2ObjectHashMap<>();
    private long scanned;
    /** Guarded by this: the name key, unwrapped; null until asked for. */
    private byte[] nameKey;
    /** Guarded by this: the id key, unwrapped; null until asked for. */
    private byte[] idKey;
    /** Entries written since the last {@link #forceDirty()}: the lowest and the end, or -1. */
    private long dirtyFrom = -1;
    private long dirtyTo = -1;
    private volatile boolean dirty;
    /**
     * Written under the lock. Entries below this were settled (neither claimed nor empty) when this process last forced
     * them: each stays durable as it was then, and what changes it later (a shred, a discard) forces it again.
     */
    private volatile long forcedCount;
    private volatile boolean closed;
    /** Another process rotated the master key: this instance's no longer opens the key file. */
    private boolean masterRotated;

    private KeyFile(
        final Path directory, final MappedFile file, final SecretKey master, final boolean readOnly,
        final ForceObserver observer)
    {
        this.directory = directory;
        this.file = file;
        this.buffer = file.buffer();
        this.master = master;
        this.readOnly = readOnly;
        this.observer = observer;
        this.capacity = buffer.getInt(CAPACITY_OFFSET);
        if (capacity < 1 || fileLength(capacity) > file.length())
        {
            throw new EncryptionKeyException(file.path() + " is damaged: capacity " + capacity + " for a file of " +
                file.length() + " bytes");
        }
    }

    /**
     * @param directory a store directory.
     * @return true if it holds a key file, or what a rotation cut short left of one.
     */
    public static boolean exists(final Path directory)
    {
        return Files.exists(directory.resolve(FILE_NAME)) || Files.exists(directory.resolve(NEXT_FILE_NAME)) ||
            Files.exists(directory.resolve(OLD_FILE_NAME));
    }

    /**
     * Make the key file of a new store.
     *
     * @param directory the store directory.
     * @param master    the master key.
     * @param capacity  entries: streams that may ever have a key (or be shredded).
     * @param observer  sees the creation and every force.
     * @return the key file, writable.
     */
    public static KeyFile create(
        final Path directory, final SecretKey master, final int capacity, final ForceObserver observer)
    {
        final byte[] storeId = new byte[STORE_ID_LENGTH];
        RANDOM.nextBytes(storeId);
        final MappedFile created = MappedFile.create(directory.resolve(FILE_NAME), fileLength(capacity),
            HEADER_LENGTH, (buffer) -> writeHeader(buffer, master, capacity, storeId, 0, 0, 0, true, null, null), true,
            observer);
        return new KeyFile(directory, created, master, false, observer);
    }

    private static void writeHeader(
        final UnsafeBuffer buffer, final SecretKey master, final int capacity, final byte[] storeId,
        final long keySet, final int generation, final long count, final boolean complete, final byte[] nameKey,
        final byte[] idKey)
    {
        final byte[] name = nameKey != null ? nameKey : new byte[Gcm.KEY_LENGTH];
        final byte[] id = idKey != null ? idKey : new byte[Gcm.KEY_LENGTH];
        if (nameKey == null)
        {
            RANDOM.nextBytes(name);
            RANDOM.nextBytes(id);
        }
        buffer.putBytes(NAME_KEY_OFFSET, wrap(name, master));
        buffer.putBytes(ID_KEY_OFFSET, wrap(id, master));
        buffer.putLong(MAGIC_OFFSET, MAGIC);
        buffer.putInt(FORMAT_VERSION_OFFSET, FORMAT_VERSION);
        buffer.putInt(CAPACITY_OFFSET, capacity);
        buffer.putBytes(STORE_ID_OFFSET, storeId);
        buffer.putLong(KEY_SET_OFFSET, keySet);
        final byte[] nonce = new byte[Gcm.NONCE_LENGTH];
        RANDOM.nextBytes(nonce);
        buffer.putBytes(CHECK_NONCE_OFFSET, nonce);
        buffer.putBytes(CHECK_TAG_OFFSET, checkTag(master, nonce, storeId, keySet));
        buffer.putInt(GENERATION_OFFSET, generation);
        buffer.putLong(COUNT_OFFSET, count);
        buffer.putLong(ALLOCATED_END_OFFSET, HEADER_LENGTH);
        buffer.putInt(COMPLETE_OFFSET, complete ? 1 : 0);
    }

    private static byte[] checkTag(final SecretKey master, final byte[] nonce, final byte[] storeId, final long keySet)
    {
        try
        {
            final Cipher gcm = Cipher.getInstance("AES/GCM/NoPadding");
            gcm.init(Cipher.ENCRYPT_MODE, master, new GCMParameterSpec(Gcm.TAG_LENGTH * 8, nonce));
            gcm.updateAAD(CHECK_LABEL);
            gcm.updateAAD(storeId);
            gcm.updateAAD(ByteBuffer.allocate(Long.BYTES).order(ByteOrder.LITTLE_ENDIAN).putLong(0, keySet).array());
            return gcm.doFinal();
        }
        catch (final GeneralSecurityException ex)
        {
            throw new EncryptionKeyException("the master key cannot be used for AES-256-GCM: " + ex.getMessage(), ex);
        }
    }

    /**
     * Open the key file of an existing store, checking the master key before anything is written; a writer also
     * settles a rotation that was cut short.
     *
     * @param directory the store directory.
     * @param master    the master key.
     * @param readOnly  for a read-only open: nothing is written.
     * @param observer  sees every force.
     * @return the key file.
     * @throws EncryptionKeyException if the key file is missing or the master key does not open it.
     */
    public static KeyFile open(
        final Path directory, final SecretKey master, final boolean readOnly, final ForceObserver observer)
    {
        return openOrCheck(directory, master, readOnly, observer, false);
    }

    /**
     * {@link #open} for a writer process that joins others (multi-process mode): it settles nothing, as only the
     * sole writer may (leftovers of a rotation are the sole writer's to settle, at its next open).
     *
     * @param directory the store directory.
     * @param master    the master key.
     * @param observer  sees every force.
     * @return the key file, writable.
     */
    public static KeyFile join(final Path directory, final SecretKey master, final ForceObserver observer)
    {
        final Path current = directory.resolve(FILE_NAME);
        try
        {
            final byte[] header = header(current);
            if (header == null || !opens(header, master, current))
            {
                throw new EncryptionKeyException("the master key given does not open " + current + " (the writer " +
                    "processes that have the store open use another). Nothing was written");
            }
            checkWhole(current, header, master);
        }
        catch (final IOException ex)
        {
            throw new StoreIOException("cannot read " + current + ": " + ex.getMessage(), ex);
        }
        return map(directory, current, master, false, observer);
    }

    /**
     * Check, reading only, that the master key opens the store's key file (or one a rotation cut short left):
     * what a writable open does before it takes the store's lock.
     *
     * @param directory the store directory.
     * @param master    the master key.
     * @throws EncryptionKeyException if the key file is missing or the master key does not open it.
     */
    public static void check(final Path directory, final SecretKey master)
    {
        openOrCheck(directory, master, true, ForceObserver.NONE, true);
    }

    /**
     * @param directory a store directory.
     * @return the store id in its {@code varve.keys}, or null if it has none (or cannot be read).
     */
    public static byte[] storeIdOf(final Path directory)
    {
        try
        {
            final byte[] header = header(directory.resolve(FILE_NAME));
            return header == null ? null : Arrays.copyOfRange(header, STORE_ID_OFFSET, STORE_ID_OFFSET + STORE_ID_LENGTH);
        }
        catch (final IOException ex)
        {
            return null;
        }
    }

    /**
     * @return this key file's store id, which {@code varve.meta} records: a key file of another store is refused.
     */
    public byte[] storeId()
    {
        final byte[] id = new byte[STORE_ID_LENGTH];
        buffer.getBytes(STORE_ID_OFFSET, id);
        return id;
    }

    private static KeyFile openOrCheck(
        final Path directory, final SecretKey master, final boolean readOnly, final ForceObserver observer,
        final boolean checkOnly)
    {
        final Path current = directory.resolve(FILE_NAME);
        final Path next = directory.resolve(NEXT_FILE_NAME);
        final Path old = directory.resolve(OLD_FILE_NAME);
        try
        {
            final byte[] currentHeader = header(current);
            final byte[] nextHeader = header(next);
            final byte[] oldHeader = header(old);
            final boolean nextWhole = nextHeader != null && wholeAndOurs(nextHeader);
            if (currentHeader == null && nextHeader == null && oldHeader == null)
            {
                throw new EncryptionKeyException(directory + " is an encrypted store whose key file (" + FILE_NAME +
                    ") is missing: its events cannot be decrypted. Restore the file from a backup");
            }
            if (currentHeader != null && opens(currentHeader, master, current))
            {
                if (checkOnly)
                {
                    checkWhole(current, currentHeader, master);
                    return null;
                }
                if (!readOnly)
                {
                    scrubAndDelete(next, observer);
                    scrubAndDelete(old, observer);
                    // a rotation killed while its new file was being made: its temporary file holds the name and
                    // id keys wrapped under the new master key, and was never part of the key set
                    scrubAndDelete(directory.resolve(NEXT_FILE_NAME + ".tmp"), observer);
                }
                return map(directory, current, master, readOnly, observer);
            }
            final boolean rotationCutShort = nextWhole && opens(nextHeader, master, next) ||
                currentHeader == null && oldHeader != null && opens(oldHeader, master, old);
            if (!rotationCutShort)
            {
                throw new EncryptionKeyException("the master key given does not open " + current + ": it is not " +
                    "the store's master key" + (nextHeader != null || oldHeader != null ? " (nor the other key of " +
                    "a master key rotation that was cut short)" : "") + ". Nothing was written");
            }
            if (checkOnly)
            {
                return null;
            }
            if (readOnly)
            {
                throw new EncryptionKeyException("a master key rotation of " + directory + " was cut short: open " +
                    "the store for writing once (with either key) to settle it");
            }
            if (nextWhole && opens(nextHeader, master, next))
            {
                // the new key set is whole: finish the rotation
                if (currentHeader != null)
                {
                    move(current, old, directory, observer);
                }
                move(next, current, directory, observer);
                scrubAndDelete(old, observer);
            }
            else
            {
                // renamed away, and the new one did not take its place: put it back, with the old key
                move(old, current, directory, observer);
                scrubAndDelete(next, observer);
            }
            return map(directory, current, master, false, observer);
        }
        catch (final IOException ex)
        {
            throw new StoreIOException("cannot read the key file of " + directory + ": " + ex.getMessage(), ex);
        }
    }

    private static KeyFile map(
        final Path directory, final Path path, final SecretKey master, final boolean readOnly,
        final ForceObserver observer)
    {
        final MappedFile mapped = MappedFile.open(path, readOnly, observer);
        try
        {
            return new KeyFile(directory, mapped, master, readOnly, observer);
        }
        catch (final RuntimeException ex)
        {
            mapped.unmap();
            throw ex;
        }
    }

    private static byte[] header(final Path path) throws IOException
    {
        try (FileChannel channel = FileChannel.open(path, StandardOpenOption.READ))
        {
            final ByteBuffer bytes = ByteBuffer.allocate(HEADER_LENGTH);
            while (bytes.hasRemaining() && channel.read(bytes) >= 0)
            {
                // read the header whole
            }
            return bytes.array();
        }
        catch (final NoSuchFileException ex)
        {
            return null;
        }
    }

    /**
     * A key file the master key opens, checked as far as a reader can without mapping it: its capacity fits its
     * length, and its name and id keys unwrap. Damage is refused here, before a writer takes the store's lock.
     */
    private static void checkWhole(final Path path, final byte[] header, final SecretKey master) throws IOException
    {
        final UnsafeBuffer buffer = new UnsafeBuffer(header);
        final int capacity = buffer.getInt(CAPACITY_OFFSET);
        if (capacity < 1 || fileLength(capacity) > Files.size(path) ||
            buffer.getLong(COUNT_OFFSET) < 0 || buffer.getLong(COUNT_OFFSET) > capacity)
        {
            throw new EncryptionKeyException(path + " is damaged: capacity " + capacity + ", count " +
                buffer.getLong(COUNT_OFFSET) + ", for a file of " + Files.size(path) + " bytes. Nothing was written");
        }
        for (final int offset : new int[]{NAME_KEY_OFFSET, ID_KEY_OFFSET})
        {
            try
            {
                final Cipher cipher = Cipher.getInstance(WRAP);
                cipher.init(Cipher.UNWRAP_MODE, master);
                cipher.unwrap(Arrays.copyOfRange(header, offset, offset + WRAPPED_KEY_LENGTH), "AES", Cipher.SECRET_KEY);
            }
            catch (final GeneralSecurityException ex)
            {
                throw new EncryptionKeyException(path + " is damaged: its " + (offset == NAME_KEY_OFFSET ? "name" :
                    "id") + " key does not unwrap under the master key. Nothing was written", ex);
            }
        }
    }

    private static boolean wholeAndOurs(final byte[] header)
    {
        final UnsafeBuffer buffer = new UnsafeBuffer(header);
        return buffer.getLong(MAGIC_OFFSET) == MAGIC && buffer.getInt(COMPLETE_OFFSET) == 1;
    }

    private static boolean opens(final byte[] header, final SecretKey master, final Path path)
    {
        final UnsafeBuffer buffer = new UnsafeBuffer(header);
        if (buffer.getLong(MAGIC_OFFSET) != MAGIC)
        {
            if (MappedFile.isBlank(buffer, HEADER_LENGTH))
            {
                return false;
            }
            throw new EncryptionKeyException(path + " is not a VarveDB key file");
        }
        if (buffer.getInt(FORMAT_VERSION_OFFSET) != FORMAT_VERSION)
        {
            throw new EncryptionKeyException(path + " is a key file of format " +
                buffer.getInt(FORMAT_VERSION_OFFSET) + "; this build reads format " + FORMAT_VERSION);
        }
        final byte[] nonce = Arrays.copyOfRange(header, CHECK_NONCE_OFFSET, CHECK_NONCE_OFFSET + Gcm.NONCE_LENGTH);
        final byte[] storeId = Arrays.copyOfRange(header, STORE_ID_OFFSET, STORE_ID_OFFSET + STORE_ID_LENGTH);
        final byte[] tag = Arrays.copyOfRange(header, CHECK_TAG_OFFSET, CHECK_TAG_OFFSET + Gcm.TAG_LENGTH);
        return MessageDigest.isEqual(tag, checkTag(master, nonce, storeId, buffer.getLong(KEY_SET_OFFSET)));
    }

    private static void move(final Path from, final Path to, final Path directory, final ForceObserver observer)
        throws IOException
    {
        Files.move(from, to, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        MappedFile.forceDirectory(directory, observer);
    }

    /**
     * Overwrite a key file's header and wrapped keys with zeros, force it, then delete it: an old version of the
     * key set leaves no copy of a key behind in the file system's view (what the disk keeps of freed blocks is
     * beyond reach; see the README).
     */
    private static void scrubAndDelete(final Path path, final ForceObserver observer) throws IOException
    {
        if (!Files.exists(path))
        {
            return;
        }
        try (FileChannel channel = FileChannel.open(path, StandardOpenOption.READ, StandardOpenOption.WRITE))
        {
            final long size = channel.size();
            final ByteBuffer count = ByteBuffer.allocate(Long.BYTES).order(ByteOrder.LITTLE_ENDIAN);
            channel.read(count, COUNT_OFFSET);
            final long entries = count.position() == Long.BYTES ? Math.max(0, count.getLong(0)) : 0;
            final long end = Math.min(size, fileLength((int)Math.min(entries, Integer.MAX_VALUE / ENTRY_LENGTH)));
            MappedFile.zeroFill(channel, 0, Math.max(end, Math.min(size, HEADER_LENGTH)));
            channel.force(true);
        }
        Files.deleteIfExists(path);
        MappedFile.forceDirectory(path.getParent(), observer);
    }

    // ------------------------------------------------------------------------------------------------ generation

    /**
     * Take this open's writer generation (see the descriptor), durably, before the first append.
     *
     * @return the generation.
     */
    public synchronized int takeGeneration()
    {
        while (true)
        {
            final int current = buffer.getIntVolatile(GENERATION_OFFSET);
            if (current == -1)
            {
                throw new EncryptionKeyException(file.path() + " has been opened for writing 2^32 - 1 times: " +
                    "no writer generation is left for a nonce");
            }
            // CAS: writer processes of a shared store each take their own
            if (buffer.compareAndSetInt(GENERATION_OFFSET, current, current + 1))
            {
                file.force(0, HEADER_LENGTH);
                generation = current + 1;
                return generation;
            }
        }
    }

    /**
     * @return this open's writer generation; -1 before {@link #takeGeneration()}.
     */
    public int generation()
    {
        return generation;
    }

    /**
     * Settle what a dead writer left: finish shreds cut short, discard claims never completed. Only for the sole
     * writer of the store (no other process may be claiming).
     */
    public synchronized void settleAsSoleWriter()
    {
        final UnsafeBuffer buffer = this.buffer;
        final long count = Math.min(buffer.getLongVolatile(COUNT_OFFSET), capacity);
        for (long entry = 0; entry < count; entry++)
        {
            final int offset = entryOffset(entry);
            final long state = buffer.getLongVolatile(offset + STATE_OFFSET);
            if (state == SHREDDING)
            {
                destroy(offset);
            }
            else if (isClaimed(state) || state == EMPTY)
            {
                buffer.setMemory(offset + WRAPPED_KEY_OFFSET, WRAPPED_KEY_LENGTH, (byte)0);
                buffer.putLongRelease(offset + STATE_OFFSET, DISCARDED);
                file.force(offset, ENTRY_LENGTH);
            }
        }
        if (buffer.getLongVolatile(COUNT_OFFSET) > capacity)
        {
            buffer.putLongVolatile(COUNT_OFFSET, capacity);
        }
    }

    // ------------------------------------------------------------------------------------------------ lookups

    /**
     * The entry of a stream's key.
     *
     * @param streamId the stream.
     * @param create   make the key if the stream has none (an append).
     * @return the entry, or -1 if the stream has no key and {@code create} is false.
     * @throws StreamShreddedException if the stream was shredded.
     */
    public synchronized long entryFor(final long streamId, final boolean create)
    {
        long entry = find(streamId);
        if (entry < 0)
        {
            if (!create)
            {
                return -1;
            }
            entry = createEntry(streamId, READY);
        }
        if (isShredded(entry))
        {
            throw new StreamShreddedException(streamId, "stream " + streamId + " was shredded: its data key is " +
                "destroyed and its events can never be read again");
        }
        return entry;
    }

    /**
     * The entry of a stream's key, shredded or not, without making one.
     *
     * @param streamId the stream.
     * @return the entry, or -1 if the stream has none.
     */
    public synchronized long find(final long streamId)
    {
        checkNotClosed();
        long entry = entries.get(streamId);
        if (entry < 0)
        {
            // another process may have rotated the master key: its entries are in the file that replaced ours
            remapIfReplaced();
            refresh(Math.min(buffer.getLongVolatile(COUNT_OFFSET), capacity));
            entry = entries.get(streamId);
        }
        return entry;
    }

    /**
     * @param entry an entry of {@link #entryFor}.
     * @return its data key, unwrapped (kept in this process's memory until the stream is shredded or the store
     * closed).
     */
    public synchronized byte[] keyOf(final long entry)
    {
        checkNotClosed();
        byte[] key = keys.get(entry);
        if (key == null)
        {
            if (masterRotated)
            {
                throw new EncryptionKeyException("the master key of " + directory + " was rotated by another " +
                    "process: open the store again with the new key to read streams this instance has not read yet");
            }
            final UnsafeBuffer buffer = currentBuffer(entry);
            final int offset = entryOffset(entry);
            final byte[] wrapped = new byte[WRAPPED_KEY_LENGTH];
            buffer.getBytes(offset + WRAPPED_KEY_OFFSET, wrapped);
            key = unwrap(wrapped, master, buffer.getLong(offset + STREAM_ID_OFFSET));
            keys.put(entry, key);
        }
        return key;
    }

    /**
     * @return the store's name key, unwrapped (kept in memory until close).
     */
    public synchronized byte[] nameKey()
    {
        checkNotClosed();
        if (nameKey == null)
        {
            final byte[] wrapped = new byte[WRAPPED_KEY_LENGTH];
            buffer.getBytes(NAME_KEY_OFFSET, wrapped);
            nameKey = unwrap(wrapped, master, 0);
        }
        return nameKey;
    }

    /**
     * @return the store's id key, unwrapped (kept in memory until close).
     */
    public synchronized byte[] idKey()
    {
        checkNotClosed();
        if (idKey == null)
        {
            final byte[] wrapped = new byte[WRAPPED_KEY_LENGTH];
            buffer.getBytes(ID_KEY_OFFSET, wrapped);
            idKey = unwrap(wrapped, master, 0);
        }
        return idKey;
    }

    /**
     * Per-event check, without a lock: a volatile read of the entry's state.
     *
     * @param entry an entry of {@link #entryFor}.
     * @return true if the entry's key was (or is being) destroyed.
     */
    public boolean isShredded(final long entry)
    {
        long state = buffer.getLongVolatile(entryOffset(entry) + STATE_OFFSET);
        if (state == EMPTY)
        {
            // the mapping read was of a file a rotation replaced (and zeroed): look in the file that replaced it
            state = currentBuffer(entry).getLongVolatile(entryOffset(entry) + STATE_OFFSET);
        }
        return state == SHREDDING || state == SHREDDED;
    }

    /**
     * @return the buffer to read an entry from: the current file, mapped again if another process rotated the key.
     */
    private UnsafeBuffer currentBuffer(final long entry)
    {
        final UnsafeBuffer mapped = buffer;
        if (mapped.getLongVolatile(entryOffset(entry) + STATE_OFFSET) != EMPTY)
        {
            return mapped;
        }
        synchronized (this)
        {
            remapIfReplaced();
            return buffer;
        }
    }

    /**
     * Another process rotated the master key: the file this process maps was renamed away and zeroed. Map the
     * one that replaced it, if this process's master key opens it.
     */
    private void remapIfReplaced()
    {
        if (buffer.getLongVolatile(MAGIC_OFFSET) == MAGIC)
        {
            return;
        }
        final Path path = directory.resolve(FILE_NAME);
        final byte[] header;
        try
        {
            header = header(path);
        }
        catch (final IOException ex)
        {
            throw new StoreIOException("cannot read " + path + ": " + ex.getMessage(), ex);
        }
        if (header == null)
        {
            throw new EncryptionKeyException("the key file of " + directory + " is gone (a master key rotation by " +
                "another process was cut short?): open the store again");
        }
        // the keys this process holds stay good (a rotation wraps the same keys anew): it goes on with them, and
        // reads the states of shreds from the new file; a key it has not unwrapped yet needs the new master key
        masterRotated = !opens(header, master, path);
        final MappedFile replaced = MappedFile.open(path, readOnly, observer);
        retired.add(file);
        file = replaced;
        buffer = replaced.buffer();
    }

    /**
     * Read entries up to {@code upTo} into the map, in file order; the first entry of a stream is its key.
     */
    private void refresh(final long upTo)
    {
        final UnsafeBuffer buffer = this.buffer;
        while (scanned < upTo)
        {
            final int offset = entryOffset(scanned);
            long state = buffer.getLongVolatile(offset + STATE_OFFSET);
            if (isClaimed(state) || state == EMPTY)
            {
                state = awaitSettled(offset);
            }
            if (state != DISCARDED)
            {
                final long streamId = buffer.getLong(offset + STREAM_ID_OFFSET);
                if (!entries.containsKey(streamId))
                {
                    entries.put(streamId, scanned);
                }
            }
            scanned++;
        }
    }

    /**
     * An entry another process claimed and has not finished: wait until it does, or, if that process died,
     * discard the entry for it (it never used the key: a key is used only once its entry is READY).
     */
    private long awaitSettled(final int offset)
    {
        final long state = KeyEntries.awaitSettled(buffer, offset, !readOnly, System.nanoTime() + SETTLE_TIMEOUT_NS);
        if (state == KeyEntries.TIMED_OUT)
        {
            throw new IllegalStateException("entry at " + offset + " of " + file.path() + " has been claimed by " +
                "process " + (buffer.getLongVolatile(offset + STATE_OFFSET) >>> 8) + " for " +
                TimeUnit.NANOSECONDS.toSeconds(SETTLE_TIMEOUT_NS) + " s without being finished");
        }
        return state;
    }

    /**
     * Claim the next entry, fill it and make it the stream's key unless an earlier entry of the same stream
     * (another process's) comes first.
     *
     * @return the stream's entry.
     */
    private long createEntry(final long streamId, final long finalState)
    {
        if (readOnly)
        {
            throw new IllegalStateException("a read-only store makes no keys");
        }
        final UnsafeBuffer buffer = this.buffer;
        final long entry = claim(buffer);
        final int offset = entryOffset(entry);
        byte[] wrapped = null;
        if (finalState == READY)
        {
            final byte[] key = new byte[Gcm.KEY_LENGTH];
            RANDOM.nextBytes(key);
            wrapped = wrap(key, master);
            keys.put(entry, key);
        }
        // whoever reads READY (or SHREDDED) reads the stream id and the wrapped key written before it
        KeyEntries.publish(buffer, entry, streamId, wrapped, finalState);
        markDirty(entry);
        // every entry claimed before ours is settled now, or waited for: an earlier one of this stream wins
        refresh(entry);
        final long earlier = entries.get(streamId);
        if (earlier >= 0)
        {
            buffer.putLongRelease(offset + STATE_OFFSET, DISCARDED);
            buffer.setMemory(offset + WRAPPED_KEY_OFFSET, WRAPPED_KEY_LENGTH, (byte)0);
            forget(entry);
            scanned = Math.max(scanned, entry + 1);
            return earlier;
        }
        entries.put(streamId, entry);
        scanned = Math.max(scanned, entry + 1);
        return entry;
    }

    private long claim(final UnsafeBuffer buffer)
    {
        final long entry = KeyEntries.claim(buffer, capacity, claimState, (end) -> allocateThrough(buffer, end));
        if (entry < 0)
        {
            throw new EncryptionKeyException(file.path() + " is full: " + capacity + " streams have keys (the " +
                "store's index capacity, and 4,096 more for keys made and discarded by racing writer processes)");
        }
        return entry;
    }

    /**
     * Give disk blocks to the entries up to {@code end} before anyone writes them: a write into a hole of a
     * shared mapping on a full disk is a {@code SIGBUS}; this is an exception, with nothing claimed.
     */
    private void allocateThrough(final UnsafeBuffer buffer, final int end)
    {
        long allocated = buffer.getLongVolatile(ALLOCATED_END_OFFSET);
        while (allocated < end)
        {
            final long to = Math.min(file.length(), Math.max(end, allocated + ALLOCATION_CHUNK));
            file.allocateBlocks((int)allocated, (int)(to - allocated));
            // CAS: the end only grows, whoever allocated further
            if (buffer.compareAndSetLong(ALLOCATED_END_OFFSET, allocated, to))
            {
                return;
            }
            allocated = buffer.getLongVolatile(ALLOCATED_END_OFFSET);
        }
    }

    private void markDirty(final long entry)
    {
        dirtyFrom = dirtyFrom < 0 ? entry : Math.min(dirtyFrom, entry);
        dirtyTo = Math.max(dirtyTo, entry + 1);
        dirty = true;
    }

    /**
     * Force the entries made since the last call, by this process or another, then the header: the flusher calls
     * this before it forces the log, so that no event is durable before its key. Every entry the log's records
     * below the flusher's frontier use was READY, and below the entry count, before the frontier was read; the
     * log force covers every writer process's records, so the keys another process made are forced here too, and
     * so is the count, up to which a reopen looks for keys.
     */
    public void forceDirty()
    {
        // nothing new: return without the lock, which a rotation holds for long (the store closes this file only
        // once nothing forces the log any more)
        if (!dirty && !closed && Math.min(buffer.getLongVolatile(COUNT_OFFSET), capacity) <= forcedCount)
        {
            return;
        }
        synchronized (this)
        {
            if (!closed)
            {
                forceNew();
            }
        }
    }

    private void forceNew()
    {
        final UnsafeBuffer buffer = this.buffer;
        final long count = Math.min(buffer.getLongVolatile(COUNT_OFFSET), capacity);
        if (dirty || count > forcedCount)
        {
            long from = forcedCount;
            long to = count;
            if (dirty)
            {
                from = Math.min(from, dirtyFrom);
                to = Math.max(to, dirtyTo);
            }
            // read before the force: an entry settled now is forced settled; one a live process is still making
            // is forced again next time (a dead process's claim, or an empty entry a power cut left, is no key)
            long settled = forcedCount;
            while (settled < count)
            {
                final long state = buffer.getLongVolatile(entryOffset(settled) + STATE_OFFSET);
                if (isClaimed(state) && ProcessHandle.of(state >>> 8).map(ProcessHandle::isAlive).orElse(false))
                {
                    break;
                }
                settled++;
            }
            if (to > from)
            {
                final int offset = entryOffset(from);
                file.force(offset, entryOffset(to) - offset);
                file.force(0, HEADER_LENGTH);
            }
            forcedCount = settled;
            dirtyFrom = -1;
            dirtyTo = -1;
            dirty = false;
        }
    }

    /**
     * Force one entry, then the header, whose entry count must cover the entry for a reopen to look at it.
     */
    private void forceEntry(final int offset)
    {
        file.force(offset, ENTRY_LENGTH);
        file.force(0, HEADER_LENGTH);
    }

    // ------------------------------------------------------------------------------------------------ shredding

    /**
     * Destroy a stream's data key, durably. A stream with no key yet gets an entry shredded from the start, so
     * that it can never have one.
     *
     * @param streamId the stream.
     * @return true if a key was destroyed, false if the stream had none (or was shredded before).
     */
    public synchronized boolean shred(final long streamId)
    {
        long entry = find(streamId);
        final boolean hadKey = entry >= 0;
        if (!hadKey)
        {
            // another process's key may come first: then that one is shredded below
            entry = createEntry(streamId, SHREDDED);
        }
        final int offset = entryOffset(entry);
        final long state = buffer.getLongVolatile(offset + STATE_OFFSET);
        if (state == SHREDDED)
        {
            forceEntry(offset);
            return false;
        }
        // SHREDDING first: a kill from here on leaves an entry that the next open finishes shredding, never a
        // half-zeroed key that looks READY
        buffer.putLongVolatile(offset + STATE_OFFSET, SHREDDING);
        destroy(offset);
        forget(entry);
        return true;
    }

    private void destroy(final int offset)
    {
        buffer.setMemory(offset + WRAPPED_KEY_OFFSET, WRAPPED_KEY_LENGTH, (byte)0);
        buffer.putLongVolatile(offset + STATE_OFFSET, SHREDDED);
        forceEntry(offset);
    }

    private void forget(final long entry)
    {
        final byte[] key = keys.remove(entry);
        if (key != null)
        {
            Arrays.fill(key, (byte)0);
        }
    }

    /**
     * @param streamId a stream.
     * @return true if it was shredded.
     */
    public synchronized boolean isStreamShredded(final long streamId)
    {
        final long entry = find(streamId);
        return entry >= 0 && isShredded(entry);
    }

    // ------------------------------------------------------------------------------------------------ rotation

    /**
     * Wrap every data key anew under {@code newMaster}, crash-safely (see the descriptor). The caller makes sure
     * no other process uses the store for writing.
     *
     * @param newMaster the new master key.
     */
    public synchronized void rotate(final SecretKey newMaster)
    {
        checkNotClosed();
        if (readOnly)
        {
            throw new IllegalStateException("a read-only store cannot rotate its master key");
        }
        final UnsafeBuffer old = buffer;
        final long count = Math.min(old.getLongVolatile(COUNT_OFFSET), capacity);
        refresh(count);
        final byte[] storeId = new byte[STORE_ID_LENGTH];
        old.getBytes(STORE_ID_OFFSET, storeId);
        final long keySet = old.getLong(KEY_SET_OFFSET) + 1;
        final Path current = directory.resolve(FILE_NAME);
        final Path next = directory.resolve(NEXT_FILE_NAME);
        final Path oldPath = directory.resolve(OLD_FILE_NAME);
        try
        {
            scrubAndDelete(next, observer);
            final long used = entryOffset(count);
            final MappedFile made = MappedFile.create(next, fileLength(capacity),
                Math.max(HEADER_LENGTH, Math.min(fileLength(capacity), used)),
                (header) -> writeHeader(header, newMaster, capacity, storeId, keySet,
                    old.getIntVolatile(GENERATION_OFFSET), count, false, nameKey(), idKey()), false, observer);
            // not whole (Complete 0) until every entry is written and forced
            final UnsafeBuffer fresh = made.buffer();
            fresh.putLong(ALLOCATED_END_OFFSET, Math.max(HEADER_LENGTH, used));
            for (long entry = 0; entry < count; entry++)
            {
                final int offset = entryOffset(entry);
                final long state = old.getLongVolatile(offset + STATE_OFFSET);
                final long streamId = old.getLong(offset + STREAM_ID_OFFSET);
                fresh.putLong(offset + STREAM_ID_OFFSET, streamId);
                if (state == READY)
                {
                    final byte[] wrapped = new byte[WRAPPED_KEY_LENGTH];
                    old.getBytes(offset + WRAPPED_KEY_OFFSET, wrapped);
                    final byte[] key = unwrap(wrapped, master, streamId);
                    fresh.putBytes(offset + WRAPPED_KEY_OFFSET, wrap(key, newMaster));
                    Arrays.fill(key, (byte)0);
                    fresh.putLong(offset + STATE_OFFSET, READY);
                }
                else
                {
                    fresh.putLong(offset + STATE_OFFSET, state == SHREDDING ? SHREDDED : state);
                }
            }
            made.force();
            fresh.putIntVolatile(COMPLETE_OFFSET, 1);
            made.force(0, HEADER_LENGTH);
            MappedFile.forceDirectory(directory, observer);
            RotationHook.reached("complete");
            move(current, oldPath, directory, observer);
            RotationHook.reached("renamed-old");
            move(next, current, directory, observer);
            RotationHook.reached("renamed-next");
            // mapped again under its final name (the mapping knows the file by the name it was made with)
            made.unmap();
            final MappedFile reopened = MappedFile.open(current, false, observer);
            final MappedFile replaced = file;
            file = reopened;
            buffer = reopened.buffer();
            master = newMaster;
            // the old file: its keys zeroed through the mapping (readers still holding it see EMPTY and look in
            // the new one), then forced, then deleted
            replaced.buffer().setMemory(0, entryOffset(count), (byte)0);
            replaced.force(0, entryOffset(count));
            retired.add(replaced);
            Files.deleteIfExists(oldPath);
            MappedFile.forceDirectory(directory, observer);
        }
        catch (final IOException ex)
        {
            throw new StoreIOException("cannot rotate the master key of " + directory + ": " + ex.getMessage(), ex);
        }
    }

    // ------------------------------------------------------------------------------------------------ wrapping

    private static byte[] wrap(final byte[] key, final SecretKey master)
    {
        try
        {
            final Cipher cipher = Cipher.getInstance(WRAP);
            cipher.init(Cipher.WRAP_MODE, master);
            return cipher.wrap(new SecretKeySpec(key, "AES"));
        }
        catch (final GeneralSecurityException ex)
        {
            throw new EncryptionKeyException("cannot wrap a data key under the master key: " + ex.getMessage(), ex);
        }
    }

    private byte[] unwrap(final byte[] wrapped, final SecretKey master, final long streamId)
    {
        try
        {
            final Cipher cipher = Cipher.getInstance(WRAP);
            cipher.init(Cipher.UNWRAP_MODE, master);
            final byte[] key = cipher.unwrap(wrapped, "AES", Cipher.SECRET_KEY).getEncoded();
            if (key == null || key.length != Gcm.KEY_LENGTH)
            {
                throw new GeneralSecurityException("not a 32-byte key");
            }
            return key;
        }
        catch (final GeneralSecurityException ex)
        {
            throw new CorruptStoreException("the data key of stream " + streamId + " in " + file.path() +
                " does not unwrap under the master key (the entry is damaged): " + ex.getMessage());
        }
    }

    // ------------------------------------------------------------------------------------------------ lifecycle

    /**
     * @return the file's path.
     */
    public Path path()
    {
        return file.path();
    }

    private void checkNotClosed()
    {
        if (closed)
        {
            throw new IllegalStateException("the key file of " + directory + " is closed");
        }
    }

    /**
     * Forget every key held in memory and unmap.
     */
    @Override
    public synchronized void close()
    {
        if (closed)
        {
            return;
        }
        closed = true;
        for (final byte[] key : keys.values())
        {
            Arrays.fill(key, (byte)0);
        }
        if (nameKey != null)
        {
            Arrays.fill(nameKey, (byte)0);
        }
        if (idKey != null)
        {
            Arrays.fill(idKey, (byte)0);
        }
        keys.clear();
        file.unmap();
        for (final MappedFile mapped : retired)
        {
            mapped.unmap();
        }
        retired.clear();
    }

    /**
     * Test hook: a rotation calls {@link #reached} at each step, so that a test can kill its process there.
     */
    public static final class RotationHook
    {
        private static final String PROPERTY = "varve.test.rotationPause";

        private RotationHook()
        {
        }

        static void reached(final String step)
        {
            final String pause = System.getProperty(PROPERTY);
            if (pause != null && pause.equals(step))
            {
                System.out.println("rotation-reached " + step);
                System.out.flush();
                try
                {
                    Thread.sleep(Long.MAX_VALUE);
                }
                catch (final InterruptedException ex)
                {
                    Thread.currentThread().interrupt();
                }
            }
        }
    }
}
