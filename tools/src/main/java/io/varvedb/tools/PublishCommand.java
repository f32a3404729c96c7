package io.varvedb.tools;

import io.varvedb.VarveDB;
import io.varvedb.kafka.KafkaPublisher;
import io.varvedb.kafka.KafkaRecordFormat;
import org.apache.kafka.clients.producer.ProducerConfig;
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

/**
 * {@code varve publish DIR --bootstrap HOST:PORT --topic T}: a {@link KafkaPublisher} on a store opened read-only
 * (beside the application that writes it), with its progress shown live; {@code --once} publishes what the log
 * holds and exits.
 */
@Command(
    name = "publish",
    mixinStandardHelpOptions = true,
    header = "Publish a store's log to a Kafka topic, exactly once, showing the progress live.",
    description = {
        "Opens the store read-only, so it runs beside the application that writes it, and publishes its global " +
            "log to the topic in Kafka transactions (KafkaPublisher): every event once, in log order, keyed by " +
            "its stream. It goes on from the last event the topic holds, so a publisher stopped at any moment " +
            "(Ctrl-C, a kill, a crash) is simply started again. The topic must exist. One publisher per " +
            "--transactional-id at a time: a new one fences the old.",
        "Every --interval it shows the events published (and their rate over the interval), the transactions, " +
            "the last published position (@, a log position), the store's tail, and the lag: the events and " +
            "bytes of log not published yet. On a terminal the line is rewritten in place; piped, one line per " +
            "interval. Ctrl-C stops it: the transaction under way is finished or aborted, the store closed, and " +
            "a summary printed.",
        "An encrypted store needs its master key (--key-file): its events are published decrypted, so the " +
            "topic holds their payloads in clear (protect the topic accordingly); the events of shredded streams " +
            "are not published. Without the key it is refused before Kafka is asked anything.",
        "",
        "  varve publish DIR --bootstrap kafka:9092 --topic orders          until Ctrl-C",
        "  varve publish DIR --bootstrap kafka:9092 --topic orders --once   then exit",
        ""
    })
public final class PublishCommand implements Callable<Integer>
{
    private static final Duration MIN_INTERVAL = Duration.ofMillis(10);
    private static final Duration MAX_INTERVAL = Duration.ofHours(1);
    /** Events the lag count reads per refresh at most: it follows the log as it grows, and says "+" behind. */
    private static final int COUNT_BUDGET = 2_000_000;
    private static final int READ_CHUNK = 4096;
    /** What the stop hook gives the publisher to finish, beyond --timeout: its close waits up to 10 s. */
    private static final long GRACE_MILLIS = 15_000;

    @Spec
    private CommandSpec spec;

    @Parameters(index = "0", paramLabel = "DIR", description = "The store's directory.")
    private Path directory;

    @Mixin
    private StoreKey.Options keyOptions = new StoreKey.Options();

    @Option(names = "--bootstrap", required = true, paramLabel = "HOST:PORT[,HOST:PORT...]",
        description = "Kafka's bootstrap servers.")
    private String bootstrap;

    @Option(names = "--topic", required = true, paramLabel = "TOPIC",
        description = "The topic (it must exist; one partition keeps the log's order in Kafka, several are " +
            "merged back in order by 'varve replicate').")
    private String topic;

    @Option(names = "--transactional-id", paramLabel = "ID",
        description = "The producer's transactional id (default: varve-publisher-TOPIC, one publisher per topic).")
    private String transactionalId;

    @Option(names = "--max-events-per-transaction", paramLabel = "N",
        defaultValue = "" + KafkaPublisher.DEFAULT_MAX_EVENTS_PER_TRANSACTION,
        description = "Most events in one transaction (default: ${DEFAULT-VALUE}).")
    private int maxEventsPerTransaction;

    @Option(names = "--interval", paramLabel = "DURATION", defaultValue = "1s", converter = DurationConverter.class,
        description = "Time between refreshes, and the period of the rate (default: ${DEFAULT-VALUE}; 500ms, 2s, " +
            "or seconds).")
    private Duration interval;

    @Option(names = "--skip-truncated", description = "When the store no longer holds the topic's last event " +
        "(retention dropped it), go on from the log start instead of refusing; what retention dropped before it " +
        "was published is then missing from the topic for good.")
    boolean skipTruncated;

    @Option(names = "--once", description = "Publish what the log holds now, print a summary and exit.")
    private boolean once;

    @Option(names = "--timeout", paramLabel = "DURATION", defaultValue = "10s", converter = DurationConverter.class,
        description = "Longest wait for Kafka when starting, and for a send or commit (the producer's " +
            "max.block.ms) (default: ${DEFAULT-VALUE}).")
    private Duration timeout;

    @Override
    public Integer call()
    {
        checkOptions();
        final Path dir = Stores.requireStore(directory);
        // cipher text must never reach the topic: no key, no publishing, and Kafka is not even asked
        final StoreKey key = keyOptions.forStore(dir).require("varve publish", "it publishes payloads decrypted");
        // before the store is opened: no broker, or no topic, ends it here
        final KafkaTools.TopicEnd end = KafkaTools.topicEnd(bootstrap, topic, timeout);
        final PrintWriter out = spec.commandLine().getOut();
        final boolean terminal = System.console() != null;
        final LiveLine line = new LiveLine(out, terminal);

        try (StopSignal stop = new StopSignal(timeout.toMillis() + GRACE_MILLIS);
            VarveDB db = key.openToLook(false))
        {
            final KafkaPublisher.Builder builder = KafkaPublisher.builder(db, bootstrap, topic)
                .maxEventsPerTransaction(maxEventsPerTransaction)
                .skipTruncated(skipTruncated)
                .timeout(timeout)
                .producerProperty(ProducerConfig.MAX_BLOCK_MS_CONFIG, Long.toString(timeout.toMillis()))
                .producerProperty(ProducerConfig.CLIENT_ID_CONFIG, "varve-publish");
            if (transactionalId != null)
            {
                builder.transactionalId(transactionalId);
            }
            // before the publisher starts, which fences the one publishing now under the same transactional id
            refuseAnotherStores(db, end);
            final KafkaPublisher publisher = builder.build();
            long startNanos = System.nanoTime();
            boolean stopped = false;
            try
            {
                final long from;
                try
                {
                    from = publisher.open();
                }
                catch (final RuntimeException ex)
                {
                    throw KafkaTools.failure("cannot publish to " + topic, ex, bootstrap, timeout);
                }
                // the rates count from here: connecting and finding the topic's end are not publishing
                startNanos = System.nanoTime();
                final LagCounter lag = new LagCounter(db, from);
                out.printf(Locale.ROOT, "publishing %s to topic %s at %s (transactional id %s): %s%n",
                    db.directory(), topic, bootstrap,
                    transactionalId != null ? transactionalId : "varve-publisher-" + topic,
                    from == KafkaRecordFormat.NONE ? "the topic is empty, from the start of the log" :
                        "the topic holds the log up to @" + Format.count(from));
                if (!once)
                {
                    out.printf(Locale.ROOT, "every %s, Ctrl-C to stop%n", DurationConverter.format(interval));
                }
                out.flush();

                // --once: everything up to the last event the log holds now
                final long target = once ? lastEvent(db) : Long.MAX_VALUE;
                if (target != KafkaRecordFormat.NONE && target > from)
                {
                    publisher.start();
                    final long since = startNanos;
                    final Progress[] last = {new Progress(since, 0, 0, from, 0, 0, 0, true)};
                    stopped = KafkaTools.follow(stop, line, once, terminal, interval, since,
                        () -> publisher.publishedPosition() < target && publisher.isRunning(),
                        () ->
                        {
                            final Progress now = Progress.of(publisher, db, lag, 0, System.nanoTime());
                            final String text = now.line(last[0], since);
                            last[0] = now;
                            return text;
                        });
                }
            }
            finally
            {
                // the transaction under way is committed or aborted; from here on the counts are final
                publisher.close();
                line.finish();
            }
            final Throwable failure = publisher.failure();
            summary(out, db, publisher, startNanos, stopped, failure != null);
            if (failure != null)
            {
                throw KafkaTools.failure("publishing to " + topic + " stopped", failure, bootstrap, timeout);
            }
        }
        return ExitCode.OK;
    }

    private void checkOptions()
    {
        if (interval.compareTo(MIN_INTERVAL) < 0 || interval.compareTo(MAX_INTERVAL) > 0)
        {
            throw CliException.usage("--interval must be between 10ms and 1h, got " +
                DurationConverter.format(interval));
        }
        if (timeout.isZero())
        {
            throw CliException.usage("--timeout must be more than 0");
        }
        if (maxEventsPerTransaction < 1)
        {
            throw CliException.usage("--max-events-per-transaction must be at least 1, got " +
                maxEventsPerTransaction);
        }
        if (topic.isBlank() || bootstrap.isBlank() || (transactionalId != null && transactionalId.isBlank()))
        {
            throw CliException.usage("--bootstrap, --topic and --transactional-id must not be blank");
        }
    }

    /**
     * The check the publisher makes when it starts (the event the topic ends with must be the store's at that
     * position), made before it starts: it starts by fencing whoever publishes under the same transactional id,
     * so a publisher of the wrong store would stop the right one's before it found out.
     */
    private void refuseAnotherStores(final VarveDB db, final KafkaTools.TopicEnd end)
    {
        final long position = end.lastPosition();
        if (position == KafkaRecordFormat.NONE)
        {
            return;
        }
        final long[] found = {KafkaRecordFormat.NONE, 0, 0};
        try
        {
            db.readAll(position, 1, (event) ->
            {
                found[0] = event.position();
                found[1] = event.streamId();
                found[2] = event.version();
            });
        }
        catch (final IllegalArgumentException | io.varvedb.LogTruncatedException ex)
        {
            throw new CliException(ExitCode.KAFKA, "topic " + topic + " ends with position " +
                Format.count(position) + ", which is no event of the store at " + db.directory() + ": it holds " +
                "another store's log; nothing published");
        }
        if (found[0] == position && (found[1] != end.streamId() || found[2] != end.version()))
        {
            throw new CliException(ExitCode.KAFKA, "topic " + topic + " ends with stream " + end.streamId() +
                " version " + Format.count(end.version()) + " at position " + Format.count(position) + ", but the " +
                "store at " + db.directory() + " has stream " + found[1] + " version " + Format.count(found[2]) +
                " there: it holds another store's log; nothing published");
        }
    }

    private void summary(final PrintWriter out, final VarveDB db, final KafkaPublisher publisher,
        final long startNanos, final boolean stopped, final boolean failed)
    {
        // the lag from where it ended: what the log holds past the last event published
        final Progress end = Progress.of(publisher, db, new LagCounter(db, publisher.publishedPosition()),
            publisher.publishedEvents(), System.nanoTime());
        final double seconds = Math.max(1, end.atNanos - startNanos) / 1e9;
        if (end.events == 0 && !failed)
        {
            out.printf(Locale.ROOT, "%s: nothing new to publish%n", stopped ? "stopped" : "published 0 events");
        }
        else
        {
            out.printf(Locale.ROOT, "%s %s in %s, %s (%s events/s)%n",
                failed ? "failed after publishing" : stopped ? "stopped after publishing" : "published",
                plural(end.events, "event"), plural(end.transactions, "transaction"), Format.seconds(seconds),
                Format.count((long)(end.events / seconds)));
        }
        out.printf(Locale.ROOT, "  topic         %s at %s holds the log up to %s%s%n", topic, bootstrap,
            position(end.position), publisher.aborts() > 0 ?
                " (" + Format.count(publisher.aborts()) + " transactions aborted and sent again)" : "");
        out.printf(Locale.ROOT, "  store tail    @%s%n", Format.count(end.tail));
        out.printf(Locale.ROOT, "  lag           %s events, %s of log not published%n", end.lagEvents(),
            Format.bytes(end.lagBytes()));
        out.flush();
    }

    static String plural(final long count, final String noun)
    {
        return Format.count(count) + " " + noun + (count == 1 ? "" : "s");
    }

    private static String position(final long position)
    {
        return position == KafkaRecordFormat.NONE ? "no event (empty)" : "@" + Format.count(position);
    }

    /** @return the position of the last event the log holds now, {@link KafkaRecordFormat#NONE} if none. */
    static long lastEvent(final VarveDB db)
    {
        final long position = TailCommand.startOfLast(db, 1);
        final boolean[] found = {false};
        db.readAll(position, 1, (event) -> found[0] = event.position() == position);
        return found[0] ? position : KafkaRecordFormat.NONE;
    }

    /**
     * Where the log stands after the event at {@code position}: the next event's position (the end of that
     * event's record). An event a scavenge dropped is gone, but its successors' positions say as much.
     */
    static long endOf(final VarveDB db, final long position)
    {
        if (position == KafkaRecordFormat.NONE)
        {
            return db.logStart();
        }
        final long[] end = {position};
        db.readAll(position, 1, (event) -> end[0] = event.position() == position ? event.nextPosition() :
            event.position());
        return end[0];
    }

    /**
     * Counts the events of the log after a position as the log grows: each refresh reads only what is new (at
     * most {@link #COUNT_BUDGET}), so a live lag costs what the publisher's own reads cost, not a pass over the
     * whole backlog each time.
     */
    static final class LagCounter
    {
        private final VarveDB db;
        private final long after;
        private long next;
        private long seen;
        private boolean complete;

        LagCounter(final VarveDB db, final long after)
        {
            this.db = db;
            this.after = after;
            this.next = after == KafkaRecordFormat.NONE ? VarveDB.START_POSITION : after;
        }

        /** Read on from where it stopped; {@link #seen()} is exact if it reached the end. */
        void advance()
        {
            int budget = COUNT_BUDGET;
            while (budget > 0)
            {
                final int read = db.readAll(next, Math.min(READ_CHUNK, budget), (event) ->
                {
                    if (event.position() > after)
                    {
                        seen++;
                    }
                    next = event.nextPosition();
                });
                if (read == 0)
                {
                    complete = true;
                    return;
                }
                budget -= read;
            }
            complete = false;
        }

        /** @return events after the position, as far as it read. */
        long seen()
        {
            return seen;
        }

        /** @return true if it read to the end of the log. */
        boolean complete()
        {
            return complete;
        }
    }

    /**
     * The publisher's and the store's figures at one moment.
     *
     * @param atNanos      when ({@link System#nanoTime()}).
     * @param events       published by this run.
     * @param transactions committed by this run.
     * @param position     the last event published, {@link KafkaRecordFormat#NONE} if none.
     * @param end          where the log stands after it.
     * @param tail         the store's tail.
     * @param unpublished  events of the log after {@code position}.
     * @param exact        false if {@code unpublished} is a lower bound (still counting).
     */
    record Progress(long atNanos, long events, long transactions, long position, long end, long tail,
        long unpublished, boolean exact)
    {
        /**
         * @param counted events the publisher had published when {@code lag} started counting after its position.
         */
        static Progress of(final KafkaPublisher publisher, final VarveDB db, final LagCounter lag, final long counted,
            final long at)
        {
            final long events = publisher.publishedEvents();
            final long transactions = publisher.transactions();
            final long position = publisher.publishedPosition();
            final long end = endOf(db, position);
            final long tail = db.tailPosition();
            lag.advance();
            return new Progress(at, events, transactions, position, end, tail, Math.max(0, lag.seen() - (events - counted)),
                lag.complete());
        }

        String lagEvents()
        {
            return Format.count(unpublished) + (exact ? "" : "+");
        }

        long lagBytes()
        {
            return Math.max(0, tail - end);
        }

        String line(final Progress before, final long startNanos)
        {
            final double seconds = Math.max(1, atNanos - before.atNanos) / 1e9;
            return String.format(Locale.ROOT, "%6.1fs  published %s (%s/s) in %s  %s of tail @%s  " +
                    "lag %s events, %s", (atNanos - startNanos) / 1e9, plural(events, "event"),
                Format.count((long)((events - before.events) / seconds)), plural(transactions, "txn"),
                position == KafkaRecordFormat.NONE ? "nothing yet" : "@" + Format.count(position),
                Format.count(tail), lagEvents(), Format.bytes(lagBytes()));
        }
    }
}
