package io.varvedb.tools;

import io.varvedb.EventHandler;
import io.varvedb.RecordedEvent;
import io.varvedb.Subscription;
import io.varvedb.VarveDB;
import org.agrona.concurrent.BackoffIdleStrategy;
import org.agrona.concurrent.IdleStrategy;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;

/**
 * {@code varve tail DIR}: follow a store from another process, printing events as the writer appends them.
 * <p>
 * The store is opened read-only, so it can run beside the writer. A poll-driven {@link Subscription} reads from
 * where it stopped; when there is nothing new the command idles with an Agrona {@link BackoffIdleStrategy} (spin,
 * yield, then park up to a millisecond), so it costs little CPU and still sees new events within a millisecond.
 */
@Command(
    name = "tail",
    mixinStandardHelpOptions = true,
    header = "Follow a store live from another process, printing events as they are appended.",
    description = {
        "Opens the store read-only, beside its writer, prints the last 10 events (like Unix tail), then every " +
            "event as it is appended, until interrupted (Ctrl-C) or --count events are printed. Nothing is lost " +
            "between the history and the live events: both come from one subscription.",
        "",
        "  varve tail DIR                  the last 10 events, then follow",
        "  varve tail DIR --from start     everything from the start of the log, then follow",
        "  varve tail DIR -n 0             only what is appended from now on",
        "  varve tail DIR --from 4096      from a log position (a record's @), then follow",
        "  varve tail DIR --stream 7 -n 3  stream 7's last 3 events, then its new ones",
        "  varve tail DIR --codec com.example.OrderCodec --class-path app.jar   payloads decoded",
        "  varve tail DIR --key-file master.key    an encrypted store (refused without its key)",
        ""
    })
public final class TailCommand implements Callable<Integer>
{
    /** Events of history shown when neither --from nor --last is given, as Unix tail shows 10 lines. */
    static final int DEFAULT_LAST = 10;
    private static final int READ_BATCH = 1024;
    private static final long MAX_SPINS = 100;
    private static final long MAX_YIELDS = 100;
    private static final long MIN_PARK_NANOS = TimeUnit.MICROSECONDS.toNanos(1);
    private static final long MAX_PARK_NANOS = TimeUnit.MILLISECONDS.toNanos(1);

    @Spec
    private CommandSpec spec;

    @Mixin
    private PayloadCodecs.Options codecOptions = new PayloadCodecs.Options();

    @Mixin
    private StoreKey.Options keyOptions = new StoreKey.Options();

    @Parameters(index = "0", paramLabel = "DIR", description = "The store's directory.")
    private Path directory;

    @Option(names = "--stream", paramLabel = "ID|NAME", description = "Follow only this stream (its id, or its name).")
    private String streamOption;

    /** {@link #streamOption} resolved once the store is open; null for the whole log. */
    private Long stream;

    @Option(names = "--from", paramLabel = "start|end|POSITION",
        description = "Where to start: 'start' of the log, its 'end' (with the last -n events first; the " +
            "default), or a log position (with --stream: a version).")
    private String from;

    @Option(names = {"-n", "--last"}, paramLabel = "N",
        description = "With --from end: print the last N events first (default: " + DEFAULT_LAST + "; 0 for " +
            "none). Found by reading back from the end of the log, one segment at a time.")
    private Integer last;

    @Option(names = "--from-start", hidden = true, description = "Same as --from start.")
    private boolean fromStart;

    @Option(names = "--count", paramLabel = "N", description = "Stop after N events (default: never).")
    private Long count;

    @Override
    public Integer call()
    {
        Stores.checkStreamOption(streamOption);
        if (count != null && count < 1)
        {
            throw CliException.usage("--count must be at least 1, got " + count);
        }
        if (last != null && last < 0)
        {
            throw CliException.usage("--last must be >= 0, got " + last);
        }
        if (fromStart)
        {
            if (from != null)
            {
                throw CliException.usage("--from-start and --from exclude each other");
            }
            from = "start";
        }
        final String where = from == null ? "end" : from.toLowerCase(java.util.Locale.ROOT);
        final long explicit = where.equals("start") || where.equals("end") ? -1 : parseStart(where);
        if (last != null && !where.equals("end"))
        {
            throw CliException.usage("--last goes with --from end (the default), not --from " + from);
        }
        final int lastEvents = last == null ? DEFAULT_LAST : last;

        final Path dir = Stores.requireStore(directory);
        final StoreKey key = keyOptions.forStore(dir).require("varve tail", "it prints payloads");
        final PrintWriter out = spec.commandLine().getOut();
        final PrintWriter err = spec.commandLine().getErr();
        final long limit = count == null ? Long.MAX_VALUE : count;
        final IdleStrategy idle = new BackoffIdleStrategy(MAX_SPINS, MAX_YIELDS, MIN_PARK_NANOS, MAX_PARK_NANOS);

        try (PayloadCodecs codecs = codecOptions.load();
            VarveDB db = key.openReadOnly(key.apply(io.varvedb.VarveConfig.builder(dir), false));
            Subscription subscription = subscribe(db, where, explicit, lastEvents))
        {
            // on stderr, so stdout carries nothing but events
            err.println("following " + db.directory() + (stream == null ?
                " from position " + Format.count(subscription.position()) :
                " stream " + Stores.describeStream(db, stream) + " from version " +
                Format.count(subscription.nextVersion())) +
                " (Ctrl-C to stop)");
            err.flush();

            final Printer printer = new Printer(out, codecs, db);
            while (printer.printed < limit && !Thread.currentThread().isInterrupted())
            {
                final int read = subscription.poll(printer, (int)Math.min(READ_BATCH, limit - printer.printed));
                if (read > 0)
                {
                    out.flush();
                }
                idle.idle(read);
            }
        }
        out.flush();
        return ExitCode.OK;
    }

    private long parseStart(final String where)
    {
        final long value;
        try
        {
            value = Long.parseLong(where.replace(",", "").replace("_", ""));
        }
        catch (final NumberFormatException ex)
        {
            throw CliException.usage("--from takes start, end or a " + (streamOption == null ? "log position" :
                "version") + ", got '" + from + "'");
        }
        if (streamOption == null ? value < 0 : value < 1)
        {
            throw CliException.usage("--from must be " + (streamOption == null ? "a log position >= 0" : "a version >= 1") +
                ", got " + value);
        }
        return value;
    }

    private Subscription subscribe(final VarveDB db, final String where, final long explicit, final int lastEvents)
    {
        stream = streamOption == null ? null : Stores.streamId(db, streamOption);
        if (stream != null)
        {
            final long fromVersion = where.equals("start") ? 1 : where.equals("end") ?
                Math.max(1, db.streamVersion(stream) - lastEvents + 1) : explicit;
            return db.streamSubscription(stream, fromVersion);
        }
        if (where.equals("start"))
        {
            return db.subscription(VarveDB.START_POSITION);
        }
        if (where.equals("end"))
        {
            return db.subscription(startOfLast(db, lastEvents));
        }
        try
        {
            return db.subscription(explicit);
        }
        catch (final IllegalArgumentException ex)
        {
            throw CliException.usage("--from " + explicit + ": " + ex.getMessage());
        }
    }

    /**
     * The position of the {@code n}th last event before the end of the log as it is now (the end itself for 0):
     * reads back from the end one segment at a time (a segment's start is always a record's), so a long log is
     * not read from its start. Events appended meanwhile lie after the end taken first, so the subscription
     * that starts here misses none of them.
     */
    static long startOfLast(final VarveDB db, final int n)
    {
        final long end;
        try (Subscription probe = db.subscription(VarveDB.FROM_NOW))
        {
            end = probe.position();
        }
        if (n == 0 || end == 0)
        {
            return end;
        }
        final long segment = db.config().segmentSize();
        long base = (end - 1) / segment * segment;
        while (true)
        {
            final long[] positions = positionsBefore(db, base, end);
            if (positions.length >= n)
            {
                return positions[positions.length - n];
            }
            if (base == 0)
            {
                return VarveDB.START_POSITION;
            }
            base -= segment;
        }
    }

    /** Positions of the events in {@code [from, end)}, in order. */
    private static long[] positionsBefore(final VarveDB db, final long from, final long end)
    {
        final org.agrona.collections.LongArrayList positions = new org.agrona.collections.LongArrayList();
        final long[] next = {from};
        while (next[0] < end)
        {
            final int read = db.readAll(next[0], READ_BATCH, (event) ->
            {
                if (event.position() < end)
                {
                    positions.addLong(event.position());
                }
                next[0] = event.nextPosition();
            });
            if (read == 0)
            {
                break;
            }
        }
        return positions.toLongArray();
    }

    /**
     * Prints each event and remembers where to continue.
     */
    private static final class Printer implements EventHandler
    {
        private final PrintWriter out;
        private final PayloadCodecs codecs;
        private final VarveDB db;
        private long printed;

        Printer(final PrintWriter out, final PayloadCodecs codecs, final VarveDB db)
        {
            this.db = db;
            this.codecs = codecs;
            this.out = out;
        }

        @Override
        public void onEvent(final RecordedEvent event)
        {
            // a named stream's name beside its id (a numeric id costs no lookup)
            out.println(EventLine.format(event, codecs,
                event.streamId() < 0 ? db.streamName(event.streamId()) : null));
            printed++;
        }
    }
}
