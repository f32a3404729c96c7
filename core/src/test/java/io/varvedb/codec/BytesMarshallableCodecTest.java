package io.varvedb.codec;

import io.varvedb.Appender;
import io.varvedb.ExpectedVersion;
import io.varvedb.VarveConfig;
import io.varvedb.VarveDB;
import net.openhft.chronicle.bytes.BytesIn;
import net.openhft.chronicle.bytes.BytesMarshallable;
import net.openhft.chronicle.bytes.BytesOut;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class BytesMarshallableCodecTest
{
    static final int STOCK_RESERVED = 3;

    /** A typical event: a few fixed fields and a short string. */
    static final class StockReserved implements BytesMarshallable
    {
        long orderId;
        int quantity;
        String sku;

        StockReserved()
        {
        }

        StockReserved(final long orderId, final int quantity, final String sku)
        {
            this.orderId = orderId;
            this.quantity = quantity;
            this.sku = sku;
        }

        @Override
        public void writeMarshallable(final BytesOut<?> out)
        {
            out.writeLong(orderId);
            out.writeInt(quantity);
            out.writeUtf8(sku);
        }

        @Override
        public void readMarshallable(final BytesIn<?> in)
        {
            orderId = in.readLong();
            quantity = in.readInt();
            sku = in.readUtf8();
        }
    }

    @TempDir
    Path dir;

    @Test
    void roundTripsThroughTheLogAndPadsUnusedSpace()
    {
        final BytesMarshallableCodec<StockReserved> codec = new BytesMarshallableCodec<>(StockReserved::new, 256);
        try (VarveDB db = VarveDB.open(VarveConfig.builder(dir).segmentSize(64 * 1024).indexCapacity(64).build()))
        {
            final Appender appender = db.appender();
            for (int i = 1; i <= 500; i++)
            {
                assertEquals(i, appender.append(7, ExpectedVersion.exact(i - 1), STOCK_RESERVED,
                    new StockReserved(1000 + i, i % 5 + 1, "SKU-" + i), codec));
            }

            final List<StockReserved> read = new ArrayList<>();
            final StockReserved reused = new StockReserved();
            assertEquals(500, db.readStream(7, 1, 1000, (e) ->
            {
                assertEquals(STOCK_RESERVED, e.eventType());
                read.add(e.decode(codec));
                codec.readInto(e.payload(), 0, e.payloadLength(), reused);
                assertEquals(read.get(read.size() - 1).orderId, reused.orderId);
                assertTrue(e.payloadLength() < 256, "the record keeps only the encoded bytes");
            }));
            for (int i = 1; i <= 500; i++)
            {
                final StockReserved event = read.get(i - 1);
                assertEquals(1000 + i, event.orderId);
                assertEquals(i % 5 + 1, event.quantity);
                assertEquals("SKU-" + i, event.sku);
            }
            final int[] all = new int[1];
            db.readAll(0, Integer.MAX_VALUE, (e) -> all[0]++);
            assertEquals(500, all[0], "the padding after each short encoding is not an event");
        }
    }

    @Test
    void anEncodingLargerThanItsBoundLeavesTheStreamUnchanged()
    {
        final BytesMarshallableCodec<StockReserved> codec = new BytesMarshallableCodec<>(StockReserved::new, 16);
        try (VarveDB db = VarveDB.open(VarveConfig.builder(dir).segmentSize(64 * 1024).indexCapacity(64).build()))
        {
            final Appender appender = db.appender();
            assertThrows(RuntimeException.class, () -> appender.append(1, ExpectedVersion.NO_STREAM, 1,
                new StockReserved(1, 1, "a string far longer than sixteen bytes"), codec));
            assertEquals(0, db.streamVersion(1));
            assertEquals(1, appender.append(1, ExpectedVersion.NO_STREAM, 1, new StockReserved(1, 1, "ok"), codec));
            final int[] all = new int[1];
            db.readAll(0, Integer.MAX_VALUE, (e) -> all[0]++);
            assertEquals(1, all[0]);
        }
    }
}
