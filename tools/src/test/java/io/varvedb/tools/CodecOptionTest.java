package io.varvedb.tools;

import io.varvedb.Appender;
import io.varvedb.ExpectedVersion;
import io.varvedb.VarveDB;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.tools.JavaCompiler;
import javax.tools.ToolProvider;
import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code dump} and {@code tail} decode payloads with the application's own codec ({@code --codec}), loaded from
 * the tools' class path, {@code --class-path} or {@code VARVE_CLASSPATH}; a class that cannot serve is one line
 * and exit 2; a payload that does not decode prints its error on its line and the rest goes on.
 */
@org.junit.jupiter.api.Timeout(120) // tail follows until --count: a regression must fail, not hang the build
class CodecOptionTest
{
    private static final String CODEC = OrderCodecForTests.class.getName();
    @TempDir
    Path temp;
    private Path dir;

    @BeforeEach
    void store()
    {
        dir = temp.resolve("store");
        final OrderCodecForTests codec = new OrderCodecForTests();
        try (VarveDB db = VarveDB.open(dir); Appender appender = db.appender())
        {
            appender.append(1, ExpectedVersion.NO_STREAM, 2, new OrderCodecForTests.Order(1001, "apple"), codec);
            appender.append(1, ExpectedVersion.exact(1), 3, "note".getBytes(StandardCharsets.US_ASCII));
            appender.append(1, ExpectedVersion.exact(2), 2, new OrderCodecForTests.Order(1002, "pear"), codec);
        }
    }

    @Test
    void dumpPrintsDecodedEventsAndGoesOnPastOneThatDoesNotDecode()
    {
        final Cli.Result dump = Cli.run("dump", dir.toString(), "--codec", CODEC);
        assertEquals(ExitCode.OK, dump.exit(), dump::toString);
        final List<String> lines = dump.out().lines().toList();
        assertEquals(3, lines.size(), dump::toString);
        assertTrue(lines.get(0).endsWith("Order[id=1001, sku=apple]"), dump::toString);
        assertTrue(lines.get(1).contains("could not decode it: java.lang.IllegalArgumentException: an order is " +
            "at least 8 bytes, this payload has 4"), dump::toString);
        assertTrue(lines.get(2).endsWith("Order[id=1002, sku=pear]"), dump::toString);
    }

    @Test
    void aCodecForOneTypeLeavesTheOthersAsBytes()
    {
        final Cli.Result dump = Cli.run("dump", dir.toString(), "--codec", "2=" + CODEC);
        assertEquals(ExitCode.OK, dump.exit(), dump::toString);
        final List<String> lines = dump.out().lines().toList();
        assertTrue(lines.get(0).endsWith("Order[id=1001, sku=apple]"), dump::toString);
        assertTrue(lines.get(1).endsWith("4 B  note"), dump::toString);
        assertTrue(lines.get(2).endsWith("Order[id=1002, sku=pear]"), dump::toString);
    }

    @Test
    void tailDecodesToo()
    {
        final Cli.Result tail = Cli.run("tail", dir.toString(), "--codec", "2=" + CODEC, "--count", "3");
        assertEquals(ExitCode.OK, tail.exit(), tail::toString);
        final List<String> lines = tail.out().lines().toList();
        assertEquals(3, lines.size(), tail::toString);
        assertTrue(lines.get(0).endsWith("Order[id=1001, sku=apple]"), tail::toString);
        assertTrue(lines.get(2).endsWith("Order[id=1002, sku=pear]"), tail::toString);
    }

    @Test
    void aCodecFromTheClassPathOption() throws Exception
    {
        final Path classes = compileShoutCodec();
        final Cli.Result missing = Cli.run("dump", dir.toString(), "--codec", "com.example.ShoutCodec");
        oneLine(missing, "--codec com.example.ShoutCodec: class not found");
        assertTrue(missing.err().contains("--class-path or VARVE_CLASSPATH"), missing::toString);

        final Cli.Result dump = Cli.run("dump", dir.toString(), "--codec", "3=com.example.ShoutCodec",
            "--class-path", temp.resolve("elsewhere") + File.pathSeparator + classes);
        oneLine(dump, "--class-path: no such jar or directory");
        Files.createDirectories(temp.resolve("elsewhere"));
        final Cli.Result found = Cli.run("dump", dir.toString(), "--codec", "3=com.example.ShoutCodec",
            "--class-path", temp.resolve("elsewhere") + File.pathSeparator + classes);
        assertEquals(ExitCode.OK, found.exit(), found::toString);
        assertTrue(found.out().lines().toList().get(1).endsWith("4 B  NOTE!"), found::toString);
    }

    /** The launcher passes its environment on: VARVE_CLASSPATH, read by the tools in a JVM of their own. */
    @Test
    void aCodecFromVarveClasspath() throws Exception
    {
        final Path classes = compileShoutCodec();
        final String javaBin = ProcessHandle.current().info().command()
            .orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        final ProcessBuilder builder = new ProcessBuilder(javaBin,
            "--add-exports=java.base/jdk.internal.misc=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"),
            VarveCli.class.getName(), "dump", dir.toString(), "--codec", "3=com.example.ShoutCodec")
            .redirectErrorStream(true);
        builder.environment().put(PayloadCodecs.CLASS_PATH_VARIABLE, classes.toString());
        final Process process = builder.start();
        final String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(process.waitFor(60, TimeUnit.SECONDS));
        assertEquals(0, process.exitValue(), output);
        assertTrue(output.contains("4 B  NOTE!"), output);
    }

    @Test
    void classesThatCannotServeAreOneLineErrors()
    {
        oneLine(Cli.run("dump", dir.toString(), "--codec", "java.lang.String"),
            "--codec java.lang.String: not an io.varvedb.Codec");
        oneLine(Cli.run("dump", dir.toString(), "--codec", CODEC + "$NeedsAnArgument"),
            "needs a public no-arg constructor");
        oneLine(Cli.run("dump", dir.toString(), "--codec", CODEC + "$Throws"),
            "its constructor threw java.lang.IllegalStateException: no configuration found");
        oneLine(Cli.run("dump", dir.toString(), "--codec", CODEC + "$CodecBase"), "abstract");
        oneLine(Cli.run("dump", dir.toString(), "--codec", "x=" + CODEC), "TYPE must be an event type number");
        oneLine(Cli.run("tail", dir.toString(), "--codec", "2=" + CODEC, "--codec", "2=" + CODEC),
            "event type 2 has a codec already");
        oneLine(Cli.run("dump", dir.toString(), "--class-path", temp.toString()), "no --codec was given");
        final Cli.Result help = Cli.run("dump", "--help");
        assertTrue(help.out().contains("--codec") && help.out().contains("--class-path") &&
            help.out().contains("VARVE_CLASSPATH"), help::toString);
        assertFalse(help.out().contains("${sys:"), help::toString);
    }

    private static void oneLine(final Cli.Result result, final String expected)
    {
        assertEquals(ExitCode.USAGE, result.exit(), result::toString);
        assertEquals(1, result.err().lines().count(), result::toString);
        assertTrue(result.err().contains(expected), result::toString);
    }

    /** A codec that is on no class path but the one it is compiled into: upper case and an exclamation mark. */
    private Path compileShoutCodec() throws Exception
    {
        final Path sources = Files.createDirectories(temp.resolve("src/com/example"));
        final Path source = Files.writeString(sources.resolve("ShoutCodec.java"), String.join("\n",
            "package com.example;",
            "public final class ShoutCodec implements io.varvedb.Codec<String> {",
            "    public int maxEncodedLength(String value) { return value.length(); }",
            "    public int encode(String value, org.agrona.MutableDirectBuffer buffer, int maxLength) {",
            "        return buffer.putStringWithoutLengthAscii(0, value); }",
            "    public String decode(org.agrona.DirectBuffer buffer, int offset, int length) {",
            "        return buffer.getStringWithoutLengthAscii(offset, length).toUpperCase() + \"!\"; }",
            "}"));
        final Path classes = Files.createDirectories(temp.resolve("classes"));
        final JavaCompiler compiler = ToolProvider.getSystemJavaCompiler();
        final List<String> args = new ArrayList<>(List.of("-d", classes.toString(), "-cp",
            System.getProperty("java.class.path"), source.toString()));
        assertEquals(0, compiler.run(null, null, null, args.toArray(new String[0])), "compiled");
        return classes;
    }
}
