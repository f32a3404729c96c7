package io.varvedb.tools;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.varvedb.ScavengeResult;
import io.varvedb.VarveConfig;
import io.varvedb.VarveDB;
import io.varvedb.internal.log.SegmentDescriptor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/**
 * {@code varve scavenge}, and {@code info}, {@code verify} and {@code dump} over a store with soft-deleted,
 * tombstoned and truncated streams, before and after a scavenge.
 */
class ScavengeCommandTest
{
    private static final Pattern RECLAIMABLE = Pattern.compile("reclaimable +([0-9,]+) events, .* \\(([0-9,]+) bytes\\)");

    @TempDir
    Path dir;

    @Test
    void infoShowsTheLifecycleAndScavengeKeepsWhatStreamsShow() throws IOException
    {
        LifecycleStores.create(dir);
        final List<String> before;
        final ScavengeResult estimate;
        try (VarveDB db = VarveDB.openReadOnly(dir))
        {
            before = LifecycleStores.visible(db);
            estimate = db.reclaimable();
        }
        assertTrue(estimate.eventsDropped() > 0, estimate::toString);

        final Cli.Result info = Cli.run("info", dir.toString(), "--streams");
        assertEquals(ExitCode.OK, info.exit(), info::toString);
        assertTrue(info.out().contains("lifecycle      3 streams with metadata, 1 soft-deleted, 1 tombstoned"),
            info::toString);
        assertTrue(info.out().contains("  deleted      2: truncateBefore 301, deleted"), info::toString);
        assertTrue(info.out().contains("  tombstoned   3\n") || info.out().contains("  tombstoned   3" +
            System.lineSeparator()), info::toString);
        assertTrue(info.out().contains("  metadata     4: maxCount 10"), info::toString);
        assertTrue(info.out().contains("\"" + LifecycleStores.TRUNCATED + "\": truncateBefore 251"), info::toString);
        assertTrue(info.out().contains("compacted      0 of "), info::toString);
        assertEquals(List.of(estimate.eventsDropped(), estimate.bytesDropped()), reclaimable(info));

        final Cli.Result scavenge = Cli.run("scavenge", dir.toString());
        assertEquals(ExitCode.OK, scavenge.exit(), scavenge::toString);
        assertTrue(scavenge.err().isEmpty(), "no progress bar off a terminal: " + scavenge);
        assertTrue(scavenge.out().contains("events     " + String.format("%,d", estimate.eventsKept()) + " kept, " +
            String.format("%,d", estimate.eventsDropped()) + " dropped"), scavenge::toString);
        assertTrue(scavenge.out().matches("(?s).*segments   [0-9]+ scanned, [1-9][0-9]* rewritten.*"),
            scavenge::toString);
        assertTrue(scavenge.out().contains("log        " + Format.bytes(estimate.bytesDropped()) + " dropped (" +
            String.format("%,d", estimate.bytesDropped()) + " bytes)"), scavenge::toString);
        assertTrue(scavenge.out().matches("(?s).*disk       .* -> .* in the rewritten segments, .* reclaimed.*"),
            scavenge::toString);
        assertTrue(scavenge.out().contains("duration   "), scavenge::toString);

        try (VarveDB db = VarveDB.openReadOnly(dir))
        {
            assertEquals(before, LifecycleStores.visible(db), "every event streams show, at the same position");
            assertTrue(db.isTombstoned(LifecycleStores.TOMBSTONED));
            assertTrue(db.isDeleted(LifecycleStores.DELETED));
        }
        final Cli.Result after = Cli.run("info", dir.toString());
        assertEquals(ExitCode.OK, after.exit(), after::toString);
        assertEquals(List.of(0L, 0L), reclaimable(after), after::toString);
        assertTrue(after.out().matches("(?s).*compacted      [1-9][0-9]* of .*"), after::toString);
        assertTrue(after.out().contains("lifecycle      3 streams with metadata, 1 soft-deleted, 1 tombstoned"),
            after::toString);

        final Cli.Result verify = Cli.run("verify", dir.toString());
        assertEquals(ExitCode.OK, verify.exit(), verify::toString);
    }

    @Test
    void verifyAcceptsLifecycleEventsBeforeAScavenge()
    {
        LifecycleStores.create(dir);
        final Cli.Result verify = Cli.run("verify", dir.toString());
        assertEquals(ExitCode.OK, verify.exit(), verify::toString);
        // the tombstoned, deleted and limited streams' hidden events, checked in the log only
        assertTrue(verify.out().matches("(?s).*hidden   [1-9][0-9,]* events.*"), verify::toString);
    }

    @Test
    void dryRunChangesNothing() throws IOException
    {
        LifecycleStores.create(dir);
        final Map<String, Long> sizes = fileSizes(dir);
        final ScavengeResult estimate;
        try (VarveDB db = VarveDB.openReadOnly(dir))
        {
            estimate = db.reclaimable();
        }
        final Cli.Result dry = Cli.run("scavenge", "--dry-run", dir.toString());
        assertEquals(ExitCode.OK, dry.exit(), dry::toString);
        assertTrue(dry.out().contains(String.format("%,d", estimate.eventsDropped()) + " would be dropped"),
            dry::toString);
        assertTrue(dry.out().contains("(" + String.format("%,d", estimate.bytesDropped()) + " bytes)"),
            dry::toString);
        assertEquals(sizes, fileSizes(dir), "a dry run leaves every file as it was");
        assertEquals(List.of(estimate.eventsDropped(), estimate.bytesDropped()),
            reclaimable(Cli.run("info", dir.toString())));
    }

    @Test
    void jsonFiguresAreTheApis() throws IOException
    {
        LifecycleStores.create(dir);
        final ScavengeResult estimate;
        try (VarveDB db = VarveDB.openReadOnly(dir))
        {
            estimate = db.reclaimable();
        }
        final ObjectMapper mapper = new ObjectMapper();
        final Cli.Result dry = Cli.run("scavenge", "--dry-run", "--json", dir.toString());
        assertEquals(ExitCode.OK, dry.exit(), dry::toString);
        final JsonNode dryJson = mapper.readTree(dry.out());
        assertTrue(dryJson.get("dryRun").asBoolean());
        assertEquals(estimate.eventsDropped(), dryJson.get("eventsDropped").asLong());
        assertEquals(estimate.bytesDropped(), dryJson.get("bytesDropped").asLong());
        assertEquals(estimate.eventsKept(), dryJson.get("eventsKept").asLong());

        final Cli.Result run = Cli.run("scavenge", "--json", dir.toString());
        assertEquals(ExitCode.OK, run.exit(), run::toString);
        final JsonNode json = mapper.readTree(run.out());
        assertFalse(json.get("dryRun").asBoolean());
        assertEquals(estimate.eventsDropped(), json.get("eventsDropped").asLong(), run::toString);
        assertEquals(estimate.bytesDropped(), json.get("bytesDropped").asLong(), run::toString);
        assertEquals(estimate.eventsKept(), json.get("eventsKept").asLong(), run::toString);
        assertEquals(estimate.segmentsScanned(), json.get("segmentsScanned").asLong(), run::toString);
        assertTrue(json.get("segmentsRewritten").asLong() > 0, run::toString);
        assertEquals(json.get("diskBytesBefore").asLong() - json.get("diskBytesAfter").asLong(),
            json.get("bytesReclaimed").asLong(), run::toString);
        assertTrue(json.get("bytesReclaimed").asLong() > 0, run::toString);

        // nothing left: a second scavenge drops nothing and rewrites nothing
        final JsonNode again = mapper.readTree(Cli.run("scavenge", "--json", dir.toString()).out());
        assertEquals(0, again.get("eventsDropped").asLong());
        assertEquals(0, again.get("segmentsRewritten").asLong());
    }

    @Test
    void verifyFindsADamagedPositionMapOfAScavengedSegment() throws IOException
    {
        LifecycleStores.create(dir);
        assertEquals(ExitCode.OK, Cli.run("scavenge", dir.toString()).exit());
        final Path compacted = segments(dir).stream().filter(io.varvedb.internal.log.Log::isCompactedFile)
            .findFirst().orElseThrow();
        assertEquals(ExitCode.OK, Cli.run("verify", dir.toString()).exit());
        // a data offset in the map's first entry
        flip(compacted, SegmentDescriptor.MAP_OFFSET + SegmentDescriptor.ENTRY_DATA_OFFSET);
        final Cli.Result damaged = Cli.run("verify", dir.toString());
        assertEquals(ExitCode.CHECK_FAILED, damaged.exit(), damaged::toString);
        assertTrue(damaged.out().contains(compacted.getFileName() + ": compacted segment's position map is damaged"),
            damaged::toString);
    }

    @Test
    void dumpShowsTombstonesAndMetadata()
    {
        LifecycleStores.create(dir);
        final Cli.Result dump = Cli.run("dump", dir.toString(), "--limit", "0");
        assertEquals(ExitCode.OK, dump.exit(), dump::toString);
        final List<String> lines = dump.out().lines().collect(Collectors.toList());
        assertTrue(lines.stream().anyMatch((l) -> l.contains("stream 3  v 301  TOMBSTONE") &&
            l.endsWith("stream deleted for good")), dump::toString);
        assertTrue(lines.stream().anyMatch((l) -> l.contains("\"$$$2\"") && l.contains("METADATA") &&
            l.endsWith("of stream 2: truncateBefore 301, deleted")), dump::toString);
        assertTrue(lines.stream().anyMatch((l) -> l.contains("\"$$$4\"") &&
            l.endsWith("of stream 4: maxCount 10")), dump::toString);
        assertTrue(lines.stream().anyMatch((l) -> l.contains("\"$$" + LifecycleStores.TRUNCATED + "\"") &&
            l.endsWith(": truncateBefore 251")), dump::toString);
        assertFalse(lines.stream().anyMatch((l) -> l.contains("type " + io.varvedb.RecordedEvent.TOMBSTONE_EVENT_TYPE)),
            dump::toString);
    }

    @Test
    void refusesAStoreASingleWriterHolds()
    {
        LifecycleStores.create(dir);
        try (VarveDB writer = VarveDB.open(LifecycleStores.config(dir)))
        {
            final Cli.Result refused = Cli.run("scavenge", dir.toString());
            assertEquals(ExitCode.STORE, refused.exit(), refused::toString);
            assertTrue(refused.err().contains("open for writing") && refused.err().contains("single-writer"),
                refused::toString);
            // a dry run reads beside it
            final Cli.Result dry = Cli.run("scavenge", "--dry-run", dir.toString());
            assertEquals(ExitCode.OK, dry.exit(), dry::toString);
            assertTrue(writer.reclaimable().eventsDropped() > 0);
        }
    }

    @Test
    void joinsAMultiProcessStore()
    {
        final VarveConfig multi = VarveConfig.builder(dir).segmentSize(LifecycleStores.SEGMENT).multiProcess(true)
            .build();
        LifecycleStores.create(dir);
        try (VarveDB writer = VarveDB.open(multi))
        {
            final long dropped = writer.reclaimable().eventsDropped();
            assertTrue(dropped > 0);
            final Cli.Result run = Cli.run("scavenge", dir.toString());
            assertEquals(ExitCode.OK, run.exit(), run::toString);
            assertTrue(run.out().contains(String.format("%,d", dropped) + " dropped"), run::toString);
            assertEquals(0, writer.reclaimable().eventsDropped());
        }
    }

    /** @return the events and bytes of the info line {@code reclaimable}. */
    private static List<Long> reclaimable(final Cli.Result info)
    {
        final Matcher matcher = RECLAIMABLE.matcher(info.out());
        assertTrue(matcher.find(), info::toString);
        return List.of(Long.parseLong(matcher.group(1).replace(",", "")),
            Long.parseLong(matcher.group(2).replace(",", "")));
    }

    private static Map<String, Long> fileSizes(final Path dir) throws IOException
    {
        final Map<String, Long> sizes = new TreeMap<>();
        try (Stream<Path> files = Files.walk(dir))
        {
            for (final Path file : (Iterable<Path>)files.filter(Files::isRegularFile)::iterator)
            {
                sizes.put(dir.relativize(file).toString(), Files.size(file));
            }
        }
        return sizes;
    }

    private static List<Path> segments(final Path dir) throws IOException
    {
        try (Stream<Path> files = Files.list(dir.resolve("log")))
        {
            return files.filter((p) -> p.getFileName().toString().endsWith(SegmentDescriptor.SUFFIX)).sorted()
                .collect(Collectors.toList());
        }
    }

    private static void flip(final Path file, final long at) throws IOException
    {
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE))
        {
            final ByteBuffer one = ByteBuffer.allocate(1);
            channel.read(one, at);
            one.put(0, (byte)(one.get(0) ^ 0x10)).rewind();
            channel.write(one, at);
        }
    }
}
