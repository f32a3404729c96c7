package io.varvedb;

import io.varvedb.internal.crypto.KeyFileDescriptor;
import io.varvedb.internal.log.RecordDescriptor;
import io.varvedb.internal.log.SegmentDescriptor;
import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.UUID;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Encryption at rest: round trips through every append and read path, keys refused, tampering found, shredding,
 * master key rotation, and no clear payload byte in the store's files.
 */
class EncryptionTest
{
    static final byte[] KEY = key(1);
    static final byte[] OTHER_KEY = key(2);

    @TempDir
    Path dir;

    static byte[] key(final int seed)
    {
        final byte[] key = new byte[32];
        for (int i = 0; i < key.length; i++)
        {
            key[i] = (byte)(seed * 31 + i * 7);
        }
        return key;
    }

    static VarveConfig.Builder encrypted(final Path dir, final byte[] key)
    {
        return VarveConfig.builder(dir).segmentSize(TestStores.SEGMENT).indexCapacity(4096).indexBlocksPerChunk(64)
            .encryption(key);
    }

    static byte[] payload(final long stream, final long version, final int length)
    {
        final byte[] bytes = new byte[length];
        for (int i = 0; i < length; i++)
        {
            bytes[i] = (byte)(stream * 13 + version * 7 + i);
        }
        return bytes;
    }

    private static List<byte[]> readStream(final VarveDB db, final long stream)
    {
        final List<byte[]> events = new ArrayList<>();
        db.readStream(stream, 1, Integer.MAX_VALUE, (event) ->
        {
            final byte[] bytes = new byte[event.payloadLength()];
            event.payload().getBytes(0, bytes);
            events.add(bytes);
        });
        return events;
    }

    @Test
    void everyAppendPathRoundTripsThroughEveryReadPathAndAReopen()
    {
        final Map<Long, List<byte[]>> written = new TreeMap<>();
        final UUID id = UUID.randomUUID();
        try (VarveDB db = VarveDB.open(encrypted(dir, KEY).build()))
        {
            assertTrue(db.isEncrypted());
            final Appender appender = db.appender();
            for (long stream = 1; stream <= 20; stream++)
            {
                for (long version = 1; version <= 10; version++)
                {
                    final int length = (int)((stream * 37 + version * 101) % 3000);
                    final byte[] bytes = payload(stream, version, length);
                    if (version % 3 == 0)
                    {
                        appender.append(stream, ExpectedVersion.exact(version - 1), 7, new UnsafeBuffer(bytes), 0,
                            length);
                    }
                    else
                    {
                        appender.append(stream, ExpectedVersion.ANY, 7, bytes);
                    }
                    written.computeIfAbsent(stream, (s) -> new ArrayList<>()).add(bytes);
                }
            }
            // a batch, an event with an id, a typed event, a named stream
            final EventBatch batch = new EventBatch();
            final List<byte[]> batchPayloads = new ArrayList<>();
            for (int i = 0; i < 5; i++)
            {
                final byte[] bytes = payload(99, i, 10 + i * 100);
                batch.add(3, bytes);
                batchPayloads.add(bytes);
            }
            appender.appendBatch(99, ExpectedVersion.ANY, batch);
            written.put(99L, batchPayloads);
            final byte[] withId = "an event with an id".getBytes(StandardCharsets.UTF_8);
            appender.append(100, ExpectedVersion.ANY, 1, id, withId);
            written.put(100L, List.of(withId));
            final long named = db.streamId("customer-7");
            final byte[] namedPayload = "named".getBytes(StandardCharsets.UTF_8);
            appender.append(named, ExpectedVersion.ANY, 1, namedPayload);
            written.put(named, List.of(namedPayload));
            final byte[] empty = new byte[0];
            appender.append(101, ExpectedVersion.ANY, 1, empty);
            written.put(101L, List.of(empty));

            assertReads(db, written);
            final byte[][] seen = new byte[1][];
            assertTrue(db.readEvent(id, (event) ->
            {
                seen[0] = new byte[event.payloadLength()];
                event.payload().getBytes(0, seen[0]);
                assertTrue(event.isEncrypted());
            }));
            assertArrayEquals(withId, seen[0]);
        }
        try (VarveDB db = VarveDB.open(encrypted(dir, KEY).build()))
        {
            assertReads(db, written);
            db.appender().append(1, ExpectedVersion.exact(10), 7, payload(1, 11, 50));
            assertArrayEquals(payload(1, 11, 50), readStream(db, 1).get(10));
        }
        try (VarveDB db = VarveDB.openReadOnly(encrypted(dir, KEY).build()))
        {
            assertEquals(11, readStream(db, 1).size());
        }
    }

    private static void assertReads(final VarveDB db, final Map<Long, List<byte[]>> written)
    {
        for (final Map.Entry<Long, List<byte[]>> entry : written.entrySet())
        {
            final List<byte[]> read = readStream(db, entry.getKey());
            assertEquals(entry.getValue().size(), read.size(), "stream " + entry.getKey());
            for (int i = 0; i < read.size(); i++)
            {
                assertArrayEquals(entry.getValue().get(i), read.get(i), "stream " + entry.getKey() + " #" + i);
            }
        }
        final Map<Long, List<byte[]>> all = new TreeMap<>();
        db.readAll(VarveDB.START_POSITION, Integer.MAX_VALUE, (event) ->
        {
            if (!event.isStreamMetadata())
            {
                final byte[] bytes = new byte[event.payloadLength()];
                event.payload().getBytes(0, bytes);
                all.computeIfAbsent(event.streamId(), (s) -> new ArrayList<>()).add(bytes);
                assertTrue(event.isEncrypted());
            }
        });
        assertEquals(written.keySet(), all.keySet());
        for (final Map.Entry<Long, List<byte[]>> entry : written.entrySet())
        {
            final List<byte[]> read = all.get(entry.getKey());
            for (int i = 0; i < read.size(); i++)
            {
                assertArrayEquals(entry.getValue().get(i), read.get(i));
            }
        }
    }

    @Test
    void moreStreamsThanAThreadCachesKeysOfReadAndAppendRight()
    {
        final int streams = io.varvedb.internal.crypto.StreamCiphers.CACHE_SIZE * 2 + 77;
        try (VarveDB db = VarveDB.open(encrypted(dir, KEY).indexCapacity(4096).build()))
        {
            final Appender appender = db.appender();
            for (int round = 1; round <= 2; round++)
            {
                for (long stream = 1; stream <= streams; stream++)
                {
                    appender.append(stream, ExpectedVersion.exact(round - 1), 1, payload(stream, round, 24));
                }
            }
            for (int pass = 0; pass < 2; pass++)
            {
                final int[] seen = new int[1];
                db.readAll(VarveDB.START_POSITION, Integer.MAX_VALUE, (event) ->
                {
                    final byte[] bytes = new byte[event.payloadLength()];
                    event.payload().getBytes(0, bytes);
                    assertArrayEquals(payload(event.streamId(), event.version(), 24), bytes);
                    seen[0]++;
                });
                assertEquals(2 * streams, seen[0]);
            }
        }
    }

    @Test
    void aTypedAppendIsEncryptedToo()
    {
        final Codec<String> codec = new Codec<>()
        {
            @Override
            public int maxEncodedLength(final String value)
            {
                return value.length() * 3;
            }

            @Override
            public int encode(final String value, final org.agrona.MutableDirectBuffer buffer, final int maxLength)
            {
                final byte[] bytes = value.getBytes(StandardCharsets.UTF_8);
                buffer.putBytes(0, bytes);
                return bytes.length;
            }

            @Override
            public String decode(final org.agrona.DirectBuffer buffer, final int offset, final int length)
            {
                return buffer.getStringWithoutLengthUtf8(offset, length);
            }
        };
        try (VarveDB db = VarveDB.open(encrypted(dir, KEY).build()))
        {
            db.appender().append(5, ExpectedVersion.ANY, 1, "TYPED-SECRET-VALUE-0123456789", codec);
            final String[] read = new String[1];
            db.readStream(5, 1, 1, (event) -> read[0] = event.decode(codec));
            assertEquals("TYPED-SECRET-VALUE-0123456789", read[0]);
        }
        assertFalse(anyFileContains(dir, "TYPED-SECRET".getBytes(StandardCharsets.UTF_8)));
    }

    @Test
    void noClearPayloadByteReachesTheFiles() throws IOException
    {
        final byte[] pattern = "VARVE-CLEAR-PATTERN-7c1f-".repeat(4).getBytes(StandardCharsets.US_ASCII);
        // the control: the same events in a clear store, where the scan must find the pattern
        final Path clear = dir.resolve("clear");
        final Path secret = dir.resolve("secret");
        writePattern(VarveConfig.builder(clear).segmentSize(TestStores.SEGMENT).indexCapacity(4096).build(), pattern);
        writePattern(encrypted(secret, KEY).build(), pattern);
        final byte[] probe = Arrays.copyOfRange(pattern, 0, 12);
        assertTrue(anyFileContains(clear, probe), "the scan finds the pattern in a clear store");
        assertFalse(anyFileContains(secret, probe), "no 12 bytes of the pattern in any file of the encrypted store");
        // nor a key: the data keys are wrapped, the master key is nowhere
        assertFalse(anyFileContains(secret, Arrays.copyOfRange(KEY, 0, 16)));
    }

    private static void writePattern(final VarveConfig config, final byte[] pattern)
    {
        try (VarveDB db = VarveDB.open(config))
        {
            final Appender appender = db.appender();
            for (int i = 0; i < 2000; i++)
            {
                appender.append(1 + i % 17, ExpectedVersion.ANY, 1, pattern);
            }
            final EventBatch batch = new EventBatch();
            batch.add(1, pattern);
            batch.add(1, pattern);
            appender.appendBatch(40, ExpectedVersion.ANY, batch);
            appender.append(41, ExpectedVersion.ANY, 1, UUID.randomUUID(), pattern);
        }
    }

    static boolean anyFileContains(final Path directory, final byte[] needle)
    {
        try (Stream<Path> files = Files.walk(directory))
        {
            for (final Path file : files.filter(Files::isRegularFile).toList())
            {
                if (indexOf(Files.readAllBytes(file), needle) >= 0)
                {
                    return true;
                }
            }
            return false;
        }
        catch (final IOException ex)
        {
            throw new IllegalStateException(ex);
        }
    }

    static int indexOf(final byte[] haystack, final byte[] needle)
    {
        outer:
        for (int i = 0; i + needle.length <= haystack.length; i++)
        {
            for (int j = 0; j < needle.length; j++)
            {
                if (haystack[i + j] != needle[j])
                {
                    continue outer;
                }
            }
            return i;
        }
        return -1;
    }

    @Test
    void streamNamesAreEncryptedAndEveryNameFeatureStillWorksAfterACrash() throws Exception
    {
        final String name = "customer-alice@example.com";
        final long id;
        try (VarveDB db = VarveDB.open(encrypted(dir, KEY).build()))
        {
            id = db.streamId(name);
            db.appender().append(name, ExpectedVersion.ANY, 1, new byte[]{1, 2, 3});
            db.appender().append(name, ExpectedVersion.ANY, 1, new byte[]{4});
            db.setStreamMetadata(name, StreamMetadata.NONE.withMaxCount(1));
            db.streamId("customer-bob");
            final String longest = "n".repeat(VarveDB.MAX_STREAM_NAME_LENGTH - 16);
            db.streamId(longest);
            final IllegalArgumentException tooLong = assertThrows(IllegalArgumentException.class,
                () -> db.streamId(longest + "n"));
            assertTrue(tooLong.getMessage().contains("encrypted"), tooLong.getMessage());
        }
        dirty(dir);
        assertFalse(anyFileContains(dir, "alice@".getBytes(StandardCharsets.UTF_8)), "no name in clear in any file");
        assertFalse(anyFileContains(dir, "customer-".getBytes(StandardCharsets.UTF_8)));
        try (VarveDB db = VarveDB.open(encrypted(dir, KEY).build()))
        {
            assertEquals(id, db.findStreamId(name));
            assertEquals(name, db.streamName(id));
            final List<String> listed = new ArrayList<>();
            db.streams("customer-", (n, i) -> listed.add(n));
            assertEquals(List.of(name, "customer-bob"), listed);
            assertEquals(1, db.streamMetadata(name).maxCount());
            assertEquals(1, db.readStream(name, 1, 10, (e) -> assertEquals(1, e.payloadLength())));
            assertEquals(2, db.streamVersion(name));
        }
        try (VarveDB db = VarveDB.openReadOnly(encrypted(dir, KEY).build()))
        {
            assertEquals(name, db.streamName(id));
        }
    }

    @Test
    void eventIdsAreEncryptedAndExactlyOnceStillWorksAfterACrash() throws Exception
    {
        final UUID id = new UUID(0x1122334455667788L, 0x99aabbccddeeff00L);
        final UUID batchId = new UUID(0x0102030405060708L, 0x0a0b0c0d0e0f1011L);
        final byte[] stored = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN)
            .putLong(id.getMostSignificantBits()).putLong(id.getLeastSignificantBits()).array();
        // the control: a clear store holds the id's bytes as they are
        final Path clear = dir.resolve("clear");
        try (VarveDB db = VarveDB.open(VarveConfig.builder(clear).segmentSize(TestStores.SEGMENT).build()))
        {
            db.appender().append(1, ExpectedVersion.ANY, 1, id, new byte[]{1});
        }
        assertTrue(anyFileContains(clear, stored));
        final Path secret = dir.resolve("secret");
        try (VarveDB db = VarveDB.open(encrypted(secret, KEY).build()))
        {
            final Appender appender = db.appender();
            assertEquals(1, appender.append(1, ExpectedVersion.ANY, 1, id, new byte[]{1}));
            assertEquals(1, appender.append(1, ExpectedVersion.ANY, 1, id, new byte[]{1}));
            assertTrue(appender.lastWasDuplicate(), "a retry of the id is found");
            final EventIdConflictException conflict = assertThrows(EventIdConflictException.class,
                () -> appender.append(2, ExpectedVersion.ANY, 1, id, new byte[]{1}));
            assertTrue(conflict.getMessage().contains(id.toString()), "the message names the id as given: " +
                conflict.getMessage());
            final EventBatch batch = new EventBatch();
            batch.add(1, new byte[]{2}).eventId(batchId.getMostSignificantBits(), batchId.getLeastSignificantBits());
            batch.add(1, new byte[]{3}).eventId(7, 8);
            appender.appendBatch(3, ExpectedVersion.ANY, batch);
        }
        dirty(secret);
        assertFalse(anyFileContains(secret, stored), "the id's bytes are nowhere in the encrypted store");
        assertFalse(anyFileContains(secret, Arrays.copyOfRange(stored, 0, 8)));
        try (VarveDB db = VarveDB.open(encrypted(secret, KEY).build()))
        {
            final UUID[] seen = new UUID[1];
            assertTrue(db.readEvent(id, (event) -> seen[0] = event.eventId()));
            assertEquals(id, seen[0]);
            assertTrue(db.readEvent(batchId, (event) -> seen[0] = event.eventId()));
            assertEquals(batchId, seen[0]);
            assertTrue(db.readEvent(new UUID(7, 8), (event) -> assertEquals(8, event.eventIdLow())));
            final Appender appender = db.appender();
            assertEquals(1, appender.append(1, ExpectedVersion.ANY, 1, id, new byte[]{1}));
            assertTrue(appender.lastWasDuplicate(), "found again after recovery rebuilt the table from the log");
            final List<UUID> all = new ArrayList<>();
            db.readAll(VarveDB.START_POSITION, 100, (event) ->
            {
                if (event.hasEventId())
                {
                    all.add(event.eventId());
                }
            });
            assertEquals(List.of(id, batchId, new UUID(7, 8)), all);
        }
    }

    @Test
    void aWrongKeyNoKeyOrAKeyForAClearStoreIsRefusedBeforeAnythingIsWritten() throws Exception
    {
        try (VarveDB db = VarveDB.open(encrypted(dir, KEY).build()))
        {
            db.appender().append(1, ExpectedVersion.ANY, 1, new byte[10]);
        }
        // a crash: the store is left dirty, so an open that got as far as recovery would write
        dirty(dir);
        final Map<String, String> before = digests(dir);
        Thread.sleep(20);
        final EncryptionKeyException wrong = assertThrows(EncryptionKeyException.class,
            () -> VarveDB.open(encrypted(dir, OTHER_KEY).build()));
        assertTrue(wrong.getMessage().contains("does not open"), wrong.getMessage());
        final EncryptionKeyException none = assertThrows(EncryptionKeyException.class,
            () -> VarveDB.open(VarveConfig.builder(dir).build()));
        assertTrue(none.getMessage().contains("encrypted store"), none.getMessage());
        assertThrows(EncryptionKeyException.class, () -> VarveDB.openReadOnly(dir));
        assertThrows(EncryptionKeyException.class, () -> VarveDB.openReadOnly(encrypted(dir, OTHER_KEY).build()));
        assertEquals(before, digests(dir), "no file of the store changed");

        final Path clearStore = dir.resolve("clear");
        try (VarveDB db = VarveDB.open(VarveConfig.builder(clearStore).segmentSize(TestStores.SEGMENT).build()))
        {
            db.appender().append(1, ExpectedVersion.ANY, 1, new byte[10]);
        }
        final EncryptionKeyException notEncrypted = assertThrows(EncryptionKeyException.class,
            () -> VarveDB.open(encrypted(clearStore, KEY).build()));
        assertTrue(notEncrypted.getMessage().contains("without encryption"), notEncrypted.getMessage());
        assertThrows(IllegalArgumentException.class, () -> VarveConfig.builder(dir).encryption(new byte[16]));

        // the key file gone: the store still knows it is encrypted, and says what is missing
        Files.move(dir.resolve(KeyFileDescriptor.FILE_NAME), dir.resolve("elsewhere.keys"));
        final EncryptionKeyException missing = assertThrows(EncryptionKeyException.class,
            () -> VarveDB.open(encrypted(dir, KEY).build()));
        assertTrue(missing.getMessage().contains("missing"), missing.getMessage());
        assertThrows(EncryptionKeyException.class, () -> VarveDB.open(VarveConfig.builder(dir).build()));
        Files.move(dir.resolve("elsewhere.keys"), dir.resolve(KeyFileDescriptor.FILE_NAME));
        try (VarveDB db = VarveDB.open(encrypted(dir, KEY).build()))
        {
            assertEquals(1, readStream(db, 1).size());
        }
    }

    static void dirty(final Path dir) throws IOException
    {
        try (FileChannel channel = FileChannel.open(dir.resolve("varve.meta"), StandardOpenOption.WRITE))
        {
            channel.write(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(0, 0), 20);
        }
    }

    static Map<String, String> digests(final Path dir) throws Exception
    {
        final Map<String, String> digests = new TreeMap<>();
        try (Stream<Path> files = Files.walk(dir))
        {
            for (final Path file : files.filter(Files::isRegularFile).toList())
            {
                digests.put(dir.relativize(file).toString(), java.util.HexFormat.of().formatHex(
                    MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(file))) + " " +
                    Files.getLastModifiedTime(file).toMillis());
            }
        }
        return digests;
    }

    /** Where the records of a closed store are, by stream and version. */
    record Located(Path segment, int offset, int frameLength)
    {
    }

    static Map<String, Located> locate(final Path dir) throws IOException
    {
        final Map<String, Located> found = new TreeMap<>();
        try (Stream<Path> files = Files.list(dir.resolve("log")))
        {
            for (final Path segment : files.sorted().toList())
            {
                final UnsafeBuffer buffer = new UnsafeBuffer(Files.readAllBytes(segment));
                int offset = SegmentDescriptor.HEADER_LENGTH;
                while (offset + RecordDescriptor.HEADER_LENGTH <= buffer.capacity())
                {
                    final int frameLength = buffer.getInt(offset);
                    if (frameLength <= 0)
                    {
                        break;
                    }
                    if (buffer.getShort(offset + RecordDescriptor.RECORD_TYPE_OFFSET) == RecordDescriptor.TYPE_EVENT)
                    {
                        found.put(buffer.getLong(offset + RecordDescriptor.STREAM_ID_OFFSET) + "/" +
                            buffer.getLong(offset + RecordDescriptor.VERSION_OFFSET),
                            new Located(segment, offset, frameLength));
                    }
                    offset += RecordDescriptor.alignedLength(frameLength);
                }
            }
        }
        return found;
    }

    static void rewrite(final Located at, final java.util.function.Consumer<UnsafeBuffer> change, final boolean fixCrc)
        throws IOException
    {
        final byte[] bytes = Files.readAllBytes(at.segment());
        final UnsafeBuffer buffer = new UnsafeBuffer(bytes);
        change.accept(buffer);
        if (fixCrc)
        {
            final int frameLength = buffer.getInt(at.offset());
            final java.util.zip.CRC32C crc = new java.util.zip.CRC32C();
            crc.update(bytes, at.offset() + RecordDescriptor.CHECKSUM_START,
                frameLength - RecordDescriptor.CHECKSUM_START);
            buffer.putInt(at.offset() + RecordDescriptor.CHECKSUM_OFFSET, (int)crc.getValue());
        }
        Files.write(at.segment(), bytes);
    }

    @Test
    void aFlippedCipherTextBitIsFoundByTheChecksumAndIfTheChecksumIsForgedByTheTag() throws IOException
    {
        try (VarveDB db = VarveDB.open(encrypted(dir, KEY).build()))
        {
            for (int v = 1; v <= 3; v++)
            {
                db.appender().append(1, ExpectedVersion.ANY, 1, payload(1, v, 200));
            }
        }
        final Located second = locate(dir).get("1/2");
        final int cipherText = second.offset() + RecordDescriptor.HEADER_LENGTH + RecordDescriptor.NONCE_PREFIX_LENGTH;
        rewrite(second, (b) -> b.putByte(cipherText + 17, (byte)(b.getByte(cipherText + 17) ^ 0x04)), false);
        try (VarveDB db = VarveDB.open(encrypted(dir, KEY).build()))
        {
            final CorruptStoreException damage = assertThrows(CorruptStoreException.class, () -> readStream(db, 1));
            assertTrue(damage.getMessage().contains("checksum"), damage.getMessage());
        }
        // an attacker recomputes the CRC (it is no secret): the tag still refuses the record
        rewrite(second, (b) -> { }, true);
        try (VarveDB db = VarveDB.open(encrypted(dir, KEY).build()))
        {
            final CorruptStoreException forged = assertThrows(CorruptStoreException.class, () -> readStream(db, 1));
            assertTrue(forged.getMessage().contains("authentication tag"), forged.getMessage());
            assertEquals(1, db.readStream(1, 1, 1, (event) -> { }), "the events before it still read");
        }
        // so does a flipped bit of the tag, the nonce prefix, or an authenticated header field
        for (final int field : new int[]{second.frameLength() - 1, RecordDescriptor.HEADER_LENGTH,
            RecordDescriptor.TIMESTAMP_OFFSET, RecordDescriptor.EVENT_TYPE_OFFSET})
        {
            rewrite(second, (b) -> b.putByte(cipherText + 17, (byte)(b.getByte(cipherText + 17) ^ 0x04)), true);
            rewrite(second, (b) -> b.putByte(second.offset() + field, (byte)(b.getByte(second.offset() + field) ^ 1)),
                true);
            try (VarveDB db = VarveDB.open(encrypted(dir, KEY).build()))
            {
                assertThrows(CorruptStoreException.class, () -> db.readAll(VarveDB.START_POSITION, 100,
                    (event) -> { }), "field at " + field);
            }
            rewrite(second, (b) -> b.putByte(second.offset() + field, (byte)(b.getByte(second.offset() + field) ^ 1)),
                true);
            rewrite(second, (b) -> b.putByte(cipherText + 17, (byte)(b.getByte(cipherText + 17) ^ 0x04)), true);
        }
    }

    @Test
    void aRecordCopiedOverAnotherPositionFailsItsTag() throws IOException
    {
        try (VarveDB db = VarveDB.open(encrypted(dir, KEY).build()))
        {
            // same stream, same length: the copy is a well-formed record in every clear field but its position
            db.appender().append(1, ExpectedVersion.ANY, 1, "pay the seller 100".getBytes(StandardCharsets.UTF_8));
            db.appender().append(1, ExpectedVersion.ANY, 1, "pay the seller 999".getBytes(StandardCharsets.UTF_8));
        }
        final Map<String, Located> records = locate(dir);
        final Located first = records.get("1/1");
        final Located second = records.get("1/2");
        assertEquals(first.frameLength(), second.frameLength());
        // replay version 2's record over version 1's position, with version 1's header (stream, version, time)
        rewrite(first, (b) ->
        {
            final int header = RecordDescriptor.HEADER_LENGTH;
            b.putBytes(first.offset() + header, b, second.offset() + header, second.frameLength() - header);
        }, true);
        try (VarveDB db = VarveDB.open(encrypted(dir, KEY).build()))
        {
            final CorruptStoreException moved = assertThrows(CorruptStoreException.class, () -> readStream(db, 1));
            assertTrue(moved.getMessage().contains("authentication tag"), moved.getMessage());
        }
    }

    @Test
    void aShreddedStreamIsUnreadableEverywhereAfterReopenAndScavengeDropsIt() throws Exception
    {
        final byte[] secret = "PERSONAL-DATA-OF-ALICE-1234567890".getBytes(StandardCharsets.US_ASCII);
        try (VarveDB db = VarveDB.open(encrypted(dir, KEY).build()))
        {
            final Appender appender = db.appender();
            for (int i = 0; i < 3000; i++)
            {
                appender.append(1 + i % 3, ExpectedVersion.ANY, 1, secret);
            }
            final long named = db.streamId("alice");
            appender.append(named, ExpectedVersion.ANY, 1, secret);
            assertTrue(db.shredStream(2));
            assertTrue(db.shredStream("alice"));
            assertFalse(db.shredStream(2), "a key is destroyed once");
            assertFalse(db.shredStream(77), "a stream with no key: nothing destroyed, and shredded from now on");
            // a subscription to all from the start skips the shredded streams' events
            final java.util.concurrent.ConcurrentLinkedQueue<Long> streams = new java.util.concurrent.ConcurrentLinkedQueue<>();
            try (RunningSubscription subscription = db.subscribeToAll(VarveDB.START_POSITION,
                (e) -> streams.add(e.streamId())))
            {
                final long deadline = System.nanoTime() + 20_000_000_000L;
                while (streams.size() < 2000 && System.nanoTime() < deadline)
                {
                    Thread.sleep(5);
                }
            }
            assertEquals(2000, streams.stream().filter((s) -> s > 0).count());
            assertFalse(streams.contains(2L));
            assertFalse(streams.contains(named));
            assertShredded(db, 2, named);
            final StreamShreddedException append = assertThrows(StreamShreddedException.class,
                () -> appender.append(2, ExpectedVersion.ANY, 1, new byte[3]));
            assertEquals(2, append.streamId());
            assertThrows(StreamShreddedException.class, () -> appender.append(77, ExpectedVersion.ANY, 1, new byte[3]));
            assertTrue(db.isShredded(77));
            assertFalse(db.isShredded(1));
        }
        try (VarveDB db = VarveDB.open(encrypted(dir, KEY).build()))
        {
            assertShredded(db, 2, db.streamId("alice"));
            assertEquals(1000, readStream(db, 1).size());
            // the key file's entries of shredded streams hold zeros where their keys were
            assertEquals(3, zeroedEntries(dir));
            final ScavengeResult result = db.scavenge();
            assertTrue(result.eventsDropped() >= 500, "the scavenge drops the shredded events: " + result);
            assertShredded(db, 2, db.streamId("alice"));
            assertEquals(1000, readStream(db, 1).size());
        }
        try (VarveDB db = VarveDB.openReadOnly(encrypted(dir, KEY).build()))
        {
            assertShredded(db, 2, db.streamId("alice"));
        }
    }

    private static void assertShredded(final VarveDB db, final long stream, final long named)
    {
        assertTrue(db.isShredded(stream));
        assertThrows(StreamShreddedException.class, () -> readStream(db, stream));
        assertThrows(StreamShreddedException.class, () -> readStream(db, named));
        assertThrows(StreamShreddedException.class, () -> db.readStreamBackward(stream, VarveDB.LATEST_VERSION, 10,
            (e) -> { }));
        final long[] seen = new long[1];
        db.readAll(VarveDB.START_POSITION, Integer.MAX_VALUE, (event) ->
        {
            assertNotEquals(stream, event.streamId());
            assertNotEquals(named, event.streamId());
            seen[0]++;
        });
        assertTrue(seen[0] >= 200, "the other streams' events are all there: " + seen[0]);
    }

    static int zeroedEntries(final Path dir) throws IOException
    {
        final UnsafeBuffer keys = new UnsafeBuffer(Files.readAllBytes(dir.resolve(KeyFileDescriptor.FILE_NAME)));
        final long count = keys.getLong(KeyFileDescriptor.COUNT_OFFSET);
        int zeroed = 0;
        for (long entry = 0; entry < count; entry++)
        {
            final int offset = KeyFileDescriptor.entryOffset(entry);
            if (keys.getLong(offset + KeyFileDescriptor.STATE_OFFSET) == KeyFileDescriptor.SHREDDED)
            {
                for (int i = 0; i < KeyFileDescriptor.WRAPPED_KEY_LENGTH; i++)
                {
                    assertEquals(0, keys.getByte(offset + KeyFileDescriptor.WRAPPED_KEY_OFFSET + i));
                }
                zeroed++;
            }
        }
        return zeroed;
    }

    @Test
    void theMasterKeyRotatesInOneCallWhileAppendsGoOn() throws Exception
    {
        try (VarveDB db = VarveDB.open(encrypted(dir, KEY).build()))
        {
            final Appender appender = db.appender();
            for (int i = 0; i < 100; i++)
            {
                appender.append(1 + i % 10, ExpectedVersion.ANY, 1, payload(i, 0, 30));
            }
            db.rotateMasterKey(OTHER_KEY);
            for (int i = 100; i < 200; i++)
            {
                appender.append(1 + i % 20, ExpectedVersion.ANY, 1, payload(i, 0, 30));
            }
            assertEquals(15, readStream(db, 1).size());
        }
        assertFalse(Files.exists(dir.resolve(KeyFileDescriptor.OLD_FILE_NAME)));
        assertFalse(Files.exists(dir.resolve(KeyFileDescriptor.NEXT_FILE_NAME)));
        assertThrows(EncryptionKeyException.class, () -> VarveDB.open(encrypted(dir, KEY).build()));
        try (VarveDB db = VarveDB.open(encrypted(dir, OTHER_KEY).build()))
        {
            assertEquals(15, readStream(db, 1).size());
            assertEquals(5, readStream(db, 20).size());
            db.rotateMasterKey(KEY);
        }
        // a rotation killed while making its new file leaves its temporary file: the next writer scrubs it
        Files.write(dir.resolve(KeyFileDescriptor.NEXT_FILE_NAME + ".tmp"), new byte[8192]);
        try (VarveDB db = VarveDB.open(encrypted(dir, KEY).build()))
        {
            assertEquals(5, readStream(db, 20).size());
        }
        assertFalse(Files.exists(dir.resolve(KeyFileDescriptor.NEXT_FILE_NAME + ".tmp")));
    }

    @Test
    void aReaderOfAnotherInstanceGoesOnAfterARotationWithTheKeysItHoldsAndSeesLaterShreds()
    {
        try (VarveDB writer = VarveDB.open(encrypted(dir, KEY).build()))
        {
            final Appender appender = writer.appender();
            appender.append(1, ExpectedVersion.ANY, 1, payload(1, 1, 40));
            appender.append(2, ExpectedVersion.ANY, 1, payload(2, 1, 40));
            try (VarveDB reader = VarveDB.openReadOnly(encrypted(dir, KEY).build()))
            {
                assertEquals(1, readStream(reader, 1).size());
                writer.rotateMasterKey(OTHER_KEY);
                appender.append(1, ExpectedVersion.ANY, 1, payload(1, 2, 40));
                appender.append(9, ExpectedVersion.ANY, 1, payload(9, 1, 40));
                final List<byte[]> one = readStream(reader, 1);
                assertEquals(2, one.size(), "the key it holds still reads the stream");
                assertArrayEquals(payload(1, 2, 40), one.get(1));
                final EncryptionKeyException rotated = assertThrows(EncryptionKeyException.class,
                    () -> readStream(reader, 9));
                assertTrue(rotated.getMessage().contains("rotated"), rotated.getMessage());
                writer.shredStream(1);
                assertThrows(StreamShreddedException.class, () -> readStream(reader, 1),
                    "a shred after the rotation is seen through the new file");
            }
            try (VarveDB reader = VarveDB.openReadOnly(encrypted(dir, OTHER_KEY).build()))
            {
                assertEquals(1, readStream(reader, 9).size());
                assertEquals(1, readStream(reader, 2).size());
            }
        }
    }

    @Test
    void aReadOnlyOpenWithoutTheKeyShowsCipherTextOfTheRightLengthIfAsked()
    {
        final byte[] clear = "visible only with the key".getBytes(StandardCharsets.UTF_8);
        try (VarveDB db = VarveDB.open(encrypted(dir, KEY).build()))
        {
            db.appender().append(1, ExpectedVersion.ANY, 1, clear);
        }
        try (VarveDB db = VarveDB.openReadOnly(VarveConfig.builder(dir).readCiphertext(true).build()))
        {
            assertTrue(db.isEncrypted());
            final byte[][] seen = new byte[1][];
            db.readAll(VarveDB.START_POSITION, 10, (event) ->
            {
                assertTrue(event.isEncrypted());
                seen[0] = new byte[event.payloadLength()];
                event.payload().getBytes(0, seen[0]);
            });
            assertEquals(clear.length, seen[0].length);
            assertFalse(Arrays.equals(clear, seen[0]));
        }
        assertThrows(IllegalArgumentException.class,
            () -> VarveDB.open(VarveConfig.builder(dir).readCiphertext(true).build()));
    }
}
