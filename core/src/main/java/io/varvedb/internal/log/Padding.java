package io.varvedb.internal.log;

import org.agrona.concurrent.UnsafeBuffer;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.zip.CRC32C;

import static io.varvedb.internal.log.RecordDescriptor.*;

/**
 * Padding records: space that holds no event (the end of a segment a claim did not fit in, a claim abandoned by a
 * failed append or found unfinished by recovery).
 * <p>
 * A reader skips a padding record by its frame length, so that length must be as well protected as an event's:
 * one flipped bit in it would otherwise make every reader skip the events behind it without a word. The padding
 * therefore repeats its frame length at {@link RecordDescriptor#PADDING_LENGTH_OFFSET}, and its checksum covers
 * {@code [8, 24)}: type, flags, event type and that copy. A reader accepts a padding only if the copy equals the
 * frame length (checked even with checksums off) and the checksum matches. A 16-byte padding has no room for the
 * copy: its checksum is computed as if it were there (so it covers the length) and always checked.
 */
public final class Padding
{
    private static final int CHECKED_LENGTH = PADDING_CHECKSUM_END - CHECKSUM_START;
    /** The checksum of the one padding too short for the copy of its length. */
    private static final int SHORT_PADDING_CHECKSUM = checksum(ALIGNMENT);

    private Padding()
    {
    }

    /**
     * Write a committed padding record.
     *
     * @param buffer of the segment.
     * @param offset of the record in the buffer.
     * @param length of the padding, a multiple of the alignment.
     */
    public static void write(final UnsafeBuffer buffer, final int offset, final int length)
    {
        buffer.putShort(offset + RECORD_TYPE_OFFSET, TYPE_PADDING);
        buffer.putShort(offset + FLAGS_OFFSET, (short)0);
        buffer.putInt(offset + EVENT_TYPE_OFFSET, 0);
        if (length >= PADDING_CHECKSUM_END)
        {
            // a 16-byte padding has no room for it: the next record's header starts there
            buffer.putLong(offset + PADDING_LENGTH_OFFSET, length);
        }
        // computed as if the copy were there, so a 16-byte padding's is SHORT_PADDING_CHECKSUM
        buffer.putInt(offset + CHECKSUM_OFFSET, checksum(length));
        // release: the frame length is published last, after the rest of the header
        buffer.putIntRelease(offset + FRAME_LENGTH_OFFSET, length);
    }

    /**
     * Write a padding record where the frame length still reads {@code expected} (0: nothing claimed was written
     * there; negative: a claim begun and never published), deciding by CAS who writes it: where several could (a
     * deferred padding and a survivor repairing a dead process's claim), only one does, and a published record is
     * never overwritten.
     *
     * @param buffer   of the segment.
     * @param offset   of the record in the buffer.
     * @param expected the frame length read there, not positive.
     * @param length   of the padding, a multiple of the alignment.
     * @return true if this call wrote the padding.
     */
    public static boolean writeOver(final UnsafeBuffer buffer, final int offset, final int expected, final int length)
    {
        // CAS: the one step that takes the record from its claimer; negative, so readers still wait
        if (expected > 0 || !buffer.compareAndSetInt(offset + FRAME_LENGTH_OFFSET, expected, -length))
        {
            return false;
        }
        write(buffer, offset, length);
        return true;
    }

    /**
     * @param length a padding's frame length.
     * @return the checksum a padding of that length carries: CRC32C of its bytes {@code [8, 24)}.
     */
    public static int checksum(final int length)
    {
        // allocates: padding is written once per segment roll or abandoned claim, never per append
        final ByteBuffer bytes = ByteBuffer.allocate(CHECKED_LENGTH).order(ByteOrder.LITTLE_ENDIAN);
        bytes.putShort(TYPE_PADDING).putShort((short)0).putInt(0).putLong(length).flip();
        final CRC32C crc = new CRC32C();
        crc.update(bytes);
        return (int)crc.getValue();
    }

    /**
     * @param buffer      of the segment.
     * @param offset      of a record whose type is {@link RecordDescriptor#TYPE_PADDING}.
     * @param frameLength its frame length, positive.
     * @param room        bytes from the record to the end of its segment.
     * @param checksum    to verify the checksum with, or null to check only the framing.
     * @return null if the padding is sound, else what is wrong with it.
     */
    public static String damage(
        final UnsafeBuffer buffer, final int offset, final int frameLength, final int room,
        final RecordChecksum checksum)
    {
        if (frameLength % ALIGNMENT != 0 || frameLength > room)
        {
            return "padding of frame length " + frameLength + " does not end on a record boundary within its " +
                "segment (" + room + " bytes left)";
        }
        if (buffer.getShort(offset + FLAGS_OFFSET) != 0 || buffer.getInt(offset + EVENT_TYPE_OFFSET) != 0)
        {
            return "padding with non-zero flags or event type";
        }
        if (frameLength < PADDING_CHECKSUM_END)
        {
            // the 16-byte padding: its checksum stands for the copy, so it is checked whatever the caller asked
            return buffer.getInt(offset + CHECKSUM_OFFSET) == SHORT_PADDING_CHECKSUM ? null :
                "padding of frame length " + frameLength + " with a checksum of another length";
        }
        final long copy = buffer.getLong(offset + PADDING_LENGTH_OFFSET);
        if (copy != frameLength)
        {
            return "padding of frame length " + frameLength + " says elsewhere that it is " + copy + " bytes long";
        }
        if (checksum != null && buffer.getInt(offset + CHECKSUM_OFFSET) !=
            checksum.compute(buffer, offset + CHECKSUM_START, CHECKED_LENGTH))
        {
            return "padding checksum mismatch";
        }
        return null;
    }
}
