package io.varvedb.kafka.bench;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Wall time and CPU time over a measured stretch: this JVM's CPU (all its threads, GC and JIT included) and the
 * broker's process, when it runs in a process of its own. CPU per event is what a shared, noisy machine leaves
 * least disturbed: other tenants slow the wall clock, far less what each event costs.
 */
final class Meter
{
    /** Linux's USER_HZ, in which /proc/PID/stat counts CPU time. */
    private static final long TICK_NANOS = 10_000_000L;
    private static final com.sun.management.OperatingSystemMXBean OS =
        (com.sun.management.OperatingSystemMXBean)ManagementFactory.getOperatingSystemMXBean();

    private final long brokerPid;
    private long wall;
    private long cpu;
    private long brokerCpu;

    /** @param brokerPid the broker's process, or -1 if it runs in this JVM or elsewhere. */
    Meter(final long brokerPid)
    {
        this.brokerPid = brokerPid;
    }

    void start()
    {
        wall = System.nanoTime();
        cpu = OS.getProcessCpuTime();
        brokerCpu = processCpuNanos(brokerPid);
    }

    /** @return what passed since {@link #start()}. */
    Span stop()
    {
        final long brokerNow = processCpuNanos(brokerPid);
        return new Span(System.nanoTime() - wall, OS.getProcessCpuTime() - cpu,
            brokerPid < 0 || brokerNow < 0 || brokerCpu < 0 ? -1 : brokerNow - brokerCpu);
    }

    /**
     * @param wallNanos   elapsed.
     * @param cpuNanos    CPU time of this JVM.
     * @param brokerNanos CPU time of the broker's process; -1 if unknown.
     */
    record Span(long wallNanos, long cpuNanos, long brokerNanos)
    {
    }

    /** @return user plus system CPU time of a process, -1 if it cannot be read. */
    static long processCpuNanos(final long pid)
    {
        if (pid < 0)
        {
            return -1;
        }
        try
        {
            final String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
            // the command name, in parentheses, may hold spaces: fields are counted after its closing one
            final String[] fields = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
            return (Long.parseLong(fields[11]) + Long.parseLong(fields[12])) * TICK_NANOS;
        }
        catch (final IOException | RuntimeException ex)
        {
            return -1;
        }
    }
}
