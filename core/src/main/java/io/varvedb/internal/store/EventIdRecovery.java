package io.varvedb.internal.store;

import io.varvedb.CorruptStoreException;
import io.varvedb.StoreFormatException;
import io.varvedb.StoreIOException;
import io.varvedb.internal.index.EventIdTable;
import io.varvedb.internal.index.EventIdTableDescriptor;
import io.varvedb.internal.io.ForceObserver;
import io.varvedb.internal.log.Log;
import org.agrona.concurrent.UnsafeBuffer;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static io.varvedb.internal.log.RecordDescriptor.*;

/**
 * Brings the event id table in line with the log at a writer's first open, after the log's own recovery: the log
 * is the source of truth, and every event appended with an id carries it.
 * <ul>
 *   <li>After a clean close the table is trusted if it says it covers the log to its end and matches the checksum
 *   sealed at that close.</li>
 *   <li>After a process crash (the same boot: the table's pages are as the dead process left them) a slot
 *   committed was committed after its event's record was published, so it stands; a slot left pending is resolved
 *   against the recovered log (committed if its event is there whole, dead if not); and the events the log's
 *   recovery scanned (those after its checkpoint) put their ids in if they are missing.</li>
 *   <li>Otherwise (a power cut, a log recovered from its start, a table missing, damaged, of another format, or
 *   smaller than the configuration asks) the table is made again, empty, and filled from a walk over the whole log.</li>
 * </ul>
 */
public final class EventIdRecovery
{
    private EventIdRecovery()
    {
    }

    /**
     * The table as a writer's first open finds it.
     *
     * @param table   the table, open.
     * @param trusted whether what it holds may be kept (it existed, whole, at least as large as asked).
     */
    public record Opened(EventIdTable table, boolean trusted)
    {
    }

    /**
     * Open the table, or create it (empty, untrusted) if it is missing, damaged, or smaller than asked.
     *
     * @param indexDirectory the {@code index/} directory.
     * @param capacity       the capacity the configuration asks for.
     * @param observer       sees files created and forced.
     * @return the table and whether its content may be kept.
     */
    public static Opened open(final Path indexDirectory, final int capacity, final ForceObserver observer)
    {
        if (EventIdTable.exists(indexDirectory))
        {
            EventIdTable existing = null;
            try
            {
                existing = EventIdTable.open(indexDirectory, false, observer);
            }
            catch (final CorruptStoreException | StoreFormatException | StoreIOException ex)
            {
                // derived from the log: made again below
            }
            if (existing != null && existing.capacity() >= capacity)
            {
                return new Opened(existing, true);
            }
            final int keep = existing != null ? Math.max(capacity, existing.capacity()) : capacity;
            if (existing != null)
            {
                existing.close();
            }
            delete(indexDirectory.resolve(EventIdTableDescriptor.FILE_NAME));
            return new Opened(EventIdTable.create(indexDirectory, keep, observer), false);
        }
        return new Opened(EventIdTable.create(indexDirectory, capacity, observer), false);
    }

    /**
     * After the log's recovery (or a clean open): make the table agree with the log, then mark it open.
     *
     * @param opened      the table as {@link #open} found it.
     * @param log         the log, recovered.
     * @param cleanOpen   the store was closed cleanly and nothing was recovered.
     * @param scannedFrom where the log's recovery began its scan (0: the whole log); ignored for a clean open.
     * @return true if the table was made again from the whole log; false if it was kept (topped up after a crash).
     */
    public static boolean recover(final Opened opened, final Log log, final boolean cleanOpen, final long scannedFrom)
    {
        final EventIdTable table = opened.table();
        final long end = log.tail();
        final long covered = table.coveredPosition();
        boolean rebuilt = false;
        if (cleanOpen && opened.trusted() && covered == end && table.sealIntact())
        {
            // nothing to do: the table was closed with the log, at this end, and took no damage since
        }
        else if (!cleanOpen && opened.trusted() && covered == EventIdTableDescriptor.OPEN && scannedFrom > 0)
        {
            table.resolvePending(-1, logCheck(log));
            rebuilt = !fillOrGrow(table, log, scannedFrom, end);
        }
        else
        {
            if (opened.trusted())
            {
                // an untrusted table was just created, empty; this one may hold anything
                table.reset();
            }
            fillOrGrow(table, log, 0, end);
            rebuilt = true;
        }
        table.unseal();
        table.coveredPosition(EventIdTableDescriptor.OPEN);
        return rebuilt;
    }

    /**
     * Put the ids of {@code [from, end)} in; should the log hold more ids than the table takes (a store reopened
     * with a smaller capacity, whose table was lost), make the table larger and fill it from the whole log: a
     * rebuild never forgets an id, and never fails for want of room.
     *
     * @return true if the ids went into the table as it was; false if it was made again, larger.
     */
    private static boolean fillOrGrow(final EventIdTable table, final Log log, final long from, final long end)
    {
        try
        {
            fill(table, log, from, end);
            return true;
        }
        catch (final io.varvedb.EventIdTableFullException ex)
        {
            int capacity = table.capacity();
            while (true)
            {
                capacity = (int)Math.min(EventIdTableDescriptor.MAX_CAPACITY, 2L * capacity);
                table.reset(capacity);
                try
                {
                    fill(table, log, 0, end);
                    return false;
                }
                catch (final io.varvedb.EventIdTableFullException again)
                {
                    if (capacity == EventIdTableDescriptor.MAX_CAPACITY)
                    {
                        throw again;
                    }
                }
            }
        }
    }

    /**
     * @param log the log.
     * @return whether a published event record at a position carries an id: how pending slots are resolved.
     */
    public static EventIdTable.LogCheck logCheck(final Log log)
    {
        return (position, high, low) ->
        {
            if (position < 0 || position >= log.tail())
            {
                return false;
            }
            final UnsafeBuffer buffer = log.readBuffer(position);
            if (buffer == null)
            {
                return false;
            }
            final int offset = log.eventOffset(buffer, position);
            return offset >= 0 && carriesEventId(buffer, offset, high, low);
        };
    }

    /**
     * Put the ids of the events in {@code [from, end)} into the table, those it lacks. The log there is recovered:
     * every record is whole.
     */
    private static long fill(final EventIdTable table, final Log log, final long from, final long end)
    {
        long inserted = 0;
        long position = from;
        while (position < end)
        {
            final UnsafeBuffer buffer = log.readBuffer(position);
            final int offset = log.offset(buffer, position);
            if (offset < 0)
            {
                // a dropped range of a compacted segment
                position = log.ceiling(buffer, position);
                continue;
            }
            final int frameLength = buffer.getInt(offset + FRAME_LENGTH_OFFSET);
            final String damage = frameLength <= 0 ? "no record" : Log.frameDamage(buffer, offset, frameLength,
                log.room(buffer, offset, position), null);
            if (damage != null)
            {
                // without a walk over every record, an id beyond this one could be missed, and its retry written twice
                throw new CorruptStoreException("log: " + damage + " at position " + position + " (" +
                    log.segmentPath(log.segmentOf(position)) + "), below the recovered end " + end + ", met while " +
                    "rebuilding the event id table from the log; refusing to open rather than forget event ids");
            }
            if (buffer.getShort(offset + RECORD_TYPE_OFFSET) == TYPE_EVENT &&
                (buffer.getShort(offset + FLAGS_OFFSET) & FLAG_EVENT_ID) != 0 &&
                table.insertCommitted(buffer.getLong(offset + EVENT_ID_HIGH_OFFSET),
                    buffer.getLong(offset + EVENT_ID_LOW_OFFSET), position))
            {
                inserted++;
            }
            position += alignedLength(frameLength);
        }
        return inserted;
    }

    private static void delete(final Path path)
    {
        try
        {
            Files.deleteIfExists(path);
        }
        catch (final IOException ex)
        {
            throw new StoreIOException("cannot delete " + path + ": " + ex.getMessage(), ex);
        }
    }
}
