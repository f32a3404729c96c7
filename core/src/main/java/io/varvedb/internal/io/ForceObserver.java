package io.varvedb.internal.io;

import org.agrona.concurrent.UnsafeBuffer;

import java.nio.file.Path;

/**
 * Sees every step that decides what of a store's files survives a power cut: files created and renamed, ranges
 * forced to disk, directories forced. Tests route these to a shadow copy of the store that holds exactly what was
 * forced, and "cut the power" by opening that copy alone. Not an API: the store calls it on its own threads, after
 * each step has completed, and {@link #NONE} costs nothing.
 */
public interface ForceObserver
{
    /** Observes nothing. */
    ForceObserver NONE = new ForceObserver()
    {
    };

    /**
     * A new file of {@code length} zero bytes, not yet durable in its directory.
     *
     * @param file   the file.
     * @param length its length.
     */
    default void created(final Path file, final long length)
    {
    }

    /**
     * A range of a mapped file reached the disk.
     *
     * @param file   the file.
     * @param buffer the mapping, holding the bytes that were forced.
     * @param offset first byte forced.
     * @param length bytes forced.
     */
    default void forced(final Path file, final UnsafeBuffer buffer, final int offset, final int length)
    {
    }

    /**
     * A file was renamed; the new name is durable once its directory is forced.
     *
     * @param from old name.
     * @param to   new name.
     */
    default void moved(final Path from, final Path to)
    {
    }

    /**
     * A file was deleted; the deletion is durable once its directory is forced.
     *
     * @param file the file.
     */
    default void deleted(final Path file)
    {
    }

    /**
     * A directory is about to be forced: its entries as of now will be durable once {@link #directoryForced}
     * follows on the same thread.
     *
     * @param directory the directory.
     */
    default void directoryForcing(final Path directory)
    {
    }

    /**
     * The directory forced since {@link #directoryForcing} on this thread reached the disk.
     *
     * @param directory the directory.
     */
    default void directoryForced(final Path directory)
    {
    }
}
