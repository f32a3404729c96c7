package io.varvedb;

import org.agrona.DirectBuffer;
import org.agrona.MutableDirectBuffer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A batch takes typed events through a codec, encoded when added: the round trip gives the events back, and a
 * codec that fails fails the add, leaving the batch as it was and the store untouched.
 */
class TypedBatchTest
{
    @TempDir
    Path dir;

    record Reserved(long orderId, String sku)
    {
    }

    /** orderId as 8 bytes, then the sku in ASCII; "boom" as a sku throws, "liar" writes more than it promised. */
    static final class ReservedCodec implements Codec<Reserved>
    {
        @Override
        public int maxEncodedLength(final Reserved value)
        {
            return Long.BYTES + value.sku().length();
        }

        @Override
        public int encode(final Reserved value, final MutableDirectBuffer buffer, final int maxLength)
        {
            if (value.sku().equals("boom"))
            {
                buffer.putLong(0, -1);
                throw new IllegalStateException("cannot encode " + value);
            }
            buffer.putLong(0, value.orderId());
            final int length = buffer.putStringWithoutLengthAscii(Long.BYTES, value.sku());
            return value.sku().equals("liar") ? maxLength + 1 : Long.BYTES + length;
        }

        @Override
        public Reserved decode(final DirectBuffer buffer, final int offset, final int length)
        {
            return new Reserved(buffer.getLong(offset),
                buffer.getStringWithoutLengthAscii(offset + Long.BYTES, length - Long.BYTES));
        }
    }

    @Test
    void typedEventsInABatchRoundTrip()
    {
        final ReservedCodec codec = new ReservedCodec();
        try (VarveDB db = VarveDB.open(TestStores.small(dir)))
        {
            final EventBatch batch = new EventBatch()
                .add(1, "raw".getBytes(StandardCharsets.US_ASCII));
            // enough events to make the batch's buffer (4 KiB) grow while encoding
            for (int i = 0; i < 300; i++)
            {
                batch.add(2, new Reserved(1000 + i, "sku-" + i), codec);
            }
            assertEquals(301, db.appender().appendBatch(5, ExpectedVersion.NO_STREAM, batch));

            final List<Reserved> read = new ArrayList<>();
            db.readStream(5, 2, 1000, (e) ->
            {
                assertEquals(2, e.eventType());
                read.add(codec.decode(e.payload(), 0, e.payloadLength()));
            });
            assertEquals(300, read.size());
            for (int i = 0; i < 300; i++)
            {
                assertEquals(new Reserved(1000 + i, "sku-" + i), read.get(i));
            }
            StoreChecker.check(db);
        }
    }

    @Test
    void aFailingCodecFailsTheAddAndLeavesNothing()
    {
        final ReservedCodec codec = new ReservedCodec();
        try (VarveDB db = VarveDB.open(TestStores.small(dir)))
        {
            final Appender appender = db.appender();
            final EventBatch batch = new EventBatch().add(2, new Reserved(1, "a"), codec);
            final long tail = db.tailPosition();

            final IllegalStateException thrown = assertThrows(IllegalStateException.class,
                () -> batch.add(2, new Reserved(2, "boom"), codec));
            assertTrue(thrown.getMessage().contains("cannot encode"));
            assertEquals(1, batch.size(), "the failed add left the batch as it was");
            final IllegalArgumentException liar = assertThrows(IllegalArgumentException.class,
                () -> batch.add(2, new Reserved(3, "liar"), codec));
            assertTrue(liar.getMessage().contains("maxEncodedLength"), liar.getMessage());
            assertEquals(1, batch.size());
            assertThrows(NullPointerException.class, () -> batch.add(2, null, codec));
            assertThrows(NullPointerException.class, () -> batch.add(2, new Reserved(4, "x"), null));
            assertEquals(tail, db.tailPosition(), "nothing claimed in the log");
            assertEquals(0, db.streamVersion(9));

            // the batch goes on from where it was: the failed events left no bytes between the good ones
            batch.add(2, new Reserved(5, "b"), codec);
            assertEquals(2, appender.appendBatch(9, ExpectedVersion.NO_STREAM, batch));
            final List<Reserved> read = new ArrayList<>();
            db.readStream(9, 1, 10, (e) -> read.add(codec.decode(e.payload(), 0, e.payloadLength())));
            assertEquals(List.of(new Reserved(1, "a"), new Reserved(5, "b")), read);
            StoreChecker.check(db);
        }
    }
}
