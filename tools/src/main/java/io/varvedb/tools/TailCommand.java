package io.varvedb.tools;

import io.varvedb.EventHandler;
import io.varvedb.RecordedEvent;
import io.varvedb.Subscription;
import io.varvedb.VarveDB;
import org.agrona.concurrent.BackoffIdleStrategy;
import org.agrona.concurrent.IdleStrategy;
import picocli.CommandLine.Command;
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
        "Opens the store read-only, beside its writer, and prints events as they are appended until interrupted (Ctrl-C). Starts at the end of the log unless --from-start is given."
    })
public final class TailCommand implements Callable<Integer>
{
    private static final int READ_BATCH = 1024;
    private static final long MAX_SPINS = 100;
    private static final long MAX_YIELDS = 100;
    private static final long MIN_PARK_NANOS = TimeUnit.MICROSECONDS.toNanos(1);
    private static final long MAX_PARK_NANOS = TimeUnit.MILLISECONDS.toNanos(1);

    @Spec
    private CommandSpec spec;

    @Parameters(index = "0", paramLabel = "DIR", description = "The store's directory.")
    private Path directory;

    @Option(names = "--stream", paramLabel = "ID", description = "Follow only this stream.")
    private Long stream;

    @Option(names = "--from-start", description = "Print the events already there first.")
    private boolean fromStart;

    @Option(names = "--count", paramLabel = "N", description = "Stop after N events (default: never).")
    private Long count;

    @Override
    public Integer call()
    {
        if (stream != null && stream <= 0)
        {
            throw CliException.usage("--stream must be a positive stream id, got " + stream);
        }
        if (count != null && count < 1)
        {
            throw CliException.usage("--count must be at least 1, got " + count);
        }
        final PrintWriter out = spec.commandLine().getOut();
        final PrintWriter err = spec.commandLine().getErr();
        final long limit = count == null ? Long.MAX_VALUE : count;
        final IdleStrategy idle = new BackoffIdleStrategy(MAX_SPINS, MAX_YIELDS, MIN_PARK_NANOS, MAX_PARK_NANOS);
        final Printer printer = new Printer(out);

        try (VarveDB db = Stores.openReadOnly(directory);
            Subscription subscription = stream == null ?
                db.subscription(fromStart ? VarveDB.START_POSITION : VarveDB.FROM_NOW) :
                db.streamSubscription(stream, fromStart ? 1 : VarveDB.FROM_NOW))
        {
            // on stderr, so stdout carries nothing but events
            err.println("following " + db.directory() + (stream == null ?
                " from position " + Format.count(subscription.position()) :
                " stream " + stream + " from version " + Format.count(subscription.nextVersion())) +
                " (Ctrl-C to stop)");
            err.flush();

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

    /**
     * Prints each event and remembers where to continue.
     */
    private static final class Printer implements EventHandler
    {
        private final PrintWriter out;
        private long printed;

        Printer(final PrintWriter out)
        {
            this.out = out;
        }

        @Override
        public void onEvent(final RecordedEvent event)
        {
            out.println(EventLine.format(event));
            printed++;
        }
    }
}
