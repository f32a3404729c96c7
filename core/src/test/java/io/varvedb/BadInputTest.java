package io.varvedb;

import io.varvedb.internal.index.StreamIndexDescriptor;
import io.varvedb.internal.store.MetaDescriptor;
import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Every kind of bad input gets its own clear exception, and nothing is written.
 */
class BadInputTest
{
    @TempDir
    Path dir;
    private VarveDB db;
    private Appender appender;

    @BeforeEach
    void open()
    {
        db = VarveDB.open(VarveConfig.builder(dir).segmentSize(64 * 1024).indexCapacity(4).maxEventSize(1000).build());
        appender = db.appender();
        appender.append(1, ExpectedVersion.NO_STREAM, 1, new byte[10]);
    }

    @AfterEach
    void close()
    {
        db.close();
    }

    private void assertNothingWritten(final long tail)
    {
        assertEquals(tail, db.tailPosition(), "nothing claimed");
        assertEquals(1, db.streamVersion(1));
        StoreChecker.check(db);
    }

    @Test
    void streamIdsMustBePositive()
    {
        final long tail = db.tailPosition();
        assertTrue(assertThrows(IllegalArgumentException.class,
            () -> appender.append(0, ExpectedVersion.ANY, 1, new byte[1])).getMessage().contains("positive"));
        assertThrows(IllegalArgumentException.class, () -> appender.append(-5, ExpectedVersion.ANY, 1, new byte[1]));
        assertThrows(IllegalArgumentException.class, () -> db.streamVersion(0));
        assertThrows(IllegalArgumentException.class, () -> db.readStream(-1, 1, 1, (e) -> { }));
        assertNothingWritten(tail);
    }

    @Test
    void nullAndOversizedPayloadsAreRefused()
    {
        final long tail = db.tailPosition();
        assertThrows(NullPointerException.class, () -> appender.append(1, ExpectedVersion.ANY, 1, (byte[])null));
        assertThrows(NullPointerException.class,
            () -> appender.tryAppend(1, ExpectedVersion.ANY_VALUE, 1, (org.agrona.DirectBuffer)null, 0, 0));
        final EventTooLargeException tooLarge = assertThrows(EventTooLargeException.class,
            () -> appender.append(1, ExpectedVersion.ANY, 1, new byte[1001]));
        assertTrue(tooLarge.getMessage().contains("maxEventSize"), tooLarge.getMessage());
        final UnsafeBuffer small = new UnsafeBuffer(new byte[8]);
        assertThrows(IndexOutOfBoundsException.class,
            () -> appender.tryAppend(1, ExpectedVersion.ANY_VALUE, 1, small, 4, 8));
        assertThrows(IndexOutOfBoundsException.class,
            () -> appender.tryAppend(1, ExpectedVersion.ANY_VALUE, 1, small, -1, 2));
        assertNothingWritten(tail);
        assertEquals(2, appender.append(1, ExpectedVersion.exact(1), 1, new byte[1000]), "the limit itself is fine");
        assertEquals(3, appender.append(1, ExpectedVersion.exact(2), 1, new byte[0]), "so is an empty payload");
    }

    @Test
    void expectedVersionsMustBeValid()
    {
        final long tail = db.tailPosition();
        assertThrows(IllegalArgumentException.class, () -> ExpectedVersion.exact(-1));
        assertThrows(IllegalArgumentException.class,
            () -> appender.tryAppend(1, -3, 1, new UnsafeBuffer(new byte[1]), 0, 1));
        assertSame(ExpectedVersion.NO_STREAM, ExpectedVersion.exact(0));
        assertEquals(ExpectedVersion.exact(5000), ExpectedVersion.of(5000));
        assertSame(ExpectedVersion.ANY, ExpectedVersion.of(ExpectedVersion.ANY_VALUE));
        assertSame(ExpectedVersion.STREAM_EXISTS, ExpectedVersion.of(ExpectedVersion.STREAM_EXISTS_VALUE));
        assertNothingWritten(tail);
    }

    @Test
    void readArgumentsAreChecked()
    {
        assertThrows(IllegalArgumentException.class, () -> db.readStream(1, 0, 1, (e) -> { }));
        assertThrows(IllegalArgumentException.class, () -> db.readStream(1, 1, -1, (e) -> { }));
        assertThrows(NullPointerException.class, () -> db.readStream(1, 1, 1, null));
        assertThrows(IllegalArgumentException.class, () -> db.readAll(-32, 1, (e) -> { }));
        assertThrows(IllegalArgumentException.class, () -> db.readAll(7, 1, (e) -> { }), "not a record position");
        assertEquals(0, db.readStream(99, 1, 10, (e) -> fail("no such stream")));
        assertEquals(0, db.readStream(1, 2, 10, (e) -> fail("no such version")));
        assertEquals(0, db.readAll(db.tailPosition(), 10, (e) -> fail("nothing after the tail")));
    }

    /**
     * The builder once took capacities up to 2^25, open refused anything above 2^24 after writing varve.meta, and
     * from then on no open of that directory worked.
     */
    @Test
    void everyIndexCapacityTheBuilderAcceptsIsOneOpenAccepts() throws Exception
    {
        final int max = StreamIndexDescriptor.MAX_CAPACITY;
        assertThrows(IllegalArgumentException.class, () -> VarveConfig.builder(dir).indexCapacity(max + 1));
        assertThrows(IllegalArgumentException.class, () -> VarveConfig.builder(dir).indexCapacity(1 << 25));
        assertEquals(max, VarveConfig.builder(dir).indexCapacity(max).build().indexCapacity());
        // the largest table the builder allows fits one mapping (opening it would zero-fill 1 GiB here)
        assertTrue(StreamIndexDescriptor.fileLength(StreamIndexDescriptor.tableSize(max)) <= Integer.MAX_VALUE);

        // a store whose meta file names an impossible capacity is refused as damaged, and left as it is
        final Path other = dir.resolve("forged");
        VarveDB.open(TestStores.small(other)).close();
        final Path meta = other.resolve(MetaDescriptor.FILE_NAME);
        try (FileChannel channel = FileChannel.open(meta,
            StandardOpenOption.WRITE))
        {
            final ByteBuffer capacity = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN)
                .putInt(0, max + 1);
            channel.write(capacity, MetaDescriptor.INDEX_CAPACITY_OFFSET);
        }
        final byte[] before = Files.readAllBytes(meta);
        final CorruptStoreException refused = assertThrows(CorruptStoreException.class,
            () -> VarveDB.open(TestStores.small(other)));
        assertTrue(refused.getMessage().contains("index capacity"), refused.getMessage());
        assertArrayEquals(before, Files.readAllBytes(meta));
    }

    @Test
    void aFullIndexNamesTheCapacitySettingAndKeepsOldStreamsWorking()
    {
        for (long stream = 2; stream <= 4; stream++)
        {
            appender.append(stream, ExpectedVersion.NO_STREAM, 1, new byte[1]);
        }
        final long tail = db.tailPosition();
        final StreamIndexFullException full = assertThrows(StreamIndexFullException.class,
            () -> appender.append(5, ExpectedVersion.ANY, 1, new byte[1]));
        assertTrue(full.getMessage().contains("indexCapacity"), full.getMessage());
        assertTrue(full.getMessage().contains("4"), full.getMessage());
        assertEquals(tail, db.tailPosition());
        assertEquals(2, appender.append(4, ExpectedVersion.exact(1), 1, new byte[1]));
        assertEquals(4, db.streamCount());
    }

    @Test
    void aClosedStoreAndAClosedAppenderRefuseWork()
    {
        final Appender other = db.appender();
        other.close();
        assertThrows(StoreClosedException.class, () -> other.append(1, ExpectedVersion.ANY, 1, new byte[1]));
        db.close();
        assertThrows(StoreClosedException.class, () -> appender.append(1, ExpectedVersion.ANY, 1, new byte[1]));
        assertThrows(StoreClosedException.class, () -> db.appender());
        assertThrows(StoreClosedException.class, () -> db.streamVersion(1));
        assertThrows(StoreClosedException.class, () -> db.readAll(0, 1, (e) -> { }));
        assertThrows(StoreClosedException.class, () -> db.readStream(1, 1, 1, (e) -> { }));
        db.close();
    }

    @Test
    void anAppenderUsedFromTwoThreadsAtOnceFailsFast() throws Exception
    {
        final java.util.concurrent.CountDownLatch inside = new java.util.concurrent.CountDownLatch(1);
        final java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);
        final Codec<String> slowCodec = new Codec<>()
        {
            public int maxEncodedLength(final String value)
            {
                return 8;
            }

            public int encode(final String value, final org.agrona.MutableDirectBuffer buffer, final int maxLength)
            {
                inside.countDown();
                try
                {
                    release.await();
                }
                catch (final InterruptedException ex)
                {
                    throw new IllegalStateException(ex);
                }
                return 0;
            }

            public String decode(final org.agrona.DirectBuffer buffer, final int offset, final int length)
            {
                return "";
            }
        };
        final Thread first = new Thread(() -> appender.append(2, ExpectedVersion.ANY, 1, "x", slowCodec));
        first.start();
        inside.await();
        assertThrows(IllegalStateException.class, () -> appender.append(3, ExpectedVersion.ANY, 1, new byte[1]));
        release.countDown();
        first.join();
        assertEquals(1, db.streamVersion(2));
        assertEquals(0, db.streamVersion(3));
    }

    @Test
    void aFailingCodecLeavesPaddingAndTheStreamUnchanged()
    {
        final Codec<String> failing = new Codec<>()
        {
            public int maxEncodedLength(final String value)
            {
                return 64;
            }

            public int encode(final String value, final org.agrona.MutableDirectBuffer buffer, final int maxLength)
            {
                buffer.putLong(0, 42);
                throw new IllegalStateException("codec failure");
            }

            public String decode(final org.agrona.DirectBuffer buffer, final int offset, final int length)
            {
                return "";
            }
        };
        assertThrows(IllegalStateException.class, () -> appender.append(1, ExpectedVersion.exact(1), 1, "x", failing));
        assertEquals(1, db.streamVersion(1));
        assertEquals(2, appender.append(1, ExpectedVersion.exact(1), 1, new byte[3]));
        StoreChecker.check(db);
    }
}
