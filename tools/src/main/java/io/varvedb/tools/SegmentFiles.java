package io.varvedb.tools;

import io.varvedb.internal.log.SegmentDescriptor;
import org.agrona.IoUtil;

import java.io.IOException;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.HashMap;
import java.util.Map;

/**
 * The log's segment files mapped read-only, addressed by log position, for the tools that look at raw record
 * bytes ({@code dump --hex}, {@code verify}). Mapping {@code READ_ONLY} means nothing here can change the store.
 * {@link #close()} unmaps them all at once, without waiting for the garbage collector: no buffer {@link #map}
 * returned may be used after it.
 */
public final class SegmentFiles implements AutoCloseable
{
    private final Path logDirectory;
    private final int segmentLength;
    private final Map<Long, MappedByteBuffer> mapped = new HashMap<>();
    private boolean closed;

    /**
     * @param storeDirectory the store's directory.
     * @param segmentLength  data bytes per segment, from {@code varve.meta}.
     */
    public SegmentFiles(final Path storeDirectory, final int segmentLength)
    {
        this.logDirectory = storeDirectory.resolve(Stores.LOG_DIRECTORY);
        this.segmentLength = segmentLength;
    }

    /**
     * @param segment a segment index.
     * @return its file.
     */
    public Path path(final long segment)
    {
        return logDirectory.resolve(SegmentDescriptor.fileName(segment * segmentLength));
    }

    /**
     * @param segment a segment index.
     * @return the whole file mapped read-only, or null if it does not exist.
     * @throws IOException if it exists but cannot be mapped.
     * @throws IllegalStateException after {@link #close()}.
     */
    public MappedByteBuffer map(final long segment) throws IOException
    {
        if (closed)
        {
            throw new IllegalStateException("the segment files of " + logDirectory + " are closed");
        }
        final MappedByteBuffer existing = mapped.get(segment);
        if (existing != null)
        {
            return existing;
        }
        final Path path = path(segment);
        if (!Files.exists(path))
        {
            return null;
        }
        try (FileChannel channel = FileChannel.open(path, StandardOpenOption.READ))
        {
            final MappedByteBuffer buffer = channel.map(FileChannel.MapMode.READ_ONLY, 0, channel.size());
            buffer.order(java.nio.ByteOrder.LITTLE_ENDIAN);
            mapped.put(segment, buffer);
            return buffer;
        }
    }

    /**
     * @param position a log position.
     * @return its segment index.
     */
    public long segmentOf(final long position)
    {
        return position / segmentLength;
    }

    /**
     * @param segment a segment index.
     * @return the log position of its first record.
     */
    public long segmentStart(final long segment)
    {
        return segment * segmentLength;
    }

    /**
     * @param position a log position.
     * @return its byte offset in its segment file.
     */
    public int fileOffset(final long position)
    {
        return SegmentDescriptor.HEADER_LENGTH + (int)(position % segmentLength);
    }

    /**
     * @param position a log position.
     * @return the byte offset in its segment file of the record that starts there: by arithmetic in a plain segment,
     * through the position map in a compacted one, -1 if no kept record of a compacted segment starts there.
     * @throws IOException if the segment exists but cannot be mapped.
     */
    public int recordOffset(final long position) throws IOException
    {
        final MappedByteBuffer file = map(segmentOf(position));
        if (file != null && SegmentDescriptor.isCompacted(new org.agrona.concurrent.UnsafeBuffer(file)))
        {
            return new io.varvedb.internal.log.CompactedBuffer(file).fileOffset((int)(position % segmentLength));
        }
        return fileOffset(position);
    }

    /**
     * @param position a log position.
     * @return true if it lies in a compacted segment.
     * @throws IOException if the segment exists but cannot be mapped.
     */
    public boolean isCompacted(final long position) throws IOException
    {
        final MappedByteBuffer file = map(segmentOf(position));
        return file != null && SegmentDescriptor.isCompacted(new org.agrona.concurrent.UnsafeBuffer(file));
    }

    /**
     * Unmap every segment this mapped. The buffers {@link #map} returned must not be touched afterwards: reading
     * an unmapped buffer crashes the JVM.
     */
    @Override
    public void close()
    {
        if (closed)
        {
            return;
        }
        closed = true;
        // explicitly, not when the collector gets round to the buffers: a tool run inside a long-lived process
        // (tests, an embedding application) would otherwise keep every segment it looked at mapped
        for (final MappedByteBuffer buffer : mapped.values())
        {
            IoUtil.unmap(buffer);
        }
        mapped.clear();
    }
}
