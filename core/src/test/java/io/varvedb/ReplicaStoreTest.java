package io.varvedb;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A replica store (VarveConfig.Builder.replicaOf) is written by its follower alone until promoted.
 */
class ReplicaStoreTest
{
    @TempDir
    Path dir;

    private VarveDB openReplica(final String source)
    {
        return VarveDB.open(VarveConfig.builder(dir).replicaOf(source).build());
    }

    @Test
    void anOrdinaryWriterIsRefusedBeforeAnythingIsWrittenUntilPromoted() throws Exception
    {
        try (VarveDB replica = openReplica("kafka:orders"); Appender appender = replica.appender())
        {
            appender.append(1, ExpectedVersion.NO_STREAM, 1, new byte[] {1, 2, 3});
            appender.append(1, ExpectedVersion.exact(1), 1, new byte[] {4});
        }
        assertEquals("kafka:orders", VarveDB.replicaSource(dir));
        final Map<String, String> before = files(dir);

        final ReplicaStoreException refused = assertThrows(ReplicaStoreException.class, () -> VarveDB.open(dir));
        assertTrue(refused.getMessage().contains("kafka:orders") && refused.getMessage().contains("promote"),
            refused.getMessage());
        assertEquals(before, files(dir), "a refused open wrote nothing");
        // another replica source is refused too
        assertThrows(ReplicaStoreException.class, () -> openReplica("kafka:payments"));
        assertEquals(before, files(dir));

        // read-only opens work as always
        try (VarveDB reader = VarveDB.openReadOnly(dir))
        {
            assertEquals(2, reader.streamVersion(1));
        }

        // promotion is refused while the follower has it open
        try (VarveDB follower = openReplica("kafka:orders"))
        {
            assertThrows(StoreLockedException.class, () -> VarveDB.promoteReplica(dir));
            assertEquals(2, follower.streamVersion(1));
        }
        assertEquals("kafka:orders", VarveDB.promoteReplica(dir));
        assertNull(VarveDB.replicaSource(dir));
        assertNull(VarveDB.promoteReplica(dir), "promoting a primary changes nothing");
        try (VarveDB primary = VarveDB.open(dir); Appender appender = primary.appender())
        {
            assertEquals(3, appender.append(1, ExpectedVersion.exact(2), 1, new byte[] {5}));
        }
        // a primary with events does not become a replica
        final ReplicaStoreException notEmpty = assertThrows(ReplicaStoreException.class,
            () -> openReplica("kafka:orders"));
        assertTrue(notEmpty.getMessage().contains("starts from an empty store"), notEmpty.getMessage());
        assertNull(VarveDB.replicaSource(dir));
    }

    @Test
    void anEmptyStoreMayBecomeAReplicaAndTheSourceMustBeOneLine()
    {
        VarveDB.open(dir).close();
        openReplica("kafka:t").close();
        assertEquals("kafka:t", VarveDB.replicaSource(dir));
        assertThrows(IllegalArgumentException.class, () -> VarveConfig.builder(dir).replicaOf(" "));
        assertThrows(IllegalArgumentException.class, () -> VarveConfig.builder(dir).replicaOf("a\nb"));
        assertThrows(IllegalArgumentException.class, () -> VarveConfig.builder(dir).replicaOf("x".repeat(5000)));
    }

    private static Map<String, String> files(final Path dir) throws Exception
    {
        final Map<String, String> files = new TreeMap<>();
        try (Stream<Path> all = Files.walk(dir))
        {
            for (final Path p : (Iterable<Path>)all::iterator)
            {
                if (Files.isRegularFile(p) && !p.getFileName().toString().equals("varve.counters"))
                {
                    files.put(dir.relativize(p).toString(), Files.size(p) + ":" +
                        java.util.Arrays.hashCode(Files.readAllBytes(p)));
                }
            }
        }
        return files;
    }
}
