package io.varvedb.tools;

import io.varvedb.EventHandler;
import io.varvedb.RecordedEvent;
import io.varvedb.ScavengeResult;
import io.varvedb.StreamMetadata;
import io.varvedb.VarveDB;
import io.varvedb.internal.index.BlockDescriptor;
import io.varvedb.internal.index.EventIdTableDescriptor;
import io.varvedb.internal.index.NameTableDescriptor;
import io.varvedb.internal.index.StreamIndexDescriptor;
import io.varvedb.internal.log.SegmentDescriptor;
import io.varvedb.internal.process.RegistryDescriptor;
import io.varvedb.internal.store.MetaDescriptor;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.util.List;
import java.util.TreeSet;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * {@code varve info DIR}: what a store holds and in what state it is, read without changing anything.
 */
@Command(
    name = "info",
    mixinStandardHelpOptions = true,
    header = "Show what a store holds: format, segments, size, events, streams, index fill, state, lifecycle (deleted, tombstoned, reclaimable).",
    description = {
        "Read-only: safe while a writer in another process appends. The reclaimable figure reads every sealed segment (what varve scavenge --dry-run reports).",
        "An encrypted store can be described without its key (--key-file): only its shredded streams are then unknown, so their events count as live and as not reclaimable."
    })
public final class InfoCommand implements Callable<Integer>
{
    private static final int READ_BATCH = 1 << 16;
    private static final double PERCENT = 100.0;

    @Spec
    private CommandSpec spec;

    @Parameters(index = "0", paramLabel = "DIR", description = "The store's directory.")
    private Path directory;

    @Option(names = "--streams", description = "List the streams with metadata, soft-deleted and tombstoned, " +
        "one line each.")
    private boolean listStreams;

    @Mixin
    private StoreKey.Options keyOptions = new StoreKey.Options();

    @Override
    public Integer call()
    {
        final PrintWriter out = spec.commandLine().getOut();
        final Path dir = Stores.requireStore(directory);
        final Stores.Meta meta = Stores.readMeta(dir);
        final StoreKey key = keyOptions.forStore(dir);
        // nothing here shows a payload: without the key an encrypted store is read as cipher text
        try (VarveDB db = key.openToLook(true))
        {
            final Counter counter = new Counter();
            long position = VarveDB.START_POSITION;
            while (db.readAll(position, READ_BATCH, counter) > 0)
            {
                position = counter.nextPosition;
            }
            final List<Path> segments = files(dir.resolve(Stores.LOG_DIRECTORY), SegmentDescriptor.SUFFIX);
            final long logBytes = size(segments);
            final Path namesFile = dir.resolve(Stores.INDEX_DIRECTORY).resolve(NameTableDescriptor.FILE_NAME);
            final long namesBytes = Files.exists(namesFile) ? size(List.of(namesFile)) : 0;
            // the name table is reported on its own line
            final long indexBytes = size(files(dir.resolve(Stores.INDEX_DIRECTORY), "")) - namesBytes;
            final long tail = db.tailPosition();
            final long streams = db.streamCount();

            out.printf(Locale.ROOT, "store          %s%n", dir);
            out.printf(Locale.ROOT, "format         version %d (this build reads %d), created %s%n",
                meta.formatVersion(), MetaDescriptor.FORMAT_VERSION, Instant.ofEpochMilli(meta.createdMillis()));
            // a store marked closed cleanly has no writer; the lock probe is only for stores that may have one
            final Writers writers = meta.closedCleanly() ? Writers.NONE : Writers.of(dir);
            out.printf(Locale.ROOT, "state          %s%n", state(meta, writers));
            printRegistered(out, writers);
            out.printf(Locale.ROOT, "encryption     %s%n", !key.encrypted() ? "none" :
                "AES-256-GCM at rest, " + (key.missing() ? "opened without its master key: shredded streams " +
                    "are unknown, their events counted below as live (--key-file FILE to know them)" :
                    "opened with the master key from --key-file"));
            out.printf(Locale.ROOT, "segments       %d x %s%s%n", segments.size(), Format.bytes(meta.segmentLength()),
                segments.isEmpty() ? "" : " (" + segments.get(0).getFileName() +
                    (segments.size() > 1 ? " .. " + segments.get(segments.size() - 1).getFileName() : "") + ")");
            // the files' lengths: a segment gets its disk blocks as the log grows into it (issue 21), so what the
            // disk holds lies between the used part and this
            out.printf(Locale.ROOT, "log size       %s in segment files, %s used (tail position %s)%n",
                Format.bytes(logBytes), Format.bytes(tail), Format.count(tail));
            out.printf(Locale.ROOT, "events         %s in %s streams%n", Format.count(counter.events),
                Format.count(streams));
            out.printf(Locale.ROOT, "index          %s of %s streams (%.2f%% full), %s in use (files %s long, " +
                "allocated as streams appear)%n", Format.count(streams), Format.count(meta.indexCapacity()),
                PERCENT * streams / meta.indexCapacity(), Format.bytes(indexInUse(dir)), Format.bytes(indexBytes));
            printEventIds(out, dir, counter.withIds);
            final int nameCapacity = db.nameCapacity();
            if (nameCapacity > 0)
            {
                final long named = db.namedStreamCount();
                out.printf(Locale.ROOT, "names          %s named streams, %s of %s names (%.2f%% full), file %s%n",
                    Format.count(named), Format.count(named), Format.count(nameCapacity),
                    PERCENT * named / nameCapacity, Format.bytes(namesBytes));
            }
            else
            {
                out.println("names          no name table");
            }
            printLifecycle(out, db, dir, meta, counter, segments);
            if (counter.events > 0)
            {
                out.printf(Locale.ROOT, "last event     position %s: stream %s version %s, %s%n",
                    Format.count(counter.lastPosition), Stores.describeStream(db, counter.lastStream), Format.count(counter.lastVersion),
                    Format.timestamp(counter.lastTimestamp));
            }
            else
            {
                out.println("last event     none");
            }
            out.flush();
        }
        return ExitCode.OK;
    }

    /**
     * Stream lifecycle: the log start, the streams with metadata, soft-deleted and tombstoned (found by their
     * metadata events and tombstones in the log, which every scavenge keeps), compacted segments, and what a
     * scavenge would drop now.
     */
    private void printLifecycle(
        final PrintWriter out, final VarveDB db, final Path dir, final Stores.Meta meta, final Counter counter,
        final List<Path> segments)
    {
        final long logStart = db.logStart();
        out.printf(Locale.ROOT, "log start      %s%n", logStart == 0 ? "0 (retention dropped nothing)" :
            Format.count(logStart) + " (retention dropped " + Format.count(logStart / meta.segmentLength()) +
                " segment(s), " + Format.bytes(logStart) + " of log)");
        final List<String> withMetadata = new java.util.ArrayList<>();
        final List<String> deleted = new java.util.ArrayList<>();
        final List<String> tombstoned = new java.util.ArrayList<>();
        for (final long streamId : counter.metadataTargets)
        {
            final StreamMetadata metadata = db.streamMetadata(streamId);
            if (metadata.isNone())
            {
                continue;
            }
            final String line = Stores.describeStream(db, streamId) + ": " + Lifecycle.describe(metadata);
            withMetadata.add(line);
            if (!counter.tombstoned.contains(streamId) && db.isDeleted(streamId))
            {
                deleted.add(line);
            }
        }
        for (final long streamId : counter.tombstoned)
        {
            if (db.isTombstoned(streamId))
            {
                tombstoned.add(Stores.describeStream(db, streamId));
            }
        }
        out.printf(Locale.ROOT, "lifecycle      %s streams with metadata, %s soft-deleted, %s tombstoned%s%n",
            Format.count(withMetadata.size()), Format.count(deleted.size()), Format.count(tombstoned.size()),
            listStreams || withMetadata.isEmpty() && tombstoned.isEmpty() ? "" : " (--streams lists them)");
        if (listStreams)
        {
            withMetadata.forEach((line) -> out.println("  metadata     " + line));
            deleted.forEach((line) -> out.println("  deleted      " + line));
            tombstoned.forEach((line) -> out.println("  tombstoned   " + line));
        }
        long compacted = 0;
        for (final Path segment : segments)
        {
            compacted += io.varvedb.internal.log.Log.isCompactedFile(segment) ? 1 : 0;
        }
        out.printf(Locale.ROOT, "compacted      %s of %s segments%s%n", Format.count(compacted),
            Format.count(segments.size()), compacted > 0 ? " (rewritten by a scavenge or retention)" : "");
        final ScavengeResult reclaimable = db.reclaimable();
        out.printf(Locale.ROOT, "reclaimable    %s events, %s of log (%s bytes) a scavenge would drop%s%n",
            Format.count(reclaimable.eventsDropped()), Format.bytes(reclaimable.bytesDropped()),
            Format.count(reclaimable.bytesDropped()),
            reclaimable.bytesDropped() > 0 ? ": varve scavenge " + dir : "");
    }

    /**
     * The exactly-once appends: events that carry an id, and how full the id table is (from its header).
     */
    private static void printEventIds(final PrintWriter out, final Path dir, final long withIds)
    {
        final Path table = dir.resolve(Stores.INDEX_DIRECTORY).resolve(EventIdTableDescriptor.FILE_NAME);
        final ByteBuffer header = ByteBuffer.allocate(EventIdTableDescriptor.USED_OFFSET + Long.BYTES)
            .order(ByteOrder.LITTLE_ENDIAN);
        try (FileChannel channel = FileChannel.open(table, StandardOpenOption.READ))
        {
            while (header.hasRemaining() && channel.read(header) > 0)
            {
                // the capacity, the allocated flag and the used count
            }
        }
        catch (final IOException ex)
        {
            out.printf(Locale.ROOT, "event ids      %s events carry one; no id table (%s)%n", Format.count(withIds),
                ex.getMessage());
            return;
        }
        final int capacity = header.getInt(EventIdTableDescriptor.CAPACITY_OFFSET);
        final long used = header.getLong(EventIdTableDescriptor.USED_OFFSET);
        out.printf(Locale.ROOT, "event ids      %s events carry one; id table %s of %s ids (%.2f%% full)%s%n",
            Format.count(withIds), Format.count(used), Format.count(capacity),
            capacity > 0 ? PERCENT * used / capacity : 0.0,
            header.getInt(EventIdTableDescriptor.ALLOCATED_OFFSET) == 0 ? ", never used: one page on disk" : "");
    }

    /**
     * @return bytes of the index in use: the table's allocated units (the first holds the header), and the blocks
     * taken (the files are longer, with holes; the block files are allocated a little ahead, in 2 MiB steps).
     */
    private static long indexInUse(final Path dir)
    {
        final Path table = dir.resolve(Stores.INDEX_DIRECTORY).resolve(StreamIndexDescriptor.FILE_NAME);
        final ByteBuffer header = ByteBuffer.allocate(StreamIndexDescriptor.HEADER_LENGTH)
            .order(ByteOrder.LITTLE_ENDIAN);
        try (FileChannel channel = FileChannel.open(table, StandardOpenOption.READ))
        {
            while (header.hasRemaining() && channel.read(header) > 0)
            {
                // the header holds the unit length, the bitmap and the block count
            }
        }
        catch (final IOException ex)
        {
            throw CliException.store("cannot read " + table + ": " + ex.getMessage());
        }
        final long unitLength = Math.max(1, header.getInt(StreamIndexDescriptor.UNIT_LENGTH_OFFSET));
        final long fileLength =
            StreamIndexDescriptor.fileLength(header.getInt(StreamIndexDescriptor.TABLE_SIZE_OFFSET));
        long units = 0;
        for (int unit = 0; unit < StreamIndexDescriptor.MAX_UNITS && unit * unitLength < fileLength; unit++)
        {
            if ((header.getLong(StreamIndexDescriptor.UNIT_BITMAP_OFFSET + (unit >>> 6) * Long.BYTES) &
                (1L << unit)) != 0)
            {
                units += Math.min(unitLength, fileLength - unit * unitLength);
            }
        }
        return units + header.getLong(StreamIndexDescriptor.BLOCK_COUNT_OFFSET) * BlockDescriptor.BLOCK_LENGTH;
    }

    private static String state(final Stores.Meta meta, final Writers writers)
    {
        if (meta.closedCleanly())
        {
            return "closed cleanly";
        }
        return writers.anyLive() ?
            "open for writing by " + writers.describe() :
            "not closed cleanly (the writer stopped without close); the next writable open recovers it";
    }

    /**
     * The multi-process writers in {@code varve.procs}, one line each; a dead one stays listed until a writer
     * repairs what it left (the next to open, or a live one that notices).
     */
    private static void printRegistered(final PrintWriter out, final Writers writers)
    {
        final List<Writers.Registered> registered = writers.registered();
        if (registered.isEmpty())
        {
            return;
        }
        out.printf(Locale.ROOT, "processes      %d registered in %s%n", registered.size(), RegistryDescriptor.FILE_NAME);
        for (final Writers.Registered entry : registered)
        {
            out.printf(Locale.ROOT, "  pid %-8d started %s  open since %s  %s%n", entry.pid(),
                entry.startedMillis() == 0 ? "(unknown)" : Instant.ofEpochMilli(entry.startedMillis()),
                Instant.ofEpochMilli(entry.openedAtMillis()),
                entry.alive() ? "alive" : "dead, not yet repaired (the next writer to open repairs it)");
        }
    }

    private static List<Path> files(final Path dir, final String suffix)
    {
        if (!Files.isDirectory(dir))
        {
            return List.of();
        }
        try (Stream<Path> entries = Files.list(dir))
        {
            return entries.filter((p) -> p.getFileName().toString().endsWith(suffix)).sorted()
                .collect(Collectors.toList());
        }
        catch (final IOException ex)
        {
            throw CliException.store("cannot list " + dir + ": " + ex.getMessage());
        }
    }

    private static long size(final List<Path> files)
    {
        long total = 0;
        for (final Path file : files)
        {
            try
            {
                total += Files.size(file);
            }
            catch (final IOException ex)
            {
                throw CliException.store("cannot read the size of " + file + ": " + ex.getMessage());
            }
        }
        return total;
    }

    /**
     * Counts events in log order and remembers the last.
     */
    private static final class Counter implements EventHandler
    {
        private long events;
        private long withIds;
        private long nextPosition;
        private long lastPosition;
        private long lastStream;
        private long lastVersion;
        private long lastTimestamp;
        private final TreeSet<Long> tombstoned = new TreeSet<>();
        private final TreeSet<Long> metadataTargets = new TreeSet<>();

        @Override
        public void onEvent(final RecordedEvent event)
        {
            if (event.isTombstone())
            {
                tombstoned.add(event.streamId());
            }
            else if (event.isStreamMetadata())
            {
                final long target = Lifecycle.target(event);
                if (target != 0)
                {
                    metadataTargets.add(target);
                }
            }
            events++;
            withIds += event.hasEventId() ? 1 : 0;
            nextPosition = event.nextPosition();
            lastPosition = event.position();
            lastStream = event.streamId();
            lastVersion = event.version();
            lastTimestamp = event.timestamp();
        }
    }
}
