package io.varvedb.metrics;

import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.varvedb.Appender;
import io.varvedb.ExpectedVersion;
import io.varvedb.Subscription;
import io.varvedb.VarveDB;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Scrapes over HTTP and reads of a second registry, all at once, while subscriptions come and go and appends go on:
 * no scrape fails, none blocks, and the appends counter never goes back. Bounded: a fixed number of scrapes.
 */
class ConcurrentScrapeTest
{
    @TempDir
    Path tmp;

    @Test
    void scrapesReadsAndSubscriptionChurnTogether() throws Exception
    {
        final ExecutorService pool = Executors.newFixedThreadPool(5);
        final AtomicBoolean done = new AtomicBoolean();
        try (VarveDB db = VarveDB.open(Stores.small(tmp).build());
            VarveMetrics metrics = new VarveMetrics(db);
            VarvePrometheus endpoint = VarvePrometheus.start(metrics, "localhost", 0))
        {
            final MeterRegistry other = new SimpleMeterRegistry();
            metrics.bindTo(other);
            final List<Future<?>> work = new ArrayList<>();
            work.add(pool.submit(() ->
            {
                try (Appender appender = db.appender())
                {
                    while (!done.get())
                    {
                        appender.append(1, ExpectedVersion.ANY, 1, new byte[32]);
                    }
                }
                return null;
            }));
            work.add(pool.submit(() ->
            {
                int n = 0;
                while (!done.get())
                {
                    try (Subscription subscription = db.subscription(VarveDB.START_POSITION))
                    {
                        subscription.poll((event) -> { }, 1 + (n++ % 50));
                    }
                }
                return null;
            }));
            work.add(pool.submit(() ->
            {
                while (!done.get())
                {
                    for (final Meter meter : other.getMeters())
                    {
                        meter.measure().forEach((measurement) -> measurement.getValue());
                    }
                }
                return null;
            }));
            final List<Future<Integer>> scrapers = new ArrayList<>();
            for (int t = 0; t < 2; t++)
            {
                scrapers.add(pool.submit(() ->
                {
                    final HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
                    double last = 0;
                    for (int i = 0; i < 100; i++)
                    {
                        final HttpResponse<String> response = client.send(HttpRequest.newBuilder(endpoint.uri())
                            .timeout(Duration.ofSeconds(30)).build(), HttpResponse.BodyHandlers.ofString());
                        assertEquals(200, response.statusCode());
                        final double appends = Exposition.parse(response.body()).value("varve_appends_total");
                        assertTrue(appends >= last, appends + " after " + last);
                        last = appends;
                    }
                    return 100;
                }));
            }
            for (final Future<Integer> scraper : scrapers)
            {
                assertEquals(100, scraper.get(120, TimeUnit.SECONDS));
            }
            done.set(true);
            for (final Future<?> future : work)
            {
                future.get(60, TimeUnit.SECONDS);
            }
        }
        finally
        {
            done.set(true);
            pool.shutdownNow();
            assertTrue(pool.awaitTermination(60, TimeUnit.SECONDS));
        }
    }
}
