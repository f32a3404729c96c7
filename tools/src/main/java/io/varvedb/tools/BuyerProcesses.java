package io.varvedb.tools;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * The buyer processes of {@code varve demo --processes N}: child JVMs of the same Java and class path, each running
 * the hidden {@link DemoBuyerCommand} with its own buyer threads, all writing one store in multi-process mode.
 */
final class BuyerProcesses implements DemoRace, AutoCloseable
{
    /** The engine needs this (Agrona's access to jdk.internal.misc); the launcher passes it to the demo too. */
    private static final String AGRONA_FLAG = "--add-exports=java.base/jdk.internal.misc=ALL-UNNAMED";
    /** How long a buyer process may take to open the store, or to stop and close it. */
    private static final long PATIENCE_SECONDS = 120;

    private final List<Buyer> buyers = new ArrayList<>();

    /**
     * Start the buyer processes and wait until each has opened the store; none buys before {@link #go}.
     *
     * @param count           processes.
     * @param threadsEach     buyer threads in each.
     * @param dir             the store, which the demo has open in multi-process mode.
     * @param firstProduct    the first product's stream.
     * @param products        products on sale.
     * @param maxUnits        most units one order reserves.
     * @param maxAttempts     appends one order tries.
     */
    BuyerProcesses(final int count, final int threadsEach, final Path dir, final long firstProduct,
        final int products, final int maxUnits, final int maxAttempts)
    {
        try
        {
            for (int i = 0; i < count; i++)
            {
                buyers.add(new Buyer(i + 1, List.of("demo-buyer", "--dir", dir.toString(),
                    "--first-product", Long.toString(firstProduct), "--products", Integer.toString(products),
                    "--threads", Integer.toString(threadsEach), "--first-buyer", Integer.toString(i * threadsEach + 1),
                    "--max-units", Integer.toString(maxUnits), "--max-attempts", Integer.toString(maxAttempts))));
            }
            for (final Buyer buyer : buyers)
            {
                buyer.awaitReady();
            }
        }
        catch (final RuntimeException ex)
        {
            close();
            throw ex;
        }
    }

    /**
     * Let every buyer process race.
     */
    void go()
    {
        for (final Buyer buyer : buyers)
        {
            buyer.send("go");
        }
    }

    @Override
    public boolean finished()
    {
        return buyers.stream().allMatch((b) -> b.done.getCount() == 0);
    }

    @Override
    public void stop()
    {
        for (final Buyer buyer : buyers)
        {
            buyer.send("stop");
        }
        // the race is over when the buyers stop; closing the store and ending the JVM come after, in results()
        for (final Buyer buyer : buyers)
        {
            Buyer.await(buyer.done);
        }
    }

    @Override
    public long orders()
    {
        return buyers.stream().mapToLong((b) -> b.orders).sum();
    }

    @Override
    public long conflicts()
    {
        return buyers.stream().mapToLong((b) -> b.conflicts).sum();
    }

    @Override
    public int soldOut()
    {
        return buyers.stream().mapToInt((b) -> b.soldOut).max().orElse(0);
    }

    /**
     * Wait until every buyer process has closed the store and ended.
     *
     * @return after {@link #stop}: each process's number, pid and tally, in order.
     * @throws CliException with the buyer process's exit status if one failed.
     */
    List<Result> results()
    {
        final List<Result> results = new ArrayList<>();
        for (final Buyer buyer : buyers)
        {
            buyer.awaitExit();
            results.add(new Result(buyer.number, buyer.process.pid(), buyer.result()));
        }
        return results;
    }

    /**
     * Kill what still runs (the demo failed before the race ended); a buyer process that ends by itself needs
     * nothing.
     */
    @Override
    public void close()
    {
        for (final Buyer buyer : buyers)
        {
            buyer.process.destroyForcibly();
        }
    }

    /**
     * One buyer process's result.
     *
     * @param number its number, 1..N.
     * @param pid    its process id.
     * @param tally  what its buyers did.
     */
    record Result(int number, long pid, DemoTally tally)
    {
    }

    /**
     * One child JVM, with a thread reading what it reports and one keeping its stderr.
     */
    private static final class Buyer
    {
        private final int number;
        private final int products;
        private final Process process;
        private final PrintWriter in;
        private final CountDownLatch ready = new CountDownLatch(1);
        /** Counted down when its buyers have stopped, or its output ends. */
        private final CountDownLatch done = new CountDownLatch(1);
        private final StringBuffer errors = new StringBuffer();
        private final Thread reader;
        private final Thread errorReader;
        private volatile long orders;
        private volatile long conflicts;
        private volatile int soldOut;
        private volatile String result;
        private volatile boolean readySeen;

        Buyer(final int number, final List<String> args)
        {
            this.number = number;
            this.products = Integer.parseInt(args.get(args.indexOf("--products") + 1));
            final String java = ProcessHandle.current().info().command()
                .orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString());
            final List<String> command = new ArrayList<>(List.of(java, AGRONA_FLAG,
                "-cp", System.getProperty("java.class.path"), VarveCli.class.getName()));
            command.addAll(args);
            try
            {
                process = new ProcessBuilder(command).start();
            }
            catch (final IOException ex)
            {
                throw CliException.store("cannot start a buyer process (" + java + "): " + ex.getMessage());
            }
            in = new PrintWriter(process.getOutputStream(), true, StandardCharsets.UTF_8);
            reader = daemon(this::readReports, "buyer-process-" + number);
            errorReader = daemon(() -> keep(process.getErrorStream()), "buyer-process-" + number + "-stderr");
        }

        private static Thread daemon(final Runnable task, final String name)
        {
            final Thread thread = new Thread(task, name);
            thread.setDaemon(true);
            thread.start();
            return thread;
        }

        private void readReports()
        {
            try (BufferedReader lines = new BufferedReader(
                new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8)))
            {
                String line;
                while ((line = lines.readLine()) != null)
                {
                    if (line.equals("ready"))
                    {
                        readySeen = true;
                        ready.countDown();
                    }
                    else if (line.startsWith("progress "))
                    {
                        final String[] words = line.split(" ");
                        orders = Long.parseLong(words[1]);
                        conflicts = Long.parseLong(words[2]);
                        soldOut = Integer.parseInt(words[3]);
                    }
                    else if (line.equals("done"))
                    {
                        done.countDown();
                    }
                    else if (line.startsWith("result "))
                    {
                        result = line.substring("result ".length());
                    }
                }
            }
            catch (final IOException | RuntimeException ex)
            {
                errors.append("(reading its output: ").append(ex).append(")\n");
            }
            finally
            {
                ready.countDown();
                done.countDown();
            }
        }

        private void keep(final InputStream stream)
        {
            try
            {
                errors.append(new String(stream.readAllBytes(), StandardCharsets.UTF_8));
            }
            catch (final IOException ex)
            {
                errors.append("(reading its stderr: ").append(ex).append(")\n");
            }
        }

        void awaitReady()
        {
            if (await(ready) && readySeen)
            {
                return;
            }
            // it ended (or hangs) before opening the store: let it finish saying why
            try
            {
                process.waitFor(PATIENCE_SECONDS, TimeUnit.SECONDS);
                errorReader.join(TimeUnit.SECONDS.toMillis(PATIENCE_SECONDS));
            }
            catch (final InterruptedException ex)
            {
                Thread.currentThread().interrupt();
            }
            throw failure("did not open the store");
        }

        void send(final String command)
        {
            in.println(command);
        }

        void awaitExit()
        {
            try
            {
                if (!process.waitFor(PATIENCE_SECONDS, TimeUnit.SECONDS))
                {
                    process.destroyForcibly();
                    throw failure("did not stop within " + PATIENCE_SECONDS + " s");
                }
                reader.join(TimeUnit.SECONDS.toMillis(PATIENCE_SECONDS));
                errorReader.join(TimeUnit.SECONDS.toMillis(PATIENCE_SECONDS));
            }
            catch (final InterruptedException ex)
            {
                Thread.currentThread().interrupt();
                throw failure("was not waited for (interrupted)");
            }
        }

        DemoTally result()
        {
            if (process.exitValue() != ExitCode.OK || result == null)
            {
                throw failure("failed");
            }
            return DemoTally.decode(result, products);
        }

        private CliException failure(final String what)
        {
            final int status = process.isAlive() || process.exitValue() == ExitCode.OK ? ExitCode.INTERNAL :
                process.exitValue();
            final String said = errors.toString().trim();
            return new CliException(status, "buyer process " + number + " (pid " + process.pid() + ") " + what +
                (process.isAlive() ? "" : ", exit status " + process.exitValue()) +
                (said.isEmpty() ? "" : ": " + said));
        }

        private static boolean await(final CountDownLatch latch)
        {
            try
            {
                return latch.await(PATIENCE_SECONDS, TimeUnit.SECONDS);
            }
            catch (final InterruptedException ex)
            {
                Thread.currentThread().interrupt();
                return false;
            }
        }
    }
}
