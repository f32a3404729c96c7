package io.varvedb.metrics;

import io.micrometer.core.instrument.Tags;
import io.varvedb.Appender;
import io.varvedb.ConcurrencyConflictException;
import io.varvedb.ExpectedVersion;
import io.varvedb.Processor;
import io.varvedb.Subscription;
import io.varvedb.VarveDB;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The endpoint as Prometheus sees it: real HTTP scrapes of /metrics, parsed as the text exposition format.
 */
class VarvePrometheusTest
{
    @TempDir
    Path tmp;

    private static final byte[] PAYLOAD = new byte[64];
    private static HttpClient client;

    @BeforeAll
    static void client()
    {
        client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
    }

    @AfterAll
    static void noClient()
    {
        client = null;
    }

    private static HttpResponse<String> get(final URI uri, final String accept) throws Exception
    {
        final HttpRequest.Builder request = HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(30)).GET();
        if (accept != null)
        {
            request.header("Accept", accept);
        }
        return client.send(request.build(), HttpResponse.BodyHandlers.ofString());
    }

    private static Exposition scrape(final VarvePrometheus endpoint) throws Exception
    {
        final HttpResponse<String> response = get(endpoint.uri(), null);
        assertEquals(200, response.statusCode(), response.body());
        assertTrue(response.headers().firstValue("Content-Type").orElse("").startsWith("text/plain"),
            response.headers().toString());
        return Exposition.parse(response.body());
    }

    @Test
    void aScrapeShowsTheAppendsConflictsSubscriptionsAndProcessors() throws Exception
    {
        final int appends = 500;
        final int conflicts = 4;
        try (VarveDB db = VarveDB.open(Stores.small(tmp.resolve("orders")).recordAppendLatency(true).build());
            Appender appender = db.appender();
            VarvePrometheus endpoint = VarvePrometheus.start(db, 0))
        {
            assertTrue(endpoint.port() > 0);
            for (int i = 0; i < appends; i++)
            {
                appender.append(1 + (i % 5), ExpectedVersion.ANY, 1, PAYLOAD);
            }
            for (int i = 0; i < conflicts; i++)
            {
                assertThrows(ConcurrencyConflictException.class,
                    () -> appender.append(1, ExpectedVersion.NO_STREAM, 1, PAYLOAD));
            }
            final Subscription subscription = db.subscription(VarveDB.START_POSITION);
            assertEquals(100, subscription.poll((event) -> { }, 100));
            final Processor processor = db.processor("billing", (event) -> { });
            assertEquals(50, processor.poll(50));
            // let the store publish its latency histogram (about once a second) for the excerpt
            Thread.sleep(1_200);

            final HttpResponse<String> response = get(endpoint.uri(), null);
            assertEquals(200, response.statusCode());
            // the excerpt in metrics/README.md comes from here
            Files.writeString(Paths.get("target", "scrape-example.txt"), response.body());
            final Exposition scrape = Exposition.parse(response.body());

            assertEquals(appends, scrape.value("varve_appends_total", "store", "orders"));
            assertEquals(conflicts, scrape.value("varve_conflicts_total", "store", "orders"));
            assertEquals("events appended", scrape.help.get("varve_appends_total"));
            assertEquals("counter", scrape.types.get("varve_appends_total"));
            assertEquals("counter", scrape.types.get("varve_conflicts_total"));
            assertEquals("gauge", scrape.types.get("varve_durable_lag_bytes"));
            assertEquals(db.counters().total(io.varvedb.counters.CounterType.APPENDED_BYTES),
                scrape.value("varve_appended_bytes_total", "store", "orders"));

            assertEquals(subscription.position(),
                scrape.value("varve_subscription_position", "store", "orders", "subscription", "1 (all)"));
            assertEquals(db.tailPosition() - subscription.position(),
                scrape.value("varve_subscription_lag", "store", "orders", "subscription", "1 (all)"));
            assertEquals("gauge", scrape.types.get("varve_subscription_position"));
            assertEquals("a subscription's position", scrape.help.get("varve_subscription_position"));
            assertEquals(processor.position(),
                scrape.value("varve_processor_position", "store", "orders", "processor", "billing"));
            assertEquals(db.tailPosition() - processor.position(),
                scrape.value("varve_processor_lag_bytes", "store", "orders", "processor", "billing"));

            final double p99 = scrape.value("varve_append_latency_seconds", "quantile", "0.99");
            assertTrue(p99 > 0 && p99 <= scrape.value("varve_append_latency_max_seconds"), "p99 " + p99);

            // each scrape reads anew
            appender.append(1, ExpectedVersion.ANY, 1, PAYLOAD);
            assertEquals(appends + 1, scrape(endpoint).value("varve_appends_total", "store", "orders"));
            subscription.close();
            processor.close();
        }
    }

    @Test
    void aSubscriptionMadeAfterTheStartIsInTheNextScrapeAndGoneAfterItsClose() throws Exception
    {
        try (VarveDB db = VarveDB.open(Stores.small(tmp).build()); Appender appender = db.appender();
            VarvePrometheus endpoint = VarvePrometheus.start(db, 0))
        {
            for (int i = 0; i < 30; i++)
            {
                appender.append(9, ExpectedVersion.ANY, 1, PAYLOAD);
            }
            assertTrue(scrape(endpoint).find("varve_subscription_position").isEmpty());

            final Subscription stream = db.streamSubscription(9, 1);
            assertEquals(10, stream.poll((event) -> { }, 10));
            final Processor processor = db.processor("shipping", (event) -> { });
            processor.poll(5);
            // the first scrape after they were made
            final Exposition scrape = scrape(endpoint);
            assertEquals(11, scrape.value("varve_subscription_position", "subscription", "1 (stream 9)"));
            assertEquals(20, scrape.value("varve_subscription_lag", "subscription", "1 (stream 9)"));
            assertEquals(1, scrape.find("varve_processor_position", "processor", "shipping").size());

            stream.close();
            processor.close();
            final Exposition after = scrape(endpoint);
            assertTrue(after.find("varve_subscription_position").isEmpty(), after.samples.toString());
            assertTrue(after.find("varve_processor_position").isEmpty());
            assertEquals(30, after.value("varve_appends_total"));
        }
    }

    @Test
    void openMetricsProtobufAndGzipTooAsAPrometheusServerAsksForThem() throws Exception
    {
        try (VarveDB db = VarveDB.open(Stores.small(tmp).recordAppendLatency(true).build());
            Appender appender = db.appender();
            VarvePrometheus endpoint = VarvePrometheus.start(new VarveMetrics(db, Tags.of("env", "test")), "localhost",
                0))
        {
            appender.append(1, ExpectedVersion.ANY, 1, PAYLOAD);
            final Subscription subscription = db.subscription(VarveDB.START_POSITION);
            subscription.poll((event) -> { }, 10);
            Thread.sleep(1_200);
            final HttpResponse<String> response = get(endpoint.uri(),
                "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.1");
            assertEquals(200, response.statusCode());
            assertTrue(response.headers().firstValue("Content-Type").orElse("")
                .startsWith("application/openmetrics-text"), response.headers().toString());
            assertTrue(response.body().endsWith("# EOF\n"));
            final Exposition scrape = Exposition.parse(response.body());
            assertEquals(1, scrape.value("varve_appends_total", "env", "test", "store", tmp.getFileName().toString()));
            assertEquals("counter", scrape.types.get("varve_appends"));
            assertEquals(subscription.position(), scrape.value("varve_subscription_position", "subscription", "1 (all)"));
            assertTrue(scrape.value("varve_append_latency_seconds", "quantile", "0.5") > 0);
            subscription.close();
            // the protobuf format, and gzip, when asked for
            final HttpResponse<byte[]> protobuf = client.send(HttpRequest.newBuilder(endpoint.uri())
                .header("Accept", "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;" +
                    "encoding=delimited").header("Accept-Encoding", "gzip").build(),
                HttpResponse.BodyHandlers.ofByteArray());
            assertEquals(200, protobuf.statusCode());
            assertTrue(protobuf.headers().firstValue("Content-Type").orElse("")
                .startsWith("application/vnd.google.protobuf"), protobuf.headers().toString());
            assertEquals("gzip", protobuf.headers().firstValue("Content-Encoding").orElse(""));
            assertTrue(protobuf.body().length > 0);
            // the server's health check
            assertEquals(200, get(URI.create("http://localhost:" + endpoint.port() + "/-/healthy"), null).statusCode());
        }
    }

    @Test
    void countersOffServesNoVarveMetersAndDoesNotFail() throws Exception
    {
        try (VarveDB db = VarveDB.open(Stores.small(tmp).counters(false).build()); Appender appender = db.appender();
            VarvePrometheus endpoint = VarvePrometheus.start(db, 0))
        {
            appender.append(1, ExpectedVersion.ANY, 1, PAYLOAD);
            final Exposition scrape = scrape(endpoint);
            assertTrue(scrape.samples.stream().noneMatch((sample) -> sample.name.startsWith("varve_")),
                scrape.samples.toString());
        }
    }

    @Test
    void closingStopsServing() throws Exception
    {
        final URI uri;
        try (VarveDB db = VarveDB.open(Stores.small(tmp).build()))
        {
            try (VarvePrometheus endpoint = VarvePrometheus.start(db, 0))
            {
                uri = endpoint.uri();
                assertEquals(200, get(uri, null).statusCode());
            }
            assertThrows(java.io.IOException.class, () -> get(uri, null));
        }
    }
}
