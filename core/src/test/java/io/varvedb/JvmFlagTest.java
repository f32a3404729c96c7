package io.varvedb;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A JVM started without {@code --add-exports java.base/jdk.internal.misc=ALL-UNNAMED}: every open is refused with
 * {@link JvmFlagMissingException} naming the flag, before it creates or locks anything.
 */
class JvmFlagTest
{
    private static final String FLAG = "--add-exports java.base/jdk.internal.misc=ALL-UNNAMED";

    @TempDir
    Path dir;

    @Test
    void anOpenWithoutTheFlagNamesItAndLeavesNothing() throws Exception
    {
        final Path absent = dir.resolve("absent");
        checkRefused(absent, false);
        assertFalse(Files.exists(absent), "the store directory was not even created");
    }

    @Test
    void anOpenAfterAgronaFailedAlreadyNamesTheFlagToo() throws Exception
    {
        final Path empty = Files.createDirectory(dir.resolve("empty"));
        final List<String> lines = checkRefused(empty, true);
        assertEquals("agrona: java.lang.IllegalAccessError", lines.get(0), "the failure this exception explains");
        try (Stream<Path> left = Files.list(empty))
        {
            assertEquals(List.of(), left.toList(), "nothing created in the directory");
        }
    }

    private static List<String> checkRefused(final Path store, final boolean agronaFirst) throws Exception
    {
        final List<String> command = new ArrayList<>(List.of(
            Path.of(System.getProperty("java.home"), "bin", "java").toString(),
            "-cp", System.getProperty("java.class.path"), ChildMain.class.getName(), "open-without-flag",
            store.toString()));
        if (agronaFirst)
        {
            command.add("agrona-first");
        }
        final Process child = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        final List<String> lines = new ArrayList<>();
        try (BufferedReader out = MultiProcessTest.stdout(child))
        {
            for (String line = out.readLine(); line != null; line = out.readLine())
            {
                lines.add(line);
            }
        }
        assertTrue(child.waitFor(60, TimeUnit.SECONDS));
        assertEquals(0, child.exitValue(), String.join("\n", lines));
        final List<String> opens = lines.subList(agronaFirst ? 1 : 0, lines.size());
        assertEquals(4, opens.size(), String.join("\n", lines));
        for (final String line : opens)
        {
            assertTrue(line.matches("open(ReadOnly)?: " + JvmFlagMissingException.class.getName() + ": .*"), line);
            assertTrue(line.contains(FLAG), line);
            assertTrue(line.contains("argLine") && line.contains("Add-Exports: java.base/jdk.internal.misc"), line);
        }
        return lines;
    }
}
