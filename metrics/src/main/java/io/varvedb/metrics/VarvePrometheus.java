package io.varvedb.metrics;

import io.micrometer.core.instrument.Clock;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.prometheus.metrics.exporter.httpserver.HTTPServer;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.registry.PrometheusScrapeRequest;
import io.prometheus.metrics.model.snapshots.MetricSnapshots;
import io.varvedb.VarveDB;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.util.function.Predicate;

/**
 * A ready Prometheus endpoint for a store: its {@link VarveMetrics} in a {@link PrometheusMeterRegistry} of its own,
 * served at {@code /metrics} by the Prometheus Java client's HTTP server ({@code prometheus-metrics-exporter-httpserver},
 * on the JDK's {@code com.sun.net.httpserver}), which speaks the text format, OpenMetrics and the protobuf format,
 * compresses when asked, and answers {@code /-/healthy}. One line:
 * <pre>{@code
 * VarvePrometheus endpoint = VarvePrometheus.start(db, 9404);   // close() when done; port 0 takes a free one
 * }</pre>
 * Every scrape reads the counters once, just before, so a subscription or processor made since the last scrape is in
 * this one. {@link #registry()} is there to bind more (the JVM's meters, say) to the same endpoint.
 */
public final class VarvePrometheus implements AutoCloseable
{
    private final VarveMetrics metrics;
    private final boolean ownsMetrics;
    private final PrometheusMeterRegistry registry;
    private final HTTPServer server;
    private final String host;

    private VarvePrometheus(final VarveMetrics metrics, final boolean ownsMetrics, final String host, final int port)
    {
        this.metrics = metrics;
        this.ownsMetrics = ownsMetrics;
        this.host = host;
        final RefreshingRegistry prometheusRegistry = new RefreshingRegistry(metrics);
        this.registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT, prometheusRegistry, Clock.SYSTEM);
        try
        {
            metrics.bindTo(registry);
            final HTTPServer.Builder builder = HTTPServer.builder().port(port).registry(prometheusRegistry);
            if (host != null)
            {
                builder.hostname(host);
            }
            this.server = builder.buildAndStart();
        }
        catch (final IOException ex)
        {
            release();
            throw new UncheckedIOException("cannot serve metrics on " + (host == null ? "" : host) + ":" + port + ": " +
                ex.getMessage(), ex);
        }
        catch (final RuntimeException | Error ex)
        {
            release();
            throw ex;
        }
    }

    /**
     * Serve a store's meters at {@code /metrics} on a port of every interface.
     *
     * @param db   the store.
     * @param port the port; 0 for any free one ({@link #port()} says which).
     * @return the endpoint, serving; close it to stop.
     * @throws UncheckedIOException if the port cannot be had.
     */
    public static VarvePrometheus start(final VarveDB db, final int port)
    {
        return new VarvePrometheus(new VarveMetrics(db), true, null, port);
    }

    /**
     * Serve a binder's meters at {@code /metrics} on a port of every interface: {@link #start(VarveMetrics, String,
     * int)} with no host.
     *
     * @param metrics the meters.
     * @param port    the port; 0 for any free one.
     * @return the endpoint, serving; close it to stop.
     * @throws UncheckedIOException if the port cannot be had.
     */
    public static VarvePrometheus start(final VarveMetrics metrics, final int port)
    {
        return new VarvePrometheus(metrics, false, null, port);
    }

    /**
     * Serve a binder's meters (one with tags of your own, or {@link VarveMetrics#ofStore} for a store other processes
     * have open) at {@code /metrics}. Closing the endpoint takes them out of its registry; the binder stays yours to
     * close.
     *
     * @param metrics the meters.
     * @param host    the address to listen on ({@code localhost}, say); null for every interface.
     * @param port    the port; 0 for any free one.
     * @return the endpoint, serving; close it to stop.
     * @throws UncheckedIOException if the port cannot be had.
     */
    public static VarvePrometheus start(final VarveMetrics metrics, final String host, final int port)
    {
        return new VarvePrometheus(metrics, false, host, port);
    }

    /**
     * @return the port it listens on.
     */
    public int port()
    {
        return server.getPort();
    }

    /**
     * @return where Prometheus scrapes it: {@code http://host:port/metrics} ({@code localhost} when it listens on
     * every interface).
     */
    public URI uri()
    {
        return URI.create("http://" + (host == null ? "localhost" : host) + ":" + port() + "/metrics");
    }

    /**
     * @return the registry it serves, to bind more meters to.
     */
    public PrometheusMeterRegistry registry()
    {
        return registry;
    }

    /**
     * Stop serving, and let go of the meters.
     */
    @Override
    public void close()
    {
        try
        {
            server.close();
        }
        finally
        {
            release();
        }
    }

    private void release()
    {
        if (ownsMetrics)
        {
            metrics.close();
        }
        else
        {
            metrics.unbind(registry);
        }
        registry.close();
    }

    @Override
    public String toString()
    {
        return "VarvePrometheus{" + metrics + ", port " + port() + "}";
    }

    /** The Prometheus registry the server scrapes: it reads the store's counters just before each scrape. */
    private static final class RefreshingRegistry extends PrometheusRegistry
    {
        private final VarveMetrics metrics;

        RefreshingRegistry(final VarveMetrics metrics)
        {
            this.metrics = metrics;
        }

        @Override
        public MetricSnapshots scrape(final PrometheusScrapeRequest request)
        {
            metrics.refresh();
            return super.scrape(request);
        }

        @Override
        public MetricSnapshots scrape(final Predicate<String> includedNames, final PrometheusScrapeRequest request)
        {
            metrics.refresh();
            return super.scrape(includedNames, request);
        }
    }
}
