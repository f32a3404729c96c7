package io.varvedb.internal.io;

import io.varvedb.StoreFormatException;
import org.agrona.DirectBuffer;

import java.nio.file.Path;

/**
 * Checks that a mapped file is the VarveDB file it should be before anything else reads it.
 */
public final class FileHeaders
{
    private FileHeaders()
    {
    }

    /**
     * @param buffer               over the file.
     * @param path                 for the message.
     * @param minLength            the smallest length a valid file of this kind can have.
     * @param magicOffset          where the magic is.
     * @param magic                the expected magic.
     * @param versionOffset        where the format version is.
     * @param supportedVersion     the only format version this build reads.
     * @param kind                 a few words naming the kind of file, for the message.
     * @throws StoreFormatException when the file is too short, foreign or of another format version.
     */
    public static void check(
        final DirectBuffer buffer,
        final Path path,
        final int minLength,
        final int magicOffset,
        final long magic,
        final int versionOffset,
        final int supportedVersion,
        final String kind)
    {
        if (buffer.capacity() < minLength)
        {
            throw new StoreFormatException(path + " is not a VarveDB " + kind + ": " + buffer.capacity() +
                " bytes, shorter than its " + minLength + "-byte header");
        }
        final long actualMagic = buffer.getLong(magicOffset);
        if (actualMagic != magic)
        {
            throw new StoreFormatException(path + " is not a VarveDB " + kind + " (magic 0x" +
                Long.toHexString(actualMagic) + ", expected 0x" + Long.toHexString(magic) + "); left untouched");
        }
        final int version = buffer.getInt(versionOffset);
        if (version != supportedVersion)
        {
            throw new StoreFormatException(path + " is a VarveDB " + kind + " of format version " + version +
                ", this build reads version " + supportedVersion + "; left untouched");
        }
    }
}
