package io.varvedb.internal.store;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;

/**
 * {@code varve.replica}: present while the store is a replica that follows a primary. It holds one line of UTF-8
 * text, the source the replica follows (such as {@code kafka://host:9092/topic}); an ordinary writer refuses to open
 * a store that has it, so nothing but the follower writes to a replica until an operator promotes it, which removes
 * the file. Written whole under a temporary name, forced, renamed into place and the directory forced: the marker is
 * there whole or not at all, whatever crashes.
 */
public final class ReplicaMarker
{
    /** The marker's file name in the store directory. */
    public static final String FILE_NAME = "varve.replica";
    /** Longest source text kept. */
    public static final int MAX_SOURCE_LENGTH = 4096;

    private ReplicaMarker()
    {
    }

    /**
     * @param directory the store directory.
     * @return the source the replica follows, or null if the store is no replica.
     * @throws IOException if the marker exists but cannot be read.
     */
    public static String read(final Path directory) throws IOException
    {
        try
        {
            final byte[] bytes = Files.readAllBytes(directory.resolve(FILE_NAME));
            return new String(bytes, 0, Math.min(bytes.length, MAX_SOURCE_LENGTH), StandardCharsets.UTF_8).trim();
        }
        catch (final NoSuchFileException ex)
        {
            return null;
        }
    }

    /**
     * Make the store a replica of {@code source}, durably.
     *
     * @param directory the store directory.
     * @param source    what it follows.
     * @throws IOException if the marker cannot be written.
     */
    public static void write(final Path directory, final String source) throws IOException
    {
        final Path temp = directory.resolve(FILE_NAME + ".tmp");
        try (FileChannel channel = FileChannel.open(temp, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
            StandardOpenOption.TRUNCATE_EXISTING))
        {
            channel.write(java.nio.ByteBuffer.wrap((source + "\n").getBytes(StandardCharsets.UTF_8)));
            channel.force(true);
        }
        try
        {
            Files.move(temp, directory.resolve(FILE_NAME), StandardCopyOption.ATOMIC_MOVE,
                StandardCopyOption.REPLACE_EXISTING);
        }
        catch (final AtomicMoveNotSupportedException ex)
        {
            Files.move(temp, directory.resolve(FILE_NAME), StandardCopyOption.REPLACE_EXISTING);
        }
        forceDirectory(directory);
    }

    /**
     * Remove the marker durably: the store is a primary from now on.
     *
     * @param directory the store directory.
     * @return true if there was a marker.
     * @throws IOException if it cannot be removed.
     */
    public static boolean remove(final Path directory) throws IOException
    {
        final boolean removed = Files.deleteIfExists(directory.resolve(FILE_NAME));
        if (removed)
        {
            forceDirectory(directory);
        }
        return removed;
    }

    private static void forceDirectory(final Path directory)
    {
        try (FileChannel dir = FileChannel.open(directory, StandardOpenOption.READ))
        {
            dir.force(true);
        }
        catch (final IOException ex)
        {
            // some file systems cannot open a directory to force it; the rename is as durable as they make it
        }
    }
}
