package io.varvedb;

import org.agrona.DirectBuffer;
import org.agrona.MutableDirectBuffer;

/**
 * Turns typed events into payload bytes and back. {@link Appender#append(long, ExpectedVersion, int, Object,
 * Codec)} encodes straight into the log space it claims, with no intermediate copy: it claims room for
 * {@link #maxEncodedLength(Object)} bytes, hands that room to {@link #encode}, and returns what the encoding
 * did not use to the log as padding.
 *
 * @param <T> the event type.
 */
public interface Codec<T>
{
    /**
     * @param value the event.
     * @return an upper bound of its encoded length; the tighter, the less log space is padded.
     */
    int maxEncodedLength(T value);

    /**
     * Encode {@code value} at {@code buffer[0, maxLength)}. May be called more than once for one append (when two
     * appenders race to write a new stream's first event, the loser encodes again), so it must not have side
     * effects beyond the buffer. If it throws, nothing is appended and the exception reaches the caller.
     *
     * @param value     the event.
     * @param buffer    a view of claimed log space; index 0 is the first payload byte.
     * @param maxLength bytes available, as {@link #maxEncodedLength(Object)} returned.
     * @return bytes written.
     */
    int encode(T value, MutableDirectBuffer buffer, int maxLength);

    /**
     * Decode a payload.
     *
     * @param buffer holding the payload, for example {@link RecordedEvent#payload()}.
     * @param offset of the first byte.
     * @param length of the payload.
     * @return the event.
     */
    T decode(DirectBuffer buffer, int offset, int length);
}
