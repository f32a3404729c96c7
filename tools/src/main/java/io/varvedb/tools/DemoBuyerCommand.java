package io.varvedb.tools;

import io.varvedb.VarveDB;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * {@code varve demo-buyer} (hidden): one buyer process of {@code varve demo --processes N}. It opens the store
 * in multi-process mode beside the demo and the other buyer processes, and races its buyer threads when the demo
 * says so. It talks to the demo in lines: it prints {@code ready}, waits for {@code go} on stdin, prints
 * {@code progress ORDERS CONFLICTS SOLD_OUT} as it goes, stops when everything it sees is sold out or on
 * {@code stop} (or the end of stdin: the demo is gone) and prints {@code done}, then closes the store and prints
 * {@code result TALLY}
 * ({@link DemoTally#encode}).
 */
@Command(name = "demo-buyer", hidden = true, description = "One buyer process of 'varve demo --processes N'.")
public final class DemoBuyerCommand implements Runnable
{
    /** Progress lines are this far apart. */
    static final long PROGRESS_INTERVAL_MS = 100;

    @Spec
    private CommandSpec spec;

    @Option(names = "--dir", required = true)
    private Path directory;

    @Option(names = "--first-product", required = true)
    private long firstProduct;

    @Option(names = "--products", required = true)
    private int products;

    @Option(names = "--threads", required = true)
    private int threads;

    @Option(names = "--first-buyer", required = true)
    private int firstBuyer;

    @Option(names = "--max-units", required = true)
    private int maxUnits;

    @Option(names = "--max-attempts", required = true)
    private int maxAttempts;

    @Override
    public void run()
    {
        final PrintWriter out = spec.commandLine().getOut();
        final CountDownLatch go = new CountDownLatch(1);
        final CountDownLatch stop = new CountDownLatch(1);
        final DemoTally tally;
        try (VarveDB db = VarveDB.open(DemoCommand.storeConfig(directory, true)))
        {
            final BuyerThreads buyers = new BuyerThreads(db, threads, firstBuyer, firstProduct, products, maxUnits,
                maxAttempts);
            listen(go, stop);
            out.println("ready");
            out.flush();
            await(go);
            buyers.start();
            while (!buyers.finished() && !await(stop, PROGRESS_INTERVAL_MS))
            {
                progress(out, buyers);
            }
            buyers.stop();
            progress(out, buyers);
            // the race is over for this process; closing the store is not part of it
            out.println("done");
            out.flush();
            buyers.rethrowFailure();
            tally = buyers.tally();
        }
        // printed once the store is closed: the demo reads the store from disk once every result is in
        out.println("result " + tally.encode());
        out.flush();
    }

    private static void progress(final PrintWriter out, final BuyerThreads buyers)
    {
        out.println("progress " + buyers.orders() + " " + buyers.conflicts() + " " + buyers.soldOut());
        out.flush();
    }

    /**
     * Read the demo's commands on a daemon thread: {@code go}, then {@code stop}; the end of stdin (the demo died
     * or closed it) means both, so an orphaned buyer process stops instead of racing on.
     */
    private static void listen(final CountDownLatch go, final CountDownLatch stop)
    {
        final Thread listener = new Thread(() ->
        {
            final BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
            try
            {
                String line;
                while ((line = in.readLine()) != null)
                {
                    if (line.equals("go"))
                    {
                        go.countDown();
                    }
                    else if (line.equals("stop"))
                    {
                        break;
                    }
                }
            }
            catch (final IOException ignore)
            {
                // as if stdin ended
            }
            go.countDown();
            stop.countDown();
        }, "demo-buyer-commands");
        listener.setDaemon(true);
        listener.start();
    }

    private static void await(final CountDownLatch latch)
    {
        try
        {
            latch.await();
        }
        catch (final InterruptedException ex)
        {
            Thread.currentThread().interrupt();
        }
    }

    private static boolean await(final CountDownLatch latch, final long millis)
    {
        try
        {
            return latch.await(millis, TimeUnit.MILLISECONDS);
        }
        catch (final InterruptedException ex)
        {
            Thread.currentThread().interrupt();
            return true;
        }
    }
}
