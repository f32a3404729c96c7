package io.varvedb.tools;

import io.varvedb.EventHandler;
import io.varvedb.RecordedEvent;
import io.varvedb.CorruptStoreException;
import io.varvedb.Durability;
import io.varvedb.StreamDeletedException;
import io.varvedb.StreamShreddedException;
import io.varvedb.VarveDB;
import io.varvedb.VarveException;
import io.varvedb.internal.index.EventIdTableDescriptor;
import io.varvedb.internal.index.StreamIndexDescriptor;
import io.varvedb.internal.log.Log;
import io.varvedb.internal.log.Padding;
import io.varvedb.internal.log.RecordChecksum;
import io.varvedb.internal.log.RecordDescriptor;
import io.varvedb.internal.log.SegmentDescriptor;
import io.varvedb.internal.store.MetaDescriptor;
import org.agrona.IoUtil;
import org.agrona.collections.Long2LongHashMap;
import org.agrona.concurrent.UnsafeBuffer;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static io.varvedb.internal.log.RecordDescriptor.*;

/**
 * Checks a store without changing it: every field of {@code varve.meta} against the log, every record's framing
 * and CRC32C, each stream's versions running 1..n in log order, nothing but zeros after the log's end, and the
 * stream index agreeing with the log (each stream's committed version, and each event found by
 * {@link VarveDB#readStream} at the position where the log holds it).
 * <p>
 * Segment and index files are mapped {@code READ_ONLY} and the store is opened with {@link VarveDB#openReadOnly},
 * which takes no lock and repairs nothing. A store open for writing by a live process can be verified: records
 * still being written at the end are not counted as damage.
 */
public final class StoreVerifier
{
    private static final int INDEX_RETRIES = 50;
    private static final long INDEX_RETRY_PAUSE_MS = 2;
    private static final long NO_VERSION = 0;
    /** How far a creation time may lie in the future: clocks of machines a store is copied between disagree. */
    private static final long CLOCK_SKEW_MS = TimeUnit.DAYS.toMillis(1);
    /** Spans of the meta page that its layout reserves, written zero. */
    private static final int[][] RESERVED = {
        {MetaDescriptor.CREATED_OFFSET + Long.BYTES, MetaDescriptor.TAIL_POSITION_OFFSET},
        {MetaDescriptor.TAIL_POSITION_OFFSET + Long.BYTES, MetaDescriptor.DURABLE_POSITION_OFFSET},
        // the allocated end (a field since multi-process mode, written by every writer) splits the last span
        {MetaDescriptor.WRITER_DURABILITY_OFFSET + Integer.BYTES, MetaDescriptor.ALLOCATED_END_OFFSET},
        // and the replaced generation (segments compacted in place) splits it again
        {MetaDescriptor.ALLOCATED_END_OFFSET + Long.BYTES, MetaDescriptor.REPLACED_GENERATION_OFFSET},
        // then the log start (retention) and the names-made flag (stream lifecycle)
        {MetaDescriptor.REPLACED_GENERATION_OFFSET + Long.BYTES, MetaDescriptor.LOG_START_OFFSET},
        {MetaDescriptor.LOG_START_OFFSET + Long.BYTES, MetaDescriptor.NAMES_MADE_OFFSET},
        // and the encrypted flag (encryption at rest)
        {MetaDescriptor.NAMES_MADE_OFFSET + Integer.BYTES, MetaDescriptor.ENCRYPTED_OFFSET},
        {MetaDescriptor.ENCRYPTED_OFFSET + Integer.BYTES, MetaDescriptor.KEY_FILE_ID_OFFSET},
        // and the store id of the key file
        {MetaDescriptor.KEY_FILE_ID_OFFSET + io.varvedb.internal.crypto.KeyFileDescriptor.STORE_ID_LENGTH,
            MetaDescriptor.LENGTH}};

    private final Path directory;
    private final StoreKey.Options keyOptions;
    /** An encrypted store opened without its key: its names (encrypted) cannot be read, so are not checked. */
    private boolean namesHidden;
    private final List<String> problems = new ArrayList<>();
    private final List<String> notes = new ArrayList<>();
    private final Long2LongHashMap lastVersions = new Long2LongHashMap(NO_VERSION);
    /** Every event id in the log, and where: no id may appear twice, and the id table must hold each. */
    private final java.util.Map<java.util.UUID, Long> eventIds = new java.util.HashMap<>();
    private final RecordChecksum checksum = new RecordChecksum();
    private final PositionProbe probe = new PositionProbe();
    private long events;
    private long paddingRecords;
    /** Events checked in the log but not through the index: hidden by metadata, retention or a tombstone. */
    private long hiddenEvents;
    /** Events of shredded streams (known only with the key): checked in the log, unreadable through the index. */
    private long shreddedEvents;
    private long nameRecords;
    private long endPosition;
    private int segmentCount;
    private boolean liveWriter;
    private Stores.Meta meta;
    private ByteBuffer metaPage;
    private long durablePosition;
    private long indexCheckpoint;
    /** The start of the record the durable position falls inside, or -1. */
    private long durableInside = -1;
    /** The start of the record the index checkpoint falls inside, or -1. */
    private long checkpointInside = -1;
    /** True once the scan met a compacted segment. */
    private boolean compactedSeen;
    /** Segments 0 up to here had their headers checked by the scan. */
    private long scannedSegments;
    /** The highest segment present, or -1. */
    private long lastSegment = -1;

    /**
     * @param directory the store's directory.
     */
    public StoreVerifier(final Path directory)
    {
        this(directory, new StoreKey.Options());
    }

    /**
     * @param directory  the store's directory.
     * @param keyOptions {@code --key-file}: an encrypted store is verified with its payloads decrypted (each
     *                   event read through the index has its authentication tag checked), or without, as cipher
     *                   text (everything else is checked).
     */
    public StoreVerifier(final Path directory, final StoreKey.Options keyOptions)
    {
        this.directory = directory;
        this.keyOptions = keyOptions;
    }

    /**
     * Run every check.
     *
     * @return this, to read the results.
     */
    public StoreVerifier verify()
    {
        final Path dir = Stores.requireStore(directory);
        metaPage = Stores.readMetaPage(dir);
        meta = Stores.readMeta(dir);
        // a key file that holds no key, or one for a store that is not encrypted, is refused before any check; a
        // key the store refuses ends the command at its open (exit 3): neither is damage
        final StoreKey key = keyOptions.forStore(dir);
        if (meta.formatVersion() != MetaDescriptor.FORMAT_VERSION)
        {
            problem(MetaDescriptor.FILE_NAME + ": format version " + meta.formatVersion() + ", this build reads " +
                MetaDescriptor.FORMAT_VERSION);
            return this;
        }
        final int segmentLength = meta.segmentLength();
        if (Integer.bitCount(segmentLength) != 1 || segmentLength < Log.MIN_SEGMENT_LENGTH ||
            segmentLength > Log.MAX_SEGMENT_LENGTH || meta.indexCapacity() < 1 ||
            meta.indexCapacity() > StreamIndexDescriptor.MAX_CAPACITY)
        {
            problem(MetaDescriptor.FILE_NAME + ": impossible segment length " + segmentLength + " or index capacity " +
                meta.indexCapacity());
            return this;
        }
        // read before the tail below: a live writer moves them on, and never past the tail
        durablePosition = metaPage.getLong(MetaDescriptor.DURABLE_POSITION_OFFSET);
        indexCheckpoint = metaPage.getLong(MetaDescriptor.INDEX_CHECKPOINT_OFFSET);
        // a store marked closed cleanly has no writer; the lock probe is only for stores that may have one
        final Writers writers = meta.closedCleanly() ? Writers.NONE : Writers.of(dir);
        liveWriter = writers.anyLive();
        if (liveWriter)
        {
            final boolean one = writers.singleWriter() || writers.live().size() == 1;
            note((one ? "a writer (" : "writers (") + writers.describe() + ") " + (one ? "has" : "have") +
                " the store open: verifying what " + (one ? "it has" : "they have") + " committed so far");
        }
        else if (!meta.closedCleanly())
        {
            note("the store was not closed cleanly; opening it for writing once runs recovery, which repairs " +
                "unfinished records at the end of the log and rebuilds the index");
        }

        if (key.missing())
        {
            namesHidden = true;
            note("the store is encrypted and was opened without its master key (--key-file): payloads were not " +
                "decrypted, so their authentication tags were not checked; framing, CRC32C (over the cipher text), " +
                "versions and the index were");
        }
        else if (key.encrypted())
        {
            note("the store is encrypted: every event read through the index was decrypted with the master key " +
                "from --key-file, its authentication tag checked");
        }

        // the core's own check at open would refuse a damaged index outright; verify looks itself and says where
        try (VarveDB db = key.openReadOnly(key.apply(Stores.lookOnly(dir).verifyIndexOnOpen(false), true));
            SegmentFiles segments = new SegmentFiles(dir, segmentLength))
        {
            // a live writer's tail, read after the positions above, is at or past them, and the scan reaches it
            final long tail = liveWriter ? Stores.readMeta(dir).tailPosition() : meta.tailPosition();
            scanLog(db, segments, tail);
            checkMeta(dir, tail);
            checkIndexTable(dir, db);
            checkEventIdTable(dir);
        }
        catch (final IOException ex)
        {
            problem("I/O error: " + ex.getMessage());
        }
        catch (final VarveException ex)
        {
            problem("the store cannot be opened read-only: " + ex.getMessage());
        }
        if (problems.isEmpty())
        {
            // the core's check at open too: after a clean close it also compares the index with its seal, which
            // finds damage that agrees with itself
            try (VarveDB checked = key.openToLook(true))
            {
                checked.streamCount();
            }
            catch (final CorruptStoreException ex)
            {
                problem(ex.getMessage());
            }
        }
        return this;
    }

    // ------------------------------------------------------------------------------------------------- event ids

    /**
     * The event id table of a closed store against the log: every committed slot names an event of the log that
     * carries its id, and every id of the log is in a slot. A store open or not closed cleanly is skipped: its
     * writer keeps the table, or its next open rebuilds it.
     */
    private void checkEventIdTable(final Path dir) throws IOException
    {
        final Path path = dir.resolve(Stores.INDEX_DIRECTORY).resolve(EventIdTableDescriptor.FILE_NAME);
        if (liveWriter || !meta.closedCleanly() || !java.nio.file.Files.exists(path))
        {
            if (!eventIds.isEmpty())
            {
                note(Format.count(eventIds.size()) + " events carry an event id; the id table is checked only in a " +
                    "store closed cleanly (the next open of this one rebuilds it from the log)");
            }
            return;
        }
        try (java.nio.channels.FileChannel channel = java.nio.channels.FileChannel.open(path))
        {
            final ByteBuffer table = channel.map(java.nio.channels.FileChannel.MapMode.READ_ONLY, 0, channel.size())
                .order(java.nio.ByteOrder.LITTLE_ENDIAN);
            final int tableSize = table.getInt(EventIdTableDescriptor.TABLE_SIZE_OFFSET);
            if (table.getLong(EventIdTableDescriptor.MAGIC_OFFSET) != EventIdTableDescriptor.MAGIC ||
                Integer.bitCount(tableSize) != 1 || EventIdTableDescriptor.fileLength(tableSize) != channel.size())
            {
                problem("index/" + EventIdTableDescriptor.FILE_NAME + ": damaged header (magic or table size); the " +
                    "next writer's open rebuilds it from the log");
                return;
            }
            long committed = 0;
            if (table.getInt(EventIdTableDescriptor.ALLOCATED_OFFSET) != 0)
            {
                for (int slot = 0; slot < tableSize; slot++)
                {
                    final int offset = EventIdTableDescriptor.HEADER_LENGTH + slot * EventIdTableDescriptor.SLOT_LENGTH;
                    final long state = table.getLong(offset) & EventIdTableDescriptor.STATE_MASK;
                    if (state == EventIdTableDescriptor.PENDING)
                    {
                        problem("index/" + EventIdTableDescriptor.FILE_NAME + ": slot " + slot + " is pending in a " +
                            "store closed cleanly");
                    }
                    else if (state == EventIdTableDescriptor.COMMITTED)
                    {
                        committed++;
                        final java.util.UUID id = new java.util.UUID(
                            table.getLong(offset + EventIdTableDescriptor.ID_HIGH_OFFSET),
                            table.getLong(offset + EventIdTableDescriptor.ID_LOW_OFFSET));
                        final long position = table.getLong(offset + EventIdTableDescriptor.POSITION_OFFSET);
                        final Long inLog = eventIds.get(id);
                        if (inLog == null || inLog != position)
                        {
                            problem("index/" + EventIdTableDescriptor.FILE_NAME + ": slot " + slot + " says event id " +
                                id + " is at position " + Format.count(position) + ", but the log has it " +
                                (inLog == null ? "nowhere" : "at " + Format.count(inLog)));
                        }
                    }
                }
            }
            if (committed < eventIds.size())
            {
                problem("index/" + EventIdTableDescriptor.FILE_NAME + ": holds " + Format.count(committed) +
                    " event ids, the log " + Format.count(eventIds.size()) + ": a retry of a missing one would be " +
                    "written again; the next writer's open rebuilds the table if its seal no longer matches");
            }
        }
    }

    // ------------------------------------------------------------------------------------------------------- log

    private void scanLog(final VarveDB db, final SegmentFiles segments, final long tail) throws IOException
    {
        final int segmentLength = meta.segmentLength();
        final long[] listed = segmentIndexes(segments);
        segmentCount = listed.length + countUnlisted(segments, listed);
        lastSegment = listed.length == 0 ? -1 : listed[listed.length - 1];

        // a live writer may append faster than this scan reads: verify what was there when the scan began
        final long stopAt = liveWriter ? tail : Long.MAX_VALUE;
        long position = 0;
        while (position < stopAt)
        {
            final long segment = position / segmentLength;
            final MappedByteBuffer file = segments.map(segment);
            if (file == null)
            {
                break;
            }
            scannedSegments = segment + 1;
            if (!checkSegmentHeader(segments, segment, file))
            {
                position = (segment + 1) * segmentLength;
                continue;
            }
            final UnsafeBuffer buffer = new UnsafeBuffer(file);
            final long segmentEnd = (segment + 1) * segmentLength;
            if (SegmentDescriptor.isCompacted(buffer))
            {
                compactedSeen = true;
                checkCompacted(db, segments, new io.varvedb.internal.log.CompactedBuffer(file), segment);
                position = segmentEnd;
                continue;
            }
            boolean endOfLog = false;
            while (position < segmentEnd && position < stopAt)
            {
                final int offset = segments.fileOffset(position);
                final int frameLength = buffer.getIntVolatile(offset + FRAME_LENGTH_OFFSET);
                if (frameLength == 0)
                {
                    endOfLog = true;
                    break;
                }
                if (frameLength < 0)
                {
                    final int claimed = -frameLength;
                    if (liveWriter)
                    {
                        endOfLog = true;
                        break;
                    }
                    problem(where(segments, position) + ": unfinished record (" + claimed + " bytes claimed, never " +
                        "published)");
                    if (claimed < ALIGNMENT || position + alignedLength(claimed) > segmentEnd)
                    {
                        position = segmentEnd;
                        break;
                    }
                    passRecord(position, position + alignedLength(claimed));
                    position += alignedLength(claimed);
                    continue;
                }
                final long next = checkRecord(db, segments, buffer, position, offset, frameLength, segmentEnd);
                if (next < 0)
                {
                    // framing broken: nothing after it in this segment can be located
                    problem("cannot frame the rest of segment " + segment + " after " + where(segments, position) +
                        "; continuing with the next segment");
                    position = segmentEnd;
                    break;
                }
                passRecord(position, next);
                position = next;
            }
            if (endOfLog)
            {
                break;
            }
        }
        endPosition = position;
        checkEnd(segments, tail);
    }

    /**
     * A compacted segment: its map (checksum, sorted, inside the file), each kept record where the map puts it
     * (framing, checksum, stream and version as for any record), and no two kept records overlapping, in the
     * segment or in the file.
     */
    private void checkCompacted(
        final VarveDB db, final SegmentFiles segments, final io.varvedb.internal.log.CompactedBuffer buffer,
        final long segment)
    {
        final int segmentLength = meta.segmentLength();
        final String name = "log/" + segments.path(segment).getFileName();
        final String mapProblem = io.varvedb.internal.log.CompactedBuffer.mapProblem(buffer, segmentLength);
        if (mapProblem != null)
        {
            problem(name + ": compacted segment's position map is damaged: " + mapProblem + "; its records are " +
                "not checked");
            return;
        }
        final long base = segment * segmentLength;
        final long segmentEnd = base + segmentLength;
        for (int i = 0; i < buffer.entries(); i++)
        {
            final long position = base + buffer.dataOffsetAt(i);
            final int offset = buffer.fileOffsetAt(i);
            final int frameLength = buffer.getIntVolatile(offset + FRAME_LENGTH_OFFSET);
            final long dataEnd = i + 1 < buffer.entries() ? base + buffer.dataOffsetAt(i + 1) : segmentEnd;
            final int fileEnd = i + 1 < buffer.entries() ? buffer.fileOffsetAt(i + 1) : buffer.capacity();
            if (frameLength <= 0 || position + alignedLength(frameLength) > dataEnd ||
                offset + alignedLength(frameLength) > fileEnd)
            {
                problem(name + ": kept record " + i + " (log position " + Format.count(position) + ", file offset " +
                    offset + ") has frame length " + frameLength + ", overlapping the next or out of the file");
                continue;
            }
            if (buffer.getShort(offset + RECORD_TYPE_OFFSET) == TYPE_PADDING)
            {
                problem(name + ": kept record " + i + " (log position " + Format.count(position) + ") is padding");
                continue;
            }
            checkRecord(db, segments, buffer, position, offset, frameLength,
                Math.min(segmentEnd, position + (fileEnd - offset)));
        }
    }

    private void checkEnd(final SegmentFiles segments, final long tail) throws IOException
    {
        if (liveWriter)
        {
            return;
        }
        if (endPosition < tail)
        {
            problem("the log's records end at position " + Format.count(endPosition) + " but the tail counter in " +
                MetaDescriptor.FILE_NAME + " says " + Format.count(tail) + ": claimed space was never written");
        }
        else if (endPosition > tail)
        {
            problem("records continue to position " + Format.count(endPosition) + ", past the tail counter " +
                Format.count(tail) + " in " + MetaDescriptor.FILE_NAME);
        }
        // anything non-zero after the end would be data the log will never read: in the rest of the end's segment
        // and in every segment after it, all zeros (allocated zeros, or a hole the log has not grown into yet, which
        // reads as zeros), also when the end is a segment's boundary
        for (long segment = endPosition / meta.segmentLength(); segment <= lastSegment; segment++)
        {
            final MappedByteBuffer file = segments.map(segment);
            if (file == null || (segment >= scannedSegments && !checkSegmentHeader(segments, segment, file)))
            {
                // reported as missing, or its header as damaged
                continue;
            }
            final UnsafeBuffer buffer = new UnsafeBuffer(file);
            final int from = segment == endPosition / meta.segmentLength() ?
                segments.fileOffset(endPosition) : SegmentDescriptor.HEADER_LENGTH;
            for (int i = from; i < buffer.capacity(); i += Long.BYTES)
            {
                if (buffer.getLong(i) != 0)
                {
                    problem("non-zero bytes at file offset " + Format.count(i) + " of " +
                        segments.path(segment).getFileName() + ", after the end of the log");
                    break;
                }
            }
        }
    }

    /**
     * Segments the listing skipped that are there after all: a listing may miss a file renamed into the directory
     * while it runs, which is how a live writer adds its next segments. A segment is missing only if it is still
     * absent when looked up by name.
     *
     * @return how many segments below the highest listed one were found by name.
     */
    private int countUnlisted(final SegmentFiles segments, final long[] listed)
    {
        int found = 0;
        long expected = 0;
        for (final long index : listed)
        {
            for (; expected < index; expected++)
            {
                if (!Files.exists(segments.path(expected)))
                {
                    problem("segment " + expected + " (" + segments.path(expected).getFileName() + ") is missing; " +
                        "segments present: " + (listed.length + found));
                    return found;
                }
                found++;
            }
            expected = index + 1;
        }
        return found;
    }

    private long[] segmentIndexes(final SegmentFiles segments) throws IOException
    {
        final Path logDir = directory.toAbsolutePath().resolve(Stores.LOG_DIRECTORY);
        if (!Files.isDirectory(logDir))
        {
            return new long[0];
        }
        final TreeSet<Long> indexes = new TreeSet<>();
        try (Stream<Path> files = Files.list(logDir))
        {
            for (final Path file : (Iterable<Path>)files::iterator)
            {
                final String name = file.getFileName().toString();
                if (name.endsWith(".tmp"))
                {
                    continue;
                }
                final long base = parseSegmentName(name);
                if (base < 0 || base % meta.segmentLength() != 0)
                {
                    problem("unexpected file in log/: " + name);
                    continue;
                }
                final long size = Files.size(file);
                // a compacted segment has its map's and kept records' length, checked with its map
                if (size != SegmentDescriptor.HEADER_LENGTH + (long)meta.segmentLength() &&
                    !io.varvedb.internal.log.Log.isCompactedFile(file))
                {
                    problem("log/" + name + " is " + Format.count(size) + " bytes, expected " +
                        Format.count(SegmentDescriptor.HEADER_LENGTH + (long)meta.segmentLength()));
                }
                indexes.add(base / meta.segmentLength());
            }
        }
        return indexes.stream().mapToLong(Long::longValue).toArray();
    }

    private static long parseSegmentName(final String name)
    {
        if (name.length() != SegmentDescriptor.NAME_DIGITS + SegmentDescriptor.SUFFIX.length() ||
            !name.endsWith(SegmentDescriptor.SUFFIX))
        {
            return -1;
        }
        try
        {
            return Long.parseLong(name.substring(0, SegmentDescriptor.NAME_DIGITS));
        }
        catch (final NumberFormatException ex)
        {
            return -1;
        }
    }

    private boolean checkSegmentHeader(final SegmentFiles segments, final long segment, final MappedByteBuffer file)
    {
        final String name = "log/" + segments.path(segment).getFileName();
        final boolean compacted = SegmentDescriptor.isCompacted(new UnsafeBuffer(file));
        if (compacted ? file.capacity() < SegmentDescriptor.HEADER_LENGTH :
            file.capacity() != SegmentDescriptor.HEADER_LENGTH + meta.segmentLength())
        {
            problem(name + " has the wrong length; its records are not checked");
            return false;
        }
        final boolean ok = file.getLong(SegmentDescriptor.MAGIC_OFFSET) == SegmentDescriptor.MAGIC &&
            file.getInt(SegmentDescriptor.FORMAT_VERSION_OFFSET) == SegmentDescriptor.FORMAT_VERSION &&
            file.getInt(SegmentDescriptor.DATA_LENGTH_OFFSET) == meta.segmentLength() &&
            file.getLong(SegmentDescriptor.SEGMENT_INDEX_OFFSET) == segment &&
            file.getLong(SegmentDescriptor.BASE_POSITION_OFFSET) == segment * meta.segmentLength();
        if (!ok)
        {
            problem(name + ": bad segment header (magic, format version, data length, index or base position); " +
                "its records are not checked");
        }
        return ok;
    }

    /**
     * @return the next record's position, or -1 if this record's length cannot be trusted.
     */
    private long checkRecord(
        final VarveDB db,
        final SegmentFiles segments,
        final UnsafeBuffer buffer,
        final long position,
        final int offset,
        final int frameLength,
        final long segmentEnd)
    {
        final short type = buffer.getShort(offset + RECORD_TYPE_OFFSET);
        final long next = position + alignedLength(frameLength);
        if (next > segmentEnd || next < position)
        {
            problem(where(segments, position) + ": frame length " + frameLength + " runs past the segment's end");
            return -1;
        }
        if (type == TYPE_PADDING)
        {
            paddingRecords++;
            final String damage = Padding.damage(buffer, offset, frameLength, (int)(segmentEnd - position), checksum);
            if (damage != null)
            {
                // its length is what a reader skips by: once in doubt, so is everything after it in the segment
                problem(where(segments, position) + ": damaged " + damage);
                return -1;
            }
            return next;
        }
        if (type == TYPE_STREAM_NAME)
        {
            nameRecords++;
            final String damage = io.varvedb.internal.log.Log.frameDamage(buffer, offset, frameLength,
                (int)(segmentEnd - position), checksum);
            if (damage != null)
            {
                problem(where(segments, position) + ": " + damage);
                return -1;
            }
            // the name table must give the record's id the record's name (it may be rebuilt from the log)
            final long streamId = buffer.getLong(offset + STREAM_ID_OFFSET);
            final String name = buffer.getStringWithoutLengthUtf8(offset + NAME_OFFSET, frameLength - NAME_OFFSET);
            final String tableName = db.streamName(streamId);
            if (db.isEncrypted())
            {
                // the record holds the name encrypted; with the key, the table must know it
                if (!namesHidden && tableName == null)
                {
                    problem(where(segments, position) + ": the log names stream " + streamId + ", the name table " +
                        "has no name for it");
                }
            }
            else if (tableName != null && !tableName.equals(name))
            {
                problem(where(segments, position) + ": the log names stream " + streamId + " \"" + name +
                    "\", the name table \"" + tableName + "\"");
            }
            return next;
        }
        if (type != TYPE_EVENT)
        {
            problem(where(segments, position) + ": unknown record type " + type);
            return -1;
        }
        if (frameLength < minFrameLength(buffer.getShort(offset + FLAGS_OFFSET)))
        {
            problem(where(segments, position) + ": frame length " + frameLength + " is shorter than the header");
            return -1;
        }

        events++;
        final int stored = buffer.getInt(offset + CHECKSUM_OFFSET);
        final int computed = checksum.compute(buffer, offset + CHECKSUM_START, frameLength - CHECKSUM_START);
        final long streamId = buffer.getLong(offset + STREAM_ID_OFFSET);
        final long version = buffer.getLong(offset + VERSION_OFFSET);
        if (stored != computed)
        {
            problem(where(segments, position) + ": checksum mismatch (stored " + Format.hex(stored) + ", computed " +
                Format.hex(computed) + ") in the record of stream " + streamId + " version " + version);
        }
        if (streamId == 0 || (streamId < 0 && !namesHidden && db.streamName(streamId) == null))
        {
            problem(where(segments, position) + ": stream id " + streamId + (streamId == 0 ? " is 0" :
                " is negative, a named stream's, but no name has it"));
            return next;
        }
        final long previous = lastVersions.get(streamId);
        // a scavenger drops a prefix of a stream's versions: with compacted segments, its first may be any
        if (version != previous + 1 && !(previous == 0 && version > 1 && compactedSeen))
        {
            problem(where(segments, position) + ": stream " + streamId + " has version " + version + " after " +
                "version " + previous + " (versions must run 1, 2, 3... in log order)");
        }
        lastVersions.put(streamId, Math.max(previous, version));
        if (stored == computed && (buffer.getShort(offset + FLAGS_OFFSET) & FLAG_EVENT_ID) != 0)
        {
            final java.util.UUID id = new java.util.UUID(buffer.getLong(offset + EVENT_ID_HIGH_OFFSET),
                buffer.getLong(offset + EVENT_ID_LOW_OFFSET));
            final Long earlier = eventIds.put(id, position);
            if (earlier != null)
            {
                problem(where(segments, position) + ": event id " + id + " appears twice in the log, also at " +
                    "position " + Format.count(earlier) + " (an id is appended once)");
            }
        }
        if (stored == computed)
        {
            // a damaged record is already reported; reading it through the index would only fail again
            checkIndexed(db, segments, streamId, version, position);
        }
        return next;
    }

    private void checkIndexed(
        final VarveDB db, final SegmentFiles segments, final long streamId, final long version, final long position)
    {
        for (int attempt = 0; ; attempt++)
        {
            probe.position = -1;
            try
            {
                db.readStream(streamId, version, 1, probe);
            }
            catch (final StreamDeletedException ex)
            {
                // a tombstoned stream cannot be read: its records are checked in the log, not through the index
                hiddenEvents++;
                return;
            }
            catch (final StreamShreddedException ex)
            {
                // nor a shredded one (its data key is destroyed): the scan checked its records' framing and CRC
                shreddedEvents++;
                return;
            }
            catch (final VarveException ex)
            {
                problem(where(segments, position) + ": reading stream " + streamId + " version " + version +
                    " through the index fails: " + ex.getMessage());
                return;
            }
            if (probe.position == position)
            {
                return;
            }
            if (hidden(db, streamId, version))
            {
                return;
            }
            // a live writer publishes the record before its index entry: give it a moment
            if (!liveWriter || attempt == INDEX_RETRIES)
            {
                problem(where(segments, position) + ": the index " + (probe.position < 0 ?
                    "has no entry for stream " + streamId + " version " + version :
                    "puts stream " + streamId + " version " + version + " at position " +
                        Format.count(probe.position)));
                return;
            }
            pause();
        }
    }

    /**
     * A version that stream metadata (max count, max age, truncate before, a soft delete), retention or a tombstone
     * hides: reads through the index skip it, so it cannot be looked up there; a scavenge will drop it.
     */
    private boolean hidden(final VarveDB db, final long streamId, final long version)
    {
        try
        {
            if (db.isTombstoned(streamId) || version < db.firstVisibleVersion(streamId))
            {
                hiddenEvents++;
                return true;
            }
            return false;
        }
        catch (final VarveException ex)
        {
            return false;
        }
    }

    // ------------------------------------------------------------------------------------------------------ meta

    /**
     * Note the record {@code [start, end)} the scan passed: the durable position and the index checkpoint must
     * each be a record boundary, never inside one.
     */
    private void passRecord(final long start, final long end)
    {
        if (start < durablePosition && durablePosition < end)
        {
            durableInside = start;
        }
        if (start < indexCheckpoint && indexCheckpoint < end)
        {
            checkpointInside = start;
        }
    }

    /**
     * Every field of {@code varve.meta} that the checks before have not covered (magic, format version, segment
     * length and index capacity), against the log the scan found. The boot id is not checked: any value is one.
     *
     * @param tail the tail position; a live writer's, read after the durable position and checkpoint.
     */
    private void checkMeta(final Path dir, final long tail) throws IOException
    {
        final String name = MetaDescriptor.FILE_NAME + ": ";
        final long size = Files.size(dir.resolve(MetaDescriptor.FILE_NAME));
        if (size != MetaDescriptor.LENGTH)
        {
            problem(name + "the file is " + Format.count(size) + " bytes, expected " + MetaDescriptor.LENGTH);
        }

        final int state = metaPage.getInt(MetaDescriptor.CLEAN_SHUTDOWN_OFFSET);
        if (state != MetaDescriptor.CLEAN && state != MetaDescriptor.DIRTY)
        {
            problem(name + "open state " + state + " (offset " + MetaDescriptor.CLEAN_SHUTDOWN_OFFSET + ") is " +
                "neither " + MetaDescriptor.CLEAN + " (closed cleanly) nor " + MetaDescriptor.DIRTY +
                " (open, or not closed cleanly)");
        }

        final long created = metaPage.getLong(MetaDescriptor.CREATED_OFFSET);
        if (created <= 0 || created > System.currentTimeMillis() + CLOCK_SKEW_MS)
        {
            problem(name + "creation time " + created + " (offset " + MetaDescriptor.CREATED_OFFSET + ", " +
                Instant.ofEpochMilli(created) + ") is " + (created <= 0 ? "not after 1970-01-01" : "in the future"));
        }

        if (tail < 0 || tail % ALIGNMENT != 0)
        {
            problem(name + "tail position " + Format.count(tail) + " (offset " + MetaDescriptor.TAIL_POSITION_OFFSET +
                ") is " + (tail < 0 ? "negative" : "not a multiple of " + ALIGNMENT + ", so not a record boundary"));
        }
        checkPosition(name + "durable position", MetaDescriptor.DURABLE_POSITION_OFFSET, durablePosition,
            durableInside, tail);
        checkPosition(name + "index checkpoint", MetaDescriptor.INDEX_CHECKPOINT_OFFSET, indexCheckpoint,
            checkpointInside, tail);
        if (state == MetaDescriptor.CLEAN)
        {
            // a clean close forces the log and the index, then records the tail as both
            checkTailAtCleanClose(name + "durable position", MetaDescriptor.DURABLE_POSITION_OFFSET, durablePosition,
                tail);
            checkTailAtCleanClose(name + "index checkpoint", MetaDescriptor.INDEX_CHECKPOINT_OFFSET, indexCheckpoint,
                tail);
        }

        final int mode = metaPage.getInt(MetaDescriptor.WRITER_DURABILITY_OFFSET);
        final Durability[] modes = Durability.values();
        if (mode < 0 || mode > modes.length)
        {
            final StringBuilder known = new StringBuilder("0 (none recorded)");
            for (final Durability durability : modes)
            {
                known.append(", ").append(durability.ordinal() + 1).append(" (").append(durability).append(')');
            }
            problem(name + "writer durability " + mode + " (offset " + MetaDescriptor.WRITER_DURABILITY_OFFSET +
                ") is none of " + known);
        }

        // once a flag that older builds of format 1 set to 1; written 0 since
        final int formerFlag = metaPage.getInt(MetaDescriptor.CHECKPOINT_FORCED_OFFSET);
        if (formerFlag != 0 && formerFlag != 1)
        {
            problem(name + "reserved word at offset " + MetaDescriptor.CHECKPOINT_FORCED_OFFSET + " is " +
                formerFlag + ", expected 0 (or 1 from an older build)");
        }
        final long logStart = metaPage.getLong(MetaDescriptor.LOG_START_OFFSET);
        if (logStart < 0 || logStart % meta.segmentLength() != 0 || logStart > tail)
        {
            problem(name + "log start " + Format.count(logStart) + " (offset " + MetaDescriptor.LOG_START_OFFSET +
                ") is not a segment boundary from 0 to the tail position " + Format.count(tail));
        }
        final int namesMade = metaPage.getInt(MetaDescriptor.NAMES_MADE_OFFSET);
        if (namesMade != 0 && namesMade != 1)
        {
            problem(name + "names-made flag " + namesMade + " (offset " + MetaDescriptor.NAMES_MADE_OFFSET +
                ") is neither 0 nor 1");
        }
        checkEncryptedFlag(dir, name);
        for (final int[] span : RESERVED)
        {
            for (int offset = span[0]; offset < span[1]; offset++)
            {
                if (metaPage.get(offset) != 0)
                {
                    problem(name + "reserved byte at offset " + offset + " is " +
                        String.format(Locale.ROOT, "0x%02x", metaPage.get(offset) & 0xff) +
                        ", expected 0");
                    break;
                }
            }
        }
    }

    /**
     * The encrypted flag is 0 or 1, and agrees with the key file: an encrypted store whose key file is gone can
     * never be decrypted, and only a store created encrypted has one.
     */
    /** @return the store id of its key file, as varve.meta records it. */
    private byte[] keyFileId()
    {
        final byte[] id = new byte[io.varvedb.internal.crypto.KeyFileDescriptor.STORE_ID_LENGTH];
        metaPage.get(MetaDescriptor.KEY_FILE_ID_OFFSET, id);
        return id;
    }

    private void checkEncryptedFlag(final Path dir, final String name)
    {
        final int encrypted = metaPage.getInt(MetaDescriptor.ENCRYPTED_OFFSET);
        final boolean keyFile = io.varvedb.internal.crypto.KeyFile.exists(dir);
        if (encrypted != 0 && encrypted != 1)
        {
            problem(name + "encrypted flag " + encrypted + " (offset " + MetaDescriptor.ENCRYPTED_OFFSET +
                ") is neither 0 nor 1");
        }
        else if (encrypted == 1 && !keyFile)
        {
            problem(io.varvedb.internal.crypto.KeyFileDescriptor.FILE_NAME + " is missing, and " +
                MetaDescriptor.FILE_NAME + " says the store is encrypted: without its data keys no payload can " +
                "ever be decrypted; restore the file from a backup");
        }
        else if (encrypted == 1 && io.varvedb.internal.crypto.KeyFile.storeIdOf(dir) != null &&
            !java.util.Arrays.equals(io.varvedb.internal.crypto.KeyFile.storeIdOf(dir), keyFileId()))
        {
            problem(io.varvedb.internal.crypto.KeyFileDescriptor.FILE_NAME + " is another store's key file: its store " +
                "id is not the one " + MetaDescriptor.FILE_NAME + " records (offset " +
                MetaDescriptor.KEY_FILE_ID_OFFSET + "); restore this store's own key file");
        }
        else if (encrypted == 0 && !java.util.Arrays.equals(new byte[io.varvedb.internal.crypto.KeyFileDescriptor
            .STORE_ID_LENGTH], keyFileId()))
        {
            problem(name + "key file id (offset " + MetaDescriptor.KEY_FILE_ID_OFFSET + ") is set in a store that " +
                "is not encrypted");
        }
        else if (encrypted == 0 && keyFile)
        {
            problem(name + "encrypted flag 0 (offset " + MetaDescriptor.ENCRYPTED_OFFSET + "), but the store has a " +
                "key file (" + io.varvedb.internal.crypto.KeyFileDescriptor.FILE_NAME + "): a store is encrypted " +
                "from its creation, which writes both");
        }
    }

    private void checkTailAtCleanClose(final String field, final int offset, final long position, final long tail)
    {
        if (position != tail)
        {
            problem(field + " " + Format.count(position) + " (offset " + offset + ") is not the tail position " +
                Format.count(tail) + ", though the store was closed cleanly, which makes them equal");
        }
    }

    /**
     * A position the meta file vouches for: every record below it is whole, so it must be a record boundary
     * within the log.
     */
    private void checkPosition(
        final String field, final int offset, final long position, final long insideRecord, final long tail)
    {
        final String what = field + " " + Format.count(position) + " (offset " + offset + ")";
        if (position < 0)
        {
            problem(what + " is negative");
        }
        else if (position > tail)
        {
            problem(what + " is beyond the tail position " + Format.count(tail) + ": it vouches for log space " +
                "never claimed");
        }
        else if (position % ALIGNMENT != 0)
        {
            problem(what + " is not a multiple of " + ALIGNMENT + ", so not a record boundary");
        }
        else if (position > endPosition)
        {
            problem(what + " is beyond the end of the log's records at " + Format.count(endPosition));
        }
        else if (insideRecord >= 0)
        {
            problem(what + " falls inside the record at position " + Format.count(insideRecord) +
                ", not on a record boundary");
        }
    }

    // ----------------------------------------------------------------------------------------------------- index

    private void checkIndexTable(final Path dir, final VarveDB db) throws IOException
    {
        final Path path = dir.resolve(Stores.INDEX_DIRECTORY).resolve(StreamIndexDescriptor.FILE_NAME);
        if (!Files.exists(path))
        {
            problem("the stream index " + path + " is missing");
            return;
        }
        final MappedByteBuffer mapped;
        try (FileChannel channel = FileChannel.open(path, StandardOpenOption.READ))
        {
            mapped = channel.map(FileChannel.MapMode.READ_ONLY, 0, channel.size());
        }
        mapped.order(ByteOrder.LITTLE_ENDIAN);
        try
        {
            checkIndexTable(path, new UnsafeBuffer(mapped), db);
        }
        finally
        {
            // unmapped now, not when the collector finds the buffer; nothing below keeps the table
            IoUtil.unmap(mapped);
        }
    }

    private void checkIndexTable(final Path path, final UnsafeBuffer table, final VarveDB db)
    {
        if (table.capacity() < StreamIndexDescriptor.HEADER_LENGTH ||
            table.getLong(StreamIndexDescriptor.MAGIC_OFFSET) != StreamIndexDescriptor.MAGIC)
        {
            problem(path + " is not a VarveDB stream index");
            return;
        }
        final int capacity = table.getInt(StreamIndexDescriptor.CAPACITY_OFFSET);
        if (capacity != meta.indexCapacity())
        {
            problem(MetaDescriptor.FILE_NAME + ": index capacity " + Format.count(meta.indexCapacity()) + " (offset " +
                MetaDescriptor.INDEX_CAPACITY_OFFSET + "), but the stream index was made for " +
                Format.count(capacity) + " streams");
        }
        if (lastVersions.size() > meta.indexCapacity())
        {
            problem("the log holds " + Format.count(lastVersions.size()) + " streams, more than the index capacity " +
                Format.count(meta.indexCapacity()) + " in " + MetaDescriptor.FILE_NAME);
        }
        final int tableSize = table.getInt(StreamIndexDescriptor.TABLE_SIZE_OFFSET);
        if (tableSize <= 0 || StreamIndexDescriptor.fileLength(tableSize) != table.capacity())
        {
            problem(path + ": header says " + tableSize + " slots but the file is " + table.capacity() + " bytes");
            return;
        }

        final int unitLength = table.getInt(StreamIndexDescriptor.UNIT_LENGTH_OFFSET);
        if (unitLength != StreamIndexDescriptor.unitLength(tableSize))
        {
            problem(path + ": header says allocation units of " + unitLength + " bytes, a table of " + tableSize +
                " slots has " + StreamIndexDescriptor.unitLength(tableSize));
            return;
        }
        long indexedStreams = 0;
        for (int slot = 0; slot < tableSize; slot++)
        {
            final int offset = StreamIndexDescriptor.HEADER_LENGTH + slot * StreamIndexDescriptor.SLOT_LENGTH;
            final int unit = offset / unitLength;
            if ((table.getLongVolatile(StreamIndexDescriptor.UNIT_BITMAP_OFFSET + (unit >>> 6) * Long.BYTES) &
                (1L << unit)) == 0)
            {
                // a unit never allocated is free throughout, and a hole: not read (on tmpfs a read would allocate)
                slot = (int)(((long)(unit + 1) * unitLength - StreamIndexDescriptor.HEADER_LENGTH) /
                    StreamIndexDescriptor.SLOT_LENGTH) - 1;
                continue;
            }
            final long streamId = table.getLongVolatile(offset + StreamIndexDescriptor.SLOT_STREAM_ID_OFFSET);
            if (streamId == 0)
            {
                continue;
            }
            indexedStreams++;
            final long indexVersion = StreamIndexDescriptor.committedVersion(
                table.getLongVolatile(offset + StreamIndexDescriptor.SLOT_STATE_OFFSET));
            final long logVersion = lastVersions.get(streamId);
            if ((liveWriter ? indexVersion < logVersion : indexVersion != logVersion) &&
                !(logVersion < indexVersion && scavengedAway(db, streamId, indexVersion)))
            {
                problem("stream " + streamId + ": the index says version " + Format.count(indexVersion) +
                    ", the log holds versions up to " + Format.count(logVersion));
            }
        }
        if (!liveWriter)
        {
            final Long2LongHashMap.KeyIterator streams = lastVersions.keySet().iterator();
            while (streams.hasNext())
            {
                final long streamId = streams.nextValue();
                if (!inIndex(db, streamId))
                {
                    problem("stream " + streamId + " is in the log but not in the index");
                }
            }
            final long counted = table.getLongVolatile(StreamIndexDescriptor.STREAM_COUNT_OFFSET);
            if (counted != indexedStreams)
            {
                problem("the index header counts " + counted + " streams, its table holds " + indexedStreams);
            }
        }
    }

    /**
     * @return true if the log may lack the stream's versions after {@code logVersion} because a scavenge dropped
     * them: every version up to the index's is hidden (a soft-deleted stream, or one wholly below the log start or
     * past its limits), and a scavenge drops nothing a stream still shows.
     */
    private static boolean scavengedAway(final VarveDB db, final long streamId, final long indexVersion)
    {
        try
        {
            return db.firstVisibleVersion(streamId) > indexVersion;
        }
        catch (final VarveException ex)
        {
            return false;
        }
    }

    /**
     * @return true if the index has the stream (a tombstoned one too, which cannot be read).
     */
    private static boolean inIndex(final VarveDB db, final long streamId)
    {
        try
        {
            return db.streamVersion(streamId) != 0;
        }
        catch (final StreamDeletedException ex)
        {
            return true;
        }
    }

    // --------------------------------------------------------------------------------------------------- results

    private String where(final SegmentFiles segments, final long position)
    {
        return "position " + Format.count(position) + " (log/" +
            segments.path(segments.segmentOf(position)).getFileName() + " offset " +
            Format.count(segments.fileOffset(position)) + ")";
    }

    private void problem(final String text)
    {
        problems.add(text);
    }

    private void note(final String text)
    {
        notes.add(text);
    }

    private static void pause()
    {
        try
        {
            TimeUnit.MILLISECONDS.sleep(INDEX_RETRY_PAUSE_MS);
        }
        catch (final InterruptedException ex)
        {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * @return what is wrong, one line each; empty when the store is sound.
     */
    public List<String> problems()
    {
        return problems;
    }

    /**
     * @return remarks that are not damage (a live writer, a store awaiting recovery).
     */
    public List<String> notes()
    {
        return notes;
    }

    /**
     * @return event records read.
     */
    public long events()
    {
        return events;
    }

    /**
     * @return stream name records read.
     */
    public long nameRecords()
    {
        return nameRecords;
    }

    /**
     * @return padding records walked.
     */
    public long paddingRecords()
    {
        return paddingRecords;
    }

    /**
     * @return events of shredded streams (found only with the master key): their records were checked in the log,
     * but their data keys are destroyed, so they were not read through the index.
     */
    public long shreddedEvents()
    {
        return shreddedEvents;
    }

    /**
     * @return events whose records were checked in the log but that reads through the index no longer show
     * (hidden by stream metadata, retention or a tombstone), so not looked up there.
     */
    public long hiddenEvents()
    {
        return hiddenEvents;
    }

    /**
     * @return distinct streams in the log.
     */
    public int streams()
    {
        return lastVersions.size();
    }

    /**
     * @return segment files present.
     */
    public int segments()
    {
        return segmentCount;
    }

    /**
     * @return where the scan of the log ended.
     */
    public long endPosition()
    {
        return endPosition;
    }

    /**
     * @return true if a live process had the store open for writing.
     */
    public boolean liveWriter()
    {
        return liveWriter;
    }

    /**
     * @return the store's meta page, once {@link #verify()} has read it.
     */
    public Stores.Meta meta()
    {
        return meta;
    }

    /**
     * Remembers the position of the event {@link VarveDB#readStream} delivers.
     */
    private static final class PositionProbe implements EventHandler
    {
        private long position;

        @Override
        public void onEvent(final RecordedEvent event)
        {
            position = event.position();
        }
    }
}
