package io.varvedb.tools;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.varvedb.ScavengeListener;
import io.varvedb.ScavengeResult;
import io.varvedb.StoreLockedException;
import io.varvedb.VarveConfig;
import io.varvedb.VarveDB;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;

/**
 * {@code varve scavenge DIR}: give back the disk space of the events no stream shows any more (metadata limits,
 * soft-deleted and tombstoned streams, the log below its start), through {@link VarveDB#scavenge(ScavengeListener)};
 * with {@code --dry-run}, only what {@link VarveDB#reclaimable()} says a scavenge would drop.
 * <p>
 * On a terminal a progress bar (on stderr) counts the segments; otherwise (a pipe, a file, a test) nothing is
 * printed until the summary, so the output stays parseable.
 */
@Command(
    name = "scavenge",
    mixinStandardHelpOptions = true,
    header = "Rewrite sealed segments without the events no stream shows any more, to give their space back.",
    description = {
        "Drops the events hidden by stream metadata (max count, max age, truncate before), those of soft-deleted " +
            "and tombstoned streams, and those below the log start; keeps every stream name, tombstone, each " +
            "stream's metadata in force, and every event a stream still shows, each at its log position. Opens " +
            "the store for writing: refused while a process has it open in single-writer mode (exit status 3); " +
            "a store open in multi-process mode is joined, and appends and reads go on meanwhile. A store not " +
            "closed cleanly is recovered first, as by any writer.",
        "--dry-run only reports what a scavenge would drop; it opens the store read-only and works beside any " +
            "writer.",
        "An encrypted store needs its master key (--key-file), also for --dry-run: the events of its shredded " +
            "streams are dropped too, and only the key file opened with it tells which streams were shredded."
    })
public final class ScavengeCommand implements Callable<Integer>
{
    private static final long NANOS_PER_MILLI = 1_000_000L;

    @Spec
    private CommandSpec spec;

    @Parameters(index = "0", paramLabel = "DIR", description = "The store's directory.")
    private Path directory;

    @Option(names = "--dry-run", description = "Report what a scavenge would drop (events, bytes of log); " +
        "rewrite nothing.")
    private boolean dryRun;

    @Option(names = "--json", description = "Print the result as one JSON object instead of text.")
    private boolean json;

    @Option(names = "--no-progress", description = "No progress bar, even on a terminal.")
    private boolean noProgress;

    @Mixin
    private StoreKey.Options keyOptions = new StoreKey.Options();

    @Override
    public Integer call()
    {
        final PrintWriter out = spec.commandLine().getOut();
        final Path dir = Stores.requireStore(directory);
        final StoreKey key = keyOptions.forStore(dir).require(dryRun ? "varve scavenge --dry-run" : "varve scavenge",
            "a scavenge drops the events of shredded streams, and only the key file opened with it tells which " +
                "they are");
        final ScavengeResult result = dryRun ? estimate(key) : scavenge(dir, key);
        if (json)
        {
            out.println(toJson(dir, result, dryRun));
        }
        else if (dryRun)
        {
            printEstimate(out, dir, result);
        }
        else
        {
            printSummary(out, dir, result);
        }
        out.flush();
        return ExitCode.OK;
    }

    private static ScavengeResult estimate(final StoreKey key)
    {
        try (VarveDB db = key.openToLook(false))
        {
            return db.reclaimable();
        }
    }

    private ScavengeResult scavenge(final Path dir, final StoreKey key)
    {
        final Stores.Meta meta = Stores.readMeta(dir);
        final Writers writers = meta.closedCleanly() ? Writers.NONE : Writers.of(dir);
        if (writers.singleWriter())
        {
            throw CliException.store("the store at " + dir + " is open for writing by " + writers.describe() +
                " in single-writer mode: scavenge it from that process (VarveDB.scavenge()) or once it is closed; " +
                "'varve scavenge --dry-run' works beside it");
        }
        final boolean join = !writers.live().isEmpty();
        final VarveConfig.Builder config = key.apply(VarveConfig.builder(dir), false)
            .multiProcess(join)
            // change nothing but the rewritten segments: no new segment file made ahead
            .preallocate(false);
        final VarveDB db;
        try
        {
            db = key.open(config);
        }
        catch (final StoreLockedException ex)
        {
            throw CliException.store("the store at " + dir + " is open for writing by another process " +
                (join ? "(not in multi-process mode)" : "") + ": " + ex.getMessage() +
                "; 'varve scavenge --dry-run' works beside it");
        }
        try (db; Progress progress = Progress.start(!noProgress && !json && System.console() != null))
        {
            return db.scavenge(progress);
        }
    }

    private static void printEstimate(final PrintWriter out, final Path dir, final ScavengeResult result)
    {
        out.printf(Locale.ROOT, "scavenge --dry-run %s: nothing rewritten%n", dir);
        out.printf(Locale.ROOT, "  segments   %s sealed segments read%n", Format.count(result.segmentsScanned()));
        out.printf(Locale.ROOT, "  events     %s kept, %s would be dropped%n", Format.count(result.eventsKept()),
            Format.count(result.eventsDropped()));
        out.printf(Locale.ROOT, "  reclaimable %s of log (%s bytes)%n", Format.bytes(result.bytesDropped()),
            Format.count(result.bytesDropped()));
    }

    private static void printSummary(final PrintWriter out, final Path dir, final ScavengeResult result)
    {
        out.printf(Locale.ROOT, "scavenged %s%n", dir);
        out.printf(Locale.ROOT, "  segments   %s scanned, %s rewritten%n", Format.count(result.segmentsScanned()),
            Format.count(result.segmentsRewritten()));
        out.printf(Locale.ROOT, "  events     %s kept, %s dropped%n", Format.count(result.eventsKept()),
            Format.count(result.eventsDropped()));
        out.printf(Locale.ROOT, "  log        %s dropped (%s bytes)%n", Format.bytes(result.bytesDropped()),
            Format.count(result.bytesDropped()));
        out.printf(Locale.ROOT, "  disk       %s -> %s in the rewritten segments, %s reclaimed (%s bytes)%n",
            Format.bytes(result.diskBytesBefore()), Format.bytes(result.diskBytesAfter()),
            Format.bytes(result.bytesReclaimed()), Format.count(result.bytesReclaimed()));
        out.printf(Locale.ROOT, "  duration   %s%n", Format.nanos(result.durationNanos()));
    }

    /**
     * @return the result as one JSON object; every figure of {@link ScavengeResult}, under its accessor's name.
     */
    static String toJson(final Path dir, final ScavengeResult result, final boolean dryRun)
    {
        final ObjectMapper mapper = new ObjectMapper().disable(SerializationFeature.INDENT_OUTPUT);
        final ObjectNode node = mapper.createObjectNode()
            .put("store", dir.toString())
            .put("dryRun", dryRun)
            .put("segmentsScanned", result.segmentsScanned())
            .put("segmentsRewritten", result.segmentsRewritten())
            .put("eventsKept", result.eventsKept())
            .put("eventsDropped", result.eventsDropped())
            .put("bytesDropped", result.bytesDropped())
            .put("diskBytesBefore", result.diskBytesBefore())
            .put("diskBytesAfter", result.diskBytesAfter())
            .put("bytesReclaimed", result.bytesReclaimed())
            .put("durationMillis", result.durationNanos() / NANOS_PER_MILLI);
        try
        {
            return mapper.writeValueAsString(node);
        }
        catch (final JsonProcessingException ex)
        {
            throw new IllegalStateException("cannot write the result as JSON", ex);
        }
    }

    /**
     * The scavenge's listener: a progress bar over the segments on a terminal, nothing elsewhere.
     */
    private static final class Progress implements ScavengeListener, AutoCloseable
    {
        private final ProgressBar bar;

        private Progress(final ProgressBar bar)
        {
            this.bar = bar;
        }

        static Progress start(final boolean terminal)
        {
            if (!terminal)
            {
                return new Progress(null);
            }
            // to stderr, so stdout keeps only the summary; indefinite until the first segment says how many
            return new Progress(new ProgressBarBuilder()
                .setTaskName("scavenge")
                .setInitialMax(-1)
                .setStyle(ProgressBarStyle.ASCII)
                .setUnit(" seg", 1)
                .hideEta()
                .setUpdateIntervalMillis(100)
                .build());
        }

        @Override
        public void onSegment(final long segmentsDone, final long segments, final ScavengeResult soFar)
        {
            if (bar == null)
            {
                return;
            }
            bar.maxHint(segments);
            bar.stepTo(segmentsDone);
            // short: a line of 80 columns holds it beside the bar
            bar.setExtraMessage("kept " + Format.count(soFar.eventsKept()) + " dropped " +
                Format.count(soFar.eventsDropped()) + " freed " + Format.bytes(soFar.bytesReclaimed()));
        }

        @Override
        public void close()
        {
            if (bar != null)
            {
                bar.close();
            }
        }
    }
}
