package io.varvedb.metrics;

import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.TimeGauge;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.varvedb.Appender;
import io.varvedb.ConcurrencyConflictException;
import io.varvedb.EventTooLargeException;
import io.varvedb.ExpectedVersion;
import io.varvedb.Processor;
import io.varvedb.Subscription;
import io.varvedb.VarveDB;
import io.varvedb.counters.CounterType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * VarveMetrics on a registry of one's own (Micrometer's SimpleMeterRegistry), over a real store: the meters read what
 * was done, tagged meters come and go with what they belong to, counters off binds nothing.
 */
class VarveMetricsTest
{
    @TempDir
    Path tmp;

    private static final byte[] PAYLOAD = new byte[64];

    @Test
    void metersReadTheAppendsAndConflictsDone() throws Exception
    {
        final int appends = 1_000;
        final int conflicts = 7;
        final MeterRegistry registry = new SimpleMeterRegistry();
        try (VarveDB db = VarveDB.open(Stores.small(tmp.resolve("orders")).build()); Appender appender = db.appender())
        {
            new VarveMetrics(db, Tags.of("service", "inventory")).bindTo(registry);
            for (int i = 0; i < appends; i++)
            {
                appender.append(1 + (i % 10), ExpectedVersion.ANY, 1, PAYLOAD);
            }
            for (int i = 0; i < conflicts; i++)
            {
                assertThrows(ConcurrencyConflictException.class,
                    () -> appender.append(1, ExpectedVersion.exact(1), 1, PAYLOAD));
            }

            final FunctionCounter appended = registry.get("varve.appends").tag("store", "orders")
                .tag("service", "inventory").functionCounter();
            assertEquals(appends, appended.count());
            assertEquals(conflicts, registry.get("varve.conflicts").functionCounter().count());
            assertEquals(CounterType.APPENDS.description(), appended.getId().getDescription());
            assertEquals(db.counters().total(CounterType.APPENDED_BYTES),
                registry.get("varve.appended.bytes").functionCounter().count());
            assertEquals("bytes", registry.get("varve.appended.bytes").functionCounter().getId().getBaseUnit());
            // a level is a gauge; the store publishes levels about every 100 ms, and each read of it reads anew
            final Gauge streams = registry.get("varve.index.streams").gauge();
            final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (streams.value() != 10 && System.nanoTime() < deadline)
            {
                Thread.onSpinWait();
            }
            assertEquals(10, streams.value());
            assertTrue(registry.get("varve.open.time").meter() instanceof TimeGauge);

            // one meter per untagged type, each a counter or a gauge as its type says
            for (final CounterType type : CounterType.values())
            {
                if (VarveMetrics.tagName(type) == null)
                {
                    final Meter meter = registry.get(VarveMetrics.name(type)).meter();
                    assertEquals(type.isGauge() ? Meter.Type.GAUGE : Meter.Type.COUNTER, meter.getId().getType(),
                        type.toString());
                }
            }

            // one snapshot per scrape: the meters read after the first read the same snapshot...
            Thread.sleep(VarveMetrics.MAX_AGE_NANOS / 1_000_000 + 50);
            assertEquals(appends, appended.count());
            appender.append(1, ExpectedVersion.ANY, 1, PAYLOAD);
            assertThrows(ConcurrencyConflictException.class,
                () -> appender.append(1, ExpectedVersion.exact(1), 1, PAYLOAD));
            final FunctionCounter conflicted = registry.get("varve.conflicts").functionCounter();
            assertEquals(conflicts, conflicted.count());
            // ...and a meter read again begins the next scrape, which reads the counters as they are now
            assertEquals(appends + 1, appended.count());
            assertEquals(conflicts + 1, conflicted.count());
        }
    }

    @Test
    void theOneLinerKeepsWorkingAfterAGarbageCollection() throws Exception
    {
        final MeterRegistry registry = new SimpleMeterRegistry();
        try (VarveDB db = VarveDB.open(Stores.small(tmp).build()); Appender appender = db.appender())
        {
            new VarveMetrics(db).bindTo(registry);
            for (int i = 0; i < 20; i++)
            {
                System.gc();
                Thread.sleep(5);
            }
            appender.append(1, ExpectedVersion.ANY, 1, PAYLOAD);
            // Micrometer holds a function counter's object weakly: the binder must still be there
            assertEquals(1, registry.get("varve.appends").functionCounter().count());
            assertEquals(4096, registry.get("varve.index.capacity").gauge().value());
        }
    }

    @Test
    void subscriptionsProcessorsAndErrorsComeAndGoWithTheirTags()
    {
        final MeterRegistry registry = new SimpleMeterRegistry();
        try (VarveDB db = VarveDB.open(Stores.small(tmp).build()); Appender appender = db.appender())
        {
            final VarveMetrics metrics = new VarveMetrics(db);
            metrics.bindTo(registry);
            assertNull(registry.find("varve.subscription.position").gauge());
            assertNull(registry.find("varve.errors").functionCounter());

            for (int i = 0; i < 50; i++)
            {
                appender.append(7, ExpectedVersion.ANY, 1, PAYLOAD);
            }
            final Subscription all = db.subscription(VarveDB.START_POSITION);
            assertEquals(20, all.poll((event) -> { }, 20));
            final Subscription stream = db.streamSubscription(7, 1);
            assertEquals(30, stream.poll((event) -> { }, 30));
            final Processor processor = db.processor("billing", (event) -> { });
            while (processor.poll(100) > 0)
            {
                // to the end
            }
            for (int i = 0; i < 3; i++)
            {
                assertThrows(EventTooLargeException.class,
                    () -> appender.append(1, ExpectedVersion.ANY, 1, new byte[Stores.SEGMENT]));
            }

            // with a registry of one's own, a read of any meter refreshes: the new meters are there after it
            registry.get("varve.appends").functionCounter().count();
            assertEquals(all.position(),
                registry.get("varve.subscription.position").tag("subscription", "1 (all)").gauge().value());
            assertEquals(db.tailPosition() - all.position(),
                registry.get("varve.subscription.lag").tag("subscription", "1 (all)").gauge().value());
            assertEquals(31,
                registry.get("varve.subscription.position").tag("subscription", "2 (stream 7)").gauge().value());
            assertEquals(20,
                registry.get("varve.subscription.lag").tag("subscription", "2 (stream 7)").gauge().value());
            assertEquals(db.tailPosition(),
                registry.get("varve.processor.position").tag("processor", "billing").gauge().value());
            assertEquals(0, registry.get("varve.processor.lag").tag("processor", "billing").gauge().value());
            assertNotNull(registry.get("varve.processor.checkpoints").tag("processor", "billing").functionCounter());
            assertEquals(3,
                registry.get("varve.errors").tag("kind", "EventTooLargeException").functionCounter().count());

            // closed: gone at the next refresh
            all.close();
            processor.close();
            metrics.refresh();
            assertNull(registry.find("varve.subscription.position").tag("subscription", "1 (all)").gauge());
            assertNull(registry.find("varve.processor.position").gauge());
            assertNull(registry.find("varve.processor.checkpoints").functionCounter());
            assertNotNull(registry.find("varve.subscription.position").tag("subscription", "2 (stream 7)").gauge());
            stream.close();
        }
    }

    @Test
    void appendLatencyPercentilesWhenRecorded() throws Exception
    {
        final MeterRegistry registry = new SimpleMeterRegistry();
        try (VarveDB db = VarveDB.open(Stores.small(tmp).recordAppendLatency(true).build());
            Appender appender = db.appender())
        {
            final VarveMetrics metrics = new VarveMetrics(db);
            metrics.bindTo(registry);
            for (int i = 0; i < 2_000; i++)
            {
                appender.append(1, ExpectedVersion.ANY, 1, PAYLOAD);
            }
            // the store publishes its histogram about once a second
            final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (registry.find("varve.append.latency.max").timeGauge() == null && System.nanoTime() < deadline)
            {
                Thread.sleep(50);
                metrics.refresh();
            }
            final TimeGauge max = registry.get("varve.append.latency.max").timeGauge();
            final TimeGauge p50 = registry.get("varve.append.latency").tag("quantile", "0.5").timeGauge();
            final TimeGauge p99 = registry.get("varve.append.latency").tag("quantile", "0.99").timeGauge();
            final TimeGauge p999 = registry.get("varve.append.latency").tag("quantile", "0.999").timeGauge();
            assertTrue(p50.value(TimeUnit.NANOSECONDS) > 0, "p50 " + p50.value(TimeUnit.NANOSECONDS));
            assertTrue(p99.value(TimeUnit.NANOSECONDS) >= p50.value(TimeUnit.NANOSECONDS));
            assertTrue(p999.value(TimeUnit.NANOSECONDS) >= p99.value(TimeUnit.NANOSECONDS));
            assertTrue(max.value(TimeUnit.NANOSECONDS) >= p999.value(TimeUnit.NANOSECONDS));
            // and not at all without it
            assertNull(registry.find("varve.open.time").tags("store", "x").timeGauge());
        }
        final MeterRegistry other = new SimpleMeterRegistry();
        try (VarveDB db = VarveDB.open(Stores.small(tmp.resolve("plain")).build()); Appender appender = db.appender())
        {
            new VarveMetrics(db).bindTo(other);
            appender.append(1, ExpectedVersion.ANY, 1, PAYLOAD);
            other.get("varve.appends").functionCounter().count();
            assertNull(other.find("varve.append.latency").timeGauge());
        }
    }

    @Test
    void countersOffRegistersNothingAndDoesNotFail()
    {
        final MeterRegistry registry = new SimpleMeterRegistry();
        try (VarveDB db = VarveDB.open(Stores.small(tmp).counters(false).build()); Appender appender = db.appender())
        {
            final VarveMetrics metrics = new VarveMetrics(db);
            metrics.bindTo(registry);
            appender.append(1, ExpectedVersion.ANY, 1, PAYLOAD);
            metrics.refresh();
            assertTrue(registry.getMeters().isEmpty(), registry.getMeters().toString());
            metrics.close();
        }
    }

    @Test
    void aClosedStoreLosesItsMetersAndCloseRemovesThemFromEveryRegistry()
    {
        final MeterRegistry first = new SimpleMeterRegistry();
        final MeterRegistry second = new SimpleMeterRegistry();
        final VarveMetrics metrics;
        try (VarveDB db = VarveDB.open(Stores.small(tmp.resolve("a")).build()))
        {
            metrics = new VarveMetrics(db);
            metrics.bindTo(first);
            metrics.bindTo(second);
            assertFalse(first.getMeters().isEmpty());
            assertEquals(first.getMeters().size(), second.getMeters().size());
        }
        // a read after the store closed: no exception, and the meters go
        final FunctionCounter appends = first.get("varve.appends").functionCounter();
        assertTrue(Double.isNaN(appends.count()));
        assertTrue(first.getMeters().isEmpty(), first.getMeters().toString());
        assertTrue(second.getMeters().isEmpty());

        try (VarveDB db = VarveDB.open(Stores.small(tmp.resolve("b")).build()))
        {
            final VarveMetrics open = new VarveMetrics(db);
            open.bindTo(first);
            open.bindTo(second);
            open.close();
            assertTrue(first.getMeters().isEmpty());
            assertTrue(second.getMeters().isEmpty());
            assertThrows(IllegalStateException.class, () -> open.bindTo(first));
        }
        metrics.close();
    }

    @Test
    void ofStoreReadsTheCountersFileWithPidAndRole()
    {
        final MeterRegistry registry = new SimpleMeterRegistry();
        final Path dir = tmp.resolve("shared");
        try (VarveMetrics metrics = VarveMetrics.ofStore(dir))
        {
            // no store yet: only the count of instances, at zero
            metrics.bindTo(registry);
            assertEquals(0, registry.get("varve.processes").gauge().value());
            assertEquals(1, registry.getMeters().size());
            try (VarveDB db = VarveDB.open(Stores.small(dir).build()); Appender appender = db.appender())
            {
                for (int i = 0; i < 25; i++)
                {
                    appender.append(3, ExpectedVersion.ANY, 1, PAYLOAD);
                }
                // the read of varve.processes refreshes, and finds the instance
                assertEquals(1, registry.get("varve.processes").gauge().value());
                final String pid = Long.toString(ProcessHandle.current().pid());
                assertEquals(25, registry.get("varve.appends").tag("pid", pid).tag("role", "writer")
                    .tag("store", "shared").functionCounter().count());
            }
            // closed: left out
            metrics.refresh();
            assertEquals(0, registry.get("varve.processes").gauge().value());
            assertNull(registry.find("varve.appends").functionCounter());
        }
        assertTrue(registry.getMeters().isEmpty());
    }

    @Test
    void tagValuesLeaveOutWhatTheNameSays()
    {
        assertEquals("3 (all)", VarveMetrics.tagValue(CounterType.SUBSCRIPTION_POSITION, "subscription 3 (all) position"));
        assertEquals("4 (stream 7)", VarveMetrics.tagValue(CounterType.SUBSCRIPTION_LAG, "subscription 4 (stream 7) lag"));
        assertEquals("billing lag", VarveMetrics.tagValue(CounterType.PROCESSOR_LAG, "processor billing lag lag"));
        assertEquals("billing", VarveMetrics.tagValue(CounterType.PROCESSOR_CHECKPOINTS, "processor billing checkpoints"));
        assertEquals("SubscriptionException", VarveMetrics.tagValue(CounterType.ERRORS, "errors: SubscriptionException"));
        assertEquals("something else", VarveMetrics.tagValue(CounterType.ERRORS, "something else"));
    }
}
