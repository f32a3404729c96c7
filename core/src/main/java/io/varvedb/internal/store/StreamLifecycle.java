package io.varvedb.internal.store;

import io.varvedb.StreamMetadata;
import io.varvedb.internal.index.NameTable;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * What each stream shows: its metadata limits ({@link StreamMetadata}) and the log's start (retention), turned
 * into the first version a stream read may deliver. The metadata lives in the log, as the last event of each
 * stream's metadata stream ({@code "$$" + name} or {@code "$$$" + id}); this is one process's cache of it, kept
 * true for every process without any shared state of its own:
 * <ul>
 *   <li>a metadata stream is found by its name: when the name table's count of names has grown since the last
 *   look, the new names are scanned, and each {@code "$$"} name gets an entry for its target stream;</li>
 *   <li>an entry remembers the version of its metadata stream it was read at; a lookup compares it with the
 *   metadata stream's committed version in the (shared, mapped) stream index, one load, and reads the metadata
 *   event again when it moved. So a limit set by any process applies to every read that starts after the
 *   metadata event's append returned, and a process that died between creating the name and appending the event
 *   leaves only an entry with no limits.</li>
 * </ul>
 * A store that never set metadata pays one volatile load of the name count (none without a name table) and a
 * check of the log start per stream read.
 * <p>
 * Thread safety: lookups from any thread, lock-free, allocation-free unless an entry must be (re)read; changes to
 * the cache are serialised on this object. The table's keys are published with release stores after their values.
 */
public final class StreamLifecycle
{
    /** What the cache needs from the store. */
    public interface Host
    {
        /**
         * @return the name table, or null if the store has none.
         */
        NameTable names();

        /**
         * @param name a stream name.
         * @return its id, or 0 if it has none.
         */
        long findName(String name);

        /**
         * @param streamId a stream.
         * @return its committed version, or -1 if it has no slot.
         */
        long committedVersion(long streamId);

        /**
         * @param metadataStream a metadata stream.
         * @param version        one of its versions.
         * @param target         the stream it is the metadata stream of.
         * @return the metadata of the last event at or before that version that holds metadata for
         * {@code target}, or {@link StreamMetadata#NONE} if none does.
         */
        StreamMetadata metadataAt(long metadataStream, long version, long target);

        /**
         * @param streamId a stream.
         * @param slot     its slot.
         * @param version  a committed version.
         * @return the event's log position, or -1 if it is gone (scavenged, dropped by retention).
         */
        long positionOf(long streamId, int slot, long version);

        /**
         * @param streamId a stream.
         * @param slot     its slot.
         * @param version  a committed version.
         * @return the event's timestamp (epoch nanoseconds), or {@link Long#MIN_VALUE} if it is gone.
         */
        long timestampOf(long streamId, int slot, long version);

        /**
         * @return the first position retention kept (0 if none was dropped).
         */
        long logStart();

        /**
         * @return now, in epoch nanoseconds (the clock that stamps events).
         */
        long nowNanos();
    }

    private static final VarHandle KEYS = MethodHandles.arrayElementVarHandle(long[].class);
    private static final VarHandle VALUES = MethodHandles.arrayElementVarHandle(Entry[].class);
    private static final int INITIAL_CAPACITY = 16;

    private final Host host;
    private volatile Table table = new Table(INITIAL_CAPACITY);
    /** The metadata streams themselves, by their (negative) ids: the value is their target's entry. */
    private volatile Table systemStreams = new Table(INITIAL_CAPACITY);
    /** Names scanned so far (name n has id -(n + 1)). Written under this object's lock. */
    private volatile long namesSeen;

    /**
     * @param host the store.
     */
    public StreamLifecycle(final Host host)
    {
        this.host = host;
    }

    /** One stream's metadata as last read. Immutable. */
    private static final class Entry
    {
        final long target;
        final long metadataStream;
        final long applied;
        final StreamMetadata metadata;

        Entry(final long target, final long metadataStream, final long applied, final StreamMetadata metadata)
        {
            this.target = target;
            this.metadataStream = metadataStream;
            this.applied = applied;
            this.metadata = metadata;
        }
    }

    private static final class Table
    {
        final long[] keys;
        final Entry[] values;
        final int mask;
        int size;

        Table(final int capacity)
        {
            keys = new long[capacity];
            values = new Entry[capacity];
            mask = capacity - 1;
        }

        Entry get(final long key)
        {
            int i = hash(key) & mask;
            while (true)
            {
                // acquire: pairs with the release of the key in put(), after its value
                final long k = (long)KEYS.getAcquire(keys, i);
                if (k == key)
                {
                    return (Entry)VALUES.getAcquire(values, i);
                }
                if (k == 0)
                {
                    return null;
                }
                i = (i + 1) & mask;
            }
        }

        /** @return false if the table must grow first. */
        boolean put(final long key, final Entry value)
        {
            int i = hash(key) & mask;
            while (true)
            {
                final long k = keys[i];
                if (k == key)
                {
                    VALUES.setRelease(values, i, value);
                    return true;
                }
                if (k == 0)
                {
                    if ((size + 1) * 2 > keys.length)
                    {
                        return false;
                    }
                    VALUES.setRelease(values, i, value);
                    // release: a reader that finds the key finds its value
                    KEYS.setRelease(keys, i, key);
                    size++;
                    return true;
                }
                i = (i + 1) & mask;
            }
        }

        private static int hash(final long key)
        {
            final long h = key * 0x9E3779B97F4A7C15L;
            return (int)(h ^ (h >>> 32));
        }
    }

    /**
     * @param streamId a stream.
     * @return its metadata now: {@link StreamMetadata#NONE} if it has none.
     */
    public StreamMetadata metadata(final long streamId)
    {
        final Entry entry = entry(streamId);
        return entry == null ? StreamMetadata.NONE : entry.metadata;
    }

    /**
     * The first version of a stream that reads deliver now.
     *
     * @param streamId  the stream.
     * @param slot      its slot.
     * @param committed its committed version.
     * @return the first visible version, from 1; {@code committed + 1} or more if none is.
     */
    public long firstVisible(final long streamId, final int slot, final long committed)
    {
        long first = 1;
        final Entry entry = entry(streamId);
        if (entry != null)
        {
            final StreamMetadata metadata = entry.metadata;
            first = metadata.firstVisible(committed);
            final long maxAge = metadata.maxAgeNanos();
            if (maxAge > 0 && first <= committed)
            {
                final long now = host.nowNanos();
                final long cutoff = now - maxAge < now ? now - maxAge : Long.MIN_VALUE;
                first = firstFrom(streamId, slot, first, committed, cutoff, true);
            }
        }
        final long logStart = host.logStart();
        if (logStart > 0 && first <= committed)
        {
            first = firstFrom(streamId, slot, first, committed, logStart, false);
        }
        return first;
    }

    /**
     * The first version in {@code [from, committed]} whose timestamp (or position) is at least {@code bound}: what
     * a limit hides is always a prefix of the stream, so a binary search finds it, and the common case (the first
     * candidate passes) costs one lookup.
     */
    private long firstFrom(
        final long streamId, final int slot, final long from, final long committed, final long bound,
        final boolean byTime)
    {
        if (value(streamId, slot, from, byTime) >= bound)
        {
            return from;
        }
        long low = from + 1;
        long high = committed + 1;
        while (low < high)
        {
            final long mid = (low + high) >>> 1;
            if (value(streamId, slot, mid, byTime) >= bound)
            {
                high = mid;
            }
            else
            {
                low = mid + 1;
            }
        }
        return low;
    }

    private long value(final long streamId, final int slot, final long version, final boolean byTime)
    {
        if (byTime)
        {
            return host.timestampOf(streamId, slot, version);
        }
        final long position = host.positionOf(streamId, slot, version);
        return position < 0 ? -1 : position;
    }

    /**
     * @param streamId a stream id.
     * @return true if it is a metadata stream (its name starts with {@code "$$"}).
     */
    public boolean isMetadataStream(final long streamId)
    {
        refreshNames();
        final Table current = systemStreams;
        return current.size > 0 && current.get(streamId) != null;
    }

    /**
     * Visit every stream with metadata.
     *
     * @param visitor receives each stream and its metadata now.
     */
    public void forEach(final java.util.function.BiConsumer<Long, StreamMetadata> visitor)
    {
        refreshNames();
        final Table current = table;
        for (int i = 0; i < current.keys.length; i++)
        {
            final long key = (long)KEYS.getAcquire(current.keys, i);
            if (key != 0)
            {
                visitor.accept(key, metadata(key));
            }
        }
    }

    private Entry entry(final long streamId)
    {
        refreshNames();
        final Table current = table;
        if (current.size == 0)
        {
            return null;
        }
        final Entry entry = current.get(streamId);
        if (entry == null)
        {
            return null;
        }
        final long version = host.committedVersion(entry.metadataStream);
        return version == entry.applied ? entry : reload(entry.target);
    }

    private synchronized Entry reload(final long target)
    {
        final Entry entry = table.get(target);
        final long version = host.committedVersion(entry.metadataStream);
        if (version == entry.applied)
        {
            return entry;
        }
        final StreamMetadata metadata = version <= 0 ? StreamMetadata.NONE :
            host.metadataAt(entry.metadataStream, version, target);
        final Entry fresh = new Entry(target, entry.metadataStream, version, metadata);
        put(target, fresh);
        return fresh;
    }

    private void refreshNames()
    {
        final NameTable names = host.names();
        if (names != null && names.count() != namesSeen)
        {
            scanNames(names);
        }
    }

    private synchronized void scanNames(final NameTable names)
    {
        final long count = names.count();
        for (long n = namesSeen; n < count; n++)
        {
            final long metadataStream = -(n + 1);
            final String name = names.name(metadataStream);
            if (name == null || !name.startsWith(METADATA_PREFIX))
            {
                continue;
            }
            final long target = targetOf(name);
            final Entry fresh = new Entry(target, metadataStream, -1, StreamMetadata.NONE);
            if (target != 0 && table.get(target) == null)
            {
                // applied -1: read at the first lookup (a fresh metadata stream, at version 0, has none)
                put(target, fresh);
            }
            // every "$$" name is a system stream, whatever it names: only the store appends to it
            systemStreams = putInto(systemStreams, metadataStream, fresh);
        }
        namesSeen = count;
    }

    /** Names of metadata streams start with this; user names may not start with '$'. */
    public static final String METADATA_PREFIX = "$$";
    private static final String NUMERIC_PREFIX = "$$$";

    private long targetOf(final String name)
    {
        if (name.startsWith(NUMERIC_PREFIX))
        {
            try
            {
                final long id = Long.parseLong(name.substring(NUMERIC_PREFIX.length()));
                return id > 0 ? id : 0;
            }
            catch (final NumberFormatException ex)
            {
                return 0;
            }
        }
        return host.findName(name.substring(METADATA_PREFIX.length()));
    }

    private void put(final long key, final Entry value)
    {
        table = putInto(table, key, value);
    }

    private static Table putInto(final Table from, final long key, final Entry value)
    {
        Table current = from;
        while (!current.put(key, value))
        {
            final Table grown = new Table(current.keys.length * 2);
            for (int i = 0; i < current.keys.length; i++)
            {
                if (current.keys[i] != 0)
                {
                    grown.put(current.keys[i], current.values[i]);
                }
            }
            current = grown;
        }
        // volatile (by the caller's store): readers switch to a grown table whole
        return current;
    }
}
