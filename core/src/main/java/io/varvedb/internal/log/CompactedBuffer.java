package io.varvedb.internal.log;

import io.varvedb.CorruptStoreException;
import org.agrona.concurrent.UnsafeBuffer;

import java.nio.ByteBuffer;
import java.nio.file.Path;

import static io.varvedb.internal.log.SegmentDescriptor.*;

/**
 * The view of a compacted segment file (see {@link SegmentDescriptor}): the mapped bytes, plus lookups in its
 * position map. The map stays where it is, in the mapping: a lookup is a binary search over its entries, with no
 * allocation. A final class, so readers tell it from a plain segment's {@link UnsafeBuffer} with one type check.
 * <p>
 * Offsets here are <em>data offsets</em>, a position modulo the segment's data length; file offsets are offsets in
 * this buffer.
 */
public final class CompactedBuffer extends UnsafeBuffer
{
    private final int entries;

    /**
     * @param mapped the whole file, mapped.
     */
    public CompactedBuffer(final ByteBuffer mapped)
    {
        super(mapped);
        this.entries = getInt(KEPT_RECORDS_OFFSET);
    }

    /**
     * @return kept records (map entries).
     */
    public int entries()
    {
        return entries;
    }

    /**
     * @param index an entry, {@code [0, entries())}.
     * @return its data offset.
     */
    public int dataOffsetAt(final int index)
    {
        return getInt(MAP_OFFSET + index * MAP_ENTRY_LENGTH + ENTRY_DATA_OFFSET);
    }

    /**
     * @param index an entry, {@code [0, entries())}.
     * @return the file offset of its record.
     */
    public int fileOffsetAt(final int index)
    {
        return getInt(MAP_OFFSET + index * MAP_ENTRY_LENGTH + ENTRY_FILE_OFFSET);
    }

    /**
     * @param dataOffset a data offset.
     * @return the index of the entry with it, else {@code -(insertion point) - 1}.
     */
    public int find(final int dataOffset)
    {
        int low = 0;
        int high = entries - 1;
        while (low <= high)
        {
            final int mid = (low + high) >>> 1;
            final int at = dataOffsetAt(mid);
            if (at < dataOffset)
            {
                low = mid + 1;
            }
            else if (at > dataOffset)
            {
                high = mid - 1;
            }
            else
            {
                return mid;
            }
        }
        return -(low + 1);
    }

    /**
     * @param dataOffset a data offset.
     * @return the file offset of the kept record that starts there, or -1 if none does.
     */
    public int fileOffset(final int dataOffset)
    {
        final int index = find(dataOffset);
        return index >= 0 ? fileOffsetAt(index) : -1;
    }

    /**
     * @param dataOffset a data offset.
     * @return the data offset of the first kept record at or after it, or -1 if there is none.
     */
    public int ceiling(final int dataOffset)
    {
        final int index = find(dataOffset);
        final int next = index >= 0 ? index : -index - 1;
        return next < entries ? dataOffsetAt(next) : -1;
    }

    /**
     * @param dataOffset a data offset that is no entry.
     * @return true if the kept record before it covers it (it lies inside that record).
     */
    public boolean insideKept(final int dataOffset)
    {
        final int index = find(dataOffset);
        if (index >= 0 || index == -1)
        {
            return false;
        }
        final int previous = -index - 2;
        final int frameLength = getInt(fileOffsetAt(previous) + RecordDescriptor.FRAME_LENGTH_OFFSET);
        return dataOffsetAt(previous) + RecordDescriptor.alignedLength(frameLength) > dataOffset;
    }

    /**
     * Check the map of a freshly mapped compacted segment: its checksum, entries sorted and aligned, inside the
     * segment and the file. The records themselves are checked by their readers, as a plain segment's are.
     *
     * @param path          the file, for messages.
     * @param segmentLength the log's data bytes per segment.
     * @throws CorruptStoreException if the map is damaged.
     */
    public void checkMap(final Path path, final int segmentLength)
    {
        final String problem = mapProblem(this, segmentLength);
        if (problem != null)
        {
            throw new CorruptStoreException(path + ": compacted log segment's position map is damaged: " + problem);
        }
    }

    /**
     * @param buffer        a compacted segment file.
     * @param segmentLength data bytes per segment.
     * @return null if its map is sound, else what is wrong.
     */
    public static String mapProblem(final org.agrona.DirectBuffer buffer, final int segmentLength)
    {
        final int capacity = buffer.capacity();
        final int count = buffer.getInt(KEPT_RECORDS_OFFSET);
        if (count < 0 || (long)MAP_OFFSET + (long)count * MAP_ENTRY_LENGTH > capacity)
        {
            return "kept record count " + count + " does not fit in the file (" + capacity + " bytes)";
        }
        final int recordsOffset = buffer.getInt(RECORDS_OFFSET_OFFSET);
        if (recordsOffset != recordsOffset(count) || recordsOffset > capacity)
        {
            return "records offset " + recordsOffset + " is not " + recordsOffset(count);
        }
        if (buffer.getInt(MAP_CHECKSUM_OFFSET) != mapChecksum(buffer))
        {
            return "map checksum mismatch";
        }
        int previousData = -1;
        int previousFile = recordsOffset - RecordDescriptor.ALIGNMENT;
        for (int i = 0; i < count; i++)
        {
            final int data = buffer.getInt(MAP_OFFSET + i * MAP_ENTRY_LENGTH + ENTRY_DATA_OFFSET);
            final int file = buffer.getInt(MAP_OFFSET + i * MAP_ENTRY_LENGTH + ENTRY_FILE_OFFSET);
            if (data <= previousData || data >= segmentLength || (data & (RecordDescriptor.ALIGNMENT - 1)) != 0)
            {
                return "entry " + i + " has data offset " + data + " after " + previousData;
            }
            if (file < previousFile + RecordDescriptor.ALIGNMENT || file > capacity - RecordDescriptor.ALIGNMENT ||
                (file & (RecordDescriptor.ALIGNMENT - 1)) != 0)
            {
                return "entry " + i + " has file offset " + file + " after " + previousFile + " (file of " +
                    capacity + " bytes)";
            }
            previousData = data;
            previousFile = file;
        }
        return null;
    }
}
