package io.varvedb;

import org.agrona.DirectBuffer;
import org.agrona.MutableDirectBuffer;

/**
 * Payloads derived from an id, so a parent can check byte for byte what a killed child wrote.
 */
final class CrashPayload
{
    private CrashPayload()
    {
    }

    static int length(final long id)
    {
        return 8 + (int)(Math.abs(id * 31) % 200);
    }

    static int fill(final MutableDirectBuffer buffer, final long id)
    {
        final int length = length(id);
        buffer.putLong(0, id);
        for (int i = 8; i < length; i++)
        {
            buffer.putByte(i, (byte)(id * 7 + i));
        }
        return length;
    }

    static boolean matches(final DirectBuffer buffer, final int length, final long id)
    {
        if (length != length(id) || buffer.getLong(0) != id)
        {
            return false;
        }
        for (int i = 8; i < length; i++)
        {
            if (buffer.getByte(i) != (byte)(id * 7 + i))
            {
                return false;
            }
        }
        return true;
    }
}
