package io.varvedb.internal.store;

import io.varvedb.CorruptStoreException;
import io.varvedb.StoreFormatException;
import io.varvedb.StoreIOException;
import io.varvedb.internal.index.NameTable;
import io.varvedb.internal.index.NameTableDescriptor;
import io.varvedb.internal.index.StreamIndex;
import io.varvedb.internal.io.ForceObserver;
import io.varvedb.internal.io.MappedFile;
import io.varvedb.internal.log.Log;
import io.varvedb.internal.log.RecordDescriptor;
import io.varvedb.internal.log.RecordStarts;
import io.varvedb.internal.log.SegmentDescriptor;
import io.varvedb.internal.process.LockFile;
import org.agrona.concurrent.UnsafeBuffer;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;

/**
 * What a writer's open does when no other writer has the store open (always in single-process mode; the first
 * opener in multi-process mode): open, check, or rebuild the stream index, and recover the log after a crash, from
 * the index checkpoint (same boot) or from the start (after a reboot, or when the index cannot be trusted); then
 * make the store ready for appends (allocation from the tail, the dirty mark). A writer that joins a running store
 * never does any of it.
 */
public final class OpenRecovery
{
    private static final int BOUNDARY = 0;
    private static final int INSIDE = 1;
    private static final int UNKNOWN = 2;

    private final MappedFile meta;
    private final Log log;
    private final RecordStarts recordStarts;
    private final boolean verifyIndex;
    /** The name table, recovered along with the log; null for none. */
    private NameTable names;
    private StreamIndex index;
    private io.varvedb.internal.index.EventIdTable eventIds;
    private boolean eventIdsRebuilt;
    private boolean openedCleanly;
    private Recovery.Result recovery;
    private long committedAtOpen;

    private OpenRecovery(final MappedFile meta, final Log log, final RecordStarts recordStarts,
        final boolean verifyIndex)
    {
        this.meta = meta;
        this.log = log;
        this.recordStarts = recordStarts;
        this.verifyIndex = verifyIndex;
    }

    /**
     * Open the index and recover the store, as its only writer.
     *
     * @param meta               the meta file.
     * @param log                the log.
     * @param recordStarts       the log's record-start checker.
     * @param checkpoints        the processors' checkpoints (pulled back after a power cut).
     * @param indexDirectory     the {@code index/} directory.
     * @param capacity           the store's index capacity.
     * @param blocksPerChunk     index blocks per chunk file, for a new index.
     * @param verifyIndex        check the index against the log at open.
     * @param observer           sees files created and forced.
     * @param sharedWith         multi-process mode: the lock file the index allocates under; else null.
     * @param durabilityOrdinal  the writer's durability mode, recorded for read-only processes.
     * @param names              the name table, checked and brought in line with the log (its owner closes it);
     *                           null for none.
     * @return the outcome; its index is open (and closed again if this throws).
     */
    public static OpenRecovery run(
        final MappedFile meta, final Log log, final RecordStarts recordStarts, final CheckpointStore checkpoints,
        final Path indexDirectory, final int capacity, final int blocksPerChunk, final boolean verifyIndex,
        final ForceObserver observer, final LockFile sharedWith, final int durabilityOrdinal,
        final int eventIdCapacity, final NameTable names) throws IOException
    {
        final OpenRecovery open = new OpenRecovery(meta, log, recordStarts, verifyIndex);
        open.names = names;
        try
        {
            open.recover(checkpoints, indexDirectory, capacity, blocksPerChunk, observer, sharedWith,
                durabilityOrdinal, eventIdCapacity);
            return open;
        }
        catch (final Throwable ex)
        {
            if (open.index != null)
            {
                open.index.close();
            }
            if (open.eventIds != null)
            {
                open.eventIds.close();
            }
            throw ex;
        }
    }

    private void recover(
        final CheckpointStore checkpoints, final Path indexDirectory, final int capacity, final int blocksPerChunk,
        final ForceObserver observer, final LockFile sharedWith, final int durabilityOrdinal,
        final int eventIdCapacity) throws IOException
    {
        final UnsafeBuffer metaBuffer = meta.buffer();
        StreamIndex existing = null;
        if (StreamIndex.exists(indexDirectory))
        {
            // a newer build's index is not ours to rebuild over; any other damage to it is
            StreamIndex.refuseNewerFormat(indexDirectory);
            try
            {
                existing = StreamIndex.open(indexDirectory, false, observer);
            }
            catch (final CorruptStoreException | StoreFormatException | StoreIOException ex)
            {
                // an index of the wrong shape, a damaged header, a truncated file: it is derived from the
                // log, so rebuild it (a file system that refuses will refuse the new one just as clearly);
                // the checkpoint is dropped below, before the new index is created
                deleteIndexFiles(indexDirectory);
            }
        }
        if (existing == null)
        {
            // a new, empty index must never pass for the one the checkpoint vouched for, should this
            // process die before the rebuild is done
            invalidateCheckpoint(meta);
        }
        index = existing != null ? existing : StreamIndex.create(indexDirectory, capacity, blocksPerChunk, observer);
        if (sharedWith != null)
        {
            index.shareWith(sharedWith);
        }
        // after the index, whose damage may have emptied the directory
        final EventIdRecovery.Opened ids = EventIdRecovery.open(indexDirectory, eventIdCapacity, observer);
        eventIds = ids.table();
        if (sharedWith != null)
        {
            eventIds.shareWith(sharedWith);
        }
        final long tail = log.tail();
        final long bootId = BootId.current();
        final boolean indexUsable = existing != null && index.chunksPresent();
        // a durable position beyond the tail is damage to varve.meta: then nothing it says is trusted, and
        // the open recovers from the log, which sets the durable position from what the log holds
        openedCleanly = indexUsable &&
            metaBuffer.getInt(MetaDescriptor.CLEAN_SHUTDOWN_OFFSET) == MetaDescriptor.CLEAN &&
            index.indexedPosition() == tail &&
            metaBuffer.getLong(MetaDescriptor.DURABLE_POSITION_OFFSET) == durableWithinTail(metaBuffer, log);
        if (openedCleanly)
        {
            checkSegmentsPresent(log, tail);
            // a slot damaged on disk would misreport its stream: rebuild the index from the log instead
            recovery = indexAgrees(tail) ? null : rebuildIndex(durableWithinTail(metaBuffer, log), false);
            if (names != null)
            {
                names.recover(log, recovery == null, recovery != null);
            }
        }
        else
        {
            // the index image is whole only in the page cache of the boot that wrote it: after a reboot
            // (perhaps a power cut, or a platform that cannot tell) it is rebuilt from the log
            final boolean afterPowerCut =
                bootId == 0 || bootId != metaBuffer.getLong(MetaDescriptor.BOOT_ID_OFFSET);
            // A checkpoint that is not a record boundary within the tail (a flipped bit in it, or in the
            // tail) is damage, not a place to recover from: recovering from inside a record would take the
            // record's middle for a torn end and destroy it. Then the whole log is recovered.
            final long metaCheckpoint = metaBuffer.getLong(MetaDescriptor.INDEX_CHECKPOINT_OFFSET);
            final long checkpoint = indexUsable && !afterPowerCut &&
                recordBoundary(metaCheckpoint, tail) == BOUNDARY ? metaCheckpoint : 0;
            // the durable position bounds what recovery may drop: no further than the tail, and not at all
            // if it lies inside a record (damaged), rather than refuse a sound log for a bad promise; damage
            // before it is no reason to doubt it, and recovery refuses that damage
            final long durableWithinTail = durableWithinTail(metaBuffer, log);
            final long durable = recordBoundary(durableWithinTail, tail) == INSIDE ? 0 : durableWithinTail;
            // recovery changes the index: a seal from an earlier clean close no longer vouches for it
            index.unseal();
            final Recovery.Result recovered = Recovery.recover(log, index, checkpoint, durable, afterPowerCut,
                () -> invalidateCheckpoint(meta), names == null ? null : names::recordSeen);
            // an incremental recovery trusted the index below its checkpoint: check that it may
            recovery = recovered.scannedFrom() == 0 || indexAgrees(log.tail()) ? recovered :
                rebuildIndex(durable, afterPowerCut);
            if (names != null)
            {
                // the table is derived from the log: its damage, and names a power cut took from the log, go here
                names.recover(log, false, recovery.scannedFrom() == 0);
            }
            metaBuffer.putLongVolatile(MetaDescriptor.DURABLE_POSITION_OFFSET, Math.min(durable, recovery.end()));
            // processors that saw more of the log than a power cut left must not skip what comes next
            checkpoints.pullBackTo(recovery.end());
            metaBuffer.putLongVolatile(MetaDescriptor.INDEX_CHECKPOINT_OFFSET, Math.min(checkpoint, recovery.end()));
        }
        // the log is recovered: the event id table follows it
        eventIdsRebuilt = EventIdRecovery.recover(ids, log, recovery == null,
            recovery == null ? 0 : recovery.scannedFrom());
        // the checks of varve.meta's positions walked records that recovery may since have changed
        recordStarts.forget();
        committedAtOpen = log.tail();
        // an incremental recovery read only what follows its checkpoint: the segments before it are there too
        checkSegmentsPresent(log, committedAtOpen);
        log.creatableFrom(log.segmentOf(committedAtOpen));
        log.allocatedFrom(committedAtOpen);
        index.allocatedFromCount();

        // from here until a clean close the index may run ahead of what is forced to disk
        index.indexedPosition(-1);
        index.unseal();
        // no creation is in flight now: reservations a killed process held (or an older build never
        // counted) are not left to shrink the capacity
        index.settleReservations();
        metaBuffer.putLongVolatile(MetaDescriptor.BOOT_ID_OFFSET, bootId);
        metaBuffer.putIntVolatile(MetaDescriptor.WRITER_DURABILITY_OFFSET, durabilityOrdinal + 1);
        metaBuffer.putIntVolatile(MetaDescriptor.CLEAN_SHUTDOWN_OFFSET, MetaDescriptor.DIRTY);
    }

    /**
     * @return the stream index, open for writing.
     */
    public StreamIndex index()
    {
        return index;
    }

    /**
     * @return true if the open made the event id table again from the whole log.
     */
    public boolean eventIdsRebuilt()
    {
        return eventIdsRebuilt;
    }

    /**
     * @return the event id table, open for writing.
     */
    public io.varvedb.internal.index.EventIdTable eventIds()
    {
        return eventIds;
    }

    /**
     * @return true if the store was closed cleanly and its index trusted as it was.
     */
    public boolean openedCleanly()
    {
        return openedCleanly;
    }

    /**
     * @return what recovery found, or null if nothing was recovered.
     */
    public Recovery.Result recovery()
    {
        return recovery;
    }

    /**
     * @return the tail after recovery: every record below it is whole and published.
     */
    public long committedAtOpen()
    {
        return committedAtOpen;
    }

    private static boolean onRecordGrid(final long position)
    {
        return position >= 0 && (position & (RecordDescriptor.ALIGNMENT - 1)) == 0;
    }

    /**
     * @return {@link #BOUNDARY} if {@code position} is 0, the tail or a record start below it, as a walk over the
     * records finds; {@link #INSIDE} if it is not (off the record grid, past the tail, inside a record);
     * {@link #UNKNOWN} if damage before it stopped the walk.
     */
    private int recordBoundary(final long position, final long tail)
    {
        if (position == 0 || position == tail)
        {
            return BOUNDARY;
        }
        if (!onRecordGrid(position) || position > tail)
        {
            return INSIDE;
        }
        try
        {
            return recordStarts.check(position) == RecordStarts.RECORD_START ? BOUNDARY : INSIDE;
        }
        catch (final CorruptStoreException | IllegalStateException ex)
        {
            return UNKNOWN;
        }
    }

    /**
     * @param meta the meta file's buffer.
     * @param log  the log.
     * @return the durable position as varve.meta tells it now (a live writer moves it), within [0, tail]: one
     * beyond the tail, or negative, is damage to varve.meta, never a promise.
     */
    public static long durableWithinTail(final UnsafeBuffer meta, final Log log)
    {
        return Math.max(0, Math.min(meta.getLongVolatile(MetaDescriptor.DURABLE_POSITION_OFFSET), log.tail()));
    }

    /**
     * Refuse a log whose segment files below {@code tail} are missing or of the wrong length.
     *
     * @param log  the log.
     * @param tail the log's end.
     * @throws CorruptStoreException naming the first such segment.
     */
    public static void checkSegmentsPresent(final Log log, final long tail)
    {
        final long segments = tail == 0 ? 0 : log.segmentOf(tail - 1) + 1;
        final long expectedLength = (long)SegmentDescriptor.HEADER_LENGTH + log.segmentLength();
        for (long segment = 0; segment < segments; segment++)
        {
            final Path path = log.segmentPath(segment);
            try
            {
                // a compacted segment has the length of its map and kept records (its own check is at mapping)
                if (!Files.exists(path) || Files.size(path) != expectedLength &&
                    !Log.isCompactedFile(path))
                {
                    throw new CorruptStoreException("log segment " + path + " is " +
                        (Files.exists(path) ? Files.size(path) + " bytes, expected " + expectedLength : "missing") +
                        "; the log holds events up to position " + tail + "; refusing to open");
                }
            }
            catch (final IOException ex)
            {
                throw new StoreIOException("cannot read " + path + ": " + ex.getMessage(), ex);
            }
        }
    }

    /**
     * @param tail the log's end.
     * @return true if the writer's open check is off or finds the index in agreement with the log.
     */
    private boolean indexAgrees(final long tail)
    {
        return !verifyIndex || IndexCheck.verify(log, index, tail, true) == null;
    }

    /**
     * Rebuild the index from the whole log, dropping the checkpoint durably first.
     *
     * @param durable       the log below it was forced: damage there is refused, never truncated.
     * @param afterPowerCut keep the longest whole prefix beyond the durable position.
     * @return what the rebuild found.
     */
    private Recovery.Result rebuildIndex(final long durable, final boolean afterPowerCut)
    {
        return Recovery.recover(log, index, 0, durable, afterPowerCut, () -> invalidateCheckpoint(meta),
            names == null ? null : names::recordSeen);
    }

    /**
     * The open check of a read-only store: as strict as a writer's while the store is closed cleanly (nobody
     * appends), the live checks otherwise. A writer that opens meanwhile marks the store dirty before it changes
     * anything, so damage seen by the strict check counts only if the store is still closed cleanly after it.
     *
     * @param meta  the meta file's buffer.
     * @param log   the log.
     * @param index the index, read-only.
     * @return null if the index agrees with the log, else what is wrong.
     */
    public static String checkReadOnlyIndex(final UnsafeBuffer meta, final Log log, final StreamIndex index)
    {
        if (meta.getIntVolatile(MetaDescriptor.CLEAN_SHUTDOWN_OFFSET) == MetaDescriptor.CLEAN)
        {
            final String damage = IndexCheck.verify(log, index, log.tail(), true);
            if (damage == null || meta.getIntVolatile(MetaDescriptor.CLEAN_SHUTDOWN_OFFSET) == MetaDescriptor.CLEAN)
            {
                return damage;
            }
        }
        return IndexCheck.verify(log, index, log.tail(), false);
    }

    /**
     * Before the index is emptied to be rebuilt from the log: make sure, on disk, that no later open can take the
     * store for closed cleanly or trust an index checkpoint, so that a crash during the rebuild leads to another
     * rebuild, never to a partial index being trusted.
     */
    private static void invalidateCheckpoint(final MappedFile meta)
    {
        final UnsafeBuffer buffer = meta.buffer();
        buffer.putIntVolatile(MetaDescriptor.CLEAN_SHUTDOWN_OFFSET, MetaDescriptor.DIRTY);
        buffer.putLongVolatile(MetaDescriptor.INDEX_CHECKPOINT_OFFSET, 0);
        buffer.putIntVolatile(MetaDescriptor.CHECKPOINT_FORCED_OFFSET, 0);
        meta.force();
    }

    private static void deleteIndexFiles(final Path indexDirectory) throws IOException
    {
        try (Stream<Path> files = Files.list(indexDirectory))
        {
            for (final Path file : files.toList())
            {
                if (file.getFileName().toString().equals(NameTableDescriptor.FILE_NAME))
                {
                    // the name table is checked on its own, and already mapped by this open
                    continue;
                }
                Files.delete(file);
            }
        }
    }
}
