package io.varvedb.tools;

import io.varvedb.Appender;
import io.varvedb.ExpectedVersion;
import io.varvedb.StoreLockedException;
import io.varvedb.VarveDB;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A second JVM that holds a store open for writing, so tests can see what the tools do beside a writer of
 * another process (a file lock held in this JVM behaves differently: see {@link #probe}).
 * <p>
 * {@code main DIR EVENTS} opens DIR for writing, appends EVENTS events to stream 1, prints {@code ready}, and
 * then, for each {@code append} line on stdin, appends one more event and prints its version; {@code close}
 * (or the end of stdin) closes the store. {@code main --probe DIR} tries to open DIR for writing and prints
 * {@code locked} or {@code opened}.
 */
final class WriterProcess implements AutoCloseable
{
    private static final String AGRONA_FLAG = "--add-exports=java.base/jdk.internal.misc=ALL-UNNAMED";
    private static final long TIMEOUT_SECONDS = 60;

    private final Process process;
    private final BufferedReader out;
    private final PrintWriter in;
    private boolean killed;

    private WriterProcess(final Process process)
    {
        this.process = process;
        this.out = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
        this.in = new PrintWriter(process.getOutputStream(), true, StandardCharsets.UTF_8);
    }

    /**
     * Start a writer and wait until it has appended its events.
     *
     * @param dir    the store.
     * @param events events to append to stream 1 before it reports ready.
     * @return the running writer.
     */
    static WriterProcess start(final Path dir, final int events) throws IOException
    {
        final WriterProcess writer = new WriterProcess(java(dir.toString(), Integer.toString(events)));
        writer.expect("ready");
        return writer;
    }

    /**
     * @param dir a store.
     * @return true if another process cannot open it for writing now.
     */
    static boolean lockedForOtherProcesses(final Path dir) throws Exception
    {
        final Process probe = java("--probe", dir.toString());
        final String answer = new String(probe.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
        final String errors = new String(probe.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(probe.waitFor(TIMEOUT_SECONDS, TimeUnit.SECONDS), "the probe did not finish");
        assertTrue(answer.equals("locked") || answer.equals("opened"), () -> "probe said: " + answer + "\n" +
            errors);
        return answer.equals("locked");
    }

    /**
     * Append one more event to stream 1.
     *
     * @return the version it got.
     */
    long append() throws IOException
    {
        in.println("append");
        return Long.parseLong(expect("appended "));
    }

    /**
     * @return the writer's process id.
     */
    long pid()
    {
        return process.pid();
    }

    /**
     * End the writer without letting it close the store, as a crash would.
     */
    void kill() throws InterruptedException
    {
        killed = true;
        process.destroyForcibly();
        assertTrue(process.waitFor(TIMEOUT_SECONDS, TimeUnit.SECONDS), "the writer did not die");
    }

    @Override
    public void close()
    {
        if (killed)
        {
            return;
        }
        in.println("close");
        in.close();
        try
        {
            assertTrue(process.waitFor(TIMEOUT_SECONDS, TimeUnit.SECONDS), "the writer did not close");
        }
        catch (final InterruptedException ex)
        {
            Thread.currentThread().interrupt();
            throw new AssertionError("interrupted while the writer closed", ex);
        }
        assertEquals(0, process.exitValue(), () -> "the writer failed: " + errors());
    }

    private String expect(final String prefix) throws IOException
    {
        final String line = out.readLine();
        assertTrue(line != null && line.startsWith(prefix), () -> "expected '" + prefix + "' from the writer, got " +
            line + "\n" + errors());
        return line.substring(prefix.length());
    }

    private String errors()
    {
        try
        {
            return process.isAlive() ? "(still running)" :
                new String(process.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        }
        catch (final IOException ex)
        {
            return ex.toString();
        }
    }

    private static Process java(final String... args) throws IOException
    {
        final String javaBin = ProcessHandle.current().info().command()
            .orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        final List<String> command = new ArrayList<>(List.of(javaBin, AGRONA_FLAG,
            "-cp", System.getProperty("java.class.path"), WriterProcess.class.getName()));
        command.addAll(List.of(args));
        return new ProcessBuilder(command).start();
    }

    /**
     * The child's side.
     *
     * @param args {@code DIR EVENTS} or {@code --probe DIR}.
     */
    public static void main(final String[] args) throws IOException
    {
        if (args[0].equals("--probe"))
        {
            probe(Path.of(args[1]));
            return;
        }
        final byte[] payload = "held open by another process".getBytes(StandardCharsets.US_ASCII);
        try (VarveDB db = VarveDB.open(Path.of(args[0])); Appender appender = db.appender())
        {
            long version = db.streamVersion(1);
            for (int i = Integer.parseInt(args[1]); i > 0; i--)
            {
                version = appender.append(1, ExpectedVersion.exact(version), 1, payload);
            }
            System.out.println("ready");
            final BufferedReader commands =
                new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
            String command;
            while ((command = commands.readLine()) != null && command.equals("append"))
            {
                version = appender.append(1, ExpectedVersion.exact(version), 1, payload);
                System.out.println("appended " + version);
            }
        }
    }

    /**
     * Open for writing and close at once: whether the store's writer lock is free for this process. (Within one
     * JVM the answer would come from the engine's own bookkeeping, not from the lock on the file.)
     */
    private static void probe(final Path dir)
    {
        try
        {
            VarveDB.open(dir).close();
            System.out.println("opened");
        }
        catch (final StoreLockedException ex)
        {
            System.out.println("locked");
        }
    }
}
