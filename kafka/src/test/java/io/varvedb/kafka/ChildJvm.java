package io.varvedb.kafka;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * A child JVM of the crash tests, started the way core's multi-process tests start theirs (this JVM's java and
 * class path, Agrona's {@code --add-exports} flag), cheap to start (C1 only, small heap), and SIGKILLed by
 * {@link #kill()}. Its stdout lines are collected as they come: the parent's crash-proof record of what the child
 * did; its stderr goes to a file, shown when something fails. It exits when its stdin closes, so none outlives the
 * test JVM.
 */
final class ChildJvm implements AutoCloseable
{
    private static final String AGRONA_FLAG = "--add-exports=java.base/jdk.internal.misc=ALL-UNNAMED";

    final Process process;
    final long startedNs = System.nanoTime();
    private final Path stderr;
    private final List<String> lines = Collections.synchronizedList(new ArrayList<>());
    /** When each line's first word was first printed (nanoTime). */
    private final java.util.Map<String, Long> firstSeenNs = new java.util.concurrent.ConcurrentHashMap<>();
    private final Thread reader;

    private ChildJvm(final Process process, final Path stderr)
    {
        this.process = process;
        this.stderr = stderr;
        this.reader = new Thread(() ->
        {
            try (BufferedReader in = new BufferedReader(new InputStreamReader(process.getInputStream(),
                StandardCharsets.US_ASCII)))
            {
                for (String line = in.readLine(); line != null; line = in.readLine())
                {
                    firstSeenNs.putIfAbsent(line.split(" ", 2)[0], System.nanoTime());
                    lines.add(line);
                }
            }
            catch (final IOException ignore)
            {
                // it died
            }
        }, "child-stdout-" + process.pid());
        reader.setDaemon(true);
        reader.start();
    }

    /**
     * @param stderr where its stderr goes.
     * @param main   its main class (in this module's test classes).
     * @param args   its arguments.
     * @return the started child.
     * @throws IOException if it cannot be started.
     */
    static ChildJvm start(final Path stderr, final Class<?> main, final String... args) throws IOException
    {
        final List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        command.add(AGRONA_FLAG);
        command.add("-XX:TieredStopAtLevel=1");
        command.add("-Xshare:auto");
        command.add("-Xmx256m");
        // -Dvarve.kafka.childJvmArgs="..." for a run that needs more of the children (their Kafka clients' debug
        // logs, say: -Dorg.slf4j.simpleLogger.log.org.apache.kafka.clients.producer=debug)
        final String extra = System.getProperty("varve.kafka.childJvmArgs", "").trim();
        if (!extra.isEmpty())
        {
            command.addAll(List.of(extra.split("\\s+")));
        }
        command.add("-cp");
        command.add(System.getProperty("java.class.path"));
        command.add(main.getName());
        command.addAll(List.of(args));
        return new ChildJvm(new ProcessBuilder(command).redirectError(stderr.toFile()).start(), stderr);
    }

    /** @return a copy of the lines it printed so far. */
    List<String> lines()
    {
        synchronized (lines)
        {
            return new ArrayList<>(lines);
        }
    }

    /** @return the lines so far that start with {@code prefix + " "}, or equal it. */
    List<String> lines(final String prefix)
    {
        final List<String> found = new ArrayList<>();
        for (final String line : lines())
        {
            if (line.equals(prefix) || line.startsWith(prefix + " "))
            {
                found.add(line);
            }
        }
        return found;
    }

    /** @return ms from its start to the first line whose first word is {@code word}, -1 if none yet. */
    long msUntil(final String word)
    {
        final Long seen = firstSeenNs.get(word);
        return seen == null ? -1 : TimeUnit.NANOSECONDS.toMillis(seen - startedNs);
    }

    /** @return the last line starting with {@code prefix + " "}, or null. */
    String last(final String prefix)
    {
        final List<String> found = lines(prefix);
        return found.isEmpty() ? null : found.get(found.size() - 1);
    }

    /**
     * Wait until it prints a line starting with {@code prefix}.
     *
     * @return false if it did not within the timeout; a child that dies first fails the test.
     */
    boolean await(final String prefix, final long timeoutMs) throws InterruptedException
    {
        final long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMs);
        while (lines(prefix).isEmpty())
        {
            if (!process.isAlive())
            {
                reader.join(1000);
                if (!lines(prefix).isEmpty())
                {
                    return true;
                }
                fail("child " + process.pid() + " died before saying '" + prefix + "': " + describe());
            }
            if (System.nanoTime() > deadline)
            {
                return false;
            }
            Thread.sleep(2);
        }
        return true;
    }

    /** Fails the test if it died (on its own) or said it failed. */
    void assertHealthy()
    {
        if (!process.isAlive() || !lines("failed").isEmpty())
        {
            fail("child " + process.pid() + " failed: " + describe());
        }
    }

    /** Fails the test if it said it failed (before it was killed). */
    void assertSaidNoFailure()
    {
        if (!lines("failed").isEmpty())
        {
            fail("child " + process.pid() + " failed: " + describe());
        }
    }

    /** SIGKILL it (what {@link Process#destroyForcibly()} sends on Linux) and wait until it is gone. */
    void kill() throws InterruptedException
    {
        process.destroyForcibly();
        assertTrue(process.waitFor(30, TimeUnit.SECONDS), "child " + process.pid() + " outlived SIGKILL");
        reader.join(5000);
    }

    /** Wait for it to exit on its own. */
    int waitFor(final long timeoutMs) throws InterruptedException
    {
        assertTrue(process.waitFor(timeoutMs, TimeUnit.MILLISECONDS), "child " + process.pid() + " did not exit: " +
            describe());
        reader.join(5000);
        return process.exitValue();
    }

    /** @return its exit state, last lines and stderr, for a failure message. */
    String describe()
    {
        final List<String> all = lines();
        final String exit = process.isAlive() ? "alive" : "exit " + process.exitValue();
        String err;
        try
        {
            err = Files.exists(stderr) ? Files.readString(stderr, StandardCharsets.UTF_8) : "";
        }
        catch (final IOException ex)
        {
            err = "(cannot read " + stderr + ": " + ex + ")";
        }
        if (err.length() > 20_000)
        {
            err = "..." + err.substring(err.length() - 20_000);
        }
        return exit + ", last lines " + all.subList(Math.max(0, all.size() - 10), all.size()) + ", stderr:\n" + err;
    }

    @Override
    public void close() throws InterruptedException
    {
        if (process.isAlive())
        {
            process.destroyForcibly();
            process.waitFor(30, TimeUnit.SECONDS);
        }
    }
}
