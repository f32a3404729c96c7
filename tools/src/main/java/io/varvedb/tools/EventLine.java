package io.varvedb.tools;

import io.varvedb.RecordedEvent;
import org.agrona.DirectBuffer;

/**
 * One event as one readable line, shared by {@code dump} and {@code tail}:
 * <pre>
 * @1,152  stream 3  v 12  type 2  2026-11-26T06:36:27.123456789Z  22 B  {"units":3,"buyer":1}
 * @1,280  stream -1 "order-7781"  v 1  type 2  2026-11-26T06:36:27.223456789Z  22 B  {"units":1,"buyer":2}
 * </pre>
 * An event appended with an event id shows it as a UUID after its size ({@code id 0000...}).
 * A named stream's name follows its id. A tombstone shows as {@code TOMBSTONE}, a stream metadata event as
 * {@code METADATA} with the limits it sets:
 * <pre>
 * @168,432  stream 3  v 301  TOMBSTONE  2026-11-26T06:36:27.323456789Z  0 B  stream deleted for good
 * @168,544  stream -2 "$$$4"  v 1  METADATA  2026-11-26T06:36:27.423456789Z  48 B  of stream 4: maxCount 10
 * </pre>
 * A payload of printable ASCII is shown as text, anything else as hex; long payloads are cut short. With the
 * application's codecs ({@code --codec}), a payload they cover is shown as the decoded object's {@code toString()}.
 * An encrypted event of a store opened without its key shows its size only:
 * <pre>
 * @1,152  stream 3  v 12  type 2  2026-11-26T06:36:27.123456789Z  22 B  payload: 22 bytes encrypted
 * </pre>
 */
public final class EventLine
{
    /** Payload bytes shown before the line is cut short. */
    public static final int PREVIEW_BYTES = 64;

    private static final int FIRST_PRINTABLE = 0x20;
    private static final int LAST_PRINTABLE = 0x7e;

    private EventLine()
    {
    }

    /**
     * @param event the event, inside its callback.
     * @return the line, without a line separator.
     */
    public static String format(final RecordedEvent event)
    {
        return format(event, null);
    }

    /**
     * @param event  the event, inside its callback.
     * @param codecs decode payloads of the types they cover (their {@code toString()} replaces the bytes); null
     *               for none.
     * @return the line, without a line separator.
     */
    public static String format(final RecordedEvent event, final PayloadCodecs codecs)
    {
        return format(event, codecs, null);
    }

    /**
     * @param event  the event, inside its callback.
     * @param codecs decode payloads of the types they cover; null for none.
     * @param name   the stream's name, shown beside its id; null for a stream without one.
     * @return the line, without a line separator.
     */
    public static String format(final RecordedEvent event, final PayloadCodecs codecs, final String name)
    {
        return format(event, codecs, name, false);
    }

    /**
     * @param event      the event, inside its callback.
     * @param codecs     decode payloads of the types they cover; null for none.
     * @param name       the stream's name, shown beside its id; null for a stream without one.
     * @param ciphertext the store was opened without its master key ({@code readCiphertext}): an encrypted
     *                   event's payload is cipher text, shown by its size only and never decoded.
     * @return the line, without a line separator.
     */
    public static String format(
        final RecordedEvent event, final PayloadCodecs codecs, final String name, final boolean ciphertext)
    {
        final StringBuilder line = new StringBuilder(128);
        line.append('@').append(Format.count(event.position()))
            .append("  stream ").append(event.streamId());
        if (name != null)
        {
            line.append(" \"").append(name).append('"');
        }
        line.append("  v ").append(Format.count(event.version()));
        final boolean tombstone = event.isTombstone();
        final io.varvedb.StreamMetadata metadata = event.isStreamMetadata() ? Lifecycle.metadata(event) : null;
        if (tombstone)
        {
            line.append("  TOMBSTONE");
        }
        else if (metadata != null)
        {
            line.append("  METADATA");
        }
        else
        {
            line.append("  type ").append(event.eventType());
        }
        line.append("  ").append(Format.timestamp(event.timestamp()))
            .append("  ").append(event.payloadLength()).append(" B");
        if (event.isInBatch())
        {
            line.append(" [batch]");
        }
        if (event.hasEventId())
        {
            // without the key an encrypted event's id is only its stored, encrypted form
            line.append("  id ").append(ciphertext && event.isEncrypted() ? "(encrypted)" :
                new java.util.UUID(event.eventIdHigh(), event.eventIdLow()).toString());
        }
        if (tombstone)
        {
            line.append("  stream deleted for good");
            return line.toString();
        }
        if (metadata != null)
        {
            line.append("  of stream ").append(Lifecycle.target(event)).append(": ")
                .append(Lifecycle.describe(metadata));
            return line.toString();
        }
        if (ciphertext && event.isEncrypted())
        {
            // the bytes are cipher text: neither text nor anything a codec could decode
            line.append("  payload: ").append(event.payloadLength()).append(" bytes encrypted");
            return line.toString();
        }
        final String decoded = codecs == null ? null : codecs.decode(event);
        if (decoded != null)
        {
            line.append("  ").append(decoded);
        }
        else if (event.payloadLength() > 0)
        {
            line.append("  ");
            appendPayload(line, event.payload(), event.payloadLength());
        }
        return line.toString();
    }

    private static void appendPayload(final StringBuilder line, final DirectBuffer payload, final int length)
    {
        final int shown = Math.min(length, PREVIEW_BYTES);
        boolean printable = true;
        for (int i = 0; i < shown && printable; i++)
        {
            final int b = payload.getByte(i) & 0xFF;
            printable = b >= FIRST_PRINTABLE && b <= LAST_PRINTABLE;
        }
        if (printable)
        {
            for (int i = 0; i < shown; i++)
            {
                line.append((char)payload.getByte(i));
            }
        }
        else
        {
            for (int i = 0; i < shown; i++)
            {
                if (i > 0)
                {
                    line.append(' ');
                }
                line.append(Format.hexByte(payload.getByte(i) & 0xFF));
            }
        }
        if (shown < length)
        {
            line.append(" ... (").append(length - shown).append(" more bytes)");
        }
    }
}
