package io.varvedb;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Issue 19, item 7: a missing segment file, or a missing {@code log/} directory, is damage to every kind of
 * opener and reader, never the end of the log. A read-only open refuses exactly what a writer refuses.
 */
class MissingLogTest
{
    @TempDir
    Path dir;

    private static List<StoreChecker.Event> populate(final Path store)
    {
        try (VarveDB db = VarveDB.open(TestStores.small(store)))
        {
            final Appender appender = db.appender();
            for (int i = 0; i < 1233; i++)
            {
                appender.append(1 + i % 7, ExpectedVersion.ANY, i, ("event-" + i + "-" + "y".repeat(100)).getBytes());
            }
            return StoreChecker.readAll(db);
        }
    }

    private static long segments(final Path store) throws IOException
    {
        try (Stream<Path> files = Files.list(store.resolve("log")))
        {
            return files.filter((f) -> f.getFileName().toString().endsWith(".log")).count();
        }
    }

    private static void deleteTree(final Path path) throws IOException
    {
        try (Stream<Path> files = Files.walk(path))
        {
            for (final Path file : files.sorted(java.util.Comparator.reverseOrder()).toList())
            {
                Files.delete(file);
            }
        }
    }

    private void refusedByEveryOpener(final Path template, final String what, final Damage damage) throws IOException
    {
        final Path writer = dir.resolve(what + "-writer");
        RecoveryTest.copy(template, writer);
        damage.apply(writer);
        final CorruptStoreException byWriter = assertThrows(CorruptStoreException.class,
            () -> VarveDB.open(TestStores.small(writer)).close(), what + ": the writer refuses");

        final Path reader = dir.resolve(what + "-reader");
        RecoveryTest.copy(template, reader);
        damage.apply(reader);
        final CorruptStoreException byReader = assertThrows(CorruptStoreException.class,
            () -> VarveDB.openReadOnly(reader).close(), what + ": a read-only open refuses as the writer does (" +
            byWriter.getMessage() + ")");
        assertTrue(byReader.getMessage().contains("missing"), byReader.getMessage());
    }

    private interface Damage
    {
        void apply(Path store) throws IOException;
    }

    @Test
    void aMissingSegmentOrLogDirectoryIsRefusedByReadOnlyOpensAsByTheWriter() throws IOException
    {
        final Path template = dir.resolve("template");
        populate(template);
        final long count = segments(template);
        assertTrue(count >= 3, "a few segments: " + count);

        refusedByEveryOpener(template, "middle", (store) -> Files.delete(RecoveryTest.segmentFile(store, 1)));
        refusedByEveryOpener(template, "first", (store) -> Files.delete(RecoveryTest.segmentFile(store, 0)));
        refusedByEveryOpener(template, "log", (store) -> deleteTree(store.resolve("log")));
    }

    /**
     * A follower that opened before the damage reads every event before the missing segment, then gets a
     * {@link CorruptStoreException} naming it, from readAll and in its subscription's failure, never a quiet end.
     */
    @Test
    void aSegmentDeletedUnderAFollowerIsReportedNotTakenForTheEnd() throws Exception
    {
        final Path store = dir.resolve("store");
        final List<StoreChecker.Event> original = populate(store);
        try (VarveDB follower = VarveDB.openReadOnly(store))
        {
            Files.delete(RecoveryTest.segmentFile(store, 1));
            final CorruptStoreException fromReadAll = assertThrows(CorruptStoreException.class,
                () -> StoreChecker.readAll(follower));
            assertTrue(fromReadAll.getMessage().contains(RecoveryTest.segmentFile(store, 1).getFileName().toString()),
                fromReadAll.getMessage());

            final AtomicInteger delivered = new AtomicInteger();
            final AtomicReference<Throwable> reported = new AtomicReference<>();
            try (RunningSubscription subscription = follower.subscribeToAll(VarveDB.START_POSITION,
                (e) -> delivered.incrementAndGet(), SubscriptionOptions.defaults().errorHandler(reported::set)))
            {
                SubscriptionTest.await(() -> !subscription.isRunning(), "the subscription stops");
                assertNotNull(subscription.failure(), "it failed");
                assertInstanceOf(CorruptStoreException.class, subscription.failure().getCause());
                assertSame(subscription.failure(), reported.get(), "the error handler saw it");
                assertTrue(delivered.get() > 0 && delivered.get() < original.size(),
                    "delivered what comes before the missing segment: " + delivered.get());
            }
        }
    }
}
