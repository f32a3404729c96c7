package io.varvedb.jmh;

import org.openjdk.jmh.infra.BenchmarkParams;
import org.openjdk.jmh.infra.IterationParams;
import org.openjdk.jmh.profile.InternalProfiler;
import org.openjdk.jmh.results.AggregationPolicy;
import org.openjdk.jmh.results.IterationResult;
import org.openjdk.jmh.results.Result;
import org.openjdk.jmh.results.ScalarResult;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;

/**
 * CPU spent per iteration, beside the score: {@code -prof io.varvedb.jmh.CpuProfiler}.
 * <p>
 * A throughput on a machine with a spare core says nothing about cost: a system that hands work to a background
 * thread (our pre-allocator, flusher, checkpointer) scores per appending thread, not per core. This profiler reports
 * <ul>
 *   <li>{@code cpu.cores}: the fork's process CPU time (every thread: benchmark, background agents, GC, JIT) over
 *       the iteration's wall time, i.e. how many cores the system kept busy;</li>
 *   <li>{@code cpu.machine}: the whole machine's busy time from {@code /proc/stat} over wall time, which adds what
 *       the process made the kernel do elsewhere (write-back threads) and any helper process;</li>
 *   <li>{@code cpu.ns/op}: process CPU nanoseconds per benchmark operation.</li>
 * </ul>
 * CPU per event is {@code cpu.cores * 1e9 / (events per second)}; {@code summarize.py} computes it for every row,
 * also for the {@code @AuxCounters} benchmarks whose operations are not events.
 */
public final class CpuProfiler implements InternalProfiler
{
    private static final Path PROC_STAT = Paths.get("/proc/stat");
    /** Fields of the "cpu" line of /proc/stat that count busy time: user, nice, system, irq, softirq, steal. */
    private static final int[] BUSY_FIELDS = {1, 2, 3, 6, 7, 8};
    /** Clock ticks per second of /proc/stat; USER_HZ is 100 on every Linux this runs on. */
    private static final double TICKS_PER_SECOND = 100.0;
    private static final double NANOS_PER_SECOND = 1e9;

    private final com.sun.management.OperatingSystemMXBean os =
        (com.sun.management.OperatingSystemMXBean)ManagementFactory.getOperatingSystemMXBean();
    private long startCpuNanos;
    private long startWallNanos;
    private long startBusyTicks;

    @Override
    public String getDescription()
    {
        return "process and machine CPU time per iteration (cores busy, ns per operation)";
    }

    @Override
    public void beforeIteration(final BenchmarkParams benchmarkParams, final IterationParams iterationParams)
    {
        startBusyTicks = machineBusyTicks();
        startCpuNanos = os.getProcessCpuTime();
        startWallNanos = System.nanoTime();
    }

    @Override
    public Collection<? extends Result> afterIteration(
        final BenchmarkParams benchmarkParams, final IterationParams iterationParams, final IterationResult result)
    {
        final long wallNanos = System.nanoTime() - startWallNanos;
        final long cpuNanos = os.getProcessCpuTime() - startCpuNanos;
        final long busyTicks = machineBusyTicks() - startBusyTicks;
        final List<Result> results = new ArrayList<>();
        if (wallNanos > 0)
        {
            results.add(new ScalarResult("cpu.cores", (double)cpuNanos / wallNanos, "cores", AggregationPolicy.AVG));
            if (startBusyTicks >= 0 && busyTicks >= 0)
            {
                results.add(new ScalarResult("cpu.machine", busyTicks / TICKS_PER_SECOND * NANOS_PER_SECOND / wallNanos,
                    "cores", AggregationPolicy.AVG));
            }
        }
        final long ops = result.getMetadata() == null ? 0 : result.getMetadata().getAllOps();
        if (ops > 0)
        {
            results.add(new ScalarResult("cpu.ns/op", (double)cpuNanos / ops, "ns/op", AggregationPolicy.AVG));
        }
        return results;
    }

    /**
     * @return busy ticks of all cores since boot, or -1 where /proc/stat cannot be read.
     */
    private static long machineBusyTicks()
    {
        try
        {
            final String first = Files.readAllLines(PROC_STAT, StandardCharsets.US_ASCII).get(0);
            final String[] fields = first.trim().split("\\s+");
            long busy = 0;
            for (final int field : BUSY_FIELDS)
            {
                busy += Long.parseLong(fields[field]);
            }
            return busy;
        }
        catch (final IOException | RuntimeException ex)
        {
            return -1;
        }
    }
}
