package io.varvedb.tools;

import org.agrona.DirectBuffer;
import org.agrona.MutableDirectBuffer;

/**
 * The demo's two event types and their payloads. Payloads are short ASCII JSON objects, so {@code varve dump}
 * shows them readably; they are written and parsed in place, without allocation, and {@code units} always comes
 * first so a reader finds it at a fixed offset.
 * <pre>
 *   StockAdded     {"units":50000}
 *   StockReserved  {"units":3,"buyer":1}
 * </pre>
 */
public final class Inventory
{
    /** Event type: units put on sale; the first event of every product stream. */
    public static final int STOCK_ADDED = 1;
    /** Event type: a buyer reserved units. */
    public static final int STOCK_RESERVED = 2;
    /** Room for the longest payload. */
    public static final int MAX_PAYLOAD_LENGTH = 64;

    private static final String UNITS_PREFIX = "{\"units\":";
    private static final String BUYER_FIELD = ",\"buyer\":";
    private static final String END = "}";
    private static final byte[] UNITS_PREFIX_BYTES = UNITS_PREFIX.getBytes(java.nio.charset.StandardCharsets.US_ASCII);
    private static final int MAX_UNITS_DIGITS = 9;

    private Inventory()
    {
    }

    /**
     * @param eventType an event type.
     * @return the demo's name for it.
     */
    public static String typeName(final int eventType)
    {
        switch (eventType)
        {
            case STOCK_ADDED:
                return "StockAdded";
            case STOCK_RESERVED:
                return "StockReserved";
            default:
                return "type " + eventType;
        }
    }

    /**
     * @param buffer to write into, from index 0.
     * @param units  units added.
     * @return the payload length.
     */
    public static int encodeStockAdded(final MutableDirectBuffer buffer, final int units)
    {
        int length = buffer.putStringWithoutLengthAscii(0, UNITS_PREFIX);
        length += buffer.putNaturalIntAscii(length, units);
        length += buffer.putStringWithoutLengthAscii(length, END);
        return length;
    }

    /**
     * @param buffer to write into, from index 0.
     * @param units  units reserved.
     * @param buyer  the buyer's number.
     * @return the payload length.
     */
    public static int encodeStockReserved(final MutableDirectBuffer buffer, final int units, final int buyer)
    {
        int length = buffer.putStringWithoutLengthAscii(0, UNITS_PREFIX);
        length += buffer.putNaturalIntAscii(length, units);
        length += buffer.putStringWithoutLengthAscii(length, BUYER_FIELD);
        length += buffer.putNaturalIntAscii(length, buyer);
        length += buffer.putStringWithoutLengthAscii(length, END);
        return length;
    }

    /**
     * @param payload a payload of either type.
     * @param length  its length.
     * @return its {@code units}, or -1 if it is not a payload of this demo.
     */
    public static int units(final DirectBuffer payload, final int length)
    {
        final int start = UNITS_PREFIX_BYTES.length;
        if (length <= start)
        {
            return -1;
        }
        // compared byte by byte: buyers parse every event they catch up on, and must not allocate
        for (int i = 0; i < start; i++)
        {
            if (payload.getByte(i) != UNITS_PREFIX_BYTES[i])
            {
                return -1;
            }
        }
        int end = start;
        while (end < length && isDigit(payload.getByte(end)))
        {
            end++;
        }
        if (end == start || end - start > MAX_UNITS_DIGITS)
        {
            return -1;
        }
        return payload.parseNaturalIntAscii(start, end - start);
    }

    private static boolean isDigit(final byte b)
    {
        return b >= '0' && b <= '9';
    }
}
