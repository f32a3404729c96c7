package io.varvedb.tools;

import io.varvedb.EncryptionKeyException;
import io.varvedb.StoreLockedException;
import io.varvedb.VarveDB;
import io.varvedb.kafka.KafkaRecordFormat;
import io.varvedb.kafka.KafkaReplica;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * {@code varve replicate --bootstrap HOST:PORT --topic T DIR}: a {@link KafkaReplica} following a topic that
 * {@code varve publish} (a {@link io.varvedb.kafka.KafkaPublisher}) writes, into a replica store, with its progress
 * shown live; {@code --once} follows until caught up; {@code --promote} makes a stopped replica a primary.
 */
@Command(
    name = "replicate",
    mixinStandardHelpOptions = true,
    header = "Follow a topic that 'varve publish' writes into a replica store, showing the progress live; " +
        "promote a stopped replica.",
    description = {
        "Opens (or creates) DIR as a replica of the topic (KafkaReplica) and appends every event with the " +
            "stream, version, type, timestamp, event id and payload it has on the primary, in the primary's " +
            "order, until Ctrl-C. A replica refuses ordinary writers, and can be opened read-only (info, dump, " +
            "tail) while it follows. Stopped at any moment, it goes on from where it got when started again.",
        "Every --interval it shows the events applied (and their rate), the primary position applied (@), the " +
            "records of the topic not applied yet, and the lag: now minus the primary's timestamp of the last " +
            "event applied ('idle' when it is caught up and nothing came; the clocks of both machines count). On " +
            "a terminal the line is rewritten in place; piped, one line per interval.",
        "To fail over: stop the replica, 'varve replicate --promote DIR', then open DIR for writing as usual: " +
            "appends go on from the versions it holds. A replica still running refuses to be promoted.",
        "--key-file encrypts a replica created here with that master key, and opens an encrypted replica (its " +
            "own key, which need not be the primary's: the topic holds clear payloads); an encrypted replica " +
            "is refused without it.",
        "",
        "  varve replicate --bootstrap kafka:9092 --topic orders DIR          until Ctrl-C",
        "  varve replicate --bootstrap kafka:9092 --topic orders DIR --once   then exit",
        "  varve replicate --promote DIR                                      a primary now",
        ""
    })
public final class ReplicateCommand implements Callable<Integer>
{
    private static final Duration MIN_INTERVAL = Duration.ofMillis(10);
    private static final Duration MAX_INTERVAL = Duration.ofHours(1);
    /** What the stop hook gives the replica to finish: its close waits up to 10 s for the consumer. */
    private static final long GRACE_MILLIS = 15_000;
    private static final long NANOS_PER_MILLI = 1_000_000L;
    private static final Pattern PID = Pattern.compile("\\(pid (\\d+)\\)|by process (\\d+)");

    @Spec
    private CommandSpec spec;

    @Parameters(index = "0", paramLabel = "DIR", description = "The replica store's directory (created if " +
        "missing; else a replica of this topic, or empty).")
    private Path directory;

    @Mixin
    private StoreKey.Options keyOptions = new StoreKey.Options();

    @Option(names = "--bootstrap", paramLabel = "HOST:PORT[,HOST:PORT...]",
        description = "Kafka's bootstrap servers (not needed with --promote).")
    private String bootstrap;

    @Option(names = "--topic", paramLabel = "TOPIC", description = "The topic 'varve publish' writes (with " +
        "--promote, optional: the replica must be of this topic).")
    private String topic;

    @Option(names = "--interval", paramLabel = "DURATION", defaultValue = "1s", converter = DurationConverter.class,
        description = "Time between refreshes, and the period of the rate (default: ${DEFAULT-VALUE}).")
    private Duration interval;

    @Option(names = "--once", description = "Follow until the replica holds what the topic held when it " +
        "started, print a summary and exit.")
    private boolean once;

    @Option(names = "--segment-size", paramLabel = "BYTES", description = "Segment size of a replica store " +
        "created here (as large as the primary's, or its largest events do not fit; default: the store's default). " +
        "An existing store keeps its own.")
    Integer segmentSize;

    @Option(names = "--index-capacity", paramLabel = "STREAMS", description = "Stream index capacity of a " +
        "replica store created here (at least the primary's stream count; default: the store's default).")
    Integer indexCapacity;

    @Option(names = "--name-capacity", paramLabel = "NAMES", description = "Most named streams of a replica " +
        "store created here (at least the primary's; default: the store's default).")
    Integer nameCapacity;

    @Option(names = "--promote", description = "Make the stopped replica in DIR a primary store: ordinary " +
        "writers may open it, and go on from its versions. Refused while it is open for writing.")
    private boolean promote;

    @Option(names = "--timeout", paramLabel = "DURATION", defaultValue = "10s", converter = DurationConverter.class,
        description = "Longest wait for Kafka's answers when starting (default: ${DEFAULT-VALUE}).")
    private Duration timeout;

    @Override
    public Integer call()
    {
        if (promote)
        {
            if (once)
            {
                throw CliException.usage("--promote goes with no --once: it promotes a stopped replica");
            }
            return promote();
        }
        checkOptions();
        Stores.refuseForeign(directory);
        final StoreKey key = keyOptions.forDirectory(directory).require("varve replicate",
            "it appends to the replica");
        key.checkBeforeWriting();
        // before the store is opened or created: no broker, or no topic, ends it here and leaves DIR as it was
        final KafkaTools.TopicEnd end = KafkaTools.topicEnd(bootstrap, topic, timeout);
        final PrintWriter out = spec.commandLine().getOut();
        final boolean terminal = System.console() != null;
        final LiveLine line = new LiveLine(out, terminal);

        try (StopSignal stop = new StopSignal(timeout.toMillis() + GRACE_MILLIS))
        {
            final KafkaReplica replica;
            try
            {
                replica = KafkaReplica.builder(directory, bootstrap, topic)
                    .store((config) ->
                    {
                        if (segmentSize != null)
                        {
                            config.segmentSize(segmentSize);
                        }
                        if (indexCapacity != null)
                        {
                            config.indexCapacity(indexCapacity);
                        }
                        if (nameCapacity != null)
                        {
                            config.nameCapacity(nameCapacity);
                        }
                        return key.apply(config, false);
                    })
                    .timeout(timeout)
                    .consumerProperty(ConsumerConfig.CLIENT_ID_CONFIG, "varve-replicate")
                    .build();
            }
            catch (final EncryptionKeyException ex)
            {
                throw key.refused(ex);
            }
            catch (final RuntimeException ex)
            {
                throw KafkaTools.failure("cannot replicate " + topic, ex, bootstrap, timeout);
            }
            final long startNanos = System.nanoTime();
            final long from = replica.appliedPosition();
            boolean stopped = false;
            try
            {
                out.printf(Locale.ROOT, "replicating topic %s at %s (%s) into %s: %s, %s%n", topic, bootstrap,
                    // not replica.store(), a read-only open of its own that an encrypted replica would refuse
                    PublishCommand.plural(end.partitions(), "partition"), directory.toAbsolutePath().normalize(),
                    end.lastPosition() == KafkaRecordFormat.NONE ? "the topic is empty" :
                        end.lastWhole() == KafkaRecordFormat.NONE ? "the topic holds part of a batch only" :
                        "the topic holds events up to " + position(end.lastWhole()) +
                            (end.lastWhole() == end.lastPosition() ? "" : " and part of a batch after it"),
                    from == KafkaRecordFormat.NONE ? "the replica none yet" :
                        "the replica up to " + position(from));
                if (!once)
                {
                    out.printf(Locale.ROOT, "every %s, Ctrl-C to stop%n", DurationConverter.format(interval));
                }
                out.flush();
                // --once: up to the last event it can apply (not into a batch the topic holds part of)
                final long target = once ? end.lastWhole() : Long.MAX_VALUE;
                if (target != KafkaRecordFormat.NONE && target > from)
                {
                    replica.start();
                    final Progress[] last = {new Progress(startNanos, 0, from, 0, 0)};
                    stopped = KafkaTools.follow(stop, line, once, terminal, interval, startNanos,
                        () -> replica.appliedPosition() < target && replica.isRunning(),
                        () ->
                        {
                            final Progress now = Progress.of(replica, System.nanoTime());
                            final String text = now.line(last[0], startNanos);
                            last[0] = now;
                            return text;
                        });
                }
            }
            finally
            {
                // saves how far it got, closes the consumer and the store
                replica.close();
                line.finish();
            }
            final Throwable failure = replica.failure();
            summary(out, replica, end, startNanos, stopped, failure != null);
            if (failure != null)
            {
                throw KafkaTools.failure("replicating " + topic + " stopped", failure, bootstrap, timeout);
            }
        }
        return ExitCode.OK;
    }

    private void checkOptions()
    {
        if (bootstrap == null || topic == null)
        {
            throw CliException.usage("--bootstrap and --topic are needed to follow a topic (only --promote goes " +
                "without them)");
        }
        if (bootstrap.isBlank() || topic.isBlank())
        {
            throw CliException.usage("--bootstrap and --topic must not be blank");
        }
        if (interval.compareTo(MIN_INTERVAL) < 0 || interval.compareTo(MAX_INTERVAL) > 0)
        {
            throw CliException.usage("--interval must be between 10ms and 1h, got " +
                DurationConverter.format(interval));
        }
        if (timeout.isZero())
        {
            throw CliException.usage("--timeout must be more than 0");
        }
    }

    private int promote()
    {
        final PrintWriter out = spec.commandLine().getOut();
        final Path dir = Stores.requireStore(directory);
        // a key file that cannot be used is refused before anything changes
        final StoreKey key = keyOptions.forStore(dir);
        final String source = VarveDB.replicaSource(dir);
        if (source == null)
        {
            out.println(dir + " is no replica, nothing to promote: open it for writing as usual");
            out.flush();
            return ExitCode.OK;
        }
        if (topic != null && !source.equals(KafkaReplica.source(topic)))
        {
            throw CliException.store(dir + " is a replica of " + source + ", not of " + KafkaReplica.source(topic) +
                ": nothing changed");
        }
        final String promoted;
        try
        {
            promoted = KafkaReplica.promote(dir);
        }
        catch (final StoreLockedException ex)
        {
            final Matcher pid = PID.matcher(ex.getMessage());
            throw CliException.store("cannot promote " + dir + ": it is open for writing" + (pid.find() ?
                " by process " + (pid.group(1) != null ? pid.group(1) : pid.group(2)) : "") + " ('varve " +
                "replicate' still following into it?): stop it first; nothing changed");
        }
        // counts only: an encrypted replica is looked at without its key if none was given
        try (VarveDB db = key.openToLook(true))
        {
            out.printf(Locale.ROOT, "promoted %s: it followed %s, and is a primary now (%s streams, its log ends at " +
                    "@%s): open it for writing, appends go on from its versions%n", dir,
                promoted != null ? promoted : source, Format.count(db.streamCount()), Format.count(db.tailPosition()));
        }
        out.flush();
        return ExitCode.OK;
    }

    private void summary(final PrintWriter out, final KafkaReplica replica, final KafkaTools.TopicEnd end,
        final long startNanos, final boolean stopped, final boolean failed)
    {
        final Progress now = Progress.of(replica, System.nanoTime());
        final double seconds = Math.max(1, now.atNanos - startNanos) / 1e9;
        if (now.events == 0 && !failed)
        {
            out.printf(Locale.ROOT, "%s: nothing new in topic %s for %s%n", stopped ? "stopped" : "applied 0 events",
                topic, directory.toAbsolutePath().normalize());
        }
        else
        {
            out.printf(Locale.ROOT, "%s %s of topic %s into %s, %s (%s events/s)%n",
                failed ? "failed after applying" : stopped ? "stopped after applying" : "applied",
                PublishCommand.plural(now.events, "event"), topic, directory.toAbsolutePath().normalize(), Format.seconds(seconds),
                Format.count((long)(now.events / seconds)));
        }
        out.printf(Locale.ROOT, "  appended      %s (%s held already)%n",
            Format.count(now.events - replica.skippedEvents()), Format.count(replica.skippedEvents()));
        out.printf(Locale.ROOT, "  position      %s of the primary applied%s%n", position(now.position),
            once ? "; the topic ended at " + position(end.lastWhole()) + " when it started" +
                (end.lastWhole() == end.lastPosition() ? "" : " (and part of a batch, which waits for the rest)") :
                "");
        out.printf(Locale.ROOT, "  behind        %s records%n", Format.count(now.behind));
        if (now.timestamp != 0)
        {
            out.printf(Locale.ROOT, "  last event    appended on the primary at %s%n",
                Format.timestamp(now.timestamp));
        }
        out.flush();
    }

    private static String position(final long position)
    {
        return position == KafkaRecordFormat.NONE ? "none" : "@" + Format.count(position);
    }

    /**
     * The replica's figures at one moment.
     *
     * @param atNanos   when ({@link System#nanoTime()}).
     * @param events    applied by this run.
     * @param position  the primary position of the last event applied.
     * @param behind    records of the topic not applied yet, as of its last fetch.
     * @param timestamp the primary's timestamp of the last event applied (epoch nanoseconds), 0 if none.
     */
    record Progress(long atNanos, long events, long position, long behind, long timestamp)
    {
        static Progress of(final KafkaReplica replica, final long at)
        {
            return new Progress(at, replica.appliedEvents(), replica.appliedPosition(), replica.recordsBehind(),
                replica.lastAppliedTimestamp());
        }

        String line(final Progress before, final long startNanos)
        {
            final double seconds = Math.max(1, atNanos - before.atNanos) / 1e9;
            final String lag;
            if (behind == 0 && events == before.events)
            {
                // caught up, and nothing came: now minus the last event's time would only count the quiet
                lag = "idle";
            }
            else if (timestamp == 0)
            {
                lag = "-";
            }
            else
            {
                final java.time.Instant wall = java.time.Instant.now();
                final long nowNanos = wall.getEpochSecond() * 1_000_000_000L + wall.getNano();
                lag = Format.count(Math.max(0, nowNanos - timestamp) / NANOS_PER_MILLI) + " ms";
            }
            return String.format(Locale.ROOT, "%6.1fs  applied %s (%s/s)  %s  behind %s records  lag %s",
                (atNanos - startNanos) / 1e9, PublishCommand.plural(events, "event"),
                Format.count((long)((events - before.events) / seconds)), ReplicateCommand.position(position),
                Format.count(behind), lag);
        }
    }
}
