package io.varvedb.tools;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.varvedb.Appender;
import io.varvedb.ConcurrencyConflictException;
import io.varvedb.EventTooLargeException;
import io.varvedb.ExpectedVersion;
import io.varvedb.Processor;
import io.varvedb.Subscription;
import io.varvedb.VarveConfig;
import io.varvedb.VarveDB;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.*;

/**
 * {@code varve stat}: the counters it shows match what was done, in text and JSON, for a store open in this JVM, in
 * another process, closed, and left by a killed writer; rates from the second screen on; latency percentiles when
 * they are recorded; one-line errors for a store without counters and a foreign counters file.
 */
class StatCommandTest
{
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final long PID = ProcessHandle.current().pid();
    private static final int APPENDS = 1_234;
    private static final int CONFLICTS = 17;
    private static final byte[] PAYLOAD = new byte[40];

    @TempDir
    Path dir;

    /** N appends to streams 1..10, then M appends refused for a stale expected version. */
    private static void appendAndConflict(final Appender appender)
    {
        for (int i = 0; i < APPENDS; i++)
        {
            appender.append(1 + (i % 10), ExpectedVersion.ANY, 1, PAYLOAD);
        }
        for (int i = 0; i < CONFLICTS; i++)
        {
            assertThrows(ConcurrencyConflictException.class,
                () -> appender.append(1, ExpectedVersion.exact(1), 1, PAYLOAD));
        }
    }

    @Test
    void onceShowsWhatWasDoneWhileOpenAndTheLastValuesOnceClosed() throws Exception
    {
        try (VarveDB db = VarveDB.open(dir); Appender appender = db.appender())
        {
            appendAndConflict(appender);

            final Cli.Result text = Cli.run("stat", dir.toString(), "--once");
            assertEquals(ExitCode.OK, text.exit(), text::toString);
            assertTrue(text.err().isEmpty(), text::toString);
            assertFalse(text.out().contains("\033["), "no escape codes off a terminal: " + text);
            assertTrue(text.out().startsWith("varve stat " + dir.toAbsolutePath().normalize() + "  "), text::toString);
            assertFalse(text.out().contains("store not open"), text::toString);
            assertTrue(Pattern.compile("(?m)^  pid " + PID + " +writer +RUNNING +opened 2").matcher(text.out()).find(),
                text::toString);
            assertTrue(text.out().contains("rates: none with --once (add --rates for them)"), text::toString);
            assertEquals(APPENDS, value(text.out(), "appends"), text::toString);
            assertEquals(CONFLICTS, value(text.out(), "conflicts"), text::toString);
            assertEquals(0, value(text.out(), "duplicates"), text::toString);
            // a level, published by the store's background work every 100 ms
            Cli.Result levels = text;
            for (int i = 0; i < 100 && value(levels.out(), "index_streams") != 10; i++)
            {
                Thread.sleep(20);
                levels = Cli.run("stat", dir.toString(), "--once");
            }
            assertEquals(10, value(levels.out(), "index_streams"), levels::toString);
            assertEquals("", rate(text.out(), "appends"), "no rates with one sample: " + text);
            assertFalse(text.out().contains("TOTAL"), "one instance, no total: " + text);
            assertFalse(text.out().contains("append latency"), "not recorded: " + text);

            final JsonNode json = json(Cli.run("stat", dir.toString(), "--once", "--json"));
            assertTrue(json.get("running").asBoolean());
            assertTrue(json.get("intervalSeconds").isNull());
            assertEquals(1, json.get("processes").size());
            final JsonNode process = json.get("processes").get(0);
            assertEquals(PID, process.get("pid").asLong());
            assertEquals("writer", process.get("role").asText());
            assertEquals("RUNNING", process.get("state").asText());
            assertTrue(process.get("closedAt").isNull());
            assertTrue(process.get("appendLatency").isNull());
            assertEquals(APPENDS, process.get("totals").get("appends").get("value").asLong());
            assertTrue(process.get("totals").get("appends").get("rate").isNull());
            assertEquals(CONFLICTS, process.get("totals").get("conflicts").get("value").asLong());
            assertFalse(process.get("totals").get("appends").get("gauge").asBoolean());
            assertTrue(process.get("totals").get("index_streams").get("gauge").asBoolean());
            // every counter is listed, and the appends' add up to the total (the appender's own, and the counters
            // shared by appenders that found none free)
            long appends = 0;
            for (final JsonNode counter : process.get("counters"))
            {
                assertFalse(counter.get("label").asText().isEmpty(), counter::toString);
                appends += counter.get("type").asText().equals("appends") ? counter.get("value").asLong() : 0;
            }
            assertEquals(APPENDS, appends, process::toString);
            assertEquals("running", json.get("total").get("over").asText());
            assertEquals(APPENDS, json.get("total").get("totals").get("appends").get("value").asLong());
        }

        final Cli.Result closed = Cli.run("stat", dir.toString(), "--once");
        assertEquals(ExitCode.OK, closed.exit(), closed::toString);
        assertTrue(closed.out().contains("\nstore not open: last values\n"), closed::toString);
        assertTrue(Pattern.compile("(?m)^  pid " + PID + " +writer +CLOSED at 2[-0-9T:.]+Z +opened 2")
            .matcher(closed.out()).find(), closed::toString);
        assertEquals(APPENDS, value(closed.out(), "appends"), closed::toString);
        assertEquals(CONFLICTS, value(closed.out(), "conflicts"), closed::toString);

        final JsonNode json = json(Cli.run("stat", dir.toString(), "--once", "--json"));
        assertFalse(json.get("running").asBoolean());
        final JsonNode process = json.get("processes").get(0);
        assertEquals("CLOSED", process.get("state").asText());
        assertTrue(process.get("closedAtMillis").asLong() >= process.get("openedAtMillis").asLong());
        assertEquals(APPENDS, process.get("totals").get("appends").get("value").asLong());
        assertEquals("all", json.get("total").get("over").asText());
    }

    @Test
    void aWriterInAnotherProcessIsShownLiveThenGone() throws Exception
    {
        try (WriterProcess writer = WriterProcess.start(dir, 25))
        {
            writer.append();
            final Cli.Result live = Cli.run("stat", dir.toString(), "--once");
            assertEquals(ExitCode.OK, live.exit(), live::toString);
            assertTrue(Pattern.compile("(?m)^  pid " + writer.pid() + " +writer +RUNNING ").matcher(live.out()).find(),
                live::toString);
            assertEquals(26, value(live.out(), "appends"), live::toString);
            assertEquals(0, value(live.out(), "conflicts"), live::toString);

            // a reader in this JVM beside it: two running instances, and their total
            try (VarveDB reader = VarveDB.openReadOnly(dir))
            {
                assertEquals(26, reader.streamVersion(1));
                final Cli.Result both = Cli.run("stat", dir.toString(), "--once");
                assertEquals(ExitCode.OK, both.exit(), both::toString);
                assertTrue(Pattern.compile("(?m)^  pid " + PID + " +reader +RUNNING ").matcher(both.out()).find(),
                    both::toString);
                assertTrue(both.out().contains("\nTOTAL over 2 running instances"), both::toString);
                final String total = both.out().substring(both.out().indexOf("\nTOTAL"));
                assertEquals(26, value(total, "appends"), both::toString);

                final JsonNode json = json(Cli.run("stat", dir.toString(), "--once", "--json"));
                assertEquals(2, json.get("total").get("processes").asInt());
                assertEquals(26, json.get("total").get("totals").get("appends").get("value").asLong());
            }

            writer.kill();
            final Cli.Result gone = Cli.run("stat", dir.toString(), "--once");
            assertEquals(ExitCode.OK, gone.exit(), gone::toString);
            assertTrue(gone.out().contains("\nstore not open: last values\n"), gone::toString);
            assertTrue(Pattern.compile("(?m)^  pid " + writer.pid() + " +writer +GONE: exited without closing +opened ")
                .matcher(gone.out()).find(), gone::toString);
            assertTrue(Pattern.compile("(?m)^  pid " + PID + " +reader +CLOSED at ").matcher(gone.out()).find(),
                gone::toString);
            // none running: every instance's last values, and the total over them
            assertTrue(gone.out().contains("\nTOTAL over 2 instances"), gone::toString);
            final JsonNode json = json(Cli.run("stat", dir.toString(), "--once", "--json"));
            final List<String> states = new ArrayList<>();
            json.get("processes").forEach((p) -> states.add(p.get("state").asText()));
            assertTrue(states.contains("GONE") && states.contains("CLOSED"), json::toString);
            assertEquals(26, json.get("total").get("totals").get("appends").get("value").asLong());
        }
    }

    @Test
    void closedInstancesAreListedButOnlyTheRunningOnesShownUnlessAll()
    {
        try (VarveDB db = VarveDB.open(dir); Appender appender = db.appender())
        {
            appender.append(1, ExpectedVersion.ANY, 1, PAYLOAD);
        }
        try (VarveDB db = VarveDB.open(dir); Appender appender = db.appender())
        {
            appender.append(1, ExpectedVersion.ANY, 1, PAYLOAD);
            appender.append(1, ExpectedVersion.ANY, 1, PAYLOAD);
            final Cli.Result running = Cli.run("stat", dir.toString(), "--once");
            assertTrue(Pattern.compile("(?m)^  pid " + PID + " +writer +CLOSED at ").matcher(running.out()).find(),
                running::toString);
            assertTrue(running.out().contains("(below: the running instance; --all adds"), running::toString);
            assertEquals(1, count(running.out(), "(?m)^pid "), running::toString);
            assertEquals(2, value(running.out(), "appends"), running::toString);

            final Cli.Result all = Cli.run("stat", dir.toString(), "--once", "--all");
            assertEquals(2, count(all.out(), "(?m)^pid "), all::toString);
            assertTrue(all.out().contains("\nTOTAL over 2 instances"), all::toString);
            assertEquals(3, value(all.out().substring(all.out().indexOf("\nTOTAL")), "appends"), all::toString);
        }
    }

    @Test
    void theCommandsThatOnlyLookTakeNoRegionOfTheCounters() throws Exception
    {
        try (VarveDB db = VarveDB.open(dir); Appender appender = db.appender())
        {
            appendAndConflict(appender);
        }
        final byte[] counters = Files.readAllBytes(dir.resolve("varve.counters"));
        for (final String[] command : new String[][] {
            {"info", dir.toString()}, {"dump", dir.toString()}, {"verify", dir.toString()},
            {"scavenge", "--dry-run", dir.toString()}, {"stat", dir.toString(), "--once"}})
        {
            final Cli.Result result = Cli.run(command);
            assertEquals(ExitCode.OK, result.exit(), result::toString);
        }
        // else each look would take a region, and once the 16 are taken push out a closed or gone writer's last values
        assertArrayEquals(counters, Files.readAllBytes(dir.resolve("varve.counters")), "varve.counters changed");
        final JsonNode json = json(Cli.run("stat", dir.toString(), "--once", "--json"));
        assertEquals(1, json.get("processes").size(), json::toString);
        assertEquals(APPENDS, json.get("total").get("totals").get("appends").get("value").asLong());
    }

    @Test
    void ratesAppearFromTheSecondScreen() throws Exception
    {
        try (VarveDB db = VarveDB.open(dir))
        {
            final AtomicBoolean stop = new AtomicBoolean();
            final Thread appending = new Thread(() ->
            {
                try (Appender appender = db.appender())
                {
                    while (!stop.get())
                    {
                        appender.append(1, ExpectedVersion.ANY, 1, PAYLOAD);
                        Thread.sleep(1);
                    }
                }
                catch (final InterruptedException ex)
                {
                    Thread.currentThread().interrupt();
                }
            });
            appending.start();
            try
            {
                final Cli.Result text = Cli.run("stat", dir.toString(), "--count", "3", "--interval", "0.2");
                assertEquals(ExitCode.OK, text.exit(), text::toString);
                final String[] screens = text.out().split("(?m)^(?=varve stat )");
                assertEquals(3, screens.length, text::toString);
                assertTrue(screens[0].contains("every 0.2 s\n"), text::toString);
                assertTrue(screens[0].endsWith("\n\n"), "a blank line between screens: " + text);
                assertTrue(screens[0].contains("rates: from the next screen on"), text::toString);
                assertEquals("", rate(screens[0], "appends"), text::toString);
                for (int s = 1; s < 3; s++)
                {
                    assertTrue(screens[s].matches("(?s).*rates: per second over the last [0-9]+\\.[0-9]{2} s.*"),
                        text::toString);
                    assertTrue(Double.parseDouble(rate(screens[s], "appends").replace(",", "")) > 0, text::toString);
                    assertEquals("0", rate(screens[s], "conflicts"), text::toString);
                    assertEquals("", rate(screens[s], "index_streams"), "a level has no rate: " + text);
                }

                final Cli.Result lines = Cli.run("stat", dir.toString(), "--json", "--count", "2", "--interval",
                    "0.2");
                assertEquals(ExitCode.OK, lines.exit(), lines::toString);
                final String[] jsonLines = lines.out().split("\n");
                assertEquals(2, jsonLines.length, lines::toString);
                final JsonNode first = JSON.readTree(jsonLines[0]);
                final JsonNode second = JSON.readTree(jsonLines[1]);
                assertTrue(first.get("processes").get(0).get("totals").get("appends").get("rate").isNull());
                final double seconds = second.get("intervalSeconds").asDouble();
                assertTrue(seconds >= 0.19 && seconds < 5, second::toString);
                final long before = first.get("processes").get(0).get("totals").get("appends").get("value").asLong();
                final JsonNode appends = second.get("processes").get(0).get("totals").get("appends");
                assertTrue(appends.get("value").asLong() > before, second::toString);
                assertEquals((appends.get("value").asLong() - before) / seconds, appends.get("rate").asDouble(),
                    1e-6, second::toString);
                assertTrue(second.get("processes").get(0).get("totals").get("index_streams").get("rate").isNull());

                final JsonNode once = json(Cli.run("stat", dir.toString(), "--once", "--rates", "--json",
                    "--interval", "0.1"));
                assertTrue(once.get("intervalSeconds").asDouble() >= 0.09, once::toString);
                assertTrue(once.get("total").get("totals").get("appends").get("rate").asDouble() > 0, once::toString);
            }
            finally
            {
                stop.set(true);
                appending.join();
            }
        }
    }

    @Test
    void latencyPercentilesWhenRecorded() throws Exception
    {
        final int appends = 5_000;
        try (VarveDB db = VarveDB.open(VarveConfig.builder(dir).recordAppendLatency(true).build());
            Appender appender = db.appender())
        {
            for (int i = 0; i < appends; i++)
            {
                appender.append(1, ExpectedVersion.ANY, 1, PAYLOAD);
            }
        }
        // published at close
        final Cli.Result text = Cli.run("stat", dir.toString(), "--once");
        assertEquals(ExitCode.OK, text.exit(), text::toString);
        final Matcher header = Pattern.compile("(?m)^  append latency \\(us\\) +count +p50 +p90 +p99 +p99\\.9 +max$")
            .matcher(text.out());
        assertTrue(header.find(), text::toString);
        final Matcher since = Pattern.compile("(?m)^  since open +([0-9,]+)( +[0-9.,]+){5}$").matcher(text.out());
        assertTrue(since.find(), text::toString);
        assertEquals(appends, Long.parseLong(since.group(1).replace(",", "")), text::toString);

        final JsonNode latency = json(Cli.run("stat", dir.toString(), "--once", "--json"))
            .get("processes").get(0).get("appendLatency");
        assertEquals("ns", latency.get("unit").asText());
        assertEquals(appends, latency.get("count").asLong());
        assertTrue(latency.get("p50").asLong() > 0, latency::toString);
        assertTrue(latency.get("p90").asLong() >= latency.get("p50").asLong(), latency::toString);
        assertTrue(latency.get("p99").asLong() >= latency.get("p90").asLong(), latency::toString);
        assertTrue(latency.get("p99_9").asLong() >= latency.get("p99").asLong(), latency::toString);
        assertTrue(latency.get("max").asLong() >= latency.get("p99_9").asLong(), latency::toString);
    }

    @Test
    void subscriptionsProcessorsAndErrorsAreListedByLabel()
    {
        try (VarveDB db = VarveDB.open(VarveConfig.builder(dir).maxEventSize(1024).build());
            Appender appender = db.appender())
        {
            for (int i = 0; i < 50; i++)
            {
                appender.append(7, ExpectedVersion.ANY, 1, PAYLOAD);
            }
            final byte[] tooLarge = new byte[1025];
            for (int i = 0; i < 3; i++)
            {
                assertThrows(EventTooLargeException.class, () -> appender.append(1, ExpectedVersion.ANY, 1, tooLarge));
            }
            try (Subscription all = db.subscription(VarveDB.START_POSITION);
                Processor processor = db.processor("billing", (event) -> { }))
            {
                assertEquals(20, all.poll((event) -> { }, 20));
                int handled = 0;
                while (handled < 50)
                {
                    handled += processor.poll(10);
                }
                final Cli.Result text = Cli.run("stat", dir.toString(), "--once");
                assertEquals(ExitCode.OK, text.exit(), text::toString);
                assertTrue(text.out().contains("  subscriptions, processors"), text::toString);
                final Matcher subscription = Pattern.compile("(?m)^  subscription [0-9]+ \\(all\\) +([0-9,]+) +([0-9,]+)$")
                    .matcher(text.out());
                assertTrue(subscription.find(), text::toString);
                assertEquals(all.position(), Long.parseLong(subscription.group(1).replace(",", "")), text::toString);
                assertEquals(db.tailPosition() - all.position(),
                    Long.parseLong(subscription.group(2).replace(",", "")), text::toString);
                assertTrue(Pattern.compile("(?m)^  processor billing +" + Format.count(db.tailPosition()) +
                    " +0 +[0-9]+").matcher(text.out()).find(), text::toString);
                assertTrue(text.out().contains("  errors by kind"), text::toString);
                assertTrue(Pattern.compile("(?m)^  EventTooLargeException +3$").matcher(text.out()).find(),
                    text::toString);
                assertEquals(3, value(text.out(), "errors"), text::toString);
            }
        }
    }

    @Test
    void aStoreWithoutCountersOrWithAForeignCountersFileIsRefusedInOneLine() throws Exception
    {
        try (VarveDB db = VarveDB.open(VarveConfig.builder(dir).counters(false).build()))
        {
            assertNull(db.counters());
        }
        final Cli.Result none = Cli.run("stat", dir.toString(), "--once");
        assertEquals(ExitCode.STORE, none.exit(), none::toString);
        assertTrue(none.out().isEmpty(), none::toString);
        assertTrue(none.err().startsWith("varve stat: no counters in "), none::toString);
        assertTrue(none.err().contains("it has no varve.counters"), none::toString);
        assertEquals(1, none.err().lines().count(), none::toString);

        Files.write(dir.resolve("varve.counters"), new byte[8192]);
        final Cli.Result foreign = Cli.run("stat", dir.toString(), "--once");
        assertEquals(ExitCode.STORE, foreign.exit(), foreign::toString);
        assertTrue(foreign.err().contains("is not a VarveDB counters file"), foreign::toString);
        assertEquals(1, foreign.err().lines().count(), foreign::toString);

        final Cli.Result missing = Cli.run("stat", dir.resolve("nowhere").toString());
        assertEquals(ExitCode.STORE, missing.exit(), missing::toString);
        assertTrue(missing.err().contains("no such directory"), missing::toString);

        final Path notAStore = Files.createDirectories(dir.resolve("other"));
        final Cli.Result foreignDir = Cli.run("stat", notAStore.toString());
        assertEquals(ExitCode.STORE, foreignDir.exit(), foreignDir::toString);
        assertTrue(foreignDir.err().contains("is not a VarveDB store"), foreignDir::toString);
    }

    @Test
    void badArguments()
    {
        final String store = dir.toString();
        usage(Cli.run("stat", store, "--interval", "0"), "--interval must be between");
        usage(Cli.run("stat", store, "--interval", "NaN"), "--interval must be between");
        usage(Cli.run("stat", store, "--count", "0"), "--count must be at least 1");
        usage(Cli.run("stat", store, "--once", "--count", "3"), "--once prints one screen");
    }

    private static void usage(final Cli.Result result, final String message)
    {
        assertEquals(ExitCode.USAGE, result.exit(), result::toString);
        assertTrue(result.err().contains(message), result::toString);
        assertEquals(1, result.err().lines().count(), result::toString);
    }

    private static JsonNode json(final Cli.Result result) throws Exception
    {
        assertEquals(ExitCode.OK, result.exit(), result::toString);
        assertEquals(1, result.out().lines().count(), "one JSON document on one line: " + result);
        return JSON.readTree(result.out());
    }

    /** The value of the first row named {@code name} of a table. */
    private static long value(final String screen, final String name)
    {
        final Matcher row = row(screen, name);
        return Long.parseLong(row.group(1).replace(",", ""));
    }

    /** The rate of the first row named {@code name}, blank if it has none. */
    private static String rate(final String screen, final String name)
    {
        final Matcher row = row(screen, name);
        return row.group(3) == null ? "" : row.group(3);
    }

    private static Matcher row(final String screen, final String name)
    {
        final Matcher row = Pattern.compile("(?m)^  " + Pattern.quote(name) + " +([0-9,]+)( [a-z]+)?(?: +([0-9.,]+))?$")
            .matcher(screen);
        assertTrue(row.find(), "no row " + name + " in\n" + screen);
        return row;
    }

    private static int count(final String text, final String regex)
    {
        final Matcher matcher = Pattern.compile(regex).matcher(text);
        int found = 0;
        while (matcher.find())
        {
            found++;
        }
        return found;
    }
}
