package io.varvedb;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A small tmpfs mounted for a test, to meet a real full disk (ENOSPC) or a real read-only file system (EROFS).
 * Needs root (CAP_SYS_ADMIN), as on CI here; tests that need it are skipped elsewhere.
 */
final class Tmpfs implements AutoCloseable
{
    private final Path path;

    private Tmpfs(final Path path)
    {
        this.path = path;
    }

    static Tmpfs mount(final Path path, final String size) throws IOException, InterruptedException
    {
        Files.createDirectories(path);
        run("mount", "-t", "tmpfs", "-o", "size=" + size, "tmpfs", path.toString());
        return new Tmpfs(path);
    }

    /**
     * @return true if this process may mount a tmpfs.
     */
    static boolean available(final Path probe)
    {
        try (Tmpfs ignored = mount(probe, "64k"))
        {
            return true;
        }
        catch (final IOException | InterruptedException | RuntimeException ex)
        {
            return false;
        }
    }

    Path path()
    {
        return path;
    }

    void remount(final String options) throws IOException, InterruptedException
    {
        for (int attempt = 0; ; attempt++)
        {
            try
            {
                run("mount", "-o", "remount," + options, path.toString());
                return;
            }
            catch (final IOException ex)
            {
                if (attempt == 10)
                {
                    final String maps = CloseRaceTest.mappingsOf(path).stream().distinct().limit(5)
                        .collect(java.util.stream.Collectors.joining("\n"));
                    throw new IOException(ex.getMessage() + "; still mapped here:\n" + maps, ex);
                }
                // mappings of closed stores go when the JVM collects their buffers; until then the mount is busy
                System.gc();
                Thread.sleep(100);
            }
        }
    }

    @Override
    public void close() throws IOException, InterruptedException
    {
        // lazy: the JVM may still map files here until they are collected
        run("umount", "-l", path.toString());
    }

    private static void run(final String... command) throws IOException, InterruptedException
    {
        final Process process = new ProcessBuilder(List.of(command)).redirectErrorStream(true).start();
        final String output = new String(process.getInputStream().readAllBytes());
        if (!process.waitFor(30, TimeUnit.SECONDS) || process.exitValue() != 0)
        {
            throw new IOException(String.join(" ", command) + " failed (" + process.exitValue() + "): " + output.trim());
        }
    }
}
