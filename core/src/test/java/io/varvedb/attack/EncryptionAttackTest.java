package io.varvedb.attack;

import io.varvedb.*;
import org.agrona.DirectBuffer;
import org.agrona.MutableDirectBuffer;
import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import javax.crypto.Cipher;
import javax.crypto.spec.IvParameterSpec;
import javax.crypto.spec.SecretKeySpec;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A hostile review of encryption at rest and crypto-shredding (README, "Encryption at rest and crypto-shredding"),
 * written from the README and the public API only, with a hex editor for the files (the record layout is the one
 * {@code varve dump --hex} labels, tools/README.md). Each test asserts a promise; a test that fails is a defect.
 */
class EncryptionAttackTest
{
    // ---- the record layout as `varve dump --hex` shows it (tools/README.md), little-endian ----
    static final int SEGMENT_HEADER = 64;
    static final int FRAME = 0;
    static final int CRC = 4;
    static final int RECORD_TYPE = 8;
    static final int FLAGS = 10;
    static final int EVENT_TYPE = 12;
    static final int STREAM = 16;
    static final int VERSION = 24;
    static final int TIMESTAMP = 32;
    static final int HEADER = 40;
    static final short TYPE_EVENT = 1;
    static final short TYPE_PADDING = 2;
    static final int FLAG_BATCH_MORE = 1;
    static final int FLAG_BATCH_CONTINUATION = 2;
    static final int FLAG_EVENT_ID = 4;
    static final int FLAG_TOMBSTONE = 8;
    static final int FLAG_ENCRYPTED = 16;
    static final int TAG = 16;

    // ---- varve.keys as KeyFileDescriptor (the README's pointer for the layout) draws it ----
    static final int KEYS_ENTRIES = 4096;
    static final int KEYS_ENTRY = 64;

    static final byte[] KEY = key(11);
    static final byte[] KEY2 = key(12);
    static final byte[] KEY3 = key(13);
    static final int SEGMENT = 64 * 1024;

    @TempDir
    Path dir;

    static byte[] key(final int seed)
    {
        final byte[] key = new byte[32];
        for (int i = 0; i < key.length; i++)
        {
            key[i] = (byte)(seed * 37 + i * 11 + 5);
        }
        return key;
    }

    static VarveConfig.Builder enc(final Path dir, final byte[] key)
    {
        return VarveConfig.builder(dir).segmentSize(SEGMENT).indexCapacity(4096).indexBlocksPerChunk(64)
            .eventIdCapacity(4096).nameCapacity(1024).encryption(key);
    }

    static VarveConfig.Builder clear(final Path dir)
    {
        return VarveConfig.builder(dir).segmentSize(SEGMENT).indexCapacity(4096).indexBlocksPerChunk(64)
            .eventIdCapacity(4096).nameCapacity(1024);
    }

    static byte[] payloadOf(final long stream, final long version, final int length)
    {
        final byte[] bytes = new byte[length];
        for (int i = 0; i < length; i++)
        {
            bytes[i] = (byte)(stream * 29 + version * 13 + i * 7 + 3);
        }
        return bytes;
    }

    static String hex(final RecordedEvent event)
    {
        final byte[] bytes = new byte[event.payloadLength()];
        event.payload().getBytes(0, bytes);
        return HexFormat.of().formatHex(bytes);
    }

    /** An event as the store delivers it, every field. */
    record Ev(long stream, long version, int type, long timestamp, String payload, long idHigh, long idLow,
              long position)
    {
        static Ev of(final RecordedEvent e)
        {
            return new Ev(e.streamId(), e.version(), e.eventType(), e.timestamp(), hex(e), e.eventIdHigh(),
                e.eventIdLow(), e.position());
        }
    }

    static List<Ev> readAll(final VarveDB db)
    {
        final List<Ev> events = new ArrayList<>();
        long from = VarveDB.START_POSITION;
        while (true)
        {
            final long[] next = {-1};
            final int n = db.readAll(from, 1000, (e) ->
            {
                events.add(Ev.of(e));
                next[0] = e.nextPosition();
            });
            if (n == 0)
            {
                return events;
            }
            from = next[0];
        }
    }

    static List<Ev> readStream(final VarveDB db, final long stream)
    {
        final List<Ev> events = new ArrayList<>();
        db.readStream(stream, 1, Integer.MAX_VALUE, (e) -> events.add(Ev.of(e)));
        return events;
    }

    static List<String> payloads(final VarveDB db, final long stream)
    {
        final List<String> events = new ArrayList<>();
        db.readStream(stream, 1, Integer.MAX_VALUE, (e) -> events.add(hex(e)));
        return events;
    }

    // ---- the files, as a hex editor sees them ----

    /** A record in a plain (not compacted) segment of a closed store. */
    record Rec(Path file, int offset, long position, int frame, short type, short flags, int eventType, long stream,
               long version)
    {
        int aligned()
        {
            return (frame + 15) & ~15;
        }
    }

    static List<Rec> records(final Path dir) throws IOException
    {
        final List<Rec> found = new ArrayList<>();
        try (Stream<Path> files = Files.list(dir.resolve("log")))
        {
            for (final Path segment : files.filter((p) -> p.toString().endsWith(".log")).sorted().toList())
            {
                final UnsafeBuffer b = new UnsafeBuffer(Files.readAllBytes(segment));
                if (b.capacity() < SEGMENT_HEADER || b.getInt(32) != 0)
                {
                    continue; // compacted
                }
                final long base = b.getLong(24);
                final int dataLength = b.getInt(12);
                int offset = SEGMENT_HEADER;
                while (offset + 16 <= SEGMENT_HEADER + dataLength && offset + 16 <= b.capacity())
                {
                    final int frame = b.getInt(offset + FRAME);
                    if (frame <= 0)
                    {
                        break;
                    }
                    final short type = b.getShort(offset + RECORD_TYPE);
                    final boolean full = frame >= HEADER;
                    found.add(new Rec(segment, offset, base + offset - SEGMENT_HEADER, frame, type,
                        b.getShort(offset + FLAGS), b.getInt(offset + EVENT_TYPE),
                        full ? b.getLong(offset + STREAM) : 0, full ? b.getLong(offset + VERSION) : 0));
                    offset += (frame + 15) & ~15;
                }
            }
        }
        return found;
    }

    static Rec event(final Path dir, final long stream, final long version) throws IOException
    {
        return records(dir).stream().filter((r) -> r.type() == TYPE_EVENT && r.stream() == stream &&
            r.version() == version).findFirst().orElseThrow(() -> new AssertionError("no record " + stream + "/" +
            version));
    }

    interface Edit
    {
        void apply(UnsafeBuffer file) throws IOException;
    }

    static void edit(final Path file, final Edit edit) throws IOException
    {
        final byte[] bytes = Files.readAllBytes(file);
        edit.apply(new UnsafeBuffer(bytes));
        Files.write(file, bytes);
    }

    static void fixCrc(final UnsafeBuffer file, final int offset)
    {
        final int frame = file.getInt(offset + FRAME);
        final java.util.zip.CRC32C crc = new java.util.zip.CRC32C();
        final byte[] bytes = new byte[frame - 8];
        file.getBytes(offset + 8, bytes);
        crc.update(bytes);
        file.putInt(offset + CRC, (int)crc.getValue());
    }

    static void flip(final UnsafeBuffer file, final int at, final int mask)
    {
        file.putByte(at, (byte)(file.getByte(at) ^ mask));
    }

    static void deleteTree(final Path path) throws IOException
    {
        if (!Files.exists(path))
        {
            return;
        }
        try (Stream<Path> walk = Files.walk(path))
        {
            for (final Path p : walk.sorted(java.util.Comparator.reverseOrder()).toList())
            {
                Files.delete(p);
            }
        }
    }

    static void copyTree(final Path from, final Path to) throws IOException
    {
        try (Stream<Path> walk = Files.walk(from))
        {
            for (final Path p : walk.toList())
            {
                final Path target = to.resolve(from.relativize(p).toString());
                if (Files.isDirectory(p))
                {
                    Files.createDirectories(target);
                }
                else
                {
                    Files.copy(p, target, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
                }
            }
        }
    }

    static Map<String, String> digests(final Path dir) throws Exception
    {
        final Map<String, String> digests = new TreeMap<>();
        try (Stream<Path> files = Files.walk(dir))
        {
            for (final Path file : files.filter(Files::isRegularFile).toList())
            {
                digests.put(dir.relativize(file).toString(), HexFormat.of().formatHex(
                    MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(file))) + " " +
                    Files.getLastModifiedTime(file).toMillis());
            }
        }
        return digests;
    }

    /** Marks the store as not closed cleanly (the open state word of varve.meta), so the next open recovers. */
    static void dirty(final Path dir) throws IOException
    {
        edit(dir.resolve("varve.meta"), (b) -> b.putInt(20, 0));
    }

    static boolean anyFileContains(final Path root, final byte[] needle) throws IOException
    {
        return !filesContaining(root, needle).isEmpty();
    }

    static List<Path> filesContaining(final Path root, final byte[] needle) throws IOException
    {
        final List<Path> hits = new ArrayList<>();
        try (Stream<Path> files = Files.walk(root))
        {
            for (final Path file : files.filter(Files::isRegularFile).toList())
            {
                try
                {
                    if (indexOf(Files.readAllBytes(file), needle) >= 0)
                    {
                        hits.add(file);
                    }
                }
                catch (final java.nio.file.NoSuchFileException gone)
                {
                    // a temporary file renamed or deleted meanwhile
                }
            }
        }
        return hits;
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

    // =====================================================================================================
    // 1. Tampering with an encrypted record: every field, with and without a recomputed CRC, index kept or rebuilt
    // =====================================================================================================

    enum Field
    {
        RECORD_TYPE_TO_NAME(RECORD_TYPE, 0x02),
        FLAG_BATCH_MORE_SET(FLAGS, EncryptionAttackTest.FLAG_BATCH_MORE),
        FLAG_BATCH_CONTINUATION_SET(FLAGS, EncryptionAttackTest.FLAG_BATCH_CONTINUATION),
        FLAG_EVENT_ID_CLEARED(FLAGS, EncryptionAttackTest.FLAG_EVENT_ID),
        FLAG_TOMBSTONE_SET(FLAGS, EncryptionAttackTest.FLAG_TOMBSTONE),
        EVENT_TYPE_BIT(EVENT_TYPE, 0x01),
        STREAM_TO_UNKNOWN(STREAM, 0x02),
        STREAM_TO_OTHER_EXISTING(STREAM, 0x03),
        VERSION_TO_NEXT(VERSION, 0x01),
        VERSION_HIGH_BIT(VERSION + 1, 0x40),
        TIMESTAMP_LOW_BIT(TIMESTAMP, 0x01),
        EVENT_ID_HIGH_BIT(HEADER, 0x01),
        EVENT_ID_LOW_BIT(HEADER + 15, 0x80),
        GENERATION_BIT(HEADER + 16, 0x01),
        CIPHER_TEXT_BIT(HEADER + 16 + 4 + 5, 0x10),
        TAG_LAST_BIT(-1, 0x01),
        /** Not in the every-field sweep: its own test. */
        ENCRYPTED_FLAG_CLEARED(FLAGS, EncryptionAttackTest.FLAG_ENCRYPTED);

        final int offset;
        final int mask;

        Field(final int offset, final int mask)
        {
            this.offset = offset;
            this.mask = mask;
        }
    }

    enum Mode
    {
        CRC_RECOMPUTED,
        CRC_RECOMPUTED_INDEX_DELETED,
        CRC_RECOMPUTED_AFTER_CRASH,
        CRC_LEFT_BROKEN
    }

    static final UUID TARGET_ID = UUID.fromString("4b1d5e2a-0000-4000-8000-00000000c0de");

    /** Streams 1 and 2, three events each; 1/2 carries an event id. */
    static List<Ev> writeTamperStore(final Path dir)
    {
        try (VarveDB db = VarveDB.open(enc(dir, KEY).build()))
        {
            final Appender a = db.appender();
            for (int v = 1; v <= 3; v++)
            {
                for (long s = 1; s <= 2; s++)
                {
                    if (s == 1 && v == 2)
                    {
                        a.append(s, ExpectedVersion.ANY, 5, TARGET_ID, payloadOf(s, v, 40));
                    }
                    else
                    {
                        a.append(s, ExpectedVersion.ANY, 5, payloadOf(s, v, 40));
                    }
                }
            }
            return readAll(db);
        }
    }

    /**
     * A bit flipped in each authenticated field of an encrypted record (header, event id, generation, cipher
     * text, tag), the CRC recomputed or not; the index kept, deleted (rebuilt from the log) or the store dirty.
     */
    @ParameterizedTest(name = "{0}")
    @EnumSource(Mode.class)
    void tamperedEncryptedRecordIsRefused_everyField(final Mode mode) throws Exception
    {
        final List<Field> sweep = Stream.of(Field.values()).filter((f) -> f != Field.ENCRYPTED_FLAG_CLEARED).toList();
        final List<String> failures = tamperFailures(dir, mode, sweep);
        assertTrue(failures.isEmpty(), "a tampered record (1/2) was not refused with CorruptStoreException (" +
            mode + "):\n  " + String.join("\n  ", failures));
    }

    /**
     * The encrypted flag cleared (CRC recomputed): the record's generation, cipher text and tag become a "clear"
     * payload, which no tag covers.
     */
    @ParameterizedTest(name = "{0}")
    @EnumSource(value = Mode.class, names = {"CRC_RECOMPUTED", "CRC_RECOMPUTED_INDEX_DELETED"})
    void clearingTheEncryptedFlagOfARecordIsRefused(final Mode mode) throws Exception
    {
        final List<String> failures = tamperFailures(dir, mode, List.of(Field.ENCRYPTED_FLAG_CLEARED));
        assertTrue(failures.isEmpty(), "the encrypted flag of record 1/2 cleared (" + mode + "): " + failures);
    }

    static List<String> tamperFailures(final Path dir, final Mode mode, final List<Field> fields) throws Exception
    {
        final List<String> failures = new ArrayList<>();
        for (final Field field : fields)
        {
            final Path store = dir.resolve(field.name());
            final List<Ev> baseline = writeTamperStore(store);
            final Rec target = event(store, 1, 2);
            assertEquals(FLAG_ENCRYPTED | FLAG_EVENT_ID, target.flags(), "the target is encrypted, with an id");
            edit(target.file(), (b) ->
            {
                final int at = target.offset() + (field.offset >= 0 ? field.offset : target.frame() + field.offset);
                flip(b, at, field.mask);
                if (mode != Mode.CRC_LEFT_BROKEN)
                {
                    fixCrc(b, target.offset());
                }
            });
            if (mode == Mode.CRC_RECOMPUTED_INDEX_DELETED)
            {
                deleteTree(store.resolve("index"));
            }
            if (mode == Mode.CRC_RECOMPUTED_AFTER_CRASH)
            {
                dirty(store);
            }
            final String verdict = verdict(store, baseline, 1);
            if (verdict != null)
            {
                failures.add(field + ": " + verdict);
            }
        }
        return failures;
    }

    /**
     * Null when the store refuses the damage (CorruptStoreException at open, or from every read that meets the
     * record) or reads exactly as it was written; otherwise what it did instead.
     */
    static String verdict(final Path store, final List<Ev> baseline, final long affected)
    {
        final VarveDB db;
        try
        {
            db = VarveDB.open(enc(store, KEY).build());
        }
        catch (final CorruptStoreException ex)
        {
            return null;
        }
        catch (final RuntimeException ex)
        {
            return "open threw " + ex;
        }
        try
        {
            final List<String> problems = new ArrayList<>();
            try
            {
                final List<Ev> all = readAll(db);
                if (!all.equals(baseline))
                {
                    problems.add("readAll served without an exception " + diff(baseline, all));
                }
            }
            catch (final CorruptStoreException ex)
            {
                // refused
            }
            catch (final RuntimeException ex)
            {
                problems.add("readAll threw " + ex);
            }
            final Set<Long> streams = new TreeSet<>();
            baseline.forEach((e) -> streams.add(e.stream()));
            streams.add(3L);
            for (final long s : streams)
            {
                final List<Ev> expected = baseline.stream().filter((e) -> e.stream() == s).toList();
                try
                {
                    final List<Ev> got = readStream(db, s);
                    if (!got.equals(expected))
                    {
                        problems.add("readStream(" + s + ") served without an exception " + diff(expected, got));
                    }
                    if (db.streamVersion(s) != expected.size())
                    {
                        problems.add("streamVersion(" + s + ") = " + db.streamVersion(s) + ", was " +
                            expected.size());
                    }
                }
                catch (final CorruptStoreException ex)
                {
                    // refused
                }
                catch (final RuntimeException ex)
                {
                    problems.add("readStream(" + s + ") threw " + ex.getClass().getSimpleName() + ": " +
                        ex.getMessage());
                }
            }
            return problems.isEmpty() ? null : String.join("; ", problems);
        }
        finally
        {
            db.close();
        }
    }

    static String diff(final List<Ev> expected, final List<Ev> got)
    {
        final List<String> lines = new ArrayList<>();
        for (final Ev e : expected)
        {
            if (!got.contains(e))
            {
                lines.add("missing " + e.stream() + "/" + e.version());
            }
        }
        for (final Ev e : got)
        {
            if (!expected.contains(e))
            {
                lines.add("served " + e.stream() + "/" + e.version() + " type " + e.type() + " payload " +
                    (e.payload().length() > 24 ? e.payload().substring(0, 24) + ".." : e.payload()));
            }
        }
        return lines.toString();
    }

    // =====================================================================================================
    // 2. Forgeries that need no key: a clear record, a tombstone, a padding, records moved or replayed
    // =====================================================================================================

    /** An event of a user stream rewritten as a clear (not encrypted) event of the attacker's choice. */
    @Test
    void forgedClearEventInAnEncryptedStreamIsRefused() throws Exception
    {
        final List<Ev> baseline = writeTamperStore(dir);
        final Rec target = event(dir, 2, 2);
        final byte[] forged = "pay mallory 1,000,000 EUR, approved ....... (forged)".getBytes(StandardCharsets.US_ASCII);
        // same frame length: header 40 + the clear payload, no generation, no tag
        assertEquals(40 + 4 + 40 + 16, target.frame());
        final byte[] payload = Arrays.copyOf(forged, target.frame() - 40);
        edit(target.file(), (b) ->
        {
            b.putShort(target.offset() + FLAGS, (short)0);
            b.putBytes(target.offset() + HEADER, payload);
            fixCrc(b, target.offset());
        });
        assertNull(verdict(dir, baseline, 2), "a clear event forged into encrypted stream 2 must be refused");
        deleteTree(dir.resolve("index"));
        assertNull(verdict(dir, baseline, 2), "and so after the index is rebuilt from the log");
    }

    /** The last event of a stream turned into a tombstone the store would write itself (clear, no key needed). */
    @Test
    @org.junit.jupiter.api.Disabled("documented limitation (README, Encryption at rest): the store's own records (tombstones, metadata) are clear and not authenticated, for recovery")
    void forgedTombstoneInAnEncryptedStoreIsRefused() throws Exception
    {
        final List<Ev> baseline = writeTamperStore(dir);
        // learn a real tombstone's form from another store made with another key
        final Path other = dir.resolve("other");
        try (VarveDB db = VarveDB.open(enc(other, KEY2).build()))
        {
            db.appender().append(9, ExpectedVersion.ANY, 5, new byte[1]);
            db.tombstoneStream(9, ExpectedVersion.ANY);
        }
        final Rec tomb = event(other, 9, 2);
        assertNotEquals(0, tomb.flags() & FLAG_TOMBSTONE);
        assertEquals(0, tomb.flags() & FLAG_ENCRYPTED, "the store writes its tombstones in clear");
        final byte[] tombBytes = Arrays.copyOfRange(Files.readAllBytes(tomb.file()), tomb.offset(),
            tomb.offset() + tomb.frame());
        final Rec target = event(dir, 2, 3);
        assertTrue(tomb.aligned() < target.aligned(), tomb + " " + target);
        edit(target.file(), (b) ->
        {
            final int at = target.offset();
            final long ts = b.getLong(at + TIMESTAMP);
            b.setMemory(at, target.aligned(), (byte)0);
            b.putBytes(at, tombBytes);
            b.putLong(at + STREAM, 2);
            b.putLong(at + VERSION, 3);
            b.putLong(at + TIMESTAMP, ts);
            fixCrc(b, at);
            // padding for the rest of the record's space
            final int pad = at + tomb.aligned();
            final int padLength = target.aligned() - tomb.aligned();
            b.putInt(pad + FRAME, padLength);
            b.putShort(pad + RECORD_TYPE, TYPE_PADDING);
            b.putLong(pad + STREAM, padLength);
            final java.util.zip.CRC32C crc = new java.util.zip.CRC32C();
            final byte[] covered = new byte[16];
            b.getBytes(pad + 8, covered);
            crc.update(covered);
            b.putInt(pad + CRC, (int)crc.getValue());
        });
        deleteTree(dir.resolve("index"));
        try (VarveDB db = VarveDB.open(enc(dir, KEY).build()))
        {
            final boolean tombstoned = db.isTombstoned(2);
            Object outcome;
            try
            {
                outcome = readStream(db, 2).size() + " events";
            }
            catch (final VarveException ex)
            {
                outcome = ex.getClass().getSimpleName();
            }
            assertFalse(tombstoned, "an attacker without the key tombstoned encrypted stream 2 by rewriting its " +
                "last event as a clear tombstone (+CRC): isTombstoned(2) = true, readStream(2) -> " + outcome +
                "; the README promises an edited or forged record is refused with CorruptStoreException");
        }
        catch (final CorruptStoreException refused)
        {
            // refused at open: the promise holds
        }
    }

    /** The last event of a stream (not the last of the log) rewritten as padding, which has no tag to check. */
    @Test
    @org.junit.jupiter.api.Disabled("documented limitation (README, Encryption at rest: authentication covers what is read, not what is missing): padding is not authenticated")
    void lastEventOfAStreamTurnedIntoPaddingIsNotDroppedSilently() throws Exception
    {
        final List<Ev> baseline = writeTamperStore(dir);
        final Rec target = event(dir, 1, 3);
        edit(target.file(), (b) ->
        {
            final int at = target.offset();
            final int length = target.aligned();
            b.setMemory(at, length, (byte)0);
            b.putInt(at + FRAME, length);
            b.putShort(at + RECORD_TYPE, TYPE_PADDING);
            b.putLong(at + STREAM, length);
            final java.util.zip.CRC32C crc = new java.util.zip.CRC32C();
            final byte[] covered = new byte[16];
            b.getBytes(at + 8, covered);
            crc.update(covered);
            b.putInt(at + CRC, (int)crc.getValue());
        });
        deleteTree(dir.resolve("index"));
        final String verdict = verdict(dir, baseline, 1);
        assertNull(verdict, "encrypted event 1/3 rewritten as a padding (no key needed) and the index rebuilt: " +
            verdict);
    }

    /** Two records of the same length swapped whole between streams, and between versions of one stream. */
    @Test
    void recordsSwappedBetweenStreamsOrVersionsAreRefused() throws Exception
    {
        final List<String> failures = new ArrayList<>();
        for (final String swap : List.of("1/1<->2/1 whole", "1/1<->2/1 body", "1/1<->1/3 whole", "1/1<->1/3 body",
            "1/3<->2/3 body, index deleted", "1/1<->1/3 whole, index deleted"))
        {
            final Path store = dir.resolve(swap.replaceAll("[^a-z0-9]", "_"));
            final List<Ev> baseline = writeTamperStore(store);
            final String[] parts = swap.split("[<>\\-, ]+");
            final String[] a = parts[0].split("/");
            final String[] c = parts[1].split("/");
            final Rec x = event(store, Long.parseLong(a[0]), Long.parseLong(a[1]));
            final Rec y = event(store, Long.parseLong(c[0]), Long.parseLong(c[1]));
            assertEquals(x.frame(), y.frame());
            final int from = swap.contains("body") ? HEADER : 0;
            edit(x.file(), (b) ->
            {
                final byte[] bx = new byte[x.frame() - from];
                final byte[] by = new byte[y.frame() - from];
                b.getBytes(x.offset() + from, bx);
                b.getBytes(y.offset() + from, by);
                b.putBytes(x.offset() + from, by);
                b.putBytes(y.offset() + from, bx);
                fixCrc(b, x.offset());
                fixCrc(b, y.offset());
            });
            if (swap.contains("index deleted"))
            {
                deleteTree(store.resolve("index"));
            }
            final String verdict = verdict(store, baseline, Long.parseLong(a[0]));
            if (verdict != null)
            {
                failures.add(swap + ": " + verdict);
            }
        }
        assertTrue(failures.isEmpty(), String.join("\n", failures));
    }

    /**
     * A replay: the log is rolled back to a backup taken before version 2 existed, the application appends its
     * version 2 again (a new writer generation, the same position), and the attacker puts back the record of the
     * first version 2, which she kept. Its tag is genuine for (position, its generation), so only knowing which
     * generation wrote that position could refuse it.
     */
    @Test
    @org.junit.jupiter.api.Disabled("documented limitation (README, Encryption at rest): a rollback of the files is not detected without a trusted counter outside them")
    void anEarlierRecordReplayedAtItsOwnPositionIsRefused() throws Exception
    {
        final Path backup = dir.resolve("backup");
        final Path store = dir.resolve("store");
        try (VarveDB db = VarveDB.open(enc(store, KEY).durability(Durability.SYNC).build()))
        {
            db.appender().append(1, ExpectedVersion.NO_STREAM, 1, "balance: 0".getBytes(StandardCharsets.UTF_8));
        }
        copyTree(store, backup);
        final byte[] old;
        final Rec first;
        try (VarveDB db = VarveDB.open(enc(store, KEY).durability(Durability.SYNC).build()))
        {
            db.appender().append(1, ExpectedVersion.exact(1), 1, "pay bob:  100".getBytes(StandardCharsets.UTF_8));
        }
        first = event(store, 1, 2);
        old = Arrays.copyOfRange(Files.readAllBytes(first.file()), first.offset(), first.offset() + first.frame());
        // roll the log back (varve.keys stays the newest: only the log and its index are restored)
        for (final String part : List.of("log", "index", "varve.meta"))
        {
            deleteTree(store.resolve(part));
            final Path source = backup.resolve(part);
            if (Files.isDirectory(source))
            {
                copyTree(source, store.resolve(part));
            }
            else
            {
                Files.copy(source, store.resolve(part));
            }
        }
        try (VarveDB db = VarveDB.open(enc(store, KEY).durability(Durability.SYNC).build()))
        {
            assertEquals(1, db.streamVersion(1));
            db.appender().append(1, ExpectedVersion.exact(1), 1, "pay eve:  999".getBytes(StandardCharsets.UTF_8));
        }
        final Rec second = event(store, 1, 2);
        assertEquals(first.position(), second.position(), "the same position");
        assertEquals(first.frame(), second.frame());
        edit(second.file(), (b) -> b.putBytes(second.offset(), old));
        try (VarveDB db = VarveDB.open(enc(store, KEY).build()))
        {
            final List<String> read = new ArrayList<>();
            db.readStream(1, 2, 1, (e) -> read.add(new String(HexFormat.of().parseHex(hex(e)),
                StandardCharsets.UTF_8)));
            fail("the replayed record of an earlier version 2 (another writer generation, same position) was " +
                "served as authentic: " + read + ", though the current version 2 is \"pay eve:  999\"");
        }
        catch (final CorruptStoreException refused)
        {
            // the promise holds
        }
    }

    /** An old copy of a sealed segment put back after the log grew past it. */
    @Test
    void anOldCopyOfASegmentPutBackIsRefused() throws Exception
    {
        final Path copy = dir.resolve("segment.copy");
        final Path store = dir.resolve("store");
        Path firstSegment;
        try (VarveDB db = VarveDB.open(enc(store, KEY).build()))
        {
            final Appender a = db.appender();
            for (int i = 0; i < 100; i++)
            {
                a.append(1 + i % 5, ExpectedVersion.ANY, 1, payloadOf(i, 0, 100));
            }
        }
        try (Stream<Path> files = Files.list(store.resolve("log")))
        {
            firstSegment = files.sorted().findFirst().orElseThrow();
        }
        Files.copy(firstSegment, copy);
        final List<Ev> baseline;
        try (VarveDB db = VarveDB.open(enc(store, KEY).build()))
        {
            final Appender a = db.appender();
            for (int i = 100; i < 1500; i++)
            {
                a.append(1 + i % 5, ExpectedVersion.ANY, 1, payloadOf(i, 0, 100));
            }
            baseline = readAll(db);
        }
        assertTrue(records(store).stream().map(Rec::file).distinct().count() > 1, "the log spans segments");
        Files.copy(copy, firstSegment, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        final String verdict = verdict(store, baseline, 1);
        assertNull(verdict, "an old copy of the first segment put back: " + verdict);
    }

    /**
     * A tampered event id (CRC recomputed) and the id table rebuilt: the record is refused when read, but does the
     * retry of its true id write the event a second time?
     */
    @Test
    @org.junit.jupiter.api.Disabled("documented limitation (README, Encryption at rest): the id table is rebuilt from stored ids without checking tags; the tampered record itself is refused when read")
    void aTamperedEventIdDoesNotLetTheRetryOfTheTrueIdWriteTwice() throws Exception
    {
        writeTamperStore(dir);
        final Rec target = event(dir, 1, 2);
        edit(target.file(), (b) ->
        {
            flip(b, target.offset() + HEADER + 3, 0x20);
            fixCrc(b, target.offset());
        });
        deleteTree(dir.resolve("index"));
        try (VarveDB db = VarveDB.open(enc(dir, KEY).build()))
        {
            final Appender a = db.appender();
            final long v;
            try
            {
                v = a.append(1, ExpectedVersion.ANY, 5, TARGET_ID, payloadOf(1, 2, 40));
            }
            catch (final CorruptStoreException refused)
            {
                return; // the tampered record was found
            }
            assertTrue(a.lastWasDuplicate() && v == 2, "the retry of event id " + TARGET_ID + " (held by 1/2, " +
                "whose stored id was tampered with and its CRC recomputed) was written again as version " + v +
                ": the store now holds the event twice");
        }
    }

    // =====================================================================================================
    // 3. The key file
    // =====================================================================================================

    static void fillStore(final Path dir, final byte[] key)
    {
        try (VarveDB db = VarveDB.open(enc(dir, key).build()))
        {
            final Appender a = db.appender();
            for (long s = 1; s <= 20; s++)
            {
                a.append(s, ExpectedVersion.ANY, 1, payloadOf(s, 1, 30));
            }
            a.append(db.streamId("customer-alice"), ExpectedVersion.ANY, 1, payloadOf(77, 1, 30));
            a.append(3, ExpectedVersion.ANY, 1, TARGET_ID, payloadOf(3, 2, 30));
        }
    }

    /** Everything fillStore wrote, read back exactly, or why not. */
    static String intact(final VarveDB db)
    {
        final List<String> problems = new ArrayList<>();
        for (long s = 1; s <= 20; s++)
        {
            try
            {
                final List<String> got = payloads(db, s);
                final List<String> expected = new ArrayList<>(List.of(HexFormat.of().formatHex(payloadOf(s, 1, 30))));
                if (s == 3)
                {
                    expected.add(HexFormat.of().formatHex(payloadOf(3, 2, 30)));
                }
                if (!got.equals(expected))
                {
                    problems.add("stream " + s + " read " + got.size() + " events, not as written");
                }
            }
            catch (final RuntimeException ex)
            {
                problems.add("stream " + s + ": " + ex.getClass().getSimpleName());
            }
        }
        try
        {
            final long id = db.findStreamId("customer-alice");
            if (id != -1)
            {
                problems.add("findStreamId(customer-alice) = " + id + ", not -1");
            }
            else if (!db.streamName(-1).equals("customer-alice"))
            {
                problems.add("streamName(-1) = " + db.streamName(-1));
            }
        }
        catch (final RuntimeException ex)
        {
            problems.add("names: " + ex);
        }
        if (!db.isReadOnly())
        {
            try
            {
                final boolean[] found = {false};
                db.readEvent(TARGET_ID, (e) -> found[0] = e.streamId() == 3 && e.version() == 2);
                if (!found[0])
                {
                    problems.add("readEvent(TARGET_ID) did not find 3/2");
                }
            }
            catch (final RuntimeException ex)
            {
                problems.add("readEvent: " + ex);
            }
        }
        return problems.isEmpty() ? null : String.join("; ", problems);
    }

    @Test
    void aKeyFileFromAnotherStoreWithTheSameMasterKeyIsRefused() throws Exception
    {
        final Path a = dir.resolve("a");
        final Path b = dir.resolve("b");
        fillStore(a, KEY);
        fillStore(b, KEY);
        Files.copy(b.resolve("varve.keys"), a.resolve("varve.keys"), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        final Map<String, String> before = digests(a);
        try (VarveDB db = VarveDB.open(enc(a, KEY).build()))
        {
            final String damage = intact(db);
            long second = 0;
            try
            {
                second = db.streamId("customer-alice");
            }
            catch (final RuntimeException ignored)
            {
                // reported below through damage
            }
            fail("store a opened with store b's varve.keys (same master key): " + damage +
                "; streamId(\"customer-alice\") now gives " + second + " (a's name was -1). The README/Javadoc " +
                "promise EncryptionKeyException for a foreign key file, nothing written");
        }
        catch (final EncryptionKeyException refused)
        {
            assertEquals(before, digests(a), "nothing written");
        }
    }

    @Test
    void aMissingKeyFileIsRefusedBeforeAnythingIsWritten() throws Exception
    {
        fillStore(dir, KEY);
        Files.delete(dir.resolve("varve.keys"));
        dirty(dir);
        final Map<String, String> before = digests(dir);
        assertThrows(EncryptionKeyException.class, () -> VarveDB.open(enc(dir, KEY).build()).close());
        assertThrows(EncryptionKeyException.class, () -> VarveDB.open(enc(dir, KEY).multiProcess(true).build())
            .close());
        assertThrows(EncryptionKeyException.class, () -> VarveDB.openReadOnly(enc(dir, KEY).build()).close());
        assertEquals(before, digests(dir), "nothing written, no new varve.keys");
    }

    /**
     * What a store does with a damaged varve.keys: null when acceptable. Acceptable: refused at open
     * (EncryptionKeyException, or CorruptStoreException naming varve.keys; nothing written either way), or opened with
     * everything intact, or opened with the damaged part refused wherever it is used (CorruptStoreException or
     * EncryptionKeyException) and never a second data key given to a stream that has events.
     */
    static String keyDamageVerdict(final Path store) throws Exception
    {
        final Map<String, String> before = digests(store);
        final VarveDB db;
        try
        {
            db = VarveDB.open(enc(store, KEY).build());
        }
        catch (final EncryptionKeyException | CorruptStoreException refused)
        {
            final Map<String, String> after = digests(store);
            if (before.equals(after))
            {
                return null;
            }
            final Set<String> changed = new TreeSet<>();
            before.forEach((k, v) -> { if (!v.equals(after.get(k))) changed.add(k); });
            after.forEach((k, v) -> { if (!v.equals(before.get(k))) changed.add(k); });
            return "refused (" + refused.getClass().getSimpleName() + ": " + refused.getMessage() +
                ") but files changed: " + changed;
        }
        catch (final RuntimeException ex)
        {
            return "open threw " + ex;
        }
        final List<String> problems = new ArrayList<>();
        try (db)
        {
            final String damage = intact(db);
            if (damage != null)
            {
                for (long s = 1; s <= 20; s++)
                {
                    if (damage.contains("stream " + s + " ") || damage.contains("stream " + s + ":"))
                    {
                        if (!damage.contains("stream " + s + ": CorruptStoreException") &&
                            !damage.contains("stream " + s + ": EncryptionKeyException"))
                        {
                            problems.add("stream " + s + " read wrong without an exception");
                        }
                        try
                        {
                            final long v = db.appender().append(s, ExpectedVersion.ANY, 1, payloadOf(s, 9, 30));
                            problems.add("stream " + s + " is unreadable, yet an append to it succeeded (v" + v +
                                ") under a new data key");
                        }
                        catch (final CorruptStoreException | EncryptionKeyException refused)
                        {
                            // refused
                        }
                    }
                }
                if (damage.contains("findStreamId(customer-alice) = 0"))
                {
                    problems.add("an existing name is not found (0), and streamId would make it anew");
                }
                if (damage.contains("readEvent(TARGET_ID) did not find"))
                {
                    problems.add("an existing event id is not found: a retry would write it again");
                }
            }
        }
        return problems.isEmpty() ? null : String.join("; ", problems);
    }

    @Test
    void aTruncatedOrExtendedKeyFileIsRefusedOrHarmless() throws Exception
    {
        final Path pristine = dir.resolve("pristine");
        fillStore(pristine, KEY);
        final byte[] original = Files.readAllBytes(pristine.resolve("varve.keys"));
        final List<String> failures = new ArrayList<>();
        final int entriesEnd = KEYS_ENTRIES + 23 * KEYS_ENTRY;
        for (final int length : new int[]{0, 7, 100, 255, 4095, KEYS_ENTRIES, KEYS_ENTRIES + KEYS_ENTRY,
            entriesEnd - KEYS_ENTRY, entriesEnd - 1, original.length - 1, original.length + 1,
            original.length + 4096, original.length * 2})
        {
            final byte[] changed = Arrays.copyOf(original, length);
            if (length > original.length)
            {
                Arrays.fill(changed, original.length, length, (byte)0x5a);
            }
            final Path store = dir.resolve("len" + length);
            copyTree(pristine, store);
            Files.write(store.resolve("varve.keys"), changed);
            final String verdict = keyDamageVerdict(store);
            if (verdict != null)
            {
                failures.add("varve.keys of " + length + " bytes (was " + original.length + "): " + verdict);
            }
        }
        assertTrue(failures.isEmpty(), String.join("\n", failures));
    }

    @Test
    void aFlippedBitAnywhereInTheKeyFileHeaderIsRefusedOrHarmless() throws Exception
    {
        final Path pristine = dir.resolve("pristine");
        fillStore(pristine, KEY);
        final byte[] original = Files.readAllBytes(pristine.resolve("varve.keys"));
        final Map<String, Integer> fields = new LinkedHashMap<>();
        fields.put("magic", 0);
        fields.put("format version", 8);
        fields.put("capacity", 12);
        fields.put("store id", 20);
        fields.put("key set", 32);
        fields.put("check nonce", 44);
        fields.put("check tag", 60);
        fields.put("complete", 68);
        fields.put("writer generation high byte", 75);
        fields.put("wrapped name key", 90);
        fields.put("entry count", 128);
        fields.put("allocated end", 193);
        fields.put("wrapped id key", 270);
        final List<String> failures = new ArrayList<>();
        for (final Map.Entry<String, Integer> field : fields.entrySet())
        {
            final byte[] changed = original.clone();
            changed[field.getValue()] ^= 0x04;
            final Path store = dir.resolve("byte" + field.getValue());
            copyTree(pristine, store);
            Files.write(store.resolve("varve.keys"), changed);
            final String verdict = keyDamageVerdict(store);
            if (verdict != null)
            {
                failures.add(field.getKey() + " (byte " + field.getValue() + "): " + verdict);
            }
        }
        assertTrue(failures.isEmpty(), String.join("\n", failures));
    }

    /**
     * A damaged entry of varve.keys (its wrapped key, its stream id, its state): the stream's events must not be
     * served, nor may an append give the stream a second key (its earlier events would be orphaned).
     */
    @Test
    void aDamagedKeyEntryNeverGivesItsStreamASecondKey() throws Exception
    {
        final List<String> failures = new ArrayList<>();
        for (final String damage : List.of("wrapped key", "stream id", "state to empty"))
        {
            final Path store = dir.resolve(damage.replace(' ', '_'));
            fillStore(store, KEY);
            final Path keys = store.resolve("varve.keys");
            // find stream 5's entry by its stream id
            final UnsafeBuffer file = new UnsafeBuffer(Files.readAllBytes(keys));
            int entry = -1;
            for (int at = KEYS_ENTRIES; at + KEYS_ENTRY <= file.capacity(); at += KEYS_ENTRY)
            {
                if (file.getLong(at + 8) == 5 && file.getLong(at) == 2)
                {
                    entry = at;
                    break;
                }
            }
            assertTrue(entry > 0, "stream 5's entry, READY");
            final int e = entry;
            edit(keys, (b) ->
            {
                switch (damage)
                {
                    case "wrapped key" -> flip(b, e + 16 + 9, 0x01);
                    case "stream id" -> flip(b, e + 8 + 5, 0x01);
                    default -> b.putLong(e, 0);
                }
            });
            try (VarveDB db = VarveDB.open(enc(store, KEY).build()))
            {
                try
                {
                    final List<String> got = payloads(db, 5);
                    failures.add(damage + ": readStream(5) served " + got.size() + " events without an exception");
                }
                catch (final CorruptStoreException | EncryptionKeyException expected)
                {
                    // refused
                }
                try
                {
                    final long v = db.appender().append(5, ExpectedVersion.ANY, 1, payloadOf(5, 2, 30));
                    failures.add(damage + ": an append to stream 5 succeeded (version " + v + ") under a key that " +
                        "is not the one its version 1 was encrypted with");
                }
                catch (final CorruptStoreException | EncryptionKeyException expected)
                {
                    // refused
                }
                final String rest = intact(db);
                if (rest != null && !rest.equals("stream 5: CorruptStoreException") &&
                    !rest.equals("stream 5: EncryptionKeyException"))
                {
                    failures.add(damage + ": other streams: " + rest);
                }
            }
            catch (final EncryptionKeyException refusedAtOpen)
            {
                // refused at open: fine
            }
        }
        assertTrue(failures.isEmpty(), String.join("\n", failures));
    }

    /**
     * The README: a restored backup of varve.keys still holds a shredded stream's wrapped key; rotating the master
     * key after the shred and destroying the old one makes that copy useless. Check both halves, and what the
     * store does with streams created after the backup.
     */
    @Test
    void anOldKeyFileRestoredAfterAShredAndARotationIsUseless() throws Exception
    {
        fillStore(dir, KEY);
        final byte[] backup = Files.readAllBytes(dir.resolve("varve.keys"));
        try (VarveDB db = VarveDB.open(enc(dir, KEY).build()))
        {
            db.shredStream(4);
            db.appender().append(100, ExpectedVersion.ANY, 1, payloadOf(100, 1, 30));
            db.rotateMasterKey(KEY2);
        }
        final byte[] current = Files.readAllBytes(dir.resolve("varve.keys"));
        Files.write(dir.resolve("varve.keys"), backup);
        final Map<String, String> before = digests(dir);
        assertThrows(EncryptionKeyException.class, () -> VarveDB.open(enc(dir, KEY2).build()).close(),
            "the old copy is wrapped under the destroyed master key");
        assertEquals(before, digests(dir));
        Files.write(dir.resolve("varve.keys"), current);
        try (VarveDB db = VarveDB.open(enc(dir, KEY2).build()))
        {
            assertTrue(db.isShredded(4));
            assertThrows(StreamShreddedException.class, () -> payloads(db, 4));
            assertEquals(List.of(HexFormat.of().formatHex(payloadOf(100, 1, 30))), payloads(db, 100));
        }
    }

    /**
     * The same restore without a rotation (same master key): the README says the stream comes back from a backup.
     * What the store must not do is carry on silently: stream 100 was created after the backup, its key is not in
     * the restored file, and an append must not give it a second key that orphans its version 1.
     */
    @Test
    void aStaleKeyFileRestoredWithTheSameMasterKeyIsNotUsedSilently() throws Exception
    {
        fillStore(dir, KEY);
        final byte[] backup = Files.readAllBytes(dir.resolve("varve.keys"));
        try (VarveDB db = VarveDB.open(enc(dir, KEY).build()))
        {
            db.shredStream(4);
            db.appender().append(100, ExpectedVersion.ANY, 1, payloadOf(100, 1, 30));
        }
        Files.write(dir.resolve("varve.keys"), backup);
        try (VarveDB db = VarveDB.open(enc(dir, KEY).build()))
        {
            final boolean shredded = db.isShredded(4);
            String stream4;
            try
            {
                stream4 = payloads(db, 4).size() + " events readable";
            }
            catch (final VarveException ex)
            {
                stream4 = ex.getClass().getSimpleName();
            }
            String appended;
            try
            {
                final long v = db.appender().append(100, ExpectedVersion.ANY, 1, payloadOf(100, 2, 30));
                appended = "append to stream 100 succeeded as version " + v;
            }
            catch (final VarveException ex)
            {
                appended = "append to stream 100 refused: " + ex.getClass().getSimpleName();
            }
            String read100;
            try
            {
                read100 = payloads(db, 100).size() + " events readable";
            }
            catch (final VarveException ex)
            {
                read100 = ex.getClass().getSimpleName();
            }
            System.out.println("[stale varve.keys restored] isShredded(4) = " + shredded + ", stream 4: " + stream4 +
                ", " + appended + ", stream 100: " + read100);
            assertFalse(appended.contains("succeeded"), "a stale varve.keys (restored from before stream 100 " +
                "existed) was used silently: " + appended + " under a brand-new data key; its version 1 is now " +
                "unreadable for good (" + read100 + "). [shredded stream 4 after the restore: isShredded = " +
                shredded + ", " + stream4 + "]");
        }
        catch (final EncryptionKeyException refused)
        {
            // the stale file was noticed
        }
    }

    // =====================================================================================================
    // 4. Opening: keys refused before anything is written; read-only and cipher text views
    // =====================================================================================================

    @Test
    void wrongKeysAreRefusedBeforeAnythingIsWrittenEvenOnADirtyMultiProcessStore() throws Exception
    {
        fillStore(dir, KEY);
        dirty(dir);
        final Map<String, String> before = digests(dir);
        final List<String> files = new ArrayList<>();
        try (Stream<Path> list = Files.list(dir))
        {
            list.forEach((p) -> files.add(p.getFileName().toString()));
        }
        for (final VarveConfig config : List.of(
            enc(dir, KEY2).build(), enc(dir, KEY2).multiProcess(true).build(),
            VarveConfig.builder(dir).segmentSize(SEGMENT).indexCapacity(4096).build(),
            VarveConfig.builder(dir).segmentSize(SEGMENT).indexCapacity(4096).multiProcess(true).build(),
            enc(dir, KEY2).durability(Durability.SYNC).build()))
        {
            assertThrows(EncryptionKeyException.class, () -> VarveDB.open(config).close(), config.toString());
            assertThrows(EncryptionKeyException.class, () -> VarveDB.openReadOnly(config).close(), config.toString());
        }
        // a writable open asking for cipher text, without a key, must not open writable
        assertThrows(RuntimeException.class, () -> VarveDB.open(VarveConfig.builder(dir).readCiphertext(true)
            .build()).close());
        assertEquals(before, digests(dir), "nothing written by any refused open");
        final List<String> after = new ArrayList<>();
        try (Stream<Path> list = Files.list(dir))
        {
            list.forEach((p) -> after.add(p.getFileName().toString()));
        }
        assertEquals(new TreeSet<>(files), new TreeSet<>(after));
        try (VarveDB db = VarveDB.open(enc(dir, KEY).build()))
        {
            assertNull(intact(db));
        }
    }

    @Test
    void aClearStoreOpenedWithAKeyIsRefusedAndReadCiphertextShowsItAsIs() throws Exception
    {
        final byte[] clear = "clear payload of a clear store".getBytes(StandardCharsets.UTF_8);
        try (VarveDB db = VarveDB.open(VarveConfig.builder(dir).segmentSize(SEGMENT).indexCapacity(4096).build()))
        {
            db.appender().append(1, ExpectedVersion.ANY, 1, clear);
        }
        final Map<String, String> before = digests(dir);
        assertThrows(EncryptionKeyException.class, () -> VarveDB.open(enc(dir, KEY).build()).close());
        assertThrows(EncryptionKeyException.class, () -> VarveDB.openReadOnly(enc(dir, KEY).build()).close());
        assertEquals(before, digests(dir));
        try (VarveDB db = VarveDB.openReadOnly(VarveConfig.builder(dir).readCiphertext(true).build()))
        {
            assertFalse(db.isEncrypted());
            final List<String> seen = new ArrayList<>();
            db.readAll(VarveDB.START_POSITION, 10, (e) ->
            {
                assertFalse(e.isEncrypted());
                seen.add(hex(e));
            });
            assertEquals(List.of(HexFormat.of().formatHex(clear)), seen);
        }
        // an empty directory, or one that never held a store, opened without a key for cipher text
        final Path empty = dir.resolve("empty");
        Files.createDirectories(empty);
        assertThrows(NoStoreException.class, () -> VarveDB.openReadOnly(VarveConfig.builder(empty)
            .readCiphertext(true).build()).close());
    }

    @Test
    void aCiphertextViewNeverShowsClearPayloadsNamesOrIds() throws Exception
    {
        final String name = "customer-bob@example.org";
        final byte[] clear = "bob's clear payload, visible only with the key".getBytes(StandardCharsets.UTF_8);
        final UUID id = UUID.fromString("0badc0de-1234-4abc-8def-0123456789ab");
        try (VarveDB db = VarveDB.open(enc(dir, KEY).build()))
        {
            final long s = db.streamId(name);
            db.appender().append(s, ExpectedVersion.ANY, 1, id, clear);
            db.appender().append(s, ExpectedVersion.ANY, 1, new byte[0]);
        }
        try (VarveDB db = VarveDB.openReadOnly(VarveConfig.builder(dir).readCiphertext(true).build()))
        {
            assertTrue(db.isEncrypted());
            final List<String> problems = new ArrayList<>();
            final int n = db.readAll(VarveDB.START_POSITION, 10, (e) ->
            {
                if (!e.isEncrypted())
                {
                    problems.add("event " + e.version() + " not marked encrypted");
                }
                final String payload = hex(e);
                if (payload.contains(HexFormat.of().formatHex(clear, 0, 8)))
                {
                    problems.add("clear payload shown");
                }
                if (e.version() == 1 && e.payloadLength() != clear.length)
                {
                    problems.add("cipher text length " + e.payloadLength());
                }
                if (e.eventIdHigh() == id.getMostSignificantBits() && e.eventIdLow() == id.getLeastSignificantBits())
                {
                    problems.add("clear event id shown without the key");
                }
            });
            assertEquals(2, n);
            String shown = null;
            try
            {
                shown = db.streamName(-1);
            }
            catch (final RuntimeException ex)
            {
                // no name without the key: fine
            }
            if (name.equals(shown))
            {
                problems.add("streamName(-1) shows the clear name without the key");
            }
            assertNotEquals(-1L, db.findStreamId(name), "the clear name found without the key");
            assertTrue(problems.isEmpty(), problems.toString());
        }
    }

    // =====================================================================================================
    // 5. Shredding
    // =====================================================================================================

    /** Shred while one thread appends to the stream and another reads it; nothing may leak or go wrong. */
    @Test
    void shredRacingAnAppenderAndAReader() throws Exception
    {
        final List<String> problems = new CopyOnWriteArrayList<>();
        for (int round = 0; round < 6; round++)
        {
            final Path store = dir.resolve("r" + round);
            final long stream = 7;
            final ConcurrentHashMap<Long, String> written = new ConcurrentHashMap<>();
            try (VarveDB db = VarveDB.open(enc(store, KEY).build()))
            {
                final Appender first = db.appender();
                for (int v = 1; v <= 50; v++)
                {
                    first.append(stream, ExpectedVersion.ANY, 1, payloadOf(stream, v, 64));
                    written.put((long)v, HexFormat.of().formatHex(payloadOf(stream, v, 64)));
                }
                final AtomicBoolean shredReturned = new AtomicBoolean();
                final AtomicBoolean stop = new AtomicBoolean();
                final CountDownLatch go = new CountDownLatch(1);
                final Thread appender = new Thread(() ->
                {
                    try (Appender a = db.appender())
                    {
                        go.await();
                        while (!stop.get())
                        {
                            final boolean after = shredReturned.get();
                            final long v = db.streamVersion(stream) + 1;
                            try
                            {
                                final long got = a.append(stream, ExpectedVersion.ANY, 1, payloadOf(stream, v, 64));
                                written.put(got, HexFormat.of().formatHex(payloadOf(stream, v, 64)));
                                if (after)
                                {
                                    problems.add("an append started after shredStream returned succeeded (v" +
                                        got + ")");
                                }
                            }
                            catch (final StreamShreddedException expected)
                            {
                                // refused
                            }
                            catch (final Throwable ex)
                            {
                                problems.add("append: " + ex);
                            }
                        }
                    }
                    catch (final InterruptedException ignored)
                    {
                        // done
                    }
                });
                final Thread reader = new Thread(() ->
                {
                    try
                    {
                        go.await();
                        while (!stop.get())
                        {
                            try
                            {
                                db.readStream(stream, 1, Integer.MAX_VALUE, (e) ->
                                {
                                    final String expected = written.get(e.version());
                                    final String got = hex(e);
                                    if (expected != null && !expected.equals(got) &&
                                        !got.equals(HexFormat.of().formatHex(payloadOf(stream, e.version(), 64))))
                                    {
                                        problems.add("reader saw a wrong payload at v" + e.version());
                                    }
                                });
                            }
                            catch (final StreamShreddedException expected)
                            {
                                // refused
                            }
                            catch (final Throwable ex)
                            {
                                problems.add("read: " + ex);
                            }
                        }
                    }
                    catch (final InterruptedException ignored)
                    {
                        // done
                    }
                });
                appender.start();
                reader.start();
                go.countDown();
                Thread.sleep(5 + round * 3);
                db.shredStream(stream);
                shredReturned.set(true);
                Thread.sleep(20);
                stop.set(true);
                appender.join();
                reader.join();
                assertTrue(db.isShredded(stream));
                assertThrows(StreamShreddedException.class, () -> payloads(db, stream));
            }
            try (VarveDB db = VarveDB.open(enc(store, KEY).build()))
            {
                assertTrue(db.isShredded(stream));
                assertThrows(StreamShreddedException.class, () -> payloads(db, stream));
                assertThrows(StreamShreddedException.class, () -> db.appender().append(stream, ExpectedVersion.ANY, 1,
                    new byte[1]));
                assertEquals(0, readAll(db).stream().filter((e) -> e.stream() == stream).count());
            }
            // no record of the stream may be readable with an all-zero key (a key zeroed while in use)
            for (final Rec r : records(store))
            {
                if (r.type() == TYPE_EVENT && r.stream() == stream)
                {
                    final byte[] clear = ctrDecryptWithZeroKey(r);
                    final String expected = HexFormat.of().formatHex(payloadOf(stream, r.version(), 64));
                    if (HexFormat.of().formatHex(clear).equals(expected))
                    {
                        problems.add("event " + stream + "/" + r.version() + " was encrypted under an all-zero key");
                    }
                }
            }
        }
        assertTrue(problems.isEmpty(), String.join("\n", new TreeSet<>(problems)));
    }

    /** AES-CTR as GCM uses it (counter block nonce || 2), key of zeros, nonce = position LE || stored generation. */
    static byte[] ctrDecryptWithZeroKey(final Rec r) throws Exception
    {
        final byte[] file = Files.readAllBytes(r.file());
        final boolean withId = (r.flags() & FLAG_EVENT_ID) != 0;
        final int genAt = r.offset() + HEADER + (withId ? 16 : 0);
        final int length = r.frame() - (genAt - r.offset()) - 4 - TAG;
        final byte[] counter = new byte[16];
        ByteBuffer.wrap(counter).order(ByteOrder.LITTLE_ENDIAN).putLong(0, r.position());
        System.arraycopy(file, genAt, counter, 8, 4);
        counter[15] = 2;
        final Cipher ctr = Cipher.getInstance("AES/CTR/NoPadding");
        ctr.init(Cipher.DECRYPT_MODE, new SecretKeySpec(new byte[32], "AES"), new IvParameterSpec(counter));
        return ctr.doFinal(file, genAt + 4, length);
    }

    @Test
    void shredRefusesBadIdsAndStoreStreamsAndShredsUnusedIdsForGood() throws Exception
    {
        try (VarveDB db = VarveDB.open(enc(dir, KEY).build()))
        {
            final Appender a = db.appender();
            a.append(1, ExpectedVersion.ANY, 1, new byte[3]);
            final long named = db.streamId("orders");
            a.append(named, ExpectedVersion.ANY, 1, new byte[3]);
            db.setStreamMetadata("orders", StreamMetadata.NONE.withMaxCount(10));
            assertThrows(IllegalArgumentException.class, () -> db.shredStream(0));
            assertThrows(IllegalArgumentException.class, () -> db.shredStream(-1000));
            assertThrows(IllegalArgumentException.class, () -> db.shredStream(Long.MIN_VALUE));
            assertThrows(IllegalArgumentException.class, () -> db.shredStream("$$orders"));
            final long meta = db.findStreamId("$$orders");
            if (meta != 0)
            {
                assertThrows(IllegalArgumentException.class, () -> db.shredStream(meta), "a metadata stream");
            }
            assertThrows(IllegalArgumentException.class, () -> db.shredStream(""));
            assertThrows(IllegalArgumentException.class, () -> db.shredStream("x".repeat(200)));
            // Long.MAX_VALUE, never used: shredded for good
            assertFalse(db.shredStream(Long.MAX_VALUE));
            assertTrue(db.isShredded(Long.MAX_VALUE));
            assertThrows(StreamShreddedException.class, () -> a.append(Long.MAX_VALUE, ExpectedVersion.ANY, 1,
                new byte[1]));
            assertThrows(StreamShreddedException.class, () -> db.readStream(Long.MAX_VALUE, 1, 10, (e) -> { }));
            assertTrue(db.shredStream(1));
            assertFalse(db.shredStream(1), "a second shred destroys nothing");
            assertEquals(1, db.streamVersion(1));
        }
        try (VarveDB db = VarveDB.open(enc(dir, KEY).build()))
        {
            assertTrue(db.isShredded(Long.MAX_VALUE));
            assertThrows(StreamShreddedException.class, () -> db.appender().append(Long.MAX_VALUE,
                ExpectedVersion.ANY, 1, new byte[1]));
            assertEquals(1, db.streamVersion(1));
            assertTrue(db.isShredded(1));
            assertFalse(db.isShredded(2));
        }
        try (VarveDB db = VarveDB.open(VarveConfig.builder(dir.resolve("clear")).build()))
        {
            assertThrows(IllegalStateException.class, () -> db.shredStream(1));
            assertFalse(db.isShredded(1));
        }
    }

    /**
     * Shredding ids that never had an event: each takes an entry of varve.keys, whose capacity is the index capacity
     * plus the name capacity. They must not use up the keys of streams the index still has room for.
     */
    @Test
    void shreddingUnusedIdsDoesNotStarveNewStreamsOfKeys() throws Exception
    {
        final VarveConfig config = enc(dir, KEY).indexCapacity(64).nameCapacity(16).build();
        int shredded = 0;
        try (VarveDB db = VarveDB.open(config))
        {
            // shred ids that are no stream (a GDPR erasure request for a customer who never ordered, say)
            try
            {
                for (long s = 1_000_000; s < 1_000_000 + 76; s++)
                {
                    db.shredStream(s);
                    shredded++;
                }
            }
            catch (final EncryptionKeyException full)
            {
                fail("shredding unused id number " + (shredded + 1) + " failed: " + full.getMessage());
            }
            final Appender a = db.appender();
            int created = 0;
            try
            {
                for (long s = 1; s <= 40; s++)
                {
                    a.append(s, ExpectedVersion.NO_STREAM, 1, payloadOf(s, 1, 20));
                    created++;
                }
            }
            catch (final VarveException ex)
            {
                fail("after " + shredded + " unused ids were shredded, a store of indexCapacity 64 refused its new " +
                    "stream number " + (created + 1) + " (" + db.streamCount() + " streams in the index): " +
                    ex.getClass().getSimpleName() + ": " + ex.getMessage());
            }
        }
    }

    /** Shred, scavenge, and an index rebuilt from the scavenged log: the version, name and shred stay. */
    @Test
    void shredThenScavengeThenIndexRebuildKeepsTheStreamsVersionAndName() throws Exception
    {
        final long named;
        try (VarveDB db = VarveDB.open(enc(dir, KEY).build()))
        {
            final Appender a = db.appender();
            named = db.streamId("customer-42");
            for (int i = 0; i < 600; i++)
            {
                a.append(1 + i % 3, ExpectedVersion.ANY, 1, payloadOf(i, 1, 200));
                if (i % 3 == 0)
                {
                    a.append(named, ExpectedVersion.ANY, 1, payloadOf(i, 2, 200));
                }
            }
            assertTrue(db.shredStream(2));
            assertTrue(db.shredStream("customer-42"));
            final long before = db.reclaimable().eventsDropped();
            final ScavengeResult result = db.scavenge();
            assertTrue(result.eventsDropped() > 0 && before > 0, result.toString());
            assertEquals(200, db.streamVersion(2));
            assertEquals(200, db.streamVersion(named));
        }
        final String[] states = {"clean reopen", "index deleted", "after crash"};
        for (final String state : states)
        {
            if (state.equals("index deleted"))
            {
                deleteTree(dir.resolve("index"));
            }
            if (state.equals("after crash"))
            {
                dirty(dir);
            }
            try (VarveDB db = VarveDB.open(enc(dir, KEY).build()))
            {
                assertEquals(200, db.streamVersion(2), state + ": shredded stream 2's version");
                assertEquals(200, db.streamVersion(named), state + ": shredded customer-42's version");
                assertEquals(named, db.findStreamId("customer-42"), state);
                assertTrue(db.isShredded(2) && db.isShredded(named), state);
                assertThrows(StreamShreddedException.class, () -> payloads(db, 2), state);
                assertThrows(StreamShreddedException.class, () -> db.appender().append(2, ExpectedVersion.ANY, 1,
                    new byte[1]), state);
                assertThrows(StreamShreddedException.class, () -> db.appender().append(2, ExpectedVersion.exact(200),
                    1, new byte[1]), state);
                assertEquals(200, payloads(db, 1).size(), state);
                assertEquals(400, readAll(db).size(), state + ": readAll shows streams 1 and 3 only");
                assertEquals(0, db.reclaimable().eventsDropped(), state);
            }
        }
    }

    /** readAll in pages over a log that begins with many events of a shredded stream. */
    @Test
    void readAllPagesOverShreddedEventsAndPositionsStayUsable() throws Exception
    {
        final List<Long> shreddedPositions = new ArrayList<>();
        try (VarveDB db = VarveDB.open(enc(dir, KEY).build()))
        {
            final Appender a = db.appender();
            for (int i = 0; i < 50; i++)
            {
                a.append(1, ExpectedVersion.ANY, 1, payloadOf(1, i, 40));
                shreddedPositions.add(a.lastPosition());
            }
            for (int i = 0; i < 10; i++)
            {
                a.append(2, ExpectedVersion.ANY, 1, payloadOf(2, i, 40));
                a.append(1, ExpectedVersion.ANY, 1, payloadOf(1, 100 + i, 40));
                shreddedPositions.add(a.lastPosition());
            }
            db.shredStream(1);
            final List<Long> seen = new ArrayList<>();
            final int n = db.readAll(VarveDB.START_POSITION, 10, (e) -> seen.add(e.streamId()));
            assertTrue(n > 0, "readAll(START, 10) over a log whose first 50 events are shredded delivered " + n +
                " events: a reader paging by nextPosition() would take it for the end of the log");
            assertEquals(n, seen.size(), "the count returned is the count delivered");
            // every position of a shredded event reads on from the next kept one
            for (final long position : List.of(shreddedPositions.get(0), shreddedPositions.get(49),
                shreddedPositions.get(55)))
            {
                final List<Long> from = new ArrayList<>();
                db.readAll(position, 1, (e) -> from.add(e.streamId()));
                assertEquals(List.of(2L), from, "readAll from shredded position " + position);
            }
            // a subscription to all skips them too, and its position moves on to the end
            final Subscription sub = db.subscription(VarveDB.START_POSITION);
            final List<Long> delivered = new ArrayList<>();
            for (int i = 0; i < 100 && delivered.size() < 10; i++)
            {
                sub.poll((e) -> delivered.add(e.streamId()), 100);
            }
            assertEquals(10, delivered.size());
            assertTrue(delivered.stream().allMatch((s) -> s == 2));
            sub.poll((e) -> fail("nothing more"), 100);
            sub.close();
        }
    }

    /** Running subscriptions across a shred: to all goes on past it, to the stream ends with the shred. */
    @Test
    void runningSubscriptionsAcrossAShred() throws Exception
    {
        try (VarveDB db = VarveDB.open(enc(dir, KEY).build()))
        {
            final Appender a = db.appender();
            final List<String> toAll = new CopyOnWriteArrayList<>();
            final List<Long> toStream = new CopyOnWriteArrayList<>();
            final RunningSubscription all = db.subscribeToAll(VarveDB.START_POSITION, (e) ->
                toAll.add(e.streamId() + "/" + e.version()));
            final RunningSubscription one = db.subscribeToStream(1, 1, (e) -> toStream.add(e.version()));
            for (int i = 1; i <= 20; i++)
            {
                a.append(1, ExpectedVersion.ANY, 1, payloadOf(1, i, 30));
                a.append(2, ExpectedVersion.ANY, 1, payloadOf(2, i, 30));
            }
            waitFor(() -> toAll.size() == 40 && toStream.size() == 20, "delivery before the shred");
            db.shredStream(1);
            for (int i = 21; i <= 30; i++)
            {
                a.append(2, ExpectedVersion.ANY, 1, payloadOf(2, i, 30));
            }
            waitFor(() -> toAll.size() == 50, "subscription to all goes on past the shred: " + toAll.size());
            waitFor(() -> !one.isRunning(), "the stream subscription ends");
            assertNotNull(one.failure());
            assertInstanceOf(StreamShreddedException.class, one.failure().getCause() != null ?
                one.failure().getCause() : one.failure(), String.valueOf(one.failure()));
            assertTrue(all.isRunning(), "subscription to all still running: " + all.failure());
            // a new subscription to the shredded stream: refused at once, or ends with StreamShreddedException
            final List<Long> late = new CopyOnWriteArrayList<>();
            try
            {
                final RunningSubscription again = db.subscribeToStream(1, 1, (e) -> late.add(e.version()));
                waitFor(() -> !again.isRunning(), "a new subscription to a shredded stream ends");
                final Throwable why = again.failure() == null ? null : again.failure().getCause() != null ?
                    again.failure().getCause() : again.failure();
                assertInstanceOf(StreamShreddedException.class, why, String.valueOf(again.failure()));
            }
            catch (final StreamShreddedException refusedAtOnce)
            {
                // fine
            }
            assertEquals(List.of(), late);
            all.close();
        }
    }

    static void waitFor(final java.util.function.BooleanSupplier condition, final String what)
        throws InterruptedException
    {
        final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!condition.getAsBoolean())
        {
            if (System.nanoTime() > deadline)
            {
                fail("timed out: " + what);
            }
            Thread.sleep(2);
        }
    }

    /** Named streams, soft-deleted, tombstoned and metadata-carrying streams shredded; readEvent of their ids. */
    @Test
    void shreddedNamedDeletedAndTombstonedStreamsStayConsistent() throws Exception
    {
        final UUID id = UUID.fromString("11111111-2222-4333-8444-555555555555");
        try (VarveDB db = VarveDB.open(enc(dir, KEY).build()))
        {
            final Appender a = db.appender();
            final long named = db.streamId("order-7781");
            a.append(named, ExpectedVersion.ANY, 1, id, payloadOf(1, 1, 30));
            a.append(named, ExpectedVersion.ANY, 1, payloadOf(1, 2, 30));
            db.setStreamMetadata("order-7781", StreamMetadata.NONE.withMaxCount(5));
            a.append(10, ExpectedVersion.ANY, 1, payloadOf(10, 1, 30));
            db.deleteStream(10, ExpectedVersion.ANY);
            a.append(11, ExpectedVersion.ANY, 1, payloadOf(11, 1, 30));
            db.tombstoneStream(11, ExpectedVersion.ANY);
            assertTrue(db.shredStream("order-7781"));
            assertTrue(db.shredStream(10));
            db.shredStream(11);
            assertThrows(StreamShreddedException.class, () -> db.readEvent(id, (e) -> { }));
            assertThrows(StreamShreddedException.class, () -> db.readStream("order-7781", 1, 10, (e) -> { }));
            assertThrows(StreamShreddedException.class, () -> db.readStreamBackward(named, VarveDB.LATEST_VERSION,
                10, (e) -> { }));
            assertThrows(StreamShreddedException.class, () -> a.append("order-7781", ExpectedVersion.ANY, 1,
                new byte[1]));
            // a retry of the id of a shredded event, to its own stream: refused, never written anew
            assertThrows(StreamShreddedException.class, () -> a.append(named, ExpectedVersion.ANY, 1, id,
                payloadOf(1, 1, 30)));
            assertEquals(2, db.streamVersion("order-7781"));
            assertEquals(5, db.streamMetadata("order-7781").maxCount());
            assertTrue(db.isShredded(10));
            final List<String> names = new ArrayList<>();
            db.streams("order-", (n, s) -> names.add(n + "=" + s));
            assertEquals(List.of("order-7781=" + named), names);
        }
        try (VarveDB db = VarveDB.open(enc(dir, KEY).build()))
        {
            final long named = db.findStreamId("order-7781");
            assertTrue(db.isShredded(named));
            assertEquals(2, db.streamVersion(named));
            assertThrows(StreamShreddedException.class, () -> db.readEvent(id, (e) -> { }));
            // readAll shows no event of a shredded stream, but the store's own clear records stay readable
            for (final Ev e : readAll(db))
            {
                assertFalse(e.stream() == named || e.stream() == 10, "a shredded stream's event in readAll: " + e);
            }
        }
    }

    /** Kill -9 a process in the middle of a run of shreds: each stream shredded or not, never half. */
    @Test
    void killDuringShredLeavesEachStreamShreddedOrIntact() throws Exception
    {
        final int perRound = 30;
        final int rounds = 4;
        try (VarveDB db = VarveDB.open(enc(dir, KEY).build()))
        {
            final Appender a = db.appender();
            for (long s = 1; s <= perRound * rounds; s++)
            {
                for (int v = 1; v <= 2; v++)
                {
                    a.append(s, ExpectedVersion.ANY, 1, payloadOf(s, v, 50));
                }
            }
        }
        final List<String> problems = new ArrayList<>();
        for (int round = 0; round < rounds; round++)
        {
            final long first = 1 + (long)round * perRound;
            final Process child = startChild("shred-loop", dir.toString(), HexFormat.of().formatHex(KEY),
                Long.toString(first), Integer.toString(perRound));
            final BufferedReader out = new BufferedReader(new InputStreamReader(child.getInputStream(),
                StandardCharsets.US_ASCII));
            final Set<Long> started = new TreeSet<>();
            final Set<Long> done = new TreeSet<>();
            assertEquals("opened", out.readLine());
            final int killAfter = ThreadLocalRandom.current().nextInt(2, perRound - 2);
            String line;
            while ((line = out.readLine()) != null)
            {
                if (line.startsWith("S "))
                {
                    started.add(Long.parseLong(line.substring(2)));
                    if (started.size() == killAfter)
                    {
                        busySpinMicros(ThreadLocalRandom.current().nextInt(0, 3000));
                        child.toHandle().destroyForcibly();
                    }
                }
                else if (line.startsWith("D "))
                {
                    done.add(Long.parseLong(line.substring(2)));
                }
            }
            assertTrue(child.waitFor(20, TimeUnit.SECONDS));
            try (VarveDB db = VarveDB.open(enc(dir, KEY).build()))
            {
                for (long s = first; s < first + perRound; s++)
                {
                    final boolean shredded = db.isShredded(s);
                    if (done.contains(s) && !shredded)
                    {
                        problems.add("round " + round + ": stream " + s + " was shredded (call returned) but is not");
                    }
                    if (!started.contains(s) && shredded)
                    {
                        problems.add("round " + round + ": stream " + s + " shredded though never asked");
                    }
                    if (db.streamVersion(s) != 2)
                    {
                        problems.add("stream " + s + " version " + db.streamVersion(s));
                    }
                    try
                    {
                        final List<String> got = payloads(db, s);
                        if (shredded)
                        {
                            problems.add("stream " + s + " isShredded but readable");
                        }
                        else if (!got.equals(List.of(HexFormat.of().formatHex(payloadOf(s, 1, 50)),
                            HexFormat.of().formatHex(payloadOf(s, 2, 50)))))
                        {
                            problems.add("stream " + s + " not intact");
                        }
                    }
                    catch (final StreamShreddedException ex)
                    {
                        if (!shredded)
                        {
                            problems.add("stream " + s + " StreamShreddedException though !isShredded");
                        }
                    }
                    catch (final RuntimeException ex)
                    {
                        problems.add("round " + round + " stream " + s + " (started " + started.contains(s) +
                            ", done " + done.contains(s) + "): half-shredded: " + ex);
                    }
                }
            }
        }
        assertTrue(problems.isEmpty(), String.join("\n", problems));
    }

    static void busySpinMicros(final long micros)
    {
        final long end = System.nanoTime() + micros * 1000;
        while (System.nanoTime() < end)
        {
            Thread.onSpinWait();
        }
    }

    static Process startChild(final String... args) throws IOException
    {
        final List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        command.add("--add-exports=java.base/jdk.internal.misc=ALL-UNNAMED");
        command.add("-Xmx96m");
        command.add("-XX:TieredStopAtLevel=1");
        command.add("-Xshare:auto");
        command.add("-cp");
        command.add(System.getProperty("java.class.path"));
        command.add(EncryptionAttackChild.class.getName());
        command.addAll(List.of(args));
        return new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.INHERIT).start();
    }

    // =====================================================================================================
    // 6. Rotating the master key
    // =====================================================================================================

    @Test
    void rotatingToTheSameKeyKeepsTheStoreOpenable() throws Exception
    {
        fillStore(dir, KEY);
        try (VarveDB db = VarveDB.open(enc(dir, KEY).build()))
        {
            db.rotateMasterKey(KEY.clone());
            db.rotateMasterKey(new SecretKeySpec(KEY, "AES"));
            assertNull(intact(db));
        }
        try (VarveDB db = VarveDB.open(enc(dir, KEY).build()))
        {
            assertNull(intact(db));
        }
        assertFalse(Files.exists(dir.resolve("varve.keys.old")) || Files.exists(dir.resolve("varve.keys.next")));
    }

    /**
     * A 16-byte AES key given to rotateMasterKey(SecretKey) (what KeyGenerator.getInstance("AES") makes by default
     * on Java 17): refused, or the store can never be opened again, as VarveConfig takes 32-byte keys only.
     */
    @Test
    void rotatingToAShortKeyIsRefusedAndTheStoreStillOpens() throws Exception
    {
        fillStore(dir, KEY);
        final javax.crypto.SecretKey generated = javax.crypto.KeyGenerator.getInstance("AES").generateKey();
        try (VarveDB db = VarveDB.open(enc(dir, KEY).build()))
        {
            assertThrows(IllegalArgumentException.class, () -> db.rotateMasterKey(new byte[16]));
            assertThrows(IllegalArgumentException.class, () -> db.rotateMasterKey((byte[])null));
            final javax.crypto.SecretKey shortKey = new SecretKeySpec(Arrays.copyOf(KEY3, 16), "AES");
            try
            {
                db.rotateMasterKey(shortKey);
            }
            catch (final IllegalArgumentException refused)
            {
                return; // the promise holds
            }
        }
        final List<String> opens = new ArrayList<>();
        for (final byte[] key : List.of(Arrays.copyOf(KEY3, 16), KEY))
        {
            try
            {
                VarveDB.open(enc(dir, KEY).encryption(new SecretKeySpec(key, "AES")).build()).close();
                opens.add(key.length + "-byte key opens it");
            }
            catch (final RuntimeException ex)
            {
                opens.add(key.length + "-byte key: " + ex.getClass().getSimpleName() + " (" + ex.getMessage() + ")");
            }
        }
        fail("rotateMasterKey(SecretKey) accepted a 16-byte AES key (Javadoc: \"an AES-256 key\"; " +
            "KeyGenerator.getInstance(\"AES\") makes " + generated.getEncoded().length * 8 + "-bit keys on this JVM); " +
            "afterwards no key opens the store: " + opens);
    }

    /** Rotations racing first appends of new streams and shreds in the same process. */
    @Test
    void rotationRacingNewStreamsAndShredsLosesNoKeyAndResurrectsNoShred() throws Exception
    {
        final Set<Long> shredded = ConcurrentHashMap.newKeySet();
        final Set<Long> created = ConcurrentHashMap.newKeySet();
        final List<Throwable> errors = new CopyOnWriteArrayList<>();
        final byte[][] keys = {KEY, KEY2};
        int rotations = 0;
        try (VarveDB db = VarveDB.open(enc(dir, KEY).build()))
        {
            final Appender pre = db.appender();
            for (long s = 1; s <= 400; s++)
            {
                pre.append(s, ExpectedVersion.ANY, 1, payloadOf(s, 1, 20));
            }
            final AtomicBoolean stop = new AtomicBoolean();
            final Thread creator = new Thread(() ->
            {
                try (Appender a = db.appender())
                {
                    for (long s = 10_000; !stop.get(); s++)
                    {
                        a.append(s, ExpectedVersion.NO_STREAM, 1, payloadOf(s, 1, 20));
                        created.add(s);
                    }
                }
                catch (final Throwable ex)
                {
                    errors.add(ex);
                }
            });
            final Thread shredder = new Thread(() ->
            {
                try
                {
                    for (long s = 1; s <= 400 && !stop.get(); s += 2)
                    {
                        db.shredStream(s);
                        shredded.add(s);
                    }
                }
                catch (final Throwable ex)
                {
                    errors.add(ex);
                }
            });
            creator.start();
            shredder.start();
            final long end = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(2500);
            while (System.nanoTime() < end && shredder.isAlive())
            {
                db.rotateMasterKey(keys[++rotations % 2]);
            }
            db.rotateMasterKey(keys[++rotations % 2]);
            stop.set(true);
            creator.join();
            shredder.join();
        }
        assertTrue(errors.isEmpty(), errors.toString());
        final byte[] last = keys[rotations % 2];
        final List<String> problems = new ArrayList<>();
        try (VarveDB db = VarveDB.open(enc(dir, last).build()))
        {
            for (final long s : shredded)
            {
                if (!db.isShredded(s))
                {
                    problems.add("shredded stream " + s + " is back after a rotation");
                }
            }
            for (final long s : created)
            {
                try
                {
                    if (!payloads(db, s).equals(List.of(HexFormat.of().formatHex(payloadOf(s, 1, 20)))))
                    {
                        problems.add("stream " + s + " created during a rotation reads wrong");
                    }
                }
                catch (final RuntimeException ex)
                {
                    problems.add("stream " + s + " created during a rotation: " + ex.getClass().getSimpleName());
                }
            }
            for (long s = 2; s <= 400; s += 2)
            {
                if (payloads(db, s).size() != 1)
                {
                    problems.add("stream " + s);
                }
            }
        }
        assertTrue(problems.isEmpty(), rotations + " rotations, " + created.size() + " streams created, " +
            shredded.size() + " shredded:\n" + String.join("\n", problems.subList(0, Math.min(20, problems.size()))));
    }

    /** Kill -9 at random moments of a loop of rotations (with appends of new streams): one key set, whole. */
    @Test
    void killDuringRotationLeavesOneWholeKeySet() throws Exception
    {
        fillStore(dir, KEY);
        final byte[][] keys = {KEY, KEY2};
        int current = 0;
        final Set<Long> acknowledged = new TreeSet<>();
        final List<String> problems = new ArrayList<>();
        long nextStream = 10_000;
        for (int round = 0; round < 5; round++)
        {
            final Process child = startChild("rotate-loop", dir.toString(), HexFormat.of().formatHex(keys[current]),
                HexFormat.of().formatHex(keys[1 - current]), Long.toString(nextStream));
            final BufferedReader out = new BufferedReader(new InputStreamReader(child.getInputStream(),
                StandardCharsets.US_ASCII));
            assertEquals("opened", out.readLine());
            final int killAt = ThreadLocalRandom.current().nextInt(1, 12);
            int lastStarted = 0;
            int lastDone = 0;
            String line;
            while ((line = out.readLine()) != null)
            {
                if (line.startsWith("R "))
                {
                    lastStarted = Integer.parseInt(line.substring(2));
                    if (lastStarted == killAt)
                    {
                        busySpinMicros(ThreadLocalRandom.current().nextInt(0, 20_000));
                        child.toHandle().destroyForcibly();
                    }
                }
                else if (line.startsWith("K "))
                {
                    lastDone = Integer.parseInt(line.substring(2));
                }
                else if (line.startsWith("A "))
                {
                    acknowledged.add(Long.parseLong(line.substring(2)));
                }
            }
            assertTrue(child.waitFor(20, TimeUnit.SECONDS));
            nextStream += 100_000;
            // the j-th rotation moves to keys[1 - current] for odd j, back to keys[current] for even j
            final int afterDone = lastDone % 2 == 1 ? 1 - current : current;
            final int inFlight = lastStarted > lastDone ? (lastStarted % 2 == 1 ? 1 - current : current) : afterDone;
            final boolean tryNewFirst = ThreadLocalRandom.current().nextBoolean();
            final int firstTry = tryNewFirst ? inFlight : afterDone;
            final int secondTry = 1 - firstTry;
            int opened = -1;
            for (final int k : new int[]{firstTry, secondTry})
            {
                final Map<String, String> before = digests(dir);
                try (VarveDB db = VarveDB.open(enc(dir, keys[k]).durability(Durability.SYNC).build()))
                {
                    opened = k;
                    final String damage = intact(db);
                    if (damage != null)
                    {
                        problems.add("round " + round + ": " + damage);
                    }
                    for (final long s : acknowledged)
                    {
                        try
                        {
                            if (!payloads(db, s).equals(List.of(HexFormat.of().formatHex(payloadOf(s, 1, 33)))))
                            {
                                problems.add("round " + round + ": acknowledged stream " + s + " reads wrong");
                            }
                        }
                        catch (final RuntimeException ex)
                        {
                            problems.add("round " + round + ": acknowledged stream " + s + ": " + ex);
                        }
                    }
                    break;
                }
                catch (final EncryptionKeyException refused)
                {
                    if (!before.equals(digests(dir)))
                    {
                        problems.add("round " + round + ": a refused key changed files");
                    }
                }
            }
            if (opened < 0)
            {
                problems.add("round " + round + " (killed in rotation " + lastStarted + ", " + lastDone +
                    " done): neither key opens the store");
                break;
            }
            if (lastStarted == lastDone && opened != afterDone)
            {
                problems.add("round " + round + ": rotation " + lastDone + " returned, yet the key before it opens");
            }
            try
            {
                VarveDB.open(enc(dir, keys[1 - opened]).build()).close();
                problems.add("round " + round + ": both keys open the store after it was settled");
            }
            catch (final EncryptionKeyException expected)
            {
                // exactly one key
            }
            if (Files.exists(dir.resolve("varve.keys.old")) || Files.exists(dir.resolve("varve.keys.next")))
            {
                problems.add("round " + round + ": a copy of the key file left behind");
            }
            current = opened;
        }
        assertTrue(problems.isEmpty(), String.join("\n", problems));
    }

    /**
     * A read-only process holding the old master key, after a rotation: the README says it is refused at its next
     * new stream and must open again. Refused how: with EncryptionKeyException (the key), never a claim that the
     * store is damaged, never wrong data, never a silent skip. Stream 3 existed before the rotation but was never
     * read by the reader; stream 2 is new.
     */
    @Test
    void aReadOnlyProcessAcrossARotationIsRefusedNeverMisled() throws Exception
    {
        try (VarveDB db = VarveDB.open(enc(dir, KEY).build()))
        {
            db.appender().append(1, ExpectedVersion.ANY, 1, payloadOf(1, 1, 30));
            db.appender().append(3, ExpectedVersion.ANY, 1, payloadOf(3, 1, 30));
            final Process child = startChild("ro-reader", dir.toString(), HexFormat.of().formatHex(KEY));
            final BufferedReader out = new BufferedReader(new InputStreamReader(child.getInputStream(),
                StandardCharsets.US_ASCII));
            final PrintStream in = new PrintStream(child.getOutputStream(), true, StandardCharsets.US_ASCII);
            try
            {
                assertEquals("opened", out.readLine());
                in.println("read 1");
                assertEquals("ok 1 1:" + HexFormat.of().formatHex(payloadOf(1, 1, 30)), out.readLine());
                db.rotateMasterKey(KEY2);
                db.appender().append(2, ExpectedVersion.ANY, 1, payloadOf(2, 1, 30));
                db.appender().append(1, ExpectedVersion.ANY, 1, payloadOf(1, 2, 30));
                final Map<String, String> answers = new LinkedHashMap<>();
                for (final String command : List.of("read 2", "read 3", "read 1", "all"))
                {
                    in.println(command);
                    answers.put(command, out.readLine());
                }
                final List<String> misled = new ArrayList<>();
                final Map<String, String> right = Map.of(
                    "read 2", "ok 1 1:" + HexFormat.of().formatHex(payloadOf(2, 1, 30)),
                    "read 3", "ok 1 1:" + HexFormat.of().formatHex(payloadOf(3, 1, 30)),
                    "read 1", "ok 2 ", "all", "ok 4 ");
                for (final Map.Entry<String, String> answer : answers.entrySet())
                {
                    if (!answer.getValue().startsWith(right.get(answer.getKey())) &&
                        !answer.getValue().startsWith("err EncryptionKeyException"))
                    {
                        misled.add(answer.getKey() + " -> " + answer.getValue());
                    }
                }
                assertTrue(misled.isEmpty(), "a read-only process holding the old key, after rotateMasterKey: " +
                    String.join(" | ", misled));
            }
            finally
            {
                in.println("quit");
                child.waitFor(10, TimeUnit.SECONDS);
                child.toHandle().destroyForcibly();
            }
        }
    }

    // =====================================================================================================
    // 7. Processes
    // =====================================================================================================

    /** Two writer processes race the first appends (so the key creation) of the same streams and names. */
    @Test
    void twoWriterProcessesCreatingKeysForTheSameNewStreams() throws Exception
    {
        final int count = 30;
        try (VarveDB db = VarveDB.open(enc(dir, KEY).multiProcess(true).build()))
        {
            db.appender().append(999, ExpectedVersion.ANY, 1, new byte[1]);
        }
        final Process[] children = new Process[2];
        final BufferedReader[] outs = new BufferedReader[2];
        for (int i = 0; i < 2; i++)
        {
            children[i] = startChild("mp-writer", dir.toString(), HexFormat.of().formatHex(KEY), Integer.toString(i + 1),
                Integer.toString(count));
            outs[i] = new BufferedReader(new InputStreamReader(children[i].getInputStream(), StandardCharsets.US_ASCII));
        }
        for (int i = 0; i < 2; i++)
        {
            assertEquals("ready", outs[i].readLine());
        }
        for (int i = 0; i < 2; i++)
        {
            final PrintStream in = new PrintStream(children[i].getOutputStream(), true, StandardCharsets.US_ASCII);
            in.println("go");
        }
        final Map<String, String> acked = new TreeMap<>();
        final Map<Integer, Set<Long>> nameIds = new TreeMap<>();
        for (int i = 0; i < 2; i++)
        {
            String line;
            while ((line = outs[i].readLine()) != null && !line.equals("done"))
            {
                final String[] p = line.split(" ");
                if (p[0].equals("A"))
                {
                    final long s = Long.parseLong(p[1]);
                    acked.put(s + "/" + p[2], HexFormat.of().formatHex(payloadOf(s * 10 + Integer.parseInt(p[3]),
                        Integer.parseInt(p[4]), 24 + (int)s)));
                }
                else
                {
                    final long s = Long.parseLong(p[2]);
                    nameIds.computeIfAbsent(Integer.parseInt(p[1]), (k) -> new TreeSet<>()).add(s);
                    acked.put(s + "/" + p[3], HexFormat.of().formatHex(payloadOf(1000 + Integer.parseInt(p[1]) * 10 +
                        Integer.parseInt(p[4]), Integer.parseInt(p[5]), 20)));
                }
            }
            assertEquals("done", line);
        }
        for (final Process child : children)
        {
            assertTrue(child.waitFor(30, TimeUnit.SECONDS));
            assertEquals(0, child.exitValue());
        }
        for (final Map.Entry<Integer, Set<Long>> e : nameIds.entrySet())
        {
            assertEquals(1, e.getValue().size(), "name mp-name-" + e.getKey() + " got ids " + e.getValue());
        }
        final List<String> problems = new ArrayList<>();
        try (VarveDB db = VarveDB.open(enc(dir, KEY).multiProcess(true).build()))
        {
            final Map<String, String> stored = new TreeMap<>();
            try
            {
                for (final Ev e : readAll(db))
                {
                    stored.put(e.stream() + "/" + e.version(), e.payload());
                }
            }
            catch (final RuntimeException ex)
            {
                problems.add("readAll: " + ex);
            }
            for (final Map.Entry<String, String> e : acked.entrySet())
            {
                if (!e.getValue().equals(stored.get(e.getKey())))
                {
                    problems.add("acknowledged " + e.getKey() + " reads " + (stored.containsKey(e.getKey()) ?
                        "another payload" : "nothing"));
                }
            }
            for (long s = 1; s <= count; s++)
            {
                try
                {
                    assertEquals(6, payloads(db, s).size());
                }
                catch (final RuntimeException ex)
                {
                    problems.add("stream " + s + ": " + ex);
                }
            }
        }
        assertTrue(problems.isEmpty(), String.join("\n", problems.subList(0, Math.min(20, problems.size()))));
    }

    /** A read-only view with the key, in this process, follows a writer creating new streams. */
    @Test
    void aReadOnlyViewWithTheKeyFollowsAWriterCreatingStreams() throws Exception
    {
        try (VarveDB db = VarveDB.open(enc(dir, KEY).build()))
        {
            db.appender().append(1, ExpectedVersion.ANY, 1, payloadOf(1, 1, 30));
            try (VarveDB reader = VarveDB.openReadOnly(enc(dir, KEY).build()))
            {
                final AtomicBoolean stop = new AtomicBoolean();
                final AtomicLong appended = new AtomicLong(1);
                final Thread writer = new Thread(() ->
                {
                    try (Appender a = db.appender())
                    {
                        for (long s = 2; s <= 1500 && !stop.get(); s++)
                        {
                            a.append(s, ExpectedVersion.NO_STREAM, 1, payloadOf(s, 1, 30));
                            appended.set(s);
                        }
                    }
                });
                writer.start();
                final List<String> problems = new ArrayList<>();
                long lastChecked = 0;
                while (writer.isAlive() || lastChecked < appended.get())
                {
                    final long upTo = appended.get();
                    for (long s = lastChecked + 1; s <= upTo; s++)
                    {
                        try
                        {
                            final List<String> got = payloads(reader, s);
                            if (!got.equals(List.of(HexFormat.of().formatHex(payloadOf(s, 1, 30)))))
                            {
                                problems.add("stream " + s + " read " + got.size());
                            }
                        }
                        catch (final RuntimeException ex)
                        {
                            problems.add("stream " + s + ": " + ex);
                        }
                    }
                    lastChecked = upTo;
                }
                writer.join();
                final List<Ev> all = readAll(reader);
                assertEquals(appended.get(), all.size());
                assertTrue(problems.isEmpty(), problems.subList(0, Math.min(10, problems.size())).toString());
            }
        }
    }

    /**
     * A second writer process that has stream 1's key in memory: after another process shreds the stream, its next
     * append and read of it are refused (the README: "other processes that hold the key in memory check the key's
     * state at every event and stop at their next one"), and its readAll skips the stream.
     */
    @Test
    void aWriterProcessHoldingTheKeyStopsAtAShredMadeByAnother() throws Exception
    {
        try (VarveDB db = VarveDB.open(enc(dir, KEY).multiProcess(true).build()))
        {
            db.appender().append(1, ExpectedVersion.ANY, 1, payloadOf(1, 1, 30));
            db.appender().append(2, ExpectedVersion.ANY, 1, payloadOf(2, 1, 30));
            final Process child = startChild("rw-cmd", dir.toString(), HexFormat.of().formatHex(KEY));
            final BufferedReader out = new BufferedReader(new InputStreamReader(child.getInputStream(),
                StandardCharsets.US_ASCII));
            final PrintStream in = new PrintStream(child.getOutputStream(), true, StandardCharsets.US_ASCII);
            try
            {
                assertEquals("opened", out.readLine());
                in.println("append 1");
                assertEquals("ok v2", out.readLine());
                in.println("read 1");
                assertEquals("ok 2 1 2", out.readLine());
                assertTrue(db.shredStream(1));
                final Map<String, String> answers = new LinkedHashMap<>();
                for (final String command : List.of("append 1", "read 1", "all", "append 2"))
                {
                    in.println(command);
                    answers.put(command, out.readLine());
                }
                assertTrue(answers.get("append 1").startsWith("err StreamShreddedException") &&
                    answers.get("read 1").startsWith("err StreamShreddedException") &&
                    answers.get("all").equals("ok 1 2/1") && answers.get("append 2").equals("ok v2"),
                    "the other writer process, after the shred: " + answers);
                assertEquals(2, db.streamVersion(1), "no event appended to the shredded stream");
            }
            finally
            {
                in.println("quit");
                child.waitFor(10, TimeUnit.SECONDS);
                child.toHandle().destroyForcibly();
            }
        }
    }

    /**
     * A writer process keeps joining a multi-process store (and making a new stream's key each time) while this
     * process rotates the master key whenever it is the only writer. The README: rotation "needs the only
     * writer", refused otherwise; a writer that joins during a rotation must neither be refused with the right
     * key nor make a key that the rotation then drops.
     */
    @Test
    void aWriterProcessJoiningDuringARotationLosesNoKey() throws Exception
    {
        final byte[][] keys = {KEY, KEY2};
        int current = 0;
        int rotations = 0;
        int refusedRotations = 0;
        final List<String> childLines = new CopyOnWriteArrayList<>();
        final List<String> problems = new ArrayList<>();
        try (VarveDB db = VarveDB.open(enc(dir, KEY).multiProcess(true).build()))
        {
            db.appender().append(1, ExpectedVersion.ANY, 1, payloadOf(1, 1, 30));
            final Process child = startChild("mp-join-loop", dir.toString(), HexFormat.of().formatHex(KEY),
                HexFormat.of().formatHex(KEY2), "1000", "4000");
            final Thread drain = new Thread(() ->
            {
                try (BufferedReader out = new BufferedReader(new InputStreamReader(child.getInputStream(),
                    StandardCharsets.US_ASCII)))
                {
                    String line;
                    while ((line = out.readLine()) != null)
                    {
                        childLines.add(line);
                    }
                }
                catch (final IOException ignored)
                {
                    // the child ended
                }
            });
            drain.start();
            while (child.isAlive())
            {
                try
                {
                    db.rotateMasterKey(keys[1 - current]);
                    current = 1 - current;
                    rotations++;
                }
                catch (final IllegalStateException otherWriterOpen)
                {
                    refusedRotations++;
                    Thread.onSpinWait();
                }
                catch (final RuntimeException ex)
                {
                    problems.add("rotation " + (rotations + 1) + " (to key " + (2 - current) + ") threw " + ex +
                        (ex.getCause() != null ? " caused by " + ex.getCause() : "") + "; files then: " +
                        listKeyFiles(dir));
                    break;
                }
            }
            drain.join();
            assertTrue(child.waitFor(10, TimeUnit.SECONDS));
        }
        final List<Long> acknowledged = new ArrayList<>();
        for (final String line : childLines)
        {
            if (line.startsWith("A "))
            {
                acknowledged.add(Long.parseLong(line.substring(2)));
            }
            else if (!line.equals("done") && !line.contains("EncryptionKeyException: the master key given does not open"))
            {
                // (a joiner refused because the key it tried was rotated away meanwhile is the promised answer:
                // refused with nothing written; what must never happen is a key lost or a wrong read)
                final String kind = "joining writer: " + line.replaceAll("/tmp/\\S+", "DIR");
                final String shortKind = kind.length() > 400 ? kind.substring(0, 400) + "..." : kind;
                if (!problems.contains(shortKind))
                {
                    problems.add(shortKind);
                }
            }
        }
        VarveDB reopened = null;
        for (final int k : new int[]{current, 1 - current})
        {
            try
            {
                reopened = VarveDB.open(enc(dir, keys[k]).build());
                if (k != current)
                {
                    problems.add("the store opens with key " + (k + 1) + ", not the key of the last rotation that " +
                        "returned (key " + (current + 1) + ")");
                }
                break;
            }
            catch (final RuntimeException ex)
            {
                problems.add("key " + (k + 1) + " does not open the store: " + ex);
            }
        }
        assertNotNull(reopened, String.join("\n", problems));
        try (VarveDB db = reopened)
        {
            for (final long s : acknowledged)
            {
                try
                {
                    if (!payloads(db, s).equals(List.of(HexFormat.of().formatHex(payloadOf(s, 1, 28)))))
                    {
                        problems.add("acknowledged stream " + s + " reads wrong");
                    }
                }
                catch (final RuntimeException ex)
                {
                    problems.add("acknowledged stream " + s + ": " + ex.getClass().getSimpleName() + ": " +
                        ex.getMessage());
                }
            }
        }
        // the joiner either got in (and made streams) or was refused because its key had been rotated away: it
        // tried many times either way; the invariants above are what must hold
        assertTrue(childLines.size() > 5, "the joining writer tried: " + childLines.size());
        assertTrue(problems.isEmpty(), rotations + " rotations (" + refusedRotations + " refused), " +
            acknowledged.size() + " streams made by the joining writer:\n" +
            String.join("\n", problems.subList(0, Math.min(15, problems.size()))));
    }

    // =====================================================================================================
    // 8. Names, ids, sizes
    // =====================================================================================================

    @Test
    void nameLengthLimitsAndUnicodeInAnEncryptedStore() throws Exception
    {
        final int max = VarveDB.MAX_STREAM_NAME_LENGTH - 16;
        final String longest = "n".repeat(max);
        final String tooLong = "n".repeat(max + 1);
        final String unicode = "\u00e9\u6f22".repeat(max / 5) + "x".repeat(max % 5); // 2 + 3 bytes each
        final String emoji = "\uD83D\uDE00".repeat(max / 4);
        assertEquals(max, unicode.getBytes(StandardCharsets.UTF_8).length);
        // the control: what a clear store does with a name of the full length
        final List<String> clearOutcome = nameWorkout(clear(dir.resolve("clear")).build(),
            "c".repeat(VarveDB.MAX_STREAM_NAME_LENGTH));
        final List<String> problems = new ArrayList<>();
        for (final String name : List.of(longest, unicode, emoji))
        {
            final List<String> outcome = nameWorkout(enc(dir.resolve("enc" + name.length()), KEY).build(), name);
            if (!outcome.equals(clearOutcome))
            {
                problems.add(name.getBytes(StandardCharsets.UTF_8).length + "-byte name: " + outcome +
                    " where a clear store with a " + VarveDB.MAX_STREAM_NAME_LENGTH + "-byte name does " + clearOutcome);
            }
        }
        try (VarveDB db = VarveDB.open(enc(dir.resolve("enc-long"), KEY).build()))
        {
            final IllegalArgumentException refused = assertThrows(IllegalArgumentException.class,
                () -> db.streamId(tooLong));
            assertTrue(refused.getMessage().contains(Integer.toString(max)), refused.getMessage());
            assertThrows(IllegalArgumentException.class, () -> db.streamId("\u00e9".repeat(max / 2 + 1)));
            try
            {
                assertEquals(0, db.findStreamId(tooLong));
            }
            catch (final IllegalArgumentException alsoFine)
            {
                // refused as too long
            }
            assertEquals(0, db.namedStreamCount());
        }
        assertTrue(problems.isEmpty(), String.join("\n", problems));
    }

    static List<String> nameWorkout(final VarveConfig config, final String name)
    {
        final List<String> outcome = new ArrayList<>();
        try (VarveDB db = VarveDB.open(config))
        {
            final long id = db.streamId(name);
            step(outcome, "append", () -> db.appender().append(name, ExpectedVersion.ANY, 1, new byte[]{1, 2, 3}));
            step(outcome, "read", () -> db.readStream(name, 1, 10, (e) -> { }));
            step(outcome, "metadata", () -> db.setStreamMetadata(name, StreamMetadata.NONE.withMaxCount(3)));
            step(outcome, "delete", () -> db.deleteStream(name, ExpectedVersion.ANY));
            step(outcome, "append2", () -> db.appender().append(id, ExpectedVersion.ANY, 1, new byte[]{4}));
            step(outcome, "tombstone", () -> db.tombstoneStream(name, ExpectedVersion.ANY));
            step(outcome, "streamName", () -> db.streamName(id).equals(name));
            final List<String> listed = new ArrayList<>();
            step(outcome, "streams", () ->
            {
                db.streams(name.substring(0, 3), (n, s) -> listed.add(n));
                return null;
            });
            outcome.add("listed " + listed.contains(name));
        }
        try (VarveDB db = VarveDB.open(config))
        {
            step(outcome, "reopen find", () -> db.findStreamId(name) == -1);
            step(outcome, "reopen tombstoned", () -> db.isTombstoned(-1));
        }
        return outcome;
    }

    static void step(final List<String> outcome, final String what, final java.util.concurrent.Callable<?> call)
    {
        try
        {
            final Object result = call.call();
            outcome.add(what + (result instanceof Boolean ? "=" + result : " ok"));
        }
        catch (final Exception ex)
        {
            outcome.add(what + " " + ex.getClass().getSimpleName());
        }
    }

    @Test
    void streamsPrefixListingWorksOnEncryptedNames() throws Exception
    {
        final Map<String, Long> expected = new TreeMap<>();
        try (VarveDB db = VarveDB.open(enc(dir, KEY).build()))
        {
            for (final String name : List.of("cust-1", "cust-22", "cust-\u00e9", "cus", "customer", "order-1", "c",
                "cust-" + "z".repeat(80)))
            {
                final long id = db.streamId(name);
                db.appender().append(id, ExpectedVersion.ANY, 1, new byte[1]);
                if (name.startsWith("cust-"))
                {
                    expected.put(name, id);
                }
            }
            db.setStreamMetadata("cust-1", StreamMetadata.NONE.withMaxCount(2));
            assertEquals(expected, listed(db, "cust-"));
        }
        try (VarveDB db = VarveDB.open(enc(dir, KEY).build()))
        {
            assertEquals(expected, listed(db, "cust-"));
            assertTrue(listed(db, "").keySet().containsAll(List.of("c", "cus", "customer", "order-1")));
        }
        try (VarveDB db = VarveDB.openReadOnly(enc(dir, KEY).build()))
        {
            assertEquals(expected, listed(db, "cust-"));
        }
    }

    static Map<String, Long> listed(final VarveDB db, final String prefix)
    {
        final Map<String, Long> names = new TreeMap<>();
        db.streams(prefix, names::put);
        return names;
    }

    @Test
    void eventIdsInAnEncryptedStoreBehaveAsInAClearOne() throws Exception
    {
        final List<String> clear = idWorkout(VarveConfig.builder(dir.resolve("clear")).segmentSize(SEGMENT)
            .indexCapacity(4096).build(), dir.resolve("clear"));
        final List<String> encrypted = idWorkout(enc(dir.resolve("enc"), KEY).build(), dir.resolve("enc"));
        assertEquals(clear, encrypted);
    }

    static List<String> idWorkout(final VarveConfig config, final Path dir) throws IOException
    {
        final List<String> out = new ArrayList<>();
        final UUID a = UUID.fromString("00000000-0000-0000-0000-000000000001");
        final UUID b = UUID.fromString("ffffffff-ffff-ffff-ffff-ffffffffffff");
        final UUID zeroHigh = new UUID(0, 42);
        try (VarveDB db = VarveDB.open(config))
        {
            final Appender ap = db.appender();
            step(out, "a", () -> ap.append(1, ExpectedVersion.ANY, 1, a, payloadOf(1, 1, 10)));
            step(out, "a again", () -> ap.append(1, ExpectedVersion.exact(99), 1, a, payloadOf(1, 9, 10)) + " dup=" +
                ap.lastWasDuplicate());
            step(out, "a other stream", () -> ap.append(2, ExpectedVersion.ANY, 1, a, payloadOf(2, 1, 10)));
            step(out, "zero id", () -> ap.append(1, ExpectedVersion.ANY, 1, 0L, 0L, payloadOf(1, 2, 10)));
            step(out, "zero id again", () -> ap.append(1, ExpectedVersion.ANY, 1, 0L, 0L, payloadOf(1, 2, 10)) +
                " dup=" + ap.lastWasDuplicate());
            step(out, "zero high", () -> ap.append(1, ExpectedVersion.ANY, 1, zeroHigh, payloadOf(1, 3, 10)));
            step(out, "b", () -> ap.append(3, ExpectedVersion.ANY, 1, b, new byte[0]));
            final EventBatch batch = new EventBatch();
            batch.add(1, payloadOf(4, 1, 10)).eventId(7, 1);
            batch.add(1, payloadOf(4, 2, 10)).eventId(7, 2);
            step(out, "batch", () -> ap.appendBatch(4, ExpectedVersion.ANY, batch));
            step(out, "batch again", () -> ap.appendBatch(4, ExpectedVersion.ANY, batch) + " dup=" +
                ap.lastWasDuplicate());
            step(out, "batch member", () -> ap.append(4, ExpectedVersion.ANY, 1, 7, 2, new byte[1]) + " dup=" +
                ap.lastWasDuplicate());
            final EventBatch partial = new EventBatch();
            partial.add(1, new byte[1]).eventId(7, 2);
            partial.add(1, new byte[1]).eventId(7, 3);
            step(out, "batch partial", () -> ap.appendBatch(4, ExpectedVersion.ANY, partial));
            final EventBatch dupInside = new EventBatch();
            dupInside.add(1, new byte[1]).eventId(8, 1);
            dupInside.add(1, new byte[1]).eventId(8, 1);
            step(out, "batch dup inside", () -> ap.appendBatch(5, ExpectedVersion.ANY, dupInside));
            step(out, "tryAppend retry", () -> ap.tryAppend(1, 0, 1, a.getMostSignificantBits(),
                a.getLeastSignificantBits(), new UnsafeBuffer(new byte[3]), 0, 3));
            step(out, "readEvent zero", () -> db.readEvent(0, 0, (e) -> { }));
            out.add(describeEvent(db, a));
            out.add(describeEvent(db, zeroHigh));
            out.add(describeEvent(db, new UUID(7, 2)));
        }
        try (VarveDB db = VarveDB.open(config))
        {
            out.add("reopen " + describeEvent(db, a) + " " + describeEvent(db, b));
            step(out, "reopen retry", () -> db.appender().append(3, ExpectedVersion.ANY, 1, b, new byte[5]) +
                " v" + db.streamVersion(3));
        }
        deleteTree(dir.resolve("index"));
        try (VarveDB db = VarveDB.open(config))
        {
            out.add("rebuilt " + describeEvent(db, a) + " " + describeEvent(db, new UUID(7, 1)));
            step(out, "rebuilt retry", () -> db.appender().append(4, ExpectedVersion.ANY, 1, 7, 1, new byte[5]) +
                " v" + db.streamVersion(4));
            final List<String> ids = new ArrayList<>();
            db.readAll(VarveDB.START_POSITION, 100, (e) -> ids.add(e.hasEventId() ? e.eventId().toString() : "-"));
            out.add("ids " + ids);
        }
        return out;
    }

    static String describeEvent(final VarveDB db, final UUID id)
    {
        final List<String> seen = new ArrayList<>();
        final boolean found = db.readEvent(id, (e) -> seen.add(e.streamId() + "/" + e.version() + " " + hex(e) + " " +
            e.eventId()));
        return id + " found=" + found + " " + seen;
    }

    /** Payloads of 0, 1 and up to maxEventSize bytes, singly, with ids, in a batch: as a clear store takes them. */
    @Test
    @org.junit.jupiter.api.Disabled("left open (see the issue's note): a batch counts the 20 bytes an encrypted event takes more against half a segment, so a batch of one event within 20 bytes of maxEventSize is refused (EventTooLargeException, nothing written) where a single append is taken")
    void payloadsOfZeroOneAndMaximumSizeRoundTripAndNeverCorrupt() throws Exception
    {
        final List<String> clearRefused = sizeWorkout(clear(dir.resolve("clear")).build(), dir.resolve("clear"));
        final List<String> encRefused = sizeWorkout(enc(dir.resolve("enc"), KEY).build(), dir.resolve("enc"));
        assertEquals(clearRefused, encRefused, "payload sizes refused with EventTooLargeException, in a clear " +
            "store and in an encrypted one (maxEventSize " + enc(dir, KEY).build().maxEventSize() + ")");
    }

    static List<String> sizeWorkout(final VarveConfig config, final Path dir) throws IOException
    {
        final int max = config.maxEventSize();
        final Map<String, String> written = new TreeMap<>();
        final List<String> refused = new ArrayList<>();
        try (VarveDB db = VarveDB.open(config))
        {
            final Appender a = db.appender();
            int stream = 1;
            for (final int length : new int[]{0, 1, 15, 16, 17, max - 20, max - 36, max - 1, max})
            {
                for (int kind = 0; kind < 4; kind++)
                {
                    final byte[] p = payloadOf(stream, 1, length);
                    try
                    {
                        final long v;
                        switch (kind)
                        {
                            case 0 -> v = a.append(stream, ExpectedVersion.ANY, 1, p);
                            case 1 -> v = a.append(stream, ExpectedVersion.ANY, 1, UUID.randomUUID(), p);
                            case 2 -> v = a.appendBatch(stream, ExpectedVersion.ANY, new EventBatch().add(1, p));
                            default -> v = a.appendBatch(stream, ExpectedVersion.ANY, new EventBatch().add(1, p)
                                .eventId(stream, 77));
                        }
                        written.put(stream + "/" + v, HexFormat.of().formatHex(p));
                    }
                    catch (final EventTooLargeException ex)
                    {
                        refused.add((length - max) + (kind == 0 ? "" : kind == 1 ? " with id" : kind == 2 ?
                            " in a batch" : " in a batch with id"));
                    }
                    stream++;
                }
            }
            assertThrows(EventTooLargeException.class, () -> a.append(200, ExpectedVersion.ANY, 1, new byte[max + 1]));
            a.append(201, ExpectedVersion.ANY, 1, payloadOf(201, 1, 10));
            written.put("201/1", HexFormat.of().formatHex(payloadOf(201, 1, 10)));
        }
        for (int open = 0; open < 2; open++)
        {
            try (VarveDB db = VarveDB.open(config))
            {
                final Map<String, String> stored = new TreeMap<>();
                for (final Ev e : readAll(db))
                {
                    stored.put(e.stream() + "/" + e.version(), e.payload());
                }
                assertEquals(written, stored);
            }
            dirty(dir);
        }
        return refused;
    }

    // =====================================================================================================
    // 9. Clear text in the files
    // =====================================================================================================

    /** A codec that writes the pattern into the buffer it is given, then looks for it in the store's files. */
    static final class SpyCodec implements Codec<byte[]>
    {
        final Path store;
        final boolean throwHalfway;
        final List<String> seenInFiles = new CopyOnWriteArrayList<>();

        SpyCodec(final Path store, final boolean throwHalfway)
        {
            this.store = store;
            this.throwHalfway = throwHalfway;
        }

        @Override
        public int maxEncodedLength(final byte[] value)
        {
            return value.length;
        }

        @Override
        public int encode(final byte[] value, final MutableDirectBuffer buffer, final int maxLength)
        {
            buffer.putBytes(0, value);
            try
            {
                final List<Path> hits = filesContaining(store, Arrays.copyOfRange(value, 0, 16));
                if (!hits.isEmpty())
                {
                    seenInFiles.add(hits.toString());
                }
            }
            catch (final IOException ex)
            {
                throw new IllegalStateException(ex);
            }
            if (throwHalfway)
            {
                throw new IllegalStateException("codec failed halfway");
            }
            return value.length;
        }

        @Override
        public byte[] decode(final DirectBuffer buffer, final int offset, final int length)
        {
            final byte[] bytes = new byte[length];
            buffer.getBytes(offset, bytes);
            return bytes;
        }
    }

    static byte[] pattern()
    {
        final byte[] random = new byte[12];
        ThreadLocalRandom.current().nextBytes(random);
        return ("CLEAR-" + HexFormat.of().formatHex(random) + "-PATTERN-").repeat(3).getBytes(StandardCharsets.US_ASCII);
    }

    @Test
    void aTypedAppendNeverPutsClearBytesInAFileOrMappingEvenWhenItsCodecThrows() throws Exception
    {
        final byte[] pattern = pattern();
        final SpyCodec ok = new SpyCodec(dir, false);
        final SpyCodec failing = new SpyCodec(dir, true);
        try (VarveDB db = VarveDB.open(enc(dir, KEY).build()))
        {
            final Appender a = db.appender();
            a.append(1, ExpectedVersion.ANY, 1, payloadOf(1, 1, 10));
            a.append(1, ExpectedVersion.ANY, 2, pattern, ok);
            assertThrows(IllegalStateException.class, () -> a.append(1, ExpectedVersion.ANY, 2, pattern, failing));
            assertThrows(IllegalStateException.class, () -> a.append(2, ExpectedVersion.ANY, 2, UUID.randomUUID(),
                pattern, failing));
            assertEquals(2, db.streamVersion(1));
            assertEquals(0, db.streamVersion(2));
            final List<Path> hits = filesContaining(dir, Arrays.copyOfRange(pattern, 0, 16));
            assertTrue(ok.seenInFiles.isEmpty() && failing.seenInFiles.isEmpty() && hits.isEmpty(),
                "clear bytes of a typed event reached the store's files: while encoding " + ok.seenInFiles +
                ", while a failing codec encoded " + failing.seenInFiles + ", after the failed appends " + hits);
            a.append(2, ExpectedVersion.NO_STREAM, 1, payloadOf(2, 1, 10));
        }
        assertFalse(anyFileContains(dir, Arrays.copyOfRange(pattern, 0, 16)), "after close");
        try (VarveDB db = VarveDB.open(enc(dir, KEY).build()))
        {
            assertEquals(2, db.streamVersion(1));
            final List<byte[]> typed = new ArrayList<>();
            db.readStream(1, 2, 1, (e) -> typed.add(e.decode(ok)));
            assertArrayEquals(pattern, typed.get(0));
        }
    }

    @Test
    void noClearPayloadNameOrIdInAnyFileAfterEveryKindOfAppend() throws Exception
    {
        final long start = System.currentTimeMillis() - 2000;
        final byte[] pattern = pattern();
        final String name = "customer-" + HexFormat.of().formatHex(Arrays.copyOfRange(pattern, 6, 14)) + "@mail";
        final UUID id = new UUID(0x5ec2e7_1d00_0001L, 0x0dd5_eed5_0000_0002L);
        final SpyCodec codec = new SpyCodec(dir, false);
        try (VarveDB db = VarveDB.open(enc(dir, KEY).build()))
        {
            final Appender a = db.appender();
            final long named = db.streamId(name);
            a.append(name, ExpectedVersion.ANY, 1, pattern);
            a.append(named, ExpectedVersion.ANY, 1, Arrays.copyOf(pattern, pattern.length + 9), 0, pattern.length);
            a.append(1, ExpectedVersion.ANY, 1, new UnsafeBuffer(pattern), 0, pattern.length);
            a.append(2, ExpectedVersion.ANY, 1, id, pattern);
            a.tryAppend(3, ExpectedVersion.ANY_VALUE, 1, new UnsafeBuffer(pattern), 0, pattern.length);
            final UnsafeBuffer direct = new UnsafeBuffer(ByteBuffer.allocateDirect(pattern.length));
            direct.putBytes(0, pattern);
            a.tryAppend(4, ExpectedVersion.ANY_VALUE, 1, 99, 98, direct, 0, pattern.length);
            a.append(5, ExpectedVersion.ANY, 1, pattern, codec);
            a.tryAppend(6, ExpectedVersion.ANY_VALUE, 1, pattern, codec);
            final EventBatch batch = new EventBatch();
            batch.add(1, pattern).eventId(5, 6);
            batch.add(1, pattern, codec).eventId(5, 7);
            batch.add(1, new UnsafeBuffer(pattern), 0, pattern.length).eventId(5, 8);
            a.appendBatch(named, ExpectedVersion.ANY, batch);
            a.appendBatch(7, ExpectedVersion.ANY, new EventBatch().add(1, pattern).add(1, pattern));
            db.setStreamMetadata(name, StreamMetadata.NONE.withMaxCount(100));
            db.deleteStream(7, ExpectedVersion.ANY);
            final long other = db.streamId(name + "-archive");
            db.tombstoneStream(other, ExpectedVersion.ANY);
            db.processor("audit-" + name.hashCode(), (e) -> { }).close();
            assertTrue(codec.seenInFiles.isEmpty(), "the codec's clear bytes reached a file: " + codec.seenInFiles);
            assertClean(dir, pattern, name, id, "while open");
            db.scavenge();
        }
        assertClean(dir, pattern, name, id, "after close");
        dirty(dir);
        try (VarveDB db = VarveDB.open(enc(dir, KEY).build()))
        {
            assertEquals(name, db.streamName(db.findStreamId(name)));
        }
        deleteTree(dir.resolve("index"));
        try (VarveDB db = VarveDB.open(enc(dir, KEY).build()))
        {
            assertEquals(name, db.streamName(db.findStreamId(name)));
        }
        assertClean(dir, pattern, name, id, "after recovery and an index rebuild");
        // the JVM's temporary directory: nothing new there holds the pattern either
        final Path tmp = Path.of(System.getProperty("java.io.tmpdir"));
        final List<Path> hits = new ArrayList<>();
        Files.walkFileTree(tmp, Set.of(), 3, new SimpleFileVisitor<>()
        {
            @Override
            public FileVisitResult preVisitDirectory(final Path d, final BasicFileAttributes attrs)
            {
                final String n = String.valueOf(d.getFileName());
                return d.equals(tmp) || (!n.startsWith("wt-") && !n.startsWith(".") && !d.startsWith(dir)) ?
                    FileVisitResult.CONTINUE : FileVisitResult.SKIP_SUBTREE;
            }

            @Override
            public FileVisitResult visitFile(final Path file, final BasicFileAttributes attrs)
            {
                try
                {
                    if (attrs.isRegularFile() && attrs.lastModifiedTime().toMillis() >= start &&
                        attrs.size() < 256 * 1024 * 1024 && Files.isReadable(file) &&
                        indexOf(Files.readAllBytes(file), Arrays.copyOfRange(pattern, 0, 16)) >= 0)
                    {
                        hits.add(file);
                    }
                }
                catch (final IOException | RuntimeException ignored)
                {
                    // not ours
                }
                return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult visitFileFailed(final Path file, final IOException exc)
            {
                return FileVisitResult.CONTINUE;
            }
        });
        assertTrue(hits.isEmpty(), "temporary files with the clear pattern: " + hits);
    }

    static List<String> listKeyFiles(final Path dir)
    {
        try (Stream<Path> files = Files.list(dir))
        {
            return files.map((p) -> p.getFileName().toString()).filter((n) -> n.startsWith("varve.keys")).sorted()
                .toList();
        }
        catch (final IOException ex)
        {
            return List.of(ex.toString());
        }
    }

    static void assertClean(final Path dir, final byte[] pattern, final String name, final UUID id, final String when)
        throws IOException
    {
        final List<String> leaks = new ArrayList<>();
        final Map<String, byte[]> needles = new LinkedHashMap<>();
        needles.put("payload", Arrays.copyOfRange(pattern, 0, 12));
        needles.put("payload middle", Arrays.copyOfRange(pattern, 30, 42));
        needles.put("name (UTF-8)", name.getBytes(StandardCharsets.UTF_8));
        needles.put("name tail", name.substring(9).getBytes(StandardCharsets.UTF_8));
        needles.put("name (UTF-16)", name.substring(0, 12).getBytes(StandardCharsets.UTF_16LE));
        final ByteBuffer le = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN);
        le.putLong(id.getMostSignificantBits()).putLong(id.getLeastSignificantBits());
        needles.put("event id (LE)", le.array());
        final ByteBuffer be = ByteBuffer.allocate(16);
        be.putLong(id.getMostSignificantBits()).putLong(id.getLeastSignificantBits());
        needles.put("event id (BE)", be.array());
        needles.put("event id high (LE)", Arrays.copyOf(le.array(), 8));
        for (final Map.Entry<String, byte[]> needle : needles.entrySet())
        {
            final List<Path> hits = filesContaining(dir, needle.getValue());
            if (!hits.isEmpty())
            {
                leaks.add(needle.getKey() + " in " + hits.stream().map((p) -> dir.relativize(p).toString()).toList());
            }
        }
        assertTrue(leaks.isEmpty(), when + ": clear text in the store's files: " + leaks);
    }

    // =====================================================================================================
    // 10. Reads allocate nothing per event
    // =====================================================================================================

    @Test
    void encryptedReadsAllocateNothingPerEvent() throws Exception
    {
        try (VarveDB db = VarveDB.open(enc(dir, KEY).build()))
        {
            final Appender a = db.appender();
            for (int i = 0; i < 2000; i++)
            {
                a.append(1 + i % 2, ExpectedVersion.ANY, 1, UUID.randomUUID(), payloadOf(i, 1, 100 + i % 200));
            }
            final com.sun.management.ThreadMXBean threads =
                (com.sun.management.ThreadMXBean)ManagementFactory.getThreadMXBean();
            final long thread = Thread.currentThread().getId();
            final long[] sink = {0};
            final EventHandler handler = (e) -> sink[0] += e.payload().getByte(e.payloadLength() / 2) + e.eventIdLow();
            final Map<String, Runnable> reads = new LinkedHashMap<>();
            reads.put("readStream", () -> db.readStream(1, 1, 1000, handler));
            reads.put("readStreamBackward", () -> db.readStreamBackward(2, VarveDB.LATEST_VERSION, 1000, handler));
            reads.put("readAll", () -> db.readAll(VarveDB.START_POSITION, 2000, handler));
            final Map<String, Long> perCall = new LinkedHashMap<>();
            for (final Map.Entry<String, Runnable> read : reads.entrySet())
            {
                for (int i = 0; i < 300; i++)
                {
                    read.getValue().run(); // warm up: the JIT, the reader's buffers
                }
                long least = Long.MAX_VALUE;
                for (int round = 0; round < 5; round++)
                {
                    final long before = threads.getThreadAllocatedBytes(thread);
                    for (int i = 0; i < 10; i++)
                    {
                        read.getValue().run();
                    }
                    least = Math.min(least, (threads.getThreadAllocatedBytes(thread) - before) / 10);
                }
                perCall.put(read.getKey(), least);
            }
            // a call may allocate a little; per event (1,000 or 2,000 per call) nothing
            for (final Map.Entry<String, Long> e : perCall.entrySet())
            {
                assertTrue(e.getValue() < 1000, "encrypted " + e.getKey() + " allocated " + e.getValue() +
                    " bytes per call of 1,000-2,000 events: " + perCall);
            }
        }
    }
}
