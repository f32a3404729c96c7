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
    private final CRC32C crc = new CRC32C();
    private volatile ByteBuffer source;
    private volatile ByteBuffer view;

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
