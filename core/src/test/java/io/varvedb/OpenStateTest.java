package io.varvedb;

import io.varvedb.internal.store.MetaDescriptor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

import static org.junit.jupiter.api.Assertions.*;

/**
 * What an open reports about the state it found: a brand-new store is not a crash.
 */
class OpenStateTest
{
    @TempDir
    Path dir;

    @Test
    void aBrandNewStoreOpensCleanlyAndSaysItIsNew()
    {
        final Path store = dir.resolve("store");
        try (VarveDB db = VarveDB.open(TestStores.small(store)))
        {
            assertTrue(db.createdNew());
            assertTrue(db.openedCleanly(), "a store that did not exist cannot have crashed");
            assertEquals(-1, db.recoveredEvents(), "no recovery ran");
            assertEquals(-1, db.recoveryScannedFrom());
            assertEquals(0, db.recoveryDiscarded());
            db.appender().append(1, ExpectedVersion.NO_STREAM, 1, new byte[8]);
        }
        try (VarveDB db = VarveDB.open(TestStores.small(store)))
        {
            assertFalse(db.createdNew());
            assertTrue(db.openedCleanly());
            assertEquals(-1, db.recoveredEvents());
        }
        try (VarveDB db = VarveDB.openReadOnly(store))
        {
            assertFalse(db.createdNew());
            assertTrue(db.openedCleanly());
        }
    }

    @Test
    void aStoreTheWriterDidNotCloseStillReportsIt() throws Exception
    {
        final Path store = dir.resolve("store");
        try (VarveDB db = VarveDB.open(TestStores.small(store)))
        {
            db.appender().append(1, ExpectedVersion.NO_STREAM, 1, new byte[8]);
        }
        // what a killed writer leaves: the meta file marked open
        try (FileChannel meta = FileChannel.open(store.resolve(MetaDescriptor.FILE_NAME), StandardOpenOption.WRITE))
        {
            meta.write(ByteBuffer.allocate(Integer.BYTES).order(ByteOrder.LITTLE_ENDIAN)
                .putInt(0, MetaDescriptor.DIRTY), MetaDescriptor.CLEAN_SHUTDOWN_OFFSET);
        }
        try (VarveDB db = VarveDB.open(TestStores.small(store)))
        {
            assertFalse(db.createdNew());
            assertFalse(db.openedCleanly());
            assertTrue(db.recoveredEvents() >= 0, "recovery ran");
        }
    }

    /**
     * A watcher waiting for a store tells "no store here yet" from a disk error by its exception.
     */
    @Test
    void openReadOnlyWithoutAStoreThrowsNoStoreException() throws Exception
    {
        final Path missing = dir.resolve("missing");
        final NoStoreException noDirectory = assertThrows(NoStoreException.class, () -> VarveDB.openReadOnly(missing));
        assertTrue(noDirectory.getMessage().contains(missing.toString()), noDirectory.getMessage());
        assertFalse(java.nio.file.Files.exists(missing), "nothing created");

        final Path empty = java.nio.file.Files.createDirectory(dir.resolve("empty"));
        final NoStoreException noMeta = assertThrows(NoStoreException.class, () -> VarveDB.openReadOnly(empty));
        assertTrue(noMeta.getMessage().contains("varve.meta"), noMeta.getMessage());
        try (java.util.stream.Stream<Path> files = java.nio.file.Files.list(empty))
        {
            assertEquals(0, files.count(), "nothing created");
        }

        final Path file = java.nio.file.Files.writeString(dir.resolve("file"), "x");
        assertThrows(NoStoreException.class, () -> VarveDB.openReadOnly(file));
        final NoStoreException belowAFile = assertThrows(NoStoreException.class,
            () -> VarveDB.openReadOnly(file.resolve("store")), "a path below a file is no store either");
        assertTrue(belowAFile.getMessage().contains("is a file"), belowAFile.getMessage());
        assertThrows(NoStoreException.class,
            () -> VarveDB.openReadOnly(VarveConfig.builder(empty).build()));

        // and once the writer has made it, the same call opens it
        VarveDB.open(TestStores.small(empty)).close();
        try (VarveDB db = VarveDB.openReadOnly(empty))
        {
            assertTrue(db.openedCleanly());
        }
    }

    /** From an attack: a follower that opens while a writer creates the store must be told "no store yet". */
    @Test
    void aReadOnlyOpenOfAStoreBeingCreatedIsNoStoreExceptionNotADiskError() throws Exception
    {
        VarveDB.open(TestStores.small(dir)).close();
        // as a writer creating the store leaves it between its varve.meta and its stream index
        try (java.util.stream.Stream<Path> files = java.nio.file.Files.walk(dir.resolve("index")))
        {
            for (final Path file : files.sorted(java.util.Comparator.reverseOrder()).toList())
            {
                java.nio.file.Files.delete(file);
            }
        }
        final NoStoreException refused = assertThrows(NoStoreException.class, () -> VarveDB.openReadOnly(dir));
        assertTrue(refused.getMessage().contains("creating"), refused.getMessage());
    }
}
