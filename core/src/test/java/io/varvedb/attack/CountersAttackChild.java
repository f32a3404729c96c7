package io.varvedb.attack;

import io.varvedb.*;
import io.varvedb.counters.CounterType;
import io.varvedb.counters.CountersSnapshot;
import io.varvedb.counters.ProcessCounters;
import io.varvedb.counters.VarveCounters;

import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Child JVM for {@link CountersAttackTest}: each mode prints what it did, and "ok" when it got to its end (a JVM
 * crash shows as a missing "ok", an exit status of 134 and an hs_err file).
 */
public final class CountersAttackChild
{
    static VarveConfig config(final Path dir)
    {
        return VarveConfig.builder(dir).segmentSize(64 * 1024).indexCapacity(4096).indexBlocksPerChunk(64).build();
    }

    public static void main(final String[] args) throws Exception
    {
        final PrintStream out = new PrintStream(new FileOutputStream(FileDescriptor.out), true);
        final Path dir = Path.of(args[1]);
        switch (args[0])
        {
            case "sub-dropped-after-close" -> subDroppedAfterClose(dir, out);
            case "sub-closed-after-close" -> subClosedAfterClose(dir, out);
            case "appender-closed-after-close" -> appenderClosedAfterClose(dir, out);
            case "appender-dropped-after-close" -> appenderDroppedAfterClose(dir, out);
            case "bad-append-after-close" -> badAppendAfterClose(dir, out);
            case "processor-closed-after-close" -> processorClosedAfterClose(dir, out);
            case "gc-during-close" -> gcDuringClose(dir, out, Integer.parseInt(args[2]));
            case "poll-errors-during-close" -> pollErrorsDuringClose(dir, out, Integer.parseInt(args[2]));
            case "writer-then-wait" -> writerThenWait(dir, out);
            case "reader-then-wait" -> readerThenWait(dir, out);
            case "open-and-wait" -> openAndWait(dir, out, args.length > 2 && args[2].equals("read-only"));
            case "shared-writer" -> sharedWriter(dir, out, Integer.parseInt(args[2]));
            case "open-at-go" -> openAtGo(dir, out, Path.of(args[2]));
            case "checkpoint-during-close" -> checkpointDuringClose(dir, out, Integer.parseInt(args[2]));
            default -> throw new IllegalArgumentException(args[0]);
        }
    }

    private static void subDroppedAfterClose(final Path dir, final PrintStream out) throws Exception
    {
        final VarveDB db = VarveDB.open(config(dir));
        try (Appender appender = db.appender())
        {
            appender.append(1, ExpectedVersion.ANY, 1, new byte[8]);
        }
        for (int i = 0; i < 50; i++)
        {
            Subscription s = db.subscription(VarveDB.START_POSITION);
            s.poll((e) -> { }, 10);
            s = null;
        }
        db.close();
        out.println("closed");
        for (int i = 0; i < 30; i++)
        {
            System.gc();
            Thread.sleep(20);
        }
        // more garbage and collections, so the Cleaner surely ran
        for (int i = 0; i < 20; i++)
        {
            final byte[][] junk = new byte[1000][];
            for (int j = 0; j < junk.length; j++)
            {
                junk[j] = new byte[1024];
            }
            System.gc();
            Thread.sleep(10);
        }
        out.println("ok");
    }

    private static void subClosedAfterClose(final Path dir, final PrintStream out)
    {
        final VarveDB db = VarveDB.open(config(dir));
        final List<Subscription> subscriptions = new ArrayList<>();
        for (int i = 0; i < 20; i++)
        {
            subscriptions.add(db.subscription(VarveDB.START_POSITION));
            subscriptions.add(db.streamSubscription(1, 1));
        }
        db.close();
        out.println("closed");
        for (final Subscription s : subscriptions)
        {
            s.close();
        }
        // and then a new store in this JVM: counters of the old one must not write into it
        try (VarveDB again = VarveDB.open(config(dir)); Appender appender = again.appender())
        {
            appender.append(1, ExpectedVersion.ANY, 1, new byte[8]);
            out.println("appends " + again.counters().total(CounterType.APPENDS));
        }
        out.println("ok");
    }

    private static void appenderClosedAfterClose(final Path dir, final PrintStream out)
    {
        final VarveDB db = VarveDB.open(config(dir));
        final List<Appender> appenders = new ArrayList<>();
        for (int i = 0; i < 20; i++)
        {
            final Appender a = db.appender();
            a.append(1 + i, ExpectedVersion.ANY, 1, new byte[8]);
            appenders.add(a);
        }
        db.close();
        out.println("closed");
        for (final Appender a : appenders)
        {
            a.close();
        }
        out.println("ok");
    }

    private static void appenderDroppedAfterClose(final Path dir, final PrintStream out) throws Exception
    {
        final VarveDB db = VarveDB.open(config(dir));
        for (int i = 0; i < 200; i++)
        {
            final Appender a = db.appender();
            a.append(1 + i, ExpectedVersion.ANY, 1, new byte[8]);
        }
        db.close();
        out.println("closed");
        for (int i = 0; i < 30; i++)
        {
            System.gc();
            Thread.sleep(20);
        }
        out.println("ok");
    }

    private static void badAppendAfterClose(final Path dir, final PrintStream out)
    {
        final VarveDB db = VarveDB.open(config(dir));
        final Appender a = db.appender();
        a.append(1, ExpectedVersion.ANY, 1, new byte[8]);
        db.close();
        out.println("closed");
        for (int i = 0; i < 1000; i++)
        {
            try
            {
                a.append(1, ExpectedVersion.ANY, 1, new byte[128 * 1024]);
                out.println("appended?!");
            }
            catch (final RuntimeException ex)
            {
                if (i == 0)
                {
                    out.println("too large: " + ex.getClass().getSimpleName());
                }
            }
            try
            {
                a.append(0, ExpectedVersion.ANY, 1, new byte[8]);
                out.println("appended?!");
            }
            catch (final RuntimeException ex)
            {
                if (i == 0)
                {
                    out.println("stream 0: " + ex.getClass().getSimpleName());
                }
            }
        }
        out.println("ok");
    }

    private static void processorClosedAfterClose(final Path dir, final PrintStream out)
    {
        final VarveDB db = VarveDB.open(config(dir));
        try (Appender appender = db.appender())
        {
            appender.append(1, ExpectedVersion.ANY, 1, new byte[8]);
        }
        final Processor p = db.processor("p", (e) -> { });
        p.poll(10);
        db.close();
        out.println("closed");
        try
        {
            p.close();
        }
        catch (final RuntimeException ex)
        {
            out.println("close: " + ex.getClass().getSimpleName());
        }
        out.println("ok");
    }

    /** Appenders dropped and collected while the store closes, again and again. */
    private static void gcDuringClose(final Path dir, final PrintStream out, final int rounds) throws Exception
    {
        for (int round = 0; round < rounds; round++)
        {
            final VarveDB db = VarveDB.open(config(dir));
            for (int i = 0; i < 300; i++)
            {
                final Appender a = db.appender();
                a.append(1 + (i % 50), ExpectedVersion.ANY, 1, new byte[8]);
                final Subscription s = db.subscription(VarveDB.START_POSITION);
                s.poll((e) -> { }, 1);
            }
            final Thread gc = new Thread(() ->
            {
                for (int i = 0; i < 5; i++)
                {
                    System.gc();
                }
            });
            gc.start();
            db.close();
            gc.join();
        }
        for (int i = 0; i < 10; i++)
        {
            System.gc();
            Thread.sleep(10);
        }
        out.println("ok");
    }

    /** A handler that fails on every poll (each failure counted as an error) while the store closes. */
    private static void pollErrorsDuringClose(final Path dir, final PrintStream out, final int rounds) throws Exception
    {
        for (int round = 0; round < rounds; round++)
        {
            final VarveDB db = VarveDB.open(config(dir));
            try (Appender a = db.appender())
            {
                a.append(1, ExpectedVersion.ANY, 1, new byte[8]);
            }
            final Thread[] pollers = new Thread[2];
            for (int t = 0; t < pollers.length; t++)
            {
                final Subscription s = db.subscription(VarveDB.START_POSITION);
                pollers[t] = new Thread(() ->
                {
                    while (true)
                    {
                        try
                        {
                            s.poll((e) ->
                            {
                                throw new IllegalStateException("x");
                            }, 1);
                        }
                        catch (final SubscriptionException ex)
                        {
                            // counted, again
                        }
                        catch (final StoreClosedException ex)
                        {
                            return;
                        }
                        catch (final RuntimeException ex)
                        {
                            if (db.isClosed())
                            {
                                return;
                            }
                        }
                    }
                });
                pollers[t].start();
            }
            Thread.sleep(5);
            db.close();
            for (final Thread t : pollers)
            {
                t.join(5000);
            }
        }
        out.println("ok");
    }

    /** A writer that appends on command: a line "append N" appends N events and answers the counters it sees. */
    private static void writerThenWait(final Path dir, final PrintStream out) throws Exception
    {
        final VarveDB db = VarveDB.open(config(dir));
        final Appender appender = db.appender();
        for (int i = 0; i < 100; i++)
        {
            appender.append(1, ExpectedVersion.ANY, 1, new byte[24]);
        }
        out.println("ready " + ProcessHandle.current().pid());
        final java.io.BufferedReader in = new java.io.BufferedReader(new java.io.InputStreamReader(System.in));
        String line;
        while ((line = in.readLine()) != null)
        {
            if (line.startsWith("append "))
            {
                final int n = Integer.parseInt(line.substring(7));
                int failed = 0;
                Throwable first = null;
                Throwable last = null;
                for (int i = 0; i < n; i++)
                {
                    try
                    {
                        appender.append(1, ExpectedVersion.ANY, 1, new byte[24]);
                    }
                    catch (final Throwable t)
                    {
                        failed++;
                        if (first == null)
                        {
                            first = t;
                        }
                        last = t;
                    }
                }
                if (failed == 0)
                {
                    out.println("appended " + db.streamVersion(1));
                }
                else
                {
                    out.println("failed " + failed + " of " + n + " appends, stream at " + db.streamVersion(1) +
                        ", first: " + first + ", last: " + last);
                }
            }
            else if (line.equals("counters"))
            {
                try
                {
                    final ProcessCounters c = db.counters();
                    out.println("counters " + (c == null ? "null" : Long.toString(c.total(CounterType.APPENDS))));
                }
                catch (final Throwable t)
                {
                    out.println("failed " + t);
                }
            }
            else if (line.equals("close"))
            {
                try
                {
                    appender.close();
                    db.close();
                    out.println("closed");
                }
                catch (final Throwable t)
                {
                    out.println("failed " + t);
                }
                break;
            }
        }
        out.println("ok");
    }

    /** A reader of varve.counters that takes a snapshot on command. */
    private static void readerThenWait(final Path dir, final PrintStream out) throws Exception
    {
        final VarveCounters counters = VarveCounters.open(dir);
        out.println("ready " + counters.snapshot().total(CounterType.APPENDS));
        final java.io.BufferedReader in = new java.io.BufferedReader(new java.io.InputStreamReader(System.in));
        String line;
        while ((line = in.readLine()) != null)
        {
            if (line.equals("snapshot"))
            {
                try
                {
                    final CountersSnapshot snapshot = counters.snapshot();
                    out.println("snapshot " + snapshot.total(CounterType.APPENDS));
                }
                catch (final Throwable t)
                {
                    out.println("failed " + t);
                }
            }
        }
        counters.close();
        out.println("ok");
    }

    /** Open (writer or read-only), say so, and hold the store until killed or stdin closes. */
    private static void openAndWait(final Path dir, final PrintStream out, final boolean readOnly) throws Exception
    {
        final VarveDB db = readOnly ? VarveDB.openReadOnly(dir) : VarveDB.open(config(dir));
        if (!readOnly)
        {
            final Appender appender = db.appender();
            appender.append(1, ExpectedVersion.ANY, 1, new byte[8]);
        }
        final ProcessCounters own = db.counters();
        out.println("ready " + (own == null ? -1 : own.region()));
        while (System.in.read() >= 0)
        {
            // held
        }
        db.close();
        out.println("ok");
    }

    /** A multi-process writer: appends n events, says so, holds the store until stdin closes. */
    private static void sharedWriter(final Path dir, final PrintStream out, final int n) throws Exception
    {
        final VarveConfig config = VarveConfig.builder(dir).segmentSize(64 * 1024).indexCapacity(4096)
            .indexBlocksPerChunk(64).multiProcess(true).build();
        try (VarveDB db = VarveDB.open(config); Appender appender = db.appender())
        {
            for (int i = 0; i < n; i++)
            {
                appender.append(1 + (i % 7), ExpectedVersion.ANY, 1, new byte[24]);
            }
            final ProcessCounters own = db.counters();
            out.println("ready " + own.region() + " " + own.role() + " " + own.total(CounterType.APPENDS));
            while (System.in.read() >= 0)
            {
                // held
            }
        }
        out.println("ok");
    }

    /** Threads checkpoint a processor and read counters while the store closes, again and again. */
    private static void checkpointDuringClose(final Path dir, final PrintStream out, final int rounds) throws Exception
    {
        for (int round = 0; round < rounds; round++)
        {
            final VarveDB db = VarveDB.open(config(dir));
            try (Appender a = db.appender())
            {
                for (int i = 0; i < 20; i++)
                {
                    a.append(1, ExpectedVersion.ANY, 1, new byte[8]);
                }
            }
            final Processor p = db.processor("cp", (e) -> { });
            final Subscription s = db.subscription(VarveDB.START_POSITION);
            final Thread[] threads = new Thread[3];
            threads[0] = new Thread(() ->
            {
                try
                {
                    while (true)
                    {
                        p.poll(1);
                        p.checkpoint();
                    }
                }
                catch (final RuntimeException ex)
                {
                    // closed
                }
            });
            threads[1] = new Thread(() ->
            {
                try
                {
                    while (true)
                    {
                        s.poll((e) -> { }, 1);
                        db.counters();
                    }
                }
                catch (final RuntimeException ex)
                {
                    // closed
                }
            });
            threads[2] = new Thread(() ->
            {
                try
                {
                    while (true)
                    {
                        try (Appender a = db.appender())
                        {
                            a.append(2, ExpectedVersion.ANY, 1, new byte[8]);
                        }
                    }
                }
                catch (final RuntimeException ex)
                {
                    // closed
                }
            });
            for (final Thread t : threads)
            {
                t.start();
            }
            Thread.sleep(2);
            db.close();
            for (final Thread t : threads)
            {
                t.join(10_000);
                if (t.isAlive())
                {
                    out.println("hung");
                    return;
                }
            }
        }
        out.println("ok");
    }

    /** Waits for the go file, opens read-only at once, says its region and its view, holds until stdin closes. */
    private static void openAtGo(final Path dir, final PrintStream out, final Path go) throws Exception
    {
        out.println("waiting");
        while (!java.nio.file.Files.exists(go))
        {
            Thread.onSpinWait();
        }
        final VarveDB db = VarveDB.openReadOnly(dir);
        final ProcessCounters own = db.counters();
        out.println("ready " + (own == null ? -1 : own.region()));
        while (System.in.read() >= 0)
        {
            // held
        }
        final ProcessCounters last = db.counters();
        out.println("region " + (last == null ? -1 : last.region()) + " pid " + (last == null ? -1 : last.pid()));
        db.close();
        out.println("ok");
    }
}
