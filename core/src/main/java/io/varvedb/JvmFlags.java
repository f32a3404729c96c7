package io.varvedb;

import org.agrona.UnsafeApi;

/**
 * The check, once per JVM, that Agrona can reach {@code jdk.internal.misc.Unsafe}: without
 * {@code --add-exports java.base/jdk.internal.misc=...} the first use of any Agrona buffer fails with an
 * {@code IllegalAccessError}, and every later one with a {@code NoClassDefFoundError}, neither of which names the fix.
 */
final class JvmFlags
{
    private JvmFlags()
    {
    }

    /**
     * @throws JvmFlagMissingException if the JVM lacks the flag Agrona needs; a read of a constant after the first
     *                                 call.
     */
    static void check()
    {
        final JvmFlagMissingException missing = Holder.MISSING;
        if (missing != null)
        {
            // a fresh exception per open: its stack trace shows the caller's open, the cause Agrona's first failure
            throw new JvmFlagMissingException(missing.flag(), missing.getMessage(), missing.getCause());
        }
    }

    /** Initialised on the first open, and only once: the JVM's exports do not change after it started. */
    private static final class Holder
    {
        static final JvmFlagMissingException MISSING = probe();
    }

    private static JvmFlagMissingException probe()
    {
        try
        {
            // the first call initialises UnsafeApi, which is where Agrona touches jdk.internal.misc.Unsafe
            UnsafeApi.addressSize();
            return null;
        }
        catch (final IllegalAccessError | ExceptionInInitializerError | NoClassDefFoundError ex)
        {
            final Module agrona;
            try
            {
                agrona = Class.forName("org.agrona.UnsafeApi", false, JvmFlags.class.getClassLoader()).getModule();
            }
            catch (final ClassNotFoundException | LinkageError notThere)
            {
                // Agrona itself is missing from the class path: not a flag; its first use says so
                return null;
            }
            if (Object.class.getModule().isExported("jdk.internal.misc", agrona))
            {
                // the package is reachable, so the failure is something else: Agrona's own error speaks for it
                return null;
            }
            final String target = agrona.isNamed() ? agrona.getName() : "ALL-UNNAMED";
            final String flag = "--add-exports java.base/jdk.internal.misc=" + target;
            return new JvmFlagMissingException(flag, "VarveDB needs the JVM flag " + flag + " (Agrona, which " +
                "VarveDB uses to map its files, reads jdk.internal.misc.Unsafe, which this JVM does not export to it)." +
                " Add it to the java command line; for tests, to Maven Surefire's <argLine>; for mvn exec:java, to " +
                "MAVEN_OPTS or .mvn/jvm.config; for java -jar, to the jar's manifest as the entry " +
                "'Add-Exports: java.base/jdk.internal.misc'. See \"Use it in your project\" in VarveDB's README.", ex);
        }
    }
}
