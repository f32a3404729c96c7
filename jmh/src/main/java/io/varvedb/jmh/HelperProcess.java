package io.varvedb.jmh;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The fork's handle on an {@link AppendHelper} process: starts it with this JVM's own flags and class path, waits
 * until it appends, reads its count, and stops it.
 */
final class HelperProcess implements AutoCloseable
{
    private static final long START_TIMEOUT_NANOS = TimeUnit.SECONDS.toNanos(60);
    private static final long STOP_TIMEOUT_SECONDS = 60;

    private final Path work;
    private final Path log;
    private final HelperControl control;
    private final Process process;

    /**
     * Start the helper and return once it has made its first append.
     *
     * @param system    the system name, as the fork opened it.
     * @param directory the store the fork has open.
     * @param streamId  the helper's stream.
     * @param payload   payload bytes.
     */
    HelperProcess(final String system, final Path directory, final long streamId, final int payload)
    {
        try
        {
            work = Files.createTempDirectory("varve-jmh-helper-");
            log = work.resolve("helper.log");
            final Path controlFile = work.resolve("control");
            control = new HelperControl(controlFile);
            final List<String> command = new ArrayList<>();
            command.add(Paths.get(System.getProperty("java.home"), "bin", "java").toString());
            command.addAll(jvmFlags());
            command.add("-cp");
            command.add(System.getProperty("java.class.path"));
            command.add(AppendHelper.class.getName());
            command.add(system);
            command.add(directory.toString());
            command.add(controlFile.toString());
            command.add(Long.toString(streamId));
            command.add(Integer.toString(payload));
            process = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        }
        catch (final IOException ex)
        {
            throw new UncheckedIOException(ex);
        }
        awaitAppending();
    }

    /**
     * The fork's own JVM flags (the {@code @Fork} Agrona and Chronicle flags, heap size, and any
     * {@code -jvmArgsPrepend}), so the helper runs the same code under the same settings. Left out: JMH's
     * compiler-command file (JMH may delete it) and agents (a profiler or debugger attached twice would clash).
     */
    private static List<String> jvmFlags()
    {
        final List<String> flags = new ArrayList<>();
        for (final String flag : ManagementFactory.getRuntimeMXBean().getInputArguments())
        {
            if (!flag.startsWith("-XX:CompileCommandFile") && !flag.startsWith("-agent") &&
                !flag.startsWith("-javaagent"))
            {
                flags.add(flag);
            }
        }
        return flags;
    }

    private void awaitAppending()
    {
        final long deadline = System.nanoTime() + START_TIMEOUT_NANOS;
        while (control.state() != HelperControl.APPENDING)
        {
            if (!process.isAlive() || control.state() == HelperControl.FAILED)
            {
                throw failure("the helper process ended before appending");
            }
            if (System.nanoTime() - deadline > 0)
            {
                throw failure("the helper process did not start appending within 60 s");
            }
            Thread.onSpinWait();
        }
    }

    /**
     * @return the helper's appends so far; throws if it stopped appending on its own.
     */
    long count()
    {
        if (!process.isAlive() || control.state() != HelperControl.APPENDING)
        {
            throw failure("the helper process is no longer appending");
        }
        return control.count();
    }

    /**
     * Ask the helper to stop and wait until it has closed its store.
     *
     * @return the helper's final count of appends.
     */
    long stop()
    {
        control.requestStop();
        try
        {
            if (!process.waitFor(STOP_TIMEOUT_SECONDS, TimeUnit.SECONDS))
            {
                process.destroyForcibly();
                throw failure("the helper process did not stop within " + STOP_TIMEOUT_SECONDS + " s (killed)");
            }
        }
        catch (final InterruptedException ex)
        {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(ex);
        }
        if (process.exitValue() != 0 || control.state() != HelperControl.STOPPED)
        {
            throw failure("the helper process exited with status " + process.exitValue());
        }
        return control.count();
    }

    private IllegalStateException failure(final String what)
    {
        String output;
        try
        {
            output = Files.readString(log, StandardCharsets.UTF_8);
        }
        catch (final IOException ex)
        {
            output = "(no log: " + ex + ")";
        }
        return new IllegalStateException(what + "; its output:" + System.lineSeparator() + output);
    }

    /**
     * Kill the helper if it still runs (after a failure), and remove its control file and log.
     */
    @Override
    public void close()
    {
        if (process.isAlive())
        {
            process.destroyForcibly();
        }
        control.close();
        final File[] files = work.toFile().listFiles();
        if (files != null)
        {
            for (final File file : files)
            {
                file.delete();
            }
        }
        work.toFile().delete();
    }
}
