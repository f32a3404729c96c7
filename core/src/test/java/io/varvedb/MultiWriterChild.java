package io.varvedb;

import org.agrona.concurrent.UnsafeBuffer;

import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The writer processes of the multi-process tests (run through {@link ChildMain}). Every event's payload is its
 * unique id: process, thread and sequence in one long (8 bytes), padded. Each process prints, after the append
 * returned, {@code ack <id> <stream> <version>} per event (a batch: per event), {@code refused <id>} per conflict,
 * and {@code done} at the end; the parent checks every printed ack against the log.
 */
final class MultiWriterChild
{
    /** Hot streams every process races on. */
    static final int HOT_STREAMS = 3;
    /** Cold streams, spread over the processes' threads. */
    static final int COLD_STREAMS = 200;
    /** Pause between appends of a writer that runs until killed. */
    static final long PACE_NS = Long.getLong("varve.multiwriter.pace", 50_000);

    private MultiWriterChild()
    {
    }

    /** A codec that halts the JVM inside an append: after the claim, before the record is published. */
    static final Codec<String> HALTING = new Codec<>()
    {
        @Override
        public int maxEncodedLength(final String value)
        {
            return 16;
        }

        @Override
        public int encode(final String value, final org.agrona.MutableDirectBuffer buffer, final int maxLength)
        {
            System.out.println("halting");
            System.out.flush();
            Runtime.getRuntime().halt(9);
            return 0;
        }

        @Override
        public String decode(final org.agrona.DirectBuffer buffer, final int offset, final int length)
        {
            return "";
        }
    };

    static VarveConfig config(final Path dir)
    {
        return VarveConfig.builder(dir).segmentSize(64 * 1024).indexCapacity(2048).indexBlocksPerChunk(16)
            .multiProcess(true).checkpointIntervalMillis(20).build();
    }

    static long id(final int process, final int thread, final long sequence)
    {
        return ((long)process << 48) | ((long)thread << 40) | sequence;
    }

    /**
     * Race on hot and cold streams with every kind of expected version and with batches, {@code operations} per
     * thread (or until killed when negative).
     */
    static void write(final Path dir, final int process, final int threads, final int operations) throws Exception
    {
        final PrintStream out = new PrintStream(new FileOutputStream(FileDescriptor.out), false);
        final AtomicBoolean failed = new AtomicBoolean();
        try (VarveDB db = VarveDB.open(config(dir)))
        {
            out.println("opened " + ProcessHandle.current().pid());
            out.flush();
            final List<Thread> workers = new ArrayList<>();
            for (int t = 0; t < threads; t++)
            {
                final int thread = t;
                final Thread worker = new Thread(() ->
                {
                    try
                    {
                        run(db, process, thread, operations, out);
                    }
                    catch (final Throwable ex)
                    {
                        failed.set(true);
                        ex.printStackTrace();
                    }
                });
                workers.add(worker);
                worker.start();
            }
            for (final Thread worker : workers)
            {
                worker.join();
            }
        }
        synchronized (out)
        {
            out.println(failed.get() ? "failed" : "done");
            out.flush();
        }
    }

    private static void run(
        final VarveDB db, final int process, final int thread, final int operations, final PrintStream out)
    {
        final Appender appender = db.appender();
        final UnsafeBuffer payload = new UnsafeBuffer(ByteBuffer.allocateDirect(128));
        final EventBatch batch = new EventBatch();
        final ThreadLocalRandom random = ThreadLocalRandom.current();
        final StringBuilder line = new StringBuilder();
        long sequence = 0;
        for (int op = 0; operations < 0 || op < operations; op++)
        {
            final long stream = random.nextInt(4) < 3 ?
                1 + random.nextInt(HOT_STREAMS) : 1 + HOT_STREAMS + random.nextInt(COLD_STREAMS);
            final long known = db.streamVersion(stream);
            final ExpectedVersion expected = switch (random.nextInt(5))
            {
                case 0 -> ExpectedVersion.ANY;
                case 1 -> known == 0 ? ExpectedVersion.NO_STREAM : ExpectedVersion.exact(known);
                case 2 -> ExpectedVersion.exact(Math.max(1, known - 1));
                case 3 -> known == 0 ? ExpectedVersion.ANY : ExpectedVersion.STREAM_EXISTS;
                default -> ExpectedVersion.exact(known);
            };
            line.setLength(0);
            if (random.nextInt(6) == 0)
            {
                batch.clear();
                final int count = 2 + random.nextInt(3);
                final long[] ids = new long[count];
                for (int i = 0; i < count; i++)
                {
                    ids[i] = id(process, thread, ++sequence);
                    payload.putLong(0, ids[i]);
                    batch.add(7, payload, 0, 8 + random.nextInt(40));
                }
                try
                {
                    final long last = appender.appendBatch(stream, expected, batch);
                    for (int i = 0; i < count; i++)
                    {
                        line.append("ack ").append(ids[i]).append(' ').append(stream).append(' ')
                            .append(last - count + 1 + i).append('\n');
                    }
                }
                catch (final ConcurrencyConflictException ex)
                {
                    for (final long id : ids)
                    {
                        line.append("refused ").append(id).append('\n');
                    }
                }
            }
            else
            {
                final long id = id(process, thread, ++sequence);
                payload.putLong(0, id);
                try
                {
                    final long version = appender.append(stream, expected, 3, payload, 0, 8 + random.nextInt(60));
                    line.append("ack ").append(id).append(' ').append(stream).append(' ').append(version).append('\n');
                }
                catch (final ConcurrencyConflictException ex)
                {
                    line.append("refused ").append(id).append('\n');
                }
            }
            synchronized (out)
            {
                out.print(line);
                // flushed per append: a kill loses no line of an append that returned
                out.flush();
            }
            if (operations < 0)
            {
                // until killed: a steady pace, so a long kill run does not fill the disk
                java.util.concurrent.locks.LockSupport.parkNanos(PACE_NS);
            }
        }
    }

    /**
     * A read-only follower: subscribes to the whole log and prints {@code seen <count> <position>} every 20 ms.
     */
    static void follow(final Path dir) throws Exception
    {
        final PrintStream out = new PrintStream(new FileOutputStream(FileDescriptor.out), false);
        try (VarveDB db = VarveDB.openReadOnly(dir);
            Subscription subscription = db.subscription(VarveDB.START_POSITION))
        {
            final long[] seen = { 0, 0 };
            long lastPrint = 0;
            while (true)
            {
                subscription.poll((e) ->
                {
                    seen[0]++;
                    seen[1] = e.nextPosition();
                }, 1000);
                final long now = System.nanoTime();
                if (now - lastPrint > 20_000_000L)
                {
                    out.println("seen " + seen[0] + " " + seen[1]);
                    out.flush();
                    lastPrint = now;
                }
                Thread.onSpinWait();
            }
        }
    }

    /**
     * Join a store open in multi-process mode, then die (halt, as a kill would) in the middle of an append to
     * {@code stream}: after its CAS took the stream and its claim took log space, before it published.
     */
    static void haltInAppend(final Path dir, final long stream)
    {
        final VarveDB db = VarveDB.open(config(dir));
        final Appender appender = db.appender();
        appender.append(stream, ExpectedVersion.exact(db.streamVersion(stream)), 1, "x", HALTING);
    }

    /**
     * Create {@code count} new streams (ids from {@code first}, spread over the table by the hash) in a store with
     * a table of several allocation units, one event each, printing {@code created <id>} per stream.
     */
    static void create(final Path dir, final long first, final int count)
    {
        final PrintStream out = new PrintStream(new FileOutputStream(FileDescriptor.out), false);
        try (VarveDB db = VarveDB.open(VarveConfig.builder(dir).segmentSize(1 << 20).indexCapacity(1 << 16)
            .indexBlocksPerChunk(1024).multiProcess(true).build()))
        {
            final Appender appender = db.appender();
            for (long id = first; id < first + count; id++)
            {
                appender.append(id, ExpectedVersion.NO_STREAM, 1, new byte[]{ (byte)id });
                out.println("created " + id);
            }
            out.println("done");
            out.flush();
        }
    }
}
