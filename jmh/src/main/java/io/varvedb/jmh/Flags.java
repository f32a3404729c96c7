package io.varvedb.jmh;

/**
 * JVM flags every benchmark fork needs, as compile-time constants so {@code @Fork(jvmArgsAppend = ...)} can use
 * them. They mirror the parent pom's {@code varve.jvm.flags}: Agrona 2.x reads {@code jdk.internal.misc}, and
 * Chronicle Bytes (and lmdbjava's optimal buffer proxy) reach into {@code java.nio} and friends.
 */
public final class Flags
{
    /** Agrona 2.x. */
    public static final String AGRONA = "--add-exports=java.base/jdk.internal.misc=ALL-UNNAMED";
    /** Chronicle Bytes, part 1. */
    public static final String OPEN_REFLECT = "--add-opens=java.base/java.lang.reflect=ALL-UNNAMED";
    /** Chronicle Bytes, part 2. */
    public static final String OPEN_LANG = "--add-opens=java.base/java.lang=ALL-UNNAMED";
    /** Chronicle Bytes and lmdbjava. */
    public static final String OPEN_NIO = "--add-opens=java.base/java.nio=ALL-UNNAMED";
    /** Chronicle Bytes and lmdbjava. */
    public static final String OPEN_NIO_CH = "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED";
    /** Chronicle Bytes. */
    public static final String OPEN_IO = "--add-opens=java.base/java.io=ALL-UNNAMED";
    /** Chronicle Bytes. */
    public static final String OPEN_UTIL = "--add-opens=java.base/java.util=ALL-UNNAMED";
    /** Chronicle Bytes. */
    public static final String EXPORT_REF = "--add-exports=java.base/jdk.internal.ref=ALL-UNNAMED";
    /** Chronicle Bytes. */
    public static final String EXPORT_NIO_CH = "--add-exports=java.base/sun.nio.ch=ALL-UNNAMED";
    /** Chronicle Bytes. */
    public static final String EXPORT_MISC = "--add-exports=jdk.unsupported/sun.misc=ALL-UNNAMED";
    /** Chronicle Core's documented switch: no attempt to reach its analytics host (there is no network here). */
    public static final String NO_ANALYTICS = "-Dchronicle.analytics.disable=true";
    /** Same heap for every system, so GC pressure from a peer's allocations is measured on equal terms. */
    public static final String HEAP_MIN = "-Xms1g";
    /** Same heap for every system. */
    public static final String HEAP_MAX = "-Xmx1g";

    /** Every flag above, in order: what a JVM started outside JMH (the fixed-rate latency harness) needs. */
    private static final String[] ALL = {AGRONA, OPEN_REFLECT, OPEN_LANG, OPEN_NIO, OPEN_NIO_CH, OPEN_IO, OPEN_UTIL,
        EXPORT_REF, EXPORT_NIO_CH, EXPORT_MISC, NO_ANALYTICS, HEAP_MIN, HEAP_MAX};

    private Flags()
    {
    }

    /**
     * Print the flags one per line, for scripts that start {@link FixedRateLatency} themselves
     * ({@code java -cp benchmarks.jar io.varvedb.jmh.Flags}), so the list lives only here.
     *
     * @param args none.
     */
    public static void main(final String[] args)
    {
        for (final String flag : ALL)
        {
            System.out.println(flag);
        }
    }
}
