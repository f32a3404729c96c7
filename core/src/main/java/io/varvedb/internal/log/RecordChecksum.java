package io.varvedb.internal.log;

import org.agrona.concurrent.UnsafeBuffer;

import java.nio.ByteBuffer;
import java.util.zip.CRC32C;

/**
 * CRC32C over a range of a mapped segment, with the JDK's intrinsic and no allocation per call. One instance per
 * thread (it keeps a private view of the segment's buffer, whose position it moves).
 * <p>
 * Why not Agrona's {@code Crc32c}: it reaches into {@code java.util.zip} by reflection and so needs one more
 * {@code --add-opens} flag from every embedder; {@link CRC32C#update(ByteBuffer)} on a direct buffer is the same
 * intrinsic without it.
 */
public final class RecordChecksum
{
    /** The copy buffer's first size: most events are smaller, so it is seldom grown. */
    private static final int FIRST_COPY_LENGTH = 4096;

    private final CRC32C crc = new CRC32C();
    private final boolean copying;
    private byte[] copy;
    private volatile ByteBuffer source;
    private volatile ByteBuffer view;

    /**
     * A checksum computed straight over the mapped bytes: the fastest, for the writer's process, whose segments
     * nobody else changes the length of.
     */
    public RecordChecksum()
    {
        this(false);
    }

    private RecordChecksum(final boolean copying)
    {
        this.copying = copying;
    }

    /**
     * A checksum computed over a copy of the bytes, for readers in another process than the writer. Should a
     * segment be cut short under their mapping, the copy (a JDK memory copy, guarded against the fault) fails
     * with an {@link InternalError} that the reader reports; the CRC32C intrinsic reading the mapping directly
     * would instead take the whole JVM down with SIGBUS.
     *
     * @return a checksum that copies first.
     */
    public static RecordChecksum copying()
    {
        return new RecordChecksum(true);
    }

    /**
     * Drop the reference to the last segment seen, so a closed store's mappings can be collected. Safe to call
     * from another thread than the one computing.
     */
    public void clear()
    {
        source = null;
        view = null;
    }

    /**
     * @param buffer an {@link UnsafeBuffer} wrapping a direct {@link ByteBuffer} (a mapped segment).
     * @param offset first byte.
     * @param length bytes.
     * @return the CRC32C of {@code buffer[offset, offset + length)}.
     */
    public int compute(final UnsafeBuffer buffer, final int offset, final int length)
    {
        if (copying)
        {
            byte[] bytes = copy;
            if (bytes == null || bytes.length < length)
            {
                bytes = new byte[Math.max(length, bytes == null ? FIRST_COPY_LENGTH : bytes.length * 2)];
                copy = bytes;
            }
            buffer.getBytes(offset, bytes, 0, length);
            crc.reset();
            crc.update(bytes, 0, length);
            return (int)crc.getValue();
        }
        final ByteBuffer backing = buffer.byteBuffer();
        // locals: clear() may run on another thread (a store closing); this call then keeps its own view
        ByteBuffer view = this.view;
        if (backing != source || view == null)
        {
            // once per segment this instance meets, not per call
            view = backing.duplicate();
            this.source = backing;
            this.view = view;
        }
        final int start = buffer.wrapAdjustment() + offset;
        view.clear();
        view.limit(start + length).position(start);
        crc.reset();
        crc.update(view);
        return (int)crc.getValue();
    }
}
