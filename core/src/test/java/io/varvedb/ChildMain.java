package io.varvedb;

import org.agrona.concurrent.UnsafeBuffer;

import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Entry point of the child JVMs the multi-process tests start. Each mode prints one line per fact the parent
 * checks; stdout is the parent's crash-proof record of what the child was told.
 */
public final class ChildMain
{
    private ChildMain()
    {
    }

    public static void main(final String[] args) throws Exception
    {
        final Path dir = Path.of(args[1]);
        switch (args[0])
        {
            case "open-writer" -> openWriter(dir);
            case "multi-writer" -> MultiWriterChild.write(dir, Integer.parseInt(args[2]), Integer.parseInt(args[3]),
                Integer.parseInt(args[4]));
            case "multi-follow" -> MultiWriterChild.follow(dir);
            case "multi-create" -> MultiWriterChild.create(dir, Long.parseLong(args[2]), Integer.parseInt(args[3]));
            case "readme-checkout" -> ReadmeExampleTest.checkout(dir, Long.parseLong(args[2]));
            case "multi-halt-in-append" -> MultiWriterChild.haltInAppend(dir, Long.parseLong(args[2]));
            case "open-mode" -> openMode(dir, Boolean.parseBoolean(args[2]));
            case "open-announced" -> openAnnounced(dir);
            case "append-forever" -> appendForever(dir, Integer.parseInt(args[2]), Durability.valueOf(args[3]));
            case "follow" -> follow(dir, Long.parseLong(args[2]));
            case "read-all" -> readAll(dir, args.length > 2 && args[2].equals("append"));
            case "process" -> process(dir);
            case "process-from-now" -> processFromNow(dir, args[2]);
            case "subscribe" -> subscribe(dir, Integer.parseInt(args[2]));
            case "projection" -> ProjectionTest.child(dir, Path.of(args[2]), args[3]);
            case "open-without-flag" -> openWithoutFlag(dir, args.length > 2 && args[2].equals("agrona-first"));
            case "open-close-cycles" -> MappingLeakTest.cycles(dir, Integer.parseInt(args[2]), Integer.parseInt(args[3]));
            case "append-ids" -> ExactlyOnceCrashTest.appendIds(dir, Long.parseLong(args[2]),
                Boolean.parseBoolean(args[3]));
            case "race-ids" -> ExactlyOnceCrashTest.raceIds(dir, Integer.parseInt(args[2]));
            case "halt-in-id-append" -> ExactlyOnceCrashTest.haltInIdAppend(dir, Long.parseLong(args[2]));
            case "names-forever" -> NamedStreamProcessTest.createForever(dir, Durability.valueOf(args[2]));
            case "names-shared" -> NamedStreamProcessTest.createShared(dir);
            case "scavenge-loop" -> ScavengeProcessTest.scavengeLoop(dir);
            case "replace-on-command" -> ScavengeProcessTest.replaceOnCommand(dir);
            case "scavenge-crash" -> ScavengeCrashTest.crashLoop(dir, Long.parseLong(args[2]));
            case "enc-shred" -> EncryptionCrashTest.shredChild(dir, Long.parseLong(args[2]));
            case "enc-rotate" -> EncryptionCrashTest.rotateChild(dir, Integer.parseInt(args[2]));
            case "enc-race" -> EncryptionCrashTest.raceChild(dir, Integer.parseInt(args[2]));
            case "counters-child" -> CountersTest.child(dir, Integer.parseInt(args[2]), Integer.parseInt(args[3]));
            default -> throw new IllegalArgumentException(args[0]);
        }
    }

    private static void openWriter(final Path dir)
    {
        try (VarveDB db = VarveDB.open(TestStores.small(dir)))
        {
            System.out.println("opened " + db.streamCount());
        }
        catch (final StoreLockedException ex)
        {
            System.out.println("locked: " + ex.getMessage());
        }
    }

    /** Opens for writing in the given mode, says so, and holds the store until stdin closes. */
    private static void openMode(final Path dir, final boolean multi) throws java.io.IOException
    {
        try (VarveDB db = VarveDB.open(VarveConfig.builder(dir).segmentSize(TestStores.SEGMENT).indexCapacity(1024)
            .indexBlocksPerChunk(16).multiProcess(multi).build()))
        {
            System.out.println("opened " + ProcessHandle.current().pid());
            System.out.flush();
            while (System.in.read() >= 0)
            {
                // held until the parent closes our stdin
            }
        }
        catch (final StoreLockedException ex)
        {
            System.out.println("locked: " + ex.getMessage());
        }
    }

    /** Says "opening" and flushes, then opens the store for writing (recovering it) and says "opened". */
    private static void openAnnounced(final Path dir)
    {
        System.out.println("opening");
        System.out.flush();
        try (VarveDB db = VarveDB.open(TestStores.small(dir)))
        {
            System.out.println("opened " + db.streamCount());
        }
    }

    /** Appends from several threads until killed; prints "ack stream version id" after each append returns. */
    private static void appendForever(final Path dir, final int threads, final Durability durability)
        throws InterruptedException
    {
        final VarveDB db = VarveDB.open(VarveConfig.builder(dir).segmentSize(TestStores.SEGMENT).indexCapacity(4096)
            .indexBlocksPerChunk(64).durability(durability).flushIntervalMicros(500)
            .checkpointIntervalMillis(20).build());
        final PrintStream out = new PrintStream(new java.io.FileOutputStream(java.io.FileDescriptor.out), false);
        final List<Thread> workers = new ArrayList<>();
        for (int t = 0; t < threads; t++)
        {
            final int threadId = t;
            final Thread worker = new Thread(() ->
            {
                final Appender appender = db.appender();
                final UnsafeBuffer payload = new UnsafeBuffer(ByteBuffer.allocateDirect(256));
                final EventBatch batch = new EventBatch();
                long id = ((long)threadId << 40) + db.tailPosition();
                final java.util.SplittableRandom random = new java.util.SplittableRandom(threadId);
                while (true)
                {
                    final long stream = 1 + random.nextInt(50);
                    if (random.nextInt(8) == 0)
                    {
                        batch.clear();
                        final int size = 2 + random.nextInt(3);
                        final long firstId = id;
                        for (int i = 0; i < size; i++)
                        {
                            batch.add(3, payload, 0, CrashPayload.fill(payload, id++));
                        }
                        final long last = appender.appendBatch(stream, ExpectedVersion.ANY, batch);
                        synchronized (out)
                        {
                            for (int i = 0; i < size; i++)
                            {
                                out.println("ack " + stream + " " + (last - size + 1 + i) + " " + (firstId + i));
                            }
                            out.flush();
                        }
                    }
                    else
                    {
                        final int length = CrashPayload.fill(payload, id);
                        final long version = appender.append(stream, ExpectedVersion.ANY, 3, payload, 0, length);
                        final boolean durable = random.nextInt(16) == 0;
                        if (durable)
                        {
                            appender.awaitDurable(appender.lastPosition());
                        }
                        synchronized (out)
                        {
                            out.println((durable ? "durable " : "ack ") + stream + " " + version + " " + id);
                            out.flush();
                        }
                        id++;
                    }
                }
            });
            worker.setDaemon(true);
            workers.add(worker);
            worker.start();
        }
        for (final Thread worker : workers)
        {
            worker.join();
        }
    }

    /** Follows a store read-only, printing each event, until it has seen {@code count} events. */
    private static void follow(final Path dir, final long count) throws InterruptedException
    {
        try (VarveDB db = VarveDB.openReadOnly(dir))
        {
            System.out.println("following");
            System.out.flush();
            long position = 0;
            long seen = 0;
            final long[] next = { 0 };
            final long deadline = System.nanoTime() + 60_000_000_000L;
            while (seen < count && System.nanoTime() < deadline)
            {
                final int read = db.readAll(position, 100, (e) ->
                {
                    System.out.println("event " + e.streamId() + " " + e.version() + " " + e.payload().getLong(0));
                    next[0] = e.nextPosition();
                });
                seen += read;
                position = next[0];
                if (read == 0)
                {
                    Thread.sleep(1);
                }
            }
            System.out.println("done " + seen);
        }
    }

    /** Runs a checkpointing processor that prints each handled position, slowly, until killed. */
    private static void process(final Path dir) throws InterruptedException
    {
        final VarveDB db = VarveDB.openReadOnly(dir);
        final Processor processor = db.processor("killed", (e) ->
        {
            System.out.println(e.position());
            System.out.flush();
        }, ProcessorOptions.defaults().checkpointEveryEvents(1000).checkpointIntervalMillis(60_000));
        while (true)
        {
            processor.poll(10);
            Thread.sleep(0, 1000);
        }
    }

    /**
     * Creates a processor that starts from now, polls it without ever checkpointing, says "started POSITION" and
     * goes on polling until killed.
     */
    private static void processFromNow(final Path dir, final String name) throws InterruptedException
    {
        final VarveDB db = VarveDB.openReadOnly(dir);
        final Processor processor = db.processor(name, (e) -> { },
            ProcessorOptions.defaults().startPosition(VarveDB.FROM_NOW).checkpointEveryEvents(Integer.MAX_VALUE)
                .checkpointIntervalMillis(86_400_000L));
        System.out.println("started " + processor.position());
        System.out.flush();
        while (true)
        {
            processor.poll(10);
            Thread.sleep(1);
        }
    }

    /** Subscribes read-only from now, printing each event's payload id, until {@code count} events arrived. */
    private static void subscribe(final Path dir, final int count) throws InterruptedException
    {
        try (VarveDB db = VarveDB.openReadOnly(dir))
        {
            final java.util.concurrent.CountDownLatch done = new java.util.concurrent.CountDownLatch(count);
            try (RunningSubscription ignored = db.subscribeToAll(VarveDB.FROM_NOW, (e) ->
            {
                System.out.println("event " + e.payload().getLong(0));
                done.countDown();
            }))
            {
                System.out.println("subscribed");
                System.out.flush();
                if (!done.await(60, java.util.concurrent.TimeUnit.SECONDS))
                {
                    System.out.println("timeout");
                }
            }
            System.out.println("done");
        }
    }

    /** Reads a whole store, checking it, and optionally appends; for the small-heap test. */
    private static void readAll(final Path dir, final boolean append)
    {
        try (VarveDB db = append ? VarveDB.open(TestStores.small(dir)) : VarveDB.openReadOnly(dir))
        {
            final long[] count = { 0 };
            final long[] next = { 0 };
            long position = 0;
            int read;
            do
            {
                read = db.readAll(position, 10_000, (e) ->
                {
                    count[0]++;
                    next[0] = e.nextPosition();
                });
                position = next[0];
            }
            while (read > 0);
            long streamEvents = 0;
            for (long stream = 1; stream <= db.streamCount(); stream++)
            {
                final long[] expectedVersion = { 1 };
                streamEvents += db.readStream(stream, 1, Integer.MAX_VALUE, (e) ->
                {
                    if (e.version() != expectedVersion[0]++)
                    {
                        throw new IllegalStateException("version gap in stream " + e.streamId());
                    }
                });
            }
            if (append)
            {
                db.appender().append(1, ExpectedVersion.exact(db.streamVersion(1)), 1, new byte[8]);
            }
            final Runtime runtime = Runtime.getRuntime();
            System.out.println("events " + count[0] + " streamEvents " + streamEvents + " clean " +
                db.openedCleanly() + " maxHeapMiB " + runtime.maxMemory() / (1024 * 1024));
        }
    }

    /**
     * Started without the Agrona flag: prints what each way of opening throws, one line each. With
     * {@code agrona-first}, an Agrona buffer is used (and fails) first, so the open meets Agrona's later error.
     */
    private static void openWithoutFlag(final Path dir, final boolean agronaFirst)
    {
        if (agronaFirst)
        {
            try
            {
                new UnsafeBuffer(new byte[8]);
                System.out.println("agrona works");
            }
            catch (final Throwable ex)
            {
                System.out.println("agrona: " + ex.getClass().getName());
            }
        }
        for (int attempt = 0; attempt < 2; attempt++)
        {
            report("open", () -> VarveDB.open(dir).close());
            report("openReadOnly", () -> VarveDB.openReadOnly(dir).close());
        }
    }

    private static void report(final String what, final Runnable open)
    {
        try
        {
            open.run();
            System.out.println(what + ": opened");
        }
        catch (final Throwable ex)
        {
            System.out.println(what + ": " + ex.getClass().getName() + ": " +
                String.valueOf(ex.getMessage()).replace('\n', ' '));
        }
    }
}
