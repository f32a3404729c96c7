package io.varvedb.tools;

import io.varvedb.Appender;
import io.varvedb.ExpectedVersion;
import io.varvedb.VarveDB;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code varve tail} in another JVM follows events this JVM appends while it watches, across a segment roll.
 */
class TailProcessTest
{
    private static final String AGRONA_FLAG = "--add-exports=java.base/jdk.internal.misc=ALL-UNNAMED";
    private static final int SEGMENT_SIZE = 64 * 1024;
    private static final int LIVE_EVENTS = 1500;
    private static final long TIMEOUT_SECONDS = 60;

    @TempDir
    Path temp;

    @Test
    void followsAppendsFromAnotherProcess() throws Exception
    {
        final Path dir = temp.resolve("store");
        try (VarveDB db = VarveDB.open(io.varvedb.VarveConfig.builder(dir).segmentSize(SEGMENT_SIZE).build());
            Appender appender = db.appender())
        {
            // history the follower must skip: -n 0 starts at the end of the log
            appender.append(1, ExpectedVersion.NO_STREAM, 1, bytes("before the follower started"));

            final Process tail = java("tail", dir.toString(), "-n", "0", "--count", Integer.toString(LIVE_EVENTS));
            final CompletableFuture<List<String>> out = lines(tail.getInputStream());
            final BufferedReader err = new BufferedReader(
                new InputStreamReader(tail.getErrorStream(), StandardCharsets.UTF_8));
            final String ready = err.readLine();
            assertTrue(ready != null && ready.startsWith("following "), "tail did not start: " + ready);

            // about 100 KiB of records: more than a 64 KiB segment, so the follower crosses a segment roll
            for (int i = 1; i <= LIVE_EVENTS; i++)
            {
                appender.append(2, ExpectedVersion.exact(i - 1), 5, bytes("live event " + i));
            }

            assertTrue(tail.waitFor(TIMEOUT_SECONDS, TimeUnit.SECONDS), "tail did not stop after --count events");
            assertEquals(0, tail.exitValue());
            final List<String> printed = out.get(TIMEOUT_SECONDS, TimeUnit.SECONDS);
            assertEquals(LIVE_EVENTS, printed.size(), () -> String.join("\n", printed));
            for (int i = 1; i <= LIVE_EVENTS; i++)
            {
                final String line = printed.get(i - 1);
                assertTrue(line.contains("  stream 2  v " + Format.count(i) + "  type 5  "), line);
                assertTrue(line.endsWith("live event " + i), line);
            }
        }
    }

    private static Process java(final String... args) throws IOException
    {
        final String javaBin = ProcessHandle.current().info().command()
            .orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        final List<String> command = new ArrayList<>(List.of(javaBin, AGRONA_FLAG,
            "-cp", System.getProperty("java.class.path"), VarveCli.class.getName()));
        command.addAll(List.of(args));
        return new ProcessBuilder(command).start();
    }

    private static CompletableFuture<List<String>> lines(final java.io.InputStream stream)
    {
        return CompletableFuture.supplyAsync(() ->
        {
            final List<String> lines = new ArrayList<>();
            try (BufferedReader reader = new BufferedReader(new InputStreamReader(stream, StandardCharsets.UTF_8)))
            {
                String line;
                while ((line = reader.readLine()) != null)
                {
                    lines.add(line);
                }
            }
            catch (final IOException ex)
            {
                lines.add("read failed: " + ex);
            }
            return lines;
        });
    }

    private static byte[] bytes(final String text)
    {
        return text.getBytes(StandardCharsets.US_ASCII);
    }
}
