package io.varvedb.tools;

import io.varvedb.Appender;
import io.varvedb.ExpectedVersion;
import io.varvedb.VarveConfig;
import io.varvedb.VarveDB;
import io.varvedb.internal.log.RecordDescriptor;
import io.varvedb.internal.log.SegmentDescriptor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.zip.CRC32C;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The commands on an encrypted store, with and without {@code --key-file}: clear payloads with the key, sizes only
 * without it, a wrong key or a malformed key file refused with one line and nothing written, the hex dump of an
 * encrypted record, and the commands that cannot work without the key refusing and saying so.
 */
class EncryptedStoreToolsTest
{
    private static final int SEGMENT_SIZE = 64 * 1024;
    private static final int STREAMS = 3;
    private static final int EVENTS_PER_STREAM = 20;
    private static final int TYPE = 7;
    private static final String SECRET = "secret order";
    private static final String FORMS = "32 raw bytes, 64 hex digits, or the base64 of 32 bytes";
    private static final UUID EVENT_ID = UUID.fromString("0e5c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b");
    private static final byte[] KEY = key(1);
    private static final byte[] OTHER_KEY = key(101);

    @TempDir
    Path temp;

    // ------------------------------------------------------------------------------------------------------ dump

    @Test
    void dumpWithTheKeyShowsWhatItShowsForAClearStoreInEachKeyFileForm() throws Exception
    {
        final Path encrypted = writeStore("encrypted", KEY);
        final Path clear = writeStore("clear", null);
        final List<String> expected = withoutPositions(ok(Cli.run("dump", clear.toString(), "--limit", "0")));
        assertEquals(STREAMS * EVENTS_PER_STREAM + 2, expected.size(), expected::toString);
        assertTrue(expected.get(0).endsWith("  26 B  " + SECRET + " 1 of stream 1"), expected::toString);

        final String hex = HexFormat.of().formatHex(KEY);
        final Map<String, byte[]> forms = Map.of(
            "raw", KEY,
            "hex", (hex + "\n").getBytes(StandardCharsets.US_ASCII),
            "HEX", ("\t" + hex.toUpperCase(java.util.Locale.ROOT) + "\r\n").getBytes(StandardCharsets.US_ASCII),
            "base64", (" " + Base64.getEncoder().encodeToString(KEY) + "\n\n").getBytes(StandardCharsets.US_ASCII),
            "base64-unpadded", Base64.getEncoder().withoutPadding().encodeToString(KEY)
                .getBytes(StandardCharsets.US_ASCII));
        for (final Map.Entry<String, byte[]> form : forms.entrySet())
        {
            final Path keyFile = Files.write(temp.resolve("key-" + form.getKey()), form.getValue());
            final Cli.Result dump = Cli.run("dump", encrypted.toString(), "--limit", "0", "--key-file",
                keyFile.toString());
            assertEquals(expected, withoutPositions(ok(dump)), form.getKey() + ": " + dump);
            assertFalse(dump.out().contains("encrypted"), dump::toString);
        }
        // one stream, by id
        final Cli.Result stream = ok(Cli.run("dump", encrypted.toString(), "--stream", "2", "--limit", "0",
            "--key-file", keyFile(KEY).toString()));
        assertEquals(EVENTS_PER_STREAM, stream.out().lines().count(), stream::toString);
        assertTrue(stream.out().lines().allMatch((line) -> line.contains(SECRET) && line.endsWith(" of stream 2")),
            stream::toString);
    }

    @Test
    void dumpWithoutTheKeyShowsHeadersAndCipherTextSizesNeverThePayloads() throws Exception
    {
        final Path dir = writeStore("store", KEY);
        final Cli.Result dump = ok(Cli.run("dump", dir.toString(), "--limit", "0"));
        assertFalse(dump.out().contains(SECRET) || dump.err().contains(SECRET), dump::toString);
        final List<String> lines = dump.out().lines().toList();
        assertEquals(1, lines.stream().filter((line) -> line.contains("--key-file")).count(), dump::toString);
        assertTrue(lines.get(0).contains("is encrypted and was opened without its master key"), dump::toString);
        assertEquals(STREAMS * EVENTS_PER_STREAM + 2, lines.size() - 1, dump::toString);
        // the header in clear, the size of the cipher text (that of the clear payload), and nothing of its bytes
        assertTrue(lines.get(1).matches("@0  stream 1  v 1  type 7  \\S+Z  26 B  payload: 26 bytes encrypted"),
            dump::toString);
        for (final String line : lines.subList(1, lines.size()))
        {
            assertTrue(line.matches("@[0-9,]+  stream \\S+( \"[^\"]+\")?  v \\d+  type 7  \\S+Z  (\\d+) B.*  " +
                "payload: \\d+ bytes encrypted"), line);
            final Matcher sizes = Pattern.compile("  (\\d+) B.*payload: (\\d+) bytes encrypted").matcher(line);
            assertTrue(sizes.find(), line);
            assertEquals(sizes.group(1), sizes.group(2), line);
        }
        // names and event ids are encrypted too: without the key, neither shows
        assertTrue(dump.out().contains("  id (encrypted)  payload: "), dump::toString);
        assertFalse(dump.out().contains(EVENT_ID.toString()), dump::toString);
        assertTrue(dump.out().contains("stream -1  v 1  type 7"), dump::toString);
        assertFalse(dump.out().contains("orders-eu"), dump::toString);

        // a --codec is never handed cipher text
        final Cli.Result codec = ok(Cli.run("dump", dir.toString(), "--limit", "3", "--codec",
            OrderCodecForTests.class.getName()));
        assertTrue(codec.out().contains("payload: 26 bytes encrypted"), codec::toString);
        assertFalse(codec.out().contains("Order[") || codec.out().contains("could not decode") ||
            codec.out().contains(SECRET), codec::toString);
    }

    @Test
    void hexLabelsTheWriterGenerationCipherTextAndTagOfAnEncryptedRecord() throws Exception
    {
        final Path dir = writeStore("store", KEY);
        final long position = 0;
        final Cli.Result hex = ok(Cli.run("dump", dir.toString(), "--from", "" + position, "--limit", "1", "--hex"));
        final String out = hex.out();
        final int frameLength = RecordDescriptor.HEADER_LENGTH + RecordDescriptor.ENCRYPTION_OVERHEAD + 26;
        assertTrue(out.contains("# frame length " + frameLength + " (header 40 + writer generation 4 + cipher text 26 " +
            "+ tag 16), published last"), hex::toString);
        assertTrue(out.contains("# record type 1 (event), flags 16 (encrypted)"), hex::toString);
        assertTrue(out.contains("# writer generation "), hex::toString);
        assertTrue(out.contains("# cipher text [0..16) |"), hex::toString);
        assertTrue(out.contains("# cipher text [16..26) |"), hex::toString);
        assertFalse(out.contains("payload ["), hex::toString);
        assertFalse(out.contains(SECRET) || out.contains("|secret"), hex::toString);

        // every byte of the record as it lies on disk, in order, and each field's bytes where the labels say
        final byte[] record = recordBytes(dir, position, RecordDescriptor.alignedLength(frameLength));
        final Map<String, byte[]> fields = hexFields(out);
        assertArrayEquals(record, concat(fields), hex::toString);
        final int generationAt = RecordDescriptor.HEADER_LENGTH;
        assertArrayEquals(Arrays.copyOfRange(record, generationAt, generationAt + 4), field(fields, "writer generation"));
        assertArrayEquals(Arrays.copyOfRange(record, generationAt + 4, generationAt + 4 + 26),
            concat(field(fields, "cipher text [0..16)"), field(fields, "cipher text [16..26)")));
        assertArrayEquals(Arrays.copyOfRange(record, frameLength - 16, frameLength),
            field(fields, "GCM authentication tag"));
        assertEquals(ByteBuffer.wrap(record).order(ByteOrder.LITTLE_ENDIAN).getInt(generationAt) + "",
            fields.keySet().stream().filter((k) -> k.startsWith("writer generation ")).findFirst().orElseThrow()
                .split(" ")[2]);

        // with the key: the event line is clear, the bytes on disk are still the cipher text
        final Cli.Result withKey = ok(Cli.run("dump", dir.toString(), "--from", "" + position, "--limit", "1",
            "--hex", "--key-file", keyFile(KEY).toString()));
        assertTrue(withKey.out().lines().findFirst().orElseThrow().endsWith(SECRET + " 1 of stream 1"),
            withKey::toString);
        assertArrayEquals(record, concat(hexFields(withKey.out())), withKey::toString);
        assertFalse(withKey.out().contains("|secret"), withKey::toString);

        // an event with an id: the generation follows the id
        final long withId = positionOfEventWithId(dir);
        final Cli.Result idHex = ok(Cli.run("dump", dir.toString(), "--from", "" + withId, "--limit", "1", "--hex"));
        final int idPayload = (SECRET + " 9").length();
        assertTrue(idHex.out().contains("(header 56 + writer generation 4 + cipher text " + idPayload + " + tag 16)"),
            idHex::toString);
        assertTrue(idHex.out().contains("flags 20 (event-id, encrypted)"), idHex::toString);
        final byte[] idRecord = recordBytes(dir, withId, RecordDescriptor.alignedLength(56 + 4 + idPayload + 16));
        final Map<String, byte[]> idFields = hexFields(idHex.out());
        assertArrayEquals(idRecord, concat(idFields), idHex::toString);
        assertArrayEquals(Arrays.copyOfRange(idRecord, 56, 60), field(idFields, "writer generation"));
        assertArrayEquals(Arrays.copyOfRange(idRecord, 56 + 4 + idPayload, 56 + 4 + idPayload + 16),
            field(idFields, "GCM authentication tag"));
    }

    // ------------------------------------------------------------------------------------------ keys refused

    @Test
    void aWrongKeyIsRefusedByEveryCommandWithOneLineAndNothingWritten() throws Exception
    {
        final Path dir = writeStore("store", KEY);
        final Path wrong = keyFile(OTHER_KEY);
        final Map<String, String> before = StoreCommandsTest.digests(dir);
        for (final String[] command : new String[][] {
            {"dump"}, {"dump", "--hex"}, {"info"}, {"verify"}, {"tail", "--count", "1"}, {"scavenge"},
            {"scavenge", "--dry-run"}})
        {
            final List<String> args = new ArrayList<>(List.of(command));
            args.add(1, dir.toString());
            args.addAll(List.of("--key-file", wrong.toString()));
            final Cli.Result result = Cli.run(args.toArray(new String[0]));
            oneLine(result, ExitCode.STORE, "--key-file " + wrong + ": the master key given does not open");
            assertTrue(result.err().contains("Nothing was written"), result::toString);
            assertTrue(result.out().isEmpty(), result::toString);
            assertEquals(before, StoreCommandsTest.digests(dir), () -> String.join(" ", command) + " changed a file");
        }
    }

    @Test
    void keyFilesThatHoldNoKeyAreRefusedNamingTheFormsWithoutQuotingThem() throws Exception
    {
        final Path dir = writeStore("store", KEY);
        final String hex = HexFormat.of().formatHex(KEY);
        final byte[][] bad = {
            new byte[0],
            "\n  \n".getBytes(StandardCharsets.US_ASCII),
            Arrays.copyOf(KEY, 31),
            Arrays.copyOf(KEY, 33),
            hex.substring(1).getBytes(StandardCharsets.US_ASCII),
            (hex + "0").getBytes(StandardCharsets.US_ASCII),
            ("zz" + hex.substring(2)).getBytes(StandardCharsets.US_ASCII),
            (hex.substring(0, 32) + " " + hex.substring(32)).getBytes(StandardCharsets.US_ASCII),
            Base64.getEncoder().encodeToString(Arrays.copyOf(KEY, 31)).getBytes(StandardCharsets.US_ASCII),
            Base64.getEncoder().encodeToString(Arrays.copyOf(KEY, 33)).getBytes(StandardCharsets.US_ASCII),
            "a passphrase is not a master key\n".getBytes(StandardCharsets.US_ASCII),
            new byte[8192]};
        final Map<String, String> before = StoreCommandsTest.digests(dir);
        for (int i = 0; i < bad.length; i++)
        {
            final Path file = Files.write(temp.resolve("bad-" + i), bad[i]);
            for (final String command : new String[] {"dump", "info", "verify", "tail", "scavenge"})
            {
                final Cli.Result result = Cli.run(command, dir.toString(), "--key-file", file.toString());
                oneLine(result, ExitCode.USAGE, "--key-file " + file);
                assertTrue(result.err().contains(FORMS), result::toString);
                assertFalse(result.err().contains("passphrase") || result.err().contains(hex.substring(0, 16)),
                    result::toString);
            }
        }
        oneLine(Cli.run("dump", dir.toString(), "--key-file", temp.resolve("nowhere").toString()), ExitCode.USAGE,
            "--key-file " + temp.resolve("nowhere") + ": no such file");
        oneLine(Cli.run("info", dir.toString(), "--key-file", temp.toString()), ExitCode.USAGE,
            "--key-file " + temp + " is a directory");
        // a key for a store created without encryption
        final Path clear = writeStore("clear", null);
        oneLine(Cli.run("dump", clear.toString(), "--key-file", keyFile(KEY).toString()), ExitCode.USAGE,
            "is not encrypted (it was created without a master key): leave --key-file out");
        assertEquals(before, StoreCommandsTest.digests(dir));
    }

    @Test
    void keyFileParsing()
    {
        // raw bytes are taken whole, even when they begin or end with what looks like whitespace
        final byte[] spaced = key(3);
        spaced[0] = ' ';
        spaced[31] = '\n';
        assertArrayEquals(spaced, StoreKey.parse(spaced));
        final String hex = HexFormat.of().formatHex(KEY);
        assertArrayEquals(KEY, StoreKey.parse((" " + hex + "\n").getBytes(StandardCharsets.US_ASCII)));
        assertArrayEquals(KEY, StoreKey.parse(Base64.getEncoder().encode(KEY)));
        assertNull(StoreKey.parse(Base64.getEncoder().encode(Arrays.copyOf(KEY, 48))));
        assertNull(StoreKey.parse("-".repeat(64).getBytes(StandardCharsets.US_ASCII)));
        assertNull(StoreKey.parse(new byte[] {'\n'}));
    }

    // ------------------------------------------------------------------------------- commands that need the key

    @Test
    void commandsThatCannotWorkWithoutTheKeyRefuseAndSayWhichOptionGivesIt() throws Exception
    {
        final Path dir = writeStore("store", KEY);
        final Map<String, String> before = StoreCommandsTest.digests(dir);
        oneLine(Cli.run("tail", dir.toString(), "--count", "1"), ExitCode.STORE, "is an encrypted store: varve tail " +
            "needs its master key");
        oneLine(Cli.run("scavenge", dir.toString()), ExitCode.STORE, "varve scavenge needs its master key");
        oneLine(Cli.run("scavenge", dir.toString(), "--dry-run", "--json"), ExitCode.STORE,
            "varve scavenge --dry-run needs its master key");
        // refused before Kafka is asked anything: no broker listens on port 1, which would be exit 5
        oneLine(Cli.run("publish", dir.toString(), "--bootstrap", "localhost:1", "--topic", "t", "--timeout", "1s"),
            ExitCode.STORE, "varve publish needs its master key");
        oneLine(Cli.run("replicate", "--bootstrap", "localhost:1", "--topic", "t", "--timeout", "1s",
            dir.toString()), ExitCode.STORE, "varve replicate needs its master key");
        assertEquals(before, StoreCommandsTest.digests(dir));
    }

    @Test
    void tailInfoAndScavengeWithTheKey() throws Exception
    {
        final Path dir = writeStore("store", KEY);
        final String key = keyFile(KEY).toString();
        final Cli.Result tail = ok(Cli.run("tail", dir.toString(), "--from", "start", "--count", "2", "--key-file",
            key));
        assertEquals(2, tail.out().lines().count(), tail::toString);
        assertTrue(tail.out().lines().allMatch((line) -> line.contains(SECRET)), tail::toString);

        final Cli.Result infoWithout = ok(Cli.run("info", dir.toString()));
        assertTrue(infoWithout.out().contains("encryption     AES-256-GCM at rest, opened without its master key"),
            infoWithout::toString);
        assertTrue(infoWithout.out().contains("events         " + (STREAMS * EVENTS_PER_STREAM + 2) + " in " +
            (STREAMS + 2) + " streams"), infoWithout::toString);
        final Cli.Result info = ok(Cli.run("info", dir.toString(), "--key-file", key));
        assertTrue(info.out().contains("encryption     AES-256-GCM at rest, opened with the master key from " +
            "--key-file"), info::toString);
        assertFalse(info.out().contains(SECRET), info::toString);
        final Cli.Result clearInfo = ok(Cli.run("info", writeStore("clear", null).toString()));
        assertTrue(clearInfo.out().contains("encryption     none"), clearInfo::toString);

        // a shredded stream: its events go at a scavenge of the sealed segments, which needs the key to know it
        final Path big = temp.resolve("big");
        try (VarveDB db = VarveDB.open(VarveConfig.builder(big).segmentSize(SEGMENT_SIZE).indexCapacity(64)
            .encryption(KEY).build());
            Appender appender = db.appender())
        {
            for (int i = 1; i <= 600; i++)
            {
                for (long stream = 1; stream <= 2; stream++)
                {
                    appender.append(stream, ExpectedVersion.exact(i - 1), TYPE,
                        (SECRET + " " + i + " of stream " + stream).getBytes(StandardCharsets.US_ASCII));
                }
            }
            assertTrue(db.shredStream(2));
        }
        final Cli.Result dry = ok(Cli.run("scavenge", big.toString(), "--dry-run", "--json", "--key-file", key));
        final long wouldDrop = jsonLong(dry.out(), "eventsDropped");
        assertTrue(wouldDrop > 0, dry::toString);
        final Cli.Result scavenged = ok(Cli.run("scavenge", big.toString(), "--json", "--key-file", key));
        assertEquals(wouldDrop, jsonLong(scavenged.out(), "eventsDropped"), scavenged::toString);
        final Cli.Result shredded = Cli.run("dump", big.toString(), "--stream", "2", "--key-file", key);
        oneLine(shredded, ExitCode.STORE, "stream 2 was shredded");
        ok(Cli.run("verify", big.toString(), "--key-file", key));
    }

    // ---------------------------------------------------------------------------------------------------- verify

    @Test
    void verifyChecksWhatItCanWithoutTheKeyAndTheTagsWithIt() throws Exception
    {
        final Path dir = writeStore("store", KEY);
        final Cli.Result without = ok(Cli.run("verify", dir.toString()));
        assertTrue(without.out().contains("payloads were not decrypted"), without::toString);
        assertTrue(without.out().contains("OK: the store is sound"), without::toString);
        final Cli.Result with = ok(Cli.run("verify", dir.toString(), "--key-file", keyFile(KEY).toString()));
        assertTrue(with.out().contains("decrypted with the master key from --key-file"), with::toString);
        assertFalse(with.out().contains("not decrypted"), with::toString);

        // a forged cipher text: a byte changed, and the CRC32C made to match. Only the tag can tell
        final long position = 0;
        final int frameLength = RecordDescriptor.HEADER_LENGTH + RecordDescriptor.ENCRYPTION_OVERHEAD + 26;
        final Path segment = dir.resolve("log").resolve(SegmentDescriptor.fileName(0));
        final byte[] bytes = Files.readAllBytes(segment);
        final int offset = SegmentDescriptor.HEADER_LENGTH + (int)position;
        bytes[offset + RecordDescriptor.HEADER_LENGTH + RecordDescriptor.NONCE_PREFIX_LENGTH + 5] ^= 0x01;
        final CRC32C crc = new CRC32C();
        crc.update(bytes, offset + RecordDescriptor.CHECKSUM_START, frameLength - RecordDescriptor.CHECKSUM_START);
        ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).putInt(offset + RecordDescriptor.CHECKSUM_OFFSET,
            (int)crc.getValue());
        Files.write(segment, bytes);
        final Map<String, String> before = StoreCommandsTest.digests(dir);

        final Cli.Result forgedWithout = ok(Cli.run("verify", dir.toString()));
        assertTrue(forgedWithout.out().contains("payloads were not decrypted"), forgedWithout::toString);
        final Cli.Result forged = Cli.run("verify", dir.toString(), "--key-file", keyFile(KEY).toString());
        assertEquals(ExitCode.CHECK_FAILED, forged.exit(), forged::toString);
        assertTrue(forged.out().contains("stream 1 version 1 through the index fails"), forged::toString);
        assertTrue(forged.out().contains("authentication tag"), forged::toString);
        assertTrue(forged.out().contains("FAILED: 1 problem(s)"), forged::toString);
        assertEquals(before, StoreCommandsTest.digests(dir), "verify must not change any file");
    }

    @Test
    void verifyFindsAMissingKeyFile() throws Exception
    {
        final Path dir = writeStore("store", KEY);
        Files.delete(dir.resolve("varve.keys"));
        final Cli.Result verify = Cli.run("verify", dir.toString());
        assertEquals(ExitCode.CHECK_FAILED, verify.exit(), verify::toString);
        assertTrue(verify.out().contains("varve.keys is missing"), verify::toString);
    }

    // --------------------------------------------------------------------------------------------------- helpers

    private static byte[] key(final int seed)
    {
        final byte[] key = new byte[StoreKey.KEY_LENGTH];
        for (int i = 0; i < key.length; i++)
        {
            key[i] = (byte)(seed + 37 * i);
        }
        return key;
    }

    private Path keyFile(final byte[] key) throws Exception
    {
        return Files.write(Files.createTempFile(temp, "key", ".bin"), key);
    }

    /**
     * Streams 1..3 of SECRET payloads, an event with an id in stream 4, one in a named stream; every store gets the
     * same timestamps.
     */
    private Path writeStore(final String name, final byte[] key)
    {
        final Path dir = temp.resolve(name);
        final AtomicLong now = new AtomicLong(1_800_000_000_000_000_000L);
        final VarveConfig.Builder config = VarveConfig.builder(dir).segmentSize(SEGMENT_SIZE).indexCapacity(64)
            .clock(() -> now.addAndGet(1_000));
        try (VarveDB db = VarveDB.open((key == null ? config : config.encryption(key)).build());
            Appender appender = db.appender())
        {
            for (int i = 1; i <= EVENTS_PER_STREAM; i++)
            {
                for (long stream = 1; stream <= STREAMS; stream++)
                {
                    appender.append(stream, ExpectedVersion.exact(i - 1), TYPE,
                        (SECRET + " " + i + " of stream " + stream).getBytes(StandardCharsets.US_ASCII));
                }
            }
            appender.append(4, ExpectedVersion.exact(0), TYPE, EVENT_ID,
                (SECRET + " 9").getBytes(StandardCharsets.US_ASCII));
            appender.append("orders-eu", ExpectedVersion.exact(0), TYPE,
                (SECRET + " in a named stream").getBytes(StandardCharsets.US_ASCII));
        }
        return dir;
    }

    private long positionOfEventWithId(final Path dir)
    {
        try (VarveDB db = VarveDB.openReadOnly(VarveConfig.builder(dir).encryption(KEY).build()))
        {
            final long[] position = {-1};
            db.readStream(4, 1, 1, (event) -> position[0] = event.position());
            assertTrue(position[0] > 0);
            return position[0];
        }
    }

    private static byte[] recordBytes(final Path dir, final long position, final int length) throws Exception
    {
        final byte[] segment = Files.readAllBytes(dir.resolve("log").resolve(SegmentDescriptor.fileName(
            position / SEGMENT_SIZE * SEGMENT_SIZE)));
        final int offset = SegmentDescriptor.HEADER_LENGTH + (int)(position % SEGMENT_SIZE);
        return Arrays.copyOfRange(segment, offset, offset + length);
    }

    /** The hex lines of a dump (after the event line), in order: each description and the bytes it describes. */
    private static Map<String, byte[]> hexFields(final String out)
    {
        final Map<String, byte[]> fields = new java.util.LinkedHashMap<>();
        out.lines().skip(1).filter((line) -> line.contains("#")).forEach((line) ->
        {
            final int hash = line.indexOf('#');
            final String digits = line.substring(0, hash).replace(" ", "");
            assertNull(fields.put(line.substring(hash + 1).trim(), HexFormat.of().parseHex(digits)), line);
        });
        assertFalse(fields.isEmpty(), out);
        return fields;
    }

    private static byte[] field(final Map<String, byte[]> fields, final String prefix)
    {
        final List<byte[]> matching = fields.entrySet().stream().filter((e) -> e.getKey().startsWith(prefix))
            .map(Map.Entry::getValue).toList();
        assertEquals(1, matching.size(), () -> prefix + " in " + fields.keySet());
        return matching.get(0);
    }

    private static byte[] concat(final Map<String, byte[]> fields)
    {
        return concat(fields.values().toArray(new byte[0][]));
    }

    private static byte[] concat(final byte[]... parts)
    {
        final java.io.ByteArrayOutputStream all = new java.io.ByteArrayOutputStream();
        for (final byte[] part : parts)
        {
            all.writeBytes(part);
        }
        return all.toByteArray();
    }

    private static List<String> withoutPositions(final Cli.Result result)
    {
        return result.out().lines().map((line) -> line.replaceFirst("^@[0-9,]+  ", "@  ")).toList();
    }

    private static long jsonLong(final String json, final String field)
    {
        final Matcher value = Pattern.compile("\"" + field + "\":(\\d+)").matcher(json);
        assertTrue(value.find(), json);
        return Long.parseLong(value.group(1));
    }

    private static Cli.Result ok(final Cli.Result result)
    {
        assertEquals(ExitCode.OK, result.exit(), result::toString);
        assertNotNull(result.out());
        return result;
    }

    private static void oneLine(final Cli.Result result, final int exit, final String expected)
    {
        assertEquals(exit, result.exit(), result::toString);
        final String err = result.err();
        assertTrue(err.contains(expected), result::toString);
        assertTrue(err.startsWith("varve"), result::toString);
        assertEquals(1, err.lines().count(), () -> "expected one line:\n" + result);
        assertFalse(err.contains("Exception") || err.contains("\tat "), result::toString);
    }
}
