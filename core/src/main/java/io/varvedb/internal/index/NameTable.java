package io.varvedb.internal.index;

import io.varvedb.internal.crypto.NameCipher;

import io.varvedb.CorruptStoreException;
import io.varvedb.NameTableFullException;
import io.varvedb.StoreFormatException;
import io.varvedb.internal.io.FileHeaders;
import io.varvedb.internal.io.ForceObserver;
import io.varvedb.internal.io.MappedFile;
import io.varvedb.internal.log.Log;
import io.varvedb.internal.log.RecordDescriptor;
import org.agrona.DirectBuffer;
import org.agrona.concurrent.UnsafeBuffer;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.CRC32C;

import static io.varvedb.internal.index.NameTableDescriptor.*;

/**
 * The table of named streams, {@code index/names.idx} (see {@link NameTableDescriptor}): a name maps to a stable,
 * negative stream id, the same in every process that maps the file. Creating a name is lock-free: a CAS on the
 * counter takes an entry, a release store publishes it, a CAS on a hash slot makes it the name's; the creator that
 * wins the slot has the name's record written to the log before it hands the id out.
 * <p>
 * Lookups and creations are safe from any thread and process; {@link #recover} is for the writer's first open
 * only, before anyone else uses the table.
 */
public final class NameTable
{
    /** Writes the record that names a stream to the log, published (and, in {@code SYNC} mode, forced). */
    @FunctionalInterface
    public interface NameLog
    {
        /**
         * @param streamId the named stream's id.
         * @param utf8     the name.
         */
        void write(long streamId, byte[] utf8);
    }

    /** Receives the names of {@link #forEach}. */
    @FunctionalInterface
    public interface NameVisitor
    {
        /**
         * @param name     a name.
         * @param streamId its stream's id.
         */
        void onName(String name, long streamId);
    }

    private final MappedFile file;
    /** Encrypts names in an encrypted store; null otherwise. */
    private volatile NameCipher cipher;
    /** The names are encrypted and this instance has no key: see {@link #hideNames()}. */
    private volatile boolean hidden;
    private final UnsafeBuffer buffer;
    private final int capacity;
    private final int mask;
    private final int slotsOffset;
    private final boolean readOnly;
    /** Set by {@link #open} when the file was missing or unreadable and made anew: only the log can refill it. */
    private boolean fresh;
    /** Entries whose ids were never handed out (a creator lost the race for its name): the next new names take them. */
    private final java.util.concurrent.ConcurrentLinkedQueue<Integer> spares =
        new java.util.concurrent.ConcurrentLinkedQueue<>();
    /** Recovery only: the entries whose records the log scan saw. */
    private boolean[] seen;
    private boolean anySeen;
    private final io.varvedb.internal.log.RecordChecksum recordChecksum = new io.varvedb.internal.log.RecordChecksum();

    private NameTable(final MappedFile file, final boolean readOnly)
    {
        this.file = file;
        this.buffer = file.buffer();
        this.capacity = buffer.getInt(CAPACITY_OFFSET);
        this.mask = buffer.getInt(TABLE_SIZE_OFFSET) - 1;
        this.slotsOffset = NameTableDescriptor.slotsOffset(capacity);
        this.readOnly = readOnly;
    }

    /**
     * @param directory the {@code index/} directory.
     * @return true if the store has a name table.
     */
    public static boolean exists(final Path directory)
    {
        return Files.exists(directory.resolve(FILE_NAME));
    }

    /**
     * Open the table for a writer, creating it if missing; one that is unreadable (a foreign or damaged header, a
     * wrong length) is made anew, empty, for {@link #recover} to fill from the log. A newer format is refused.
     *
     * @param directory the {@code index/} directory.
     * @param capacity  most names, for a new table (an existing one keeps its own).
     * @param observer  sees files created and forced.
     * @return the table.
     */
    public static NameTable openForWriter(final Path directory, final int capacity, final ForceObserver observer)
    {
        final Path path = directory.resolve(FILE_NAME);
        if (Files.exists(path))
        {
            try
            {
                return open(directory, false, observer);
            }
            catch (final StoreFormatException ex)
            {
                if (isNewerFormat(path))
                {
                    throw ex;
                }
            }
            catch (final CorruptStoreException ex)
            {
                // derived from the log: made anew below and refilled from it
            }
            try
            {
                Files.delete(path);
            }
            catch (final IOException ex)
            {
                throw new io.varvedb.StoreIOException("cannot delete the damaged " + path + ": " + ex.getMessage(),
                    ex);
            }
        }
        try
        {
            Files.createDirectories(directory);
        }
        catch (final IOException ex)
        {
            throw new io.varvedb.StoreIOException("cannot create " + directory + ": " + ex.getMessage(), ex);
        }
        // the header is not forced (on ext4 that would commit the whole zero-filled file to the journal at every
        // store creation): a crash may leave it zero or the file gone, and either is made anew and refilled from
        // the log at the next open, as a damaged table is
        final MappedFile created = MappedFile.create(path, fileLength(capacity),
            (buffer) -> writeHeader(buffer, capacity), false, observer);
        final NameTable table = new NameTable(created, false);
        table.fresh = true;
        return table;
    }

    private static boolean isNewerFormat(final Path path)
    {
        try (java.nio.channels.FileChannel channel = java.nio.channels.FileChannel.open(path))
        {
            final java.nio.ByteBuffer header = java.nio.ByteBuffer.allocate(HEADER_LENGTH)
                .order(java.nio.ByteOrder.LITTLE_ENDIAN);
            channel.read(header, 0);
            return header.position() >= CAPACITY_OFFSET && header.getLong(MAGIC_OFFSET) == MAGIC &&
                header.getInt(FORMAT_VERSION_OFFSET) > FORMAT_VERSION;
        }
        catch (final IOException ex)
        {
            return false;
        }
    }

    /**
     * Open an existing table, checking its header.
     *
     * @param directory the {@code index/} directory.
     * @param readOnly  map it read-only.
     * @param observer  sees every force.
     * @return the table.
     * @throws StoreFormatException  if the file is foreign or of another format.
     * @throws CorruptStoreException if its shape is impossible.
     */
    public static NameTable open(final Path directory, final boolean readOnly, final ForceObserver observer)
    {
        final Path path = directory.resolve(FILE_NAME);
        final MappedFile file = MappedFile.open(path, readOnly, observer, (opened) ->
        {
            FileHeaders.check(opened.buffer(), path, HEADER_LENGTH, MAGIC_OFFSET, MAGIC, FORMAT_VERSION_OFFSET,
                FORMAT_VERSION, "name table");
            final int capacity = opened.buffer().getInt(CAPACITY_OFFSET);
            if (capacity < 1 || capacity > MAX_CAPACITY ||
                opened.buffer().getInt(TABLE_SIZE_OFFSET) != tableSize(capacity) ||
                opened.length() != fileLength(capacity))
            {
                throw new CorruptStoreException(path + ": header says " + capacity + " names, " +
                    opened.buffer().getInt(TABLE_SIZE_OFFSET) + " slots, but the file is " + opened.length() +
                    " bytes");
            }
        });
        return new NameTable(file, readOnly);
    }

    // ------------------------------------------------------------------------------------------------- lookups

    /**
     * @param utf8 a name, at most {@link NameTableDescriptor#MAX_NAME_LENGTH} bytes.
     * @return its stream id, or 0 if the name has none yet (or its record is not in the log yet).
     */
    public long find(final byte[] name)
    {
        if (hidden)
        {
            return 0;
        }
        final byte[] utf8 = stored(name);
        final int tag = hash(utf8);
        int index = spread(tag) & mask;
        for (int probes = 0; probes <= mask; probes++)
        {
            // acquire: pairs with the creator's CAS, which follows the release of its entry
            final long slot = buffer.getLongVolatile(slotOffset(index));
            if (slot == 0)
            {
                return 0;
            }
            if (slotTag(slot) == tag && nameEquals(slotEntry(slot), utf8))
            {
                final int n = slotEntry(slot);
                return state(n) == LOGGED ? streamIdOf(n) : 0;
            }
            index = (index + 1) & mask;
        }
        return 0;
    }

    /**
     * The name's stream id, created if the name has none: lock-free, and the same for every thread and process
     * that asks. Returns only once the log holds the name's record (written by {@code log} if need be).
     *
     * @param utf8 a name, 1 to {@link NameTableDescriptor#MAX_NAME_LENGTH} bytes.
     * @param log  writes the name's record.
     * @return the stream id, negative.
     * @throws NameTableFullException if the name is new and the table holds its capacity.
     */
    public long streamId(final byte[] name, final NameLog log)
    {
        final byte[] utf8 = stored(name);
        final int tag = hash(utf8);
        int index = spread(tag) & mask;
        int mine = -1;
        for (int probes = 0; probes <= mask; probes++)
        {
            final int offset = slotOffset(index);
            long slot = buffer.getLongVolatile(offset);
            if (slot == 0)
            {
                if (mine < 0)
                {
                    mine = allocate(utf8);
                }
                // the CAS that makes a name's id: of all creators of the name, in every process, one wins. The
                // entry was published (release) before it, so a reader that sees the slot sees the whole entry
                if (buffer.compareAndSetLong(offset, 0, NameTableDescriptor.slot(tag, mine)))
                {
                    return logged(mine, utf8, log);
                }
                slot = buffer.getLongVolatile(offset);
            }
            if (slotTag(slot) == tag && nameEquals(slotEntry(slot), utf8))
            {
                if (mine >= 0)
                {
                    // lost the race to the same name: ours never reaches the log nor a slot, and its id was never
                    // handed out, so the next new name of this process takes the entry
                    buffer.putIntRelease(entryOffset(mine) + ENTRY_STATE_OFFSET, ABANDONED);
                    spares.offer(mine);
                }
                return logged(slotEntry(slot), utf8, log);
            }
            index = (index + 1) & mask;
        }
        // slots are twice the capacity and only winners take one: unreachable unless the file is damaged
        throw new CorruptStoreException(file.path() + ": no free hash slot for a new name; the table is damaged");
    }

    /**
     * Make sure the log holds entry n's record before its id is handed out: its creator writes it, and so does
     * anyone who finds it not yet logged (its creator may be slow, or dead); a name logged twice is harmless.
     */
    private long logged(final int n, final byte[] utf8, final NameLog log)
    {
        final long streamId = streamIdOf(n);
        // acquire: pairs with the release below
        if (buffer.getIntVolatile(entryOffset(n) + ENTRY_STATE_OFFSET) != LOGGED)
        {
            log.write(streamId, utf8);
            // release: the record was published before the id is accepted by appends; a CAS, as only a written
            // entry becomes logged (recovery alone changes a logged one)
            buffer.compareAndSetInt(entryOffset(n) + ENTRY_STATE_OFFSET, WRITTEN, LOGGED);
        }
        return streamId;
    }

    private int allocate(final byte[] utf8)
    {
        final Integer spare = spares.poll();
        if (spare != null)
        {
            // an abandoned entry: no slot points to it and its id was never handed out, so it may name anything
            writeEntry(spare, utf8, WRITTEN);
            return spare;
        }
        while (true)
        {
            final long counter = buffer.getLongVolatile(COUNTER_OFFSET);
            if (counter >= capacity)
            {
                throw new NameTableFullException("the name table " + file.path() + " holds its capacity of " +
                    capacity + " names; a store's name capacity is set when it is created " +
                    "(VarveConfig.Builder.nameCapacity)");
            }
            // CAS, not an add: a full table's counter stays at its capacity however often it refuses
            if (buffer.compareAndSetLong(COUNTER_OFFSET, counter, counter + 1))
            {
                final int n = (int)counter;
                writeEntry(n, utf8, WRITTEN);
                return n;
            }
        }
    }

    private void writeEntry(final int n, final byte[] utf8, final int state)
    {
        final int offset = entryOffset(n);
        buffer.putInt(offset + ENTRY_LENGTH_OFFSET, utf8.length);
        buffer.putBytes(offset + ENTRY_NAME_OFFSET, utf8);
        buffer.setMemory(offset + ENTRY_NAME_OFFSET + utf8.length, MAX_NAME_LENGTH - utf8.length, (byte)0);
        buffer.putInt(offset + ENTRY_CHECKSUM_OFFSET, checksum(n, utf8, utf8.length));
        // release: the whole entry happens-before anyone who acquires its state (or the slot CASed after this)
        buffer.putIntRelease(offset + ENTRY_STATE_OFFSET, state);
    }

    /**
     * @param streamId any stream id.
     * @return true if it is a named stream's id whose record is in the log: appends may use it.
     */
    public boolean isLogged(final long streamId)
    {
        final long n = entryOf(streamId);
        return n >= 0 && n < capacity && buffer.getIntVolatile(entryOffset((int)n) + ENTRY_STATE_OFFSET) == LOGGED;
    }

    /**
     * @param streamId any stream id.
     * @return the name of a named stream whose record is in the log, else null.
     */
    public String name(final long streamId)
    {
        if (!isLogged(streamId))
        {
            return null;
        }
        final int offset = entryOffset((int)entryOf(streamId));
        final int length = buffer.getInt(offset + ENTRY_LENGTH_OFFSET);
        if (length < 1 || length > MAX_NAME_LENGTH || hidden)
        {
            return null;
        }
        final NameCipher names = cipher;
        if (names == null)
        {
            return buffer.getStringWithoutLengthUtf8(offset + ENTRY_NAME_OFFSET, length);
        }
        final byte[] sealed = new byte[length];
        buffer.getBytes(offset + ENTRY_NAME_OFFSET, sealed);
        final byte[] name = names.open(sealed);
        if (name == null)
        {
            throw new CorruptStoreException(file.path() + ": the encrypted name of stream " + streamId +
                " does not decrypt under the store's name key (damaged or forged)");
        }
        return new String(name, java.nio.charset.StandardCharsets.UTF_8);
    }

    /**
     * Encrypt names from now on (an encrypted store's table holds only encrypted names: the table and the log's
     * name records hold what {@link NameCipher#seal} gives, so recovery needs no key). Set once, before any lookup.
     *
     * @param names the store's name cipher; null for a clear store.
     */
    public void cipher(final NameCipher names)
    {
        this.cipher = names;
    }

    /**
     * An encrypted store opened without its key: its names are cipher text, unknown to this instance. Names read
     * as none ({@link #name} null, {@link #find} 0) rather than as garbage.
     */
    public void hideNames()
    {
        this.hidden = true;
    }

    /**
     * @return the form a name takes in the table and in the log.
     */
    private byte[] stored(final byte[] name)
    {
        final NameCipher names = cipher;
        if (names == null)
        {
            return name;
        }
        final byte[] sealed = names.seal(name);
        if (sealed.length > MAX_NAME_LENGTH)
        {
            throw new IllegalArgumentException("a stream name of an encrypted store takes " + NameCipher.OVERHEAD +
                " bytes more than its UTF-8 form: at most " + (MAX_NAME_LENGTH - NameCipher.OVERHEAD) +
                " bytes, not " + name.length);
        }
        return sealed;
    }

    /**
     * Visit every name whose record is in the log and that starts with {@code prefix}, in creation order.
     *
     * @param prefix  the names' start ("" for all).
     * @param visitor receives each name.
     */
    public void forEach(final String prefix, final NameVisitor visitor)
    {
        final long end = Math.min(capacity, buffer.getLongVolatile(COUNTER_OFFSET));
        for (int n = 0; n < end; n++)
        {
            final String name = name(streamIdOf(n));
            if (name != null && name.startsWith(prefix))
            {
                visitor.onName(name, streamIdOf(n));
            }
        }
    }

    /**
     * @return names whose record is in the log.
     */
    public long count()
    {
        final long end = Math.min(capacity, buffer.getLongVolatile(COUNTER_OFFSET));
        long count = 0;
        for (int n = 0; n < end; n++)
        {
            if (state(n) == LOGGED)
            {
                count++;
            }
        }
        return count;
    }

    /**
     * @return entries taken (names, and entries of creators that lost a race or died): what counts against the
     * capacity.
     */
    public long allocated()
    {
        return Math.min(capacity, buffer.getLongVolatile(COUNTER_OFFSET));
    }

    /**
     * @return most names.
     */
    public int capacity()
    {
        return capacity;
    }

    // ------------------------------------------------------------------------------------------------ recovery

    /**
     * Recovery saw a name record in the log: the log is the truth, so its entry is (re)written from it, logged.
     *
     * @param streamId the record's stream id.
     * @param record   the segment holding the record.
     * @param offset   the record's offset in it.
     */
    public void recordSeen(final long streamId, final DirectBuffer record, final int offset)
    {
        final long n = entryOf(streamId);
        final int length = record.getInt(offset + RecordDescriptor.NAME_LENGTH_OFFSET);
        if (n < 0 || n >= capacity || length < 1 || length > MAX_NAME_LENGTH)
        {
            throw new CorruptStoreException("log: a stream name record for stream " + streamId + " lies outside " +
                "the name table " + file.path() + " (capacity " + capacity + " names, name of " + length +
                " bytes); was the store created with a larger VarveConfig.Builder.nameCapacity?");
        }
        final byte[] utf8 = new byte[length];
        record.getBytes(offset + RecordDescriptor.NAME_OFFSET, utf8);
        if (seen == null)
        {
            seen = new boolean[capacity];
        }
        seen[(int)n] = true;
        anySeen = true;
        if (!entryIntact((int)n) || !nameEquals((int)n, utf8) || state((int)n) != LOGGED)
        {
            writeEntry((int)n, utf8, LOGGED);
        }
    }

    /**
     * The writer's first open, after the log's recovery (whose name records went to {@link #recordSeen}): check
     * every entry, refill what is missing from the log, rebuild the hash slots, and mark the table in use.
     *
     * @param log      the log, recovered: every record below its tail is whole.
     * @param clean    the store was closed cleanly and its log not recovered.
     * @param fullScan recovery read the whole log (so every name record in it went to {@link #recordSeen}).
     * @return entries found damaged and cleared (their names come back from the log, if it has them).
     */
    public int recover(final Log log, final boolean clean, final boolean fullScan)
    {
        // a table closed cleanly is trusted only as sealed then: one flipped bit in a slot, the counter or a state
        // would give a name a second id, or an id to two names
        final boolean closedCleanly = clean && !fresh && buffer.getIntVolatile(CLEAN_OFFSET) == CLEAN;
        final boolean trusted = closedCleanly && sealIntact();
        // damage at rest: any field may be wrong, an entry's state too (its checksum covers the name, not the
        // state), so the log, which names every stream whose id was handed out, is read whole
        final boolean damagedAtRest = closedCleanly && !trusted;
        // a trusted table's entries beyond its counter are empty; any other's may be anywhere
        final int end = trusted ? (int)allocated() : capacity;
        int damaged = 0;
        int highest = -1;
        for (int n = 0; n < end; n++)
        {
            final int state = state(n);
            if (state == EMPTY && buffer.getInt(entryOffset(n) + ENTRY_LENGTH_OFFSET) == 0)
            {
                continue;
            }
            if (!entryIntact(n))
            {
                buffer.setMemory(entryOffset(n), ENTRY_LENGTH, (byte)0);
                // an entry never published (its creator died writing it) is no damage: nobody had its id
                damaged += state == EMPTY ? 0 : 1;
                continue;
            }
            highest = n;
        }
        boolean scanned = fullScan;
        if ((damaged > 0 || fresh || damagedAtRest) && !scanned)
        {
            scanLog(log, log.tail());
            scanned = true;
            for (int n = 0; n < capacity; n++)
            {
                if (state(n) != EMPTY)
                {
                    highest = Math.max(highest, n);
                }
            }
        }
        if (scanned)
        {
            // a name the whole log does not hold (a power cut took its record): no event of it survived either,
            // as its events follow its record; it stays, not handed out until someone asks for it again
            for (int n = 0; n <= highest; n++)
            {
                if (state(n) == LOGGED && (seen == null || !seen[n]))
                {
                    buffer.putIntRelease(entryOffset(n) + ENTRY_STATE_OFFSET, WRITTEN);
                }
            }
        }
        if (!trusted || damaged > 0 || anySeen)
        {
            rebuildSlots(highest);
        }
        final long counter = buffer.getLongVolatile(COUNTER_OFFSET);
        if (!trusted)
        {
            // every entry was looked at: the next name goes right after the last one in use, whatever the counter
            // said (damage may have moved it either way)
            buffer.putLongVolatile(COUNTER_OFFSET, highest + 1L);
        }
        else if (counter < highest + 1L || counter > capacity)
        {
            buffer.putLongVolatile(COUNTER_OFFSET, Math.max(Math.min(counter, capacity), highest + 1L));
        }
        collectSpares();
        seen = null;
        fresh = false;
        // from here until a clean close, the file may run ahead of the disk
        buffer.putLongVolatile(SEALED_CHECKSUM_OFFSET, 0);
        buffer.putIntVolatile(CLEAN_OFFSET, DIRTY);
        return damaged;
    }

    /**
     * Fill a table made while the store is open (its first name) from the log below {@code end}, where every
     * record is whole: a store whose table was deleted may have names there. No name can be created beyond it
     * meanwhile, as creating one needs this table.
     *
     * @param log the log.
     * @param end where the log ended when the store was opened.
     */
    public void fillFromLog(final Log log, final long end)
    {
        scanLog(log, end);
        int highest = -1;
        for (int n = 0; n < capacity; n++)
        {
            if (state(n) != EMPTY)
            {
                highest = n;
            }
        }
        rebuildSlots(highest);
        buffer.putLongVolatile(COUNTER_OFFSET, highest + 1L);
        seen = null;
        fresh = false;
    }

    /**
     * Put every name record of the log below its tail into the table: for a table made anew or found damaged
     * when recovery did not read the whole log. Every record there is whole, as recovery left it.
     */
    private void scanLog(final Log log, final long tail)
    {
        long position = 0;
        while (position < tail)
        {
            final UnsafeBuffer segment = log.segmentBuffer(log.segmentOf(position));
            final int offset = log.offset(segment, position);
            if (offset < 0)
            {
                // a dropped range of a compacted segment
                position = log.ceiling(segment, position);
                continue;
            }
            final int frameLength = segment.getIntVolatile(offset + RecordDescriptor.FRAME_LENGTH_OFFSET);
            if (frameLength <= 0)
            {
                throw new CorruptStoreException("log: no record at position " + position + " below the tail " +
                    tail + " while refilling the name table " + file.path());
            }
            if (segment.getShort(offset + RecordDescriptor.RECORD_TYPE_OFFSET) == RecordDescriptor.TYPE_STREAM_NAME)
            {
                // a name that a flipped bit changed must never become a stream's name: the record's checksum decides
                final String damage = io.varvedb.internal.log.Log.frameDamage(segment, offset, frameLength,
                    log.room(segment, offset, position), recordChecksum);
                if (damage != null)
                {
                    throw new CorruptStoreException("log: " + damage + " in the name record at position " + position +
                        " (" + log.segmentPath(log.segmentOf(position)) + "), met while refilling the name table " +
                        file.path() + "; refusing to open rather than give a stream a name nobody gave it");
                }
                recordSeen(segment.getLong(offset + RecordDescriptor.STREAM_ID_OFFSET), segment, offset);
            }
            position += RecordDescriptor.alignedLength(frameLength);
        }
    }

    /**
     * Empty the hash slots and put back every entry that is written or logged: a logged one first (its id was
     * handed out), and of two entries with the same name, neither logged, the older. The others are abandoned.
     */
    private void rebuildSlots(final int highest)
    {
        buffer.setMemory(slotsOffset, (mask + 1) * SLOT_LENGTH, (byte)0);
        for (final int wanted : new int[]{ LOGGED, WRITTEN })
        {
            for (int n = 0; n <= highest; n++)
            {
                if (state(n) == wanted)
                {
                    final byte[] utf8 = nameOf(n);
                    if (!insert(n, utf8))
                    {
                        if (wanted == LOGGED)
                        {
                            throw new CorruptStoreException("log: the name \"" +
                                new String(utf8, StandardCharsets.UTF_8) + "\" names two streams, " +
                                streamIdOf(n) + " and another; refusing to open");
                        }
                        buffer.putIntRelease(entryOffset(n) + ENTRY_STATE_OFFSET, ABANDONED);
                    }
                }
            }
        }
    }

    private boolean insert(final int n, final byte[] utf8)
    {
        final int tag = hash(utf8);
        int index = spread(tag) & mask;
        while (true)
        {
            final long slot = buffer.getLong(slotOffset(index));
            if (slot == 0)
            {
                buffer.putLongVolatile(slotOffset(index), NameTableDescriptor.slot(tag, n));
                return true;
            }
            if (slotTag(slot) == tag && nameEquals(slotEntry(slot), utf8))
            {
                return false;
            }
            index = (index + 1) & mask;
        }
    }

    // ------------------------------------------------------------------------------------------------- the file

    /**
     * Force the table and mark it closed cleanly: at the last writer's clean close, so the next open may trust it.
     */
    public void closeCleanly()
    {
        file.force();
        buffer.putLongVolatile(SEALED_CHECKSUM_OFFSET, (1L << 32) | (checksumAll() & 0xFFFF_FFFFL));
        buffer.putIntVolatile(CLEAN_OFFSET, CLEAN);
        file.force(0, HEADER_LENGTH);
    }

    private boolean sealIntact()
    {
        final long sealed = buffer.getLongVolatile(SEALED_CHECKSUM_OFFSET);
        return (sealed >>> 32) == 1 && (int)sealed == checksumAll();
    }

    /**
     * @return CRC32C of the capacity, the table size, the counter, every entry and every hash slot.
     */
    private int checksumAll()
    {
        final CRC32C crc = new CRC32C();
        crc.update(buffer.byteBuffer().duplicate().position(CAPACITY_OFFSET).limit(CLEAN_OFFSET));
        crc.update(buffer.byteBuffer().duplicate().position(COUNTER_OFFSET).limit(COUNTER_OFFSET + Long.BYTES));
        crc.update(buffer.byteBuffer().duplicate().position(HEADER_LENGTH).limit(buffer.capacity()));
        return (int)crc.getValue();
    }

    /** At a writer's first open: every entry below the counter that holds no id handed out is a spare. */
    private void collectSpares()
    {
        spares.clear();
        final long end = Math.min(capacity, buffer.getLongVolatile(COUNTER_OFFSET));
        for (int n = 0; n < end; n++)
        {
            final int state = state(n);
            if (state == ABANDONED || state == EMPTY)
            {
                spares.offer(n);
            }
        }
    }

    /**
     * Force the whole table to disk.
     */
    public void force()
    {
        file.force();
    }

    /**
     * Release the mapping; nothing may use the table afterwards.
     */
    public void close()
    {
        file.unmap();
    }

    /**
     * @return the file.
     */
    public Path path()
    {
        return file.path();
    }

    /**
     * @return true if mapped read-only.
     */
    public boolean isReadOnly()
    {
        return readOnly;
    }

    // ------------------------------------------------------------------------------------------------ internals

    private int state(final int n)
    {
        // acquire: pairs with the release that published the entry
        return buffer.getIntVolatile(entryOffset(n) + ENTRY_STATE_OFFSET);
    }

    private int slotOffset(final int index)
    {
        return slotsOffset + index * SLOT_LENGTH;
    }

    private boolean entryIntact(final int n)
    {
        final int offset = entryOffset(n);
        final int state = buffer.getInt(offset + ENTRY_STATE_OFFSET);
        final int length = buffer.getInt(offset + ENTRY_LENGTH_OFFSET);
        if (state < WRITTEN || state > ABANDONED || length < 1 || length > MAX_NAME_LENGTH)
        {
            return false;
        }
        final byte[] utf8 = new byte[length];
        buffer.getBytes(offset + ENTRY_NAME_OFFSET, utf8);
        return buffer.getInt(offset + ENTRY_CHECKSUM_OFFSET) == checksum(n, utf8, length);
    }

    private byte[] nameOf(final int n)
    {
        final int offset = entryOffset(n);
        final byte[] utf8 = new byte[buffer.getInt(offset + ENTRY_LENGTH_OFFSET)];
        buffer.getBytes(offset + ENTRY_NAME_OFFSET, utf8);
        return utf8;
    }

    private boolean nameEquals(final int n, final byte[] utf8)
    {
        if (n < 0 || n >= capacity)
        {
            return false;
        }
        final int offset = entryOffset(n);
        if (buffer.getInt(offset + ENTRY_LENGTH_OFFSET) != utf8.length)
        {
            return false;
        }
        for (int i = 0; i < utf8.length; i++)
        {
            if (buffer.getByte(offset + ENTRY_NAME_OFFSET + i) != utf8[i])
            {
                return false;
            }
        }
        return true;
    }

    /**
     * @return CRC32C of n (8 bytes, little-endian), the length (4 bytes) and the name.
     */
    static int checksum(final int n, final byte[] utf8, final int length)
    {
        final CRC32C crc = new CRC32C();
        final long entry = n;
        for (int i = 0; i < Long.BYTES; i++)
        {
            crc.update((int)(entry >>> (8 * i)));
        }
        for (int i = 0; i < Integer.BYTES; i++)
        {
            crc.update(length >>> (8 * i));
        }
        crc.update(utf8, 0, length);
        return (int)crc.getValue();
    }

    /**
     * FNV-1a over the name's bytes: every process computes the same tag for the same name.
     */
    static int hash(final byte[] utf8)
    {
        int h = 0x811c9dc5;
        for (final byte b : utf8)
        {
            h ^= b & 0xff;
            h *= 0x01000193;
        }
        return h;
    }

    private static int spread(final int hash)
    {
        final int h = hash * 0x9e3779b9;
        return h ^ (h >>> 16);
    }
}
