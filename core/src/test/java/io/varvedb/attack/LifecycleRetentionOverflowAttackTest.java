package io.varvedb.attack;

import io.varvedb.*;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Promise broken: {@code VarveConfig.Builder.retainLogFor(age)} accepts any positive {@code Duration} ("how long events
 * are kept"), and {@code retainLogBytes(n)} drops the oldest segments while the log holds more than n bytes.
 * <p>
 * How: {@code retainLogFor(Duration.ofDays(365_000))} (1,000 years, "keep practically for ever", accepted by the
 * builder) overflows {@code Duration.toNanos()} in the background retention check: every check throws
 * {@code ArithmeticException: long overflow} into the background error handler (once a second, for ever), and the
 * check dies before applying {@code retainLogBytes}, so the size limit is never enforced: the log grows without bound.
 * Expected: no error, the age limit drops nothing, the byte limit moves the log start.
 */
class LifecycleRetentionOverflowAttackTest
{
    @TempDir
    Path dir;

    @Test
    void aVeryLongRetainLogForNeitherFailsTheBackgroundWorkNorDisablesRetainLogBytes() throws Exception
    {
        final List<Throwable> errors = Collections.synchronizedList(new ArrayList<>());
        final VarveConfig config = VarveConfig.builder(dir).segmentSize(64 * 1024).indexCapacity(1024)
            .indexBlocksPerChunk(16).backgroundThreading(BackgroundThreading.INVOKED)
            .retainLogFor(Duration.ofDays(365L * 1000)).retainLogBytes(2L * 64 * 1024)
            .backgroundErrorHandler(errors::add).build();
        try (VarveDB db = VarveDB.open(config))
        {
            final Appender appender = db.appender();
            for (int i = 0; i < 2000; i++)
            {
                appender.append(1, ExpectedVersion.ANY, 1, new byte[200]);
            }
            final long deadline = System.nanoTime() + 2_500_000_000L;
            while (System.nanoTime() < deadline && db.logStart() == 0)
            {
                db.doBackgroundWork();
                Thread.sleep(20);
            }
            assertTrue(db.logStart() > 0, "retainLogBytes never applied; background errors: " + errors);
            assertEquals(List.of(), errors);
        }
    }
}
