package io.varvedb.jmh;

import com.sun.management.ThreadMXBean;

import javax.crypto.Cipher;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.SecretKeySpec;
import java.lang.management.ManagementFactory;
import java.security.GeneralSecurityException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A second look at what {@link EncryptionBenchmark} and {@link EncryptionKeyCacheBenchmark} measure, through the
 * appending and reading thread's own counters rather than the wall clock: its CPU time per event
 * ({@code ThreadMXBean.getCurrentThreadCpuTime}, which time spent descheduled on a loaded machine does not inflate)
 * and the bytes it allocated per event ({@code getCurrentThreadAllocatedBytes}: this thread's alone, not the JVM's, so
 * no background thread is counted). A {@code main}, not JMH:
 * <pre>
 * java $(java -cp jmh/target/benchmarks.jar io.varvedb.jmh.Flags) -cp jmh/target/benchmarks.jar \
 *     io.varvedb.jmh.EncryptionThreadCost [rounds]
 * </pre>
 * Per round, for 64 B and 1 KiB payloads, 1, 64 and 1,000 streams (round robin, fixed shuffled order, {@code ANY}),
 * clear then encrypted: a fresh store; {@code appends} appends to warm up, {@code appends} measured; a whole
 * {@code readAll} to warm up, one measured (every payload byte folded, as in the benchmarks). Prints each round, then
 * the median over the rounds. Then, for reference, the JDK's own {@code AES/GCM/NoPadding} on the same thread: one
 * message (a 44-byte header as authenticated data, then the payload) per {@code init} with a new nonce, as a store
 * would need, timed and counted the same way (what the engine's own allocation-free GCM was written to avoid).
 */
public final class EncryptionThreadCost
{
    private static final int[] PAYLOADS = {64, 1024};
    private static final int[] STREAMS = {1, 64, 1000};
    private static final String[] MODES = {"clear", "encrypted"};
    /** What was read, kept so that no read can be optimised away. */
    private static volatile long sink;

    private EncryptionThreadCost()
    {
    }

    /**
     * @param args optional: rounds (default 3).
     */
    public static void main(final String[] args)
    {
        final int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 3;
        final ThreadMXBean threads = (ThreadMXBean)ManagementFactory.getThreadMXBean();
        final Map<String, List<double[]>> results = new LinkedHashMap<>();
        for (int round = 1; round <= rounds; round++)
        {
            for (final int payload : PAYLOADS)
            {
                for (final int streams : STREAMS)
                {
                    for (final String mode : MODES)
                    {
                        final double[] r = measure(threads, mode, payload, streams);
                        final String key = String.format("%-9s %4d B %4d streams", mode, payload, streams);
                        results.computeIfAbsent(key, (k) -> new ArrayList<>()).add(r);
                        System.out.printf("round %d: %s%s%n", round, key, format(r));
                    }
                }
            }
        }
        System.out.printf("%nmedian of %d rounds: append wall/cpu ns, B | readAll wall/cpu ns, B (per event)%n",
            rounds);
        for (final Map.Entry<String, List<double[]>> e : results.entrySet())
        {
            final double[] median = new double[6];
            for (int i = 0; i < median.length; i++)
            {
                final int column = i;
                final double[] values = e.getValue().stream().mapToDouble((r) -> r[column]).sorted().toArray();
                median[i] = values[values.length / 2];
            }
            System.out.printf("%s%s%n", e.getKey(), format(median));
        }
        System.out.println();
        for (final int payload : PAYLOADS)
        {
            jdkGcm(threads, payload);
        }
    }

    private static void jdkGcm(final ThreadMXBean threads, final int payload)
    {
        try
        {
            final Cipher cipher = Cipher.getInstance("AES/GCM/NoPadding");
            final SecretKeySpec key = new SecretKeySpec(Bench.masterKey(), "AES");
            final byte[] nonce = new byte[12];
            final byte[] aad = new byte[44];
            final byte[] in = Bench.payload(payload);
            final byte[] out = new byte[payload + 16];
            final int messages = 200_000;
            for (int round = 0; round < 2; round++)
            {
                final long wall = System.nanoTime();
                final long cpu = threads.getCurrentThreadCpuTime();
                final long bytes = threads.getCurrentThreadAllocatedBytes();
                for (int i = 0; i < messages; i++)
                {
                    nonce[0] = (byte)i;
                    nonce[1] = (byte)(i >>> 8);
                    nonce[2] = (byte)(i >>> 16);
                    nonce[3] = (byte)round;
                    cipher.init(Cipher.ENCRYPT_MODE, key, new GCMParameterSpec(128, nonce));
                    cipher.updateAAD(aad);
                    cipher.doFinal(in, 0, payload, out, 0);
                }
                if (round == 1)
                {
                    System.out.printf("JDK AES/GCM/NoPadding, init per message, %4d B: %6.0f / %6.0f ns, %6.0f B%n",
                        payload, (double)(System.nanoTime() - wall) / messages,
                        (double)(threads.getCurrentThreadCpuTime() - cpu) / messages,
                        (double)(threads.getCurrentThreadAllocatedBytes() - bytes) / messages);
                }
            }
        }
        catch (final GeneralSecurityException ex)
        {
            throw new IllegalStateException(ex);
        }
    }

    private static String format(final double[] r)
    {
        return String.format(": append %7.0f / %7.0f ns, %6.0f B | readAll %6.0f / %6.0f ns, %6.0f B",
            r[0], r[1], r[2], r[3], r[4], r[5]);
    }

    /**
     * @return append wall ns, CPU ns, bytes; readAll wall ns, CPU ns, bytes; all per event.
     */
    private static double[] measure(final ThreadMXBean threads, final String mode, final int payload,
        final int streams)
    {
        final int appends = payload <= 64 ? 200_000 : 50_000;
        final Path directory = Bench.freshDirectory("threadcost-" + mode);
        final EventStore store = Systems.open(EncryptionBenchmark.system(mode), directory);
        try
        {
            final double[] result = new double[6];
            try (EventStore.Writer writer = store.writer(Bench.payload(payload)))
            {
                final StreamCursor cursor = new StreamCursor(streams, false);
                for (int i = 0; i < appends; i++)
                {
                    cursor.append(writer, 1);
                }
                final long wall = System.nanoTime();
                final long cpu = threads.getCurrentThreadCpuTime();
                final long bytes = threads.getCurrentThreadAllocatedBytes();
                for (int i = 0; i < appends; i++)
                {
                    cursor.append(writer, 1);
                }
                result[0] = (double)(System.nanoTime() - wall) / appends;
                result[1] = (double)(threads.getCurrentThreadCpuTime() - cpu) / appends;
                result[2] = (double)(threads.getCurrentThreadAllocatedBytes() - bytes) / appends;
            }
            try (EventStore.Reader reader = store.reader())
            {
                final long events = reader.readAll();
                final long wall = System.nanoTime();
                final long cpu = threads.getCurrentThreadCpuTime();
                final long bytes = threads.getCurrentThreadAllocatedBytes();
                if (reader.readAll() != events || events != 2L * appends)
                {
                    throw new IllegalStateException(mode + ": read " + events + " events of " + 2 * appends);
                }
                result[3] = (double)(System.nanoTime() - wall) / events;
                result[4] = (double)(threads.getCurrentThreadCpuTime() - cpu) / events;
                result[5] = (double)(threads.getCurrentThreadAllocatedBytes() - bytes) / events;
                sink += reader.digest();
            }
            return result;
        }
        finally
        {
            store.close();
            Bench.delete(directory);
        }
    }
}
