package io.varvedb.internal.io;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class FileSpaceTest
{
    private static final int MIB = 1 << 20;

    @TempDir
    Path dir;

    @Test
    void onLinuxWithJnaNewSpaceIsFallocatedNotWritten() throws Exception
    {
        // JNA is on core's test class path (an optional dependency); this machine is Linux
        assertEquals(FileSpace.FALLOCATE, FileSpace.method());
        final Path file = sparse(4 * MIB);
        FileSpace.allocate(file, MIB, 3 * MIB);
        // 512-byte blocks: the two MiB have disk blocks now, the rest is still a hole
        final long blocks = blocks(file);
        assertTrue(blocks >= 2 * MIB / 512 && blocks < 3 * MIB / 512, blocks + " blocks");
        assertZeros(file);
    }

    @Test
    void aFileSystemWithoutFallocateGetsTheZeroFill() throws Exception
    {
        final Path file = sparse(4 * MIB);
        final int[] calls = new int[1];
        FileSpace.allocate(fake(FileSpace.EOPNOTSUPP, calls), file, 0, 2 * MIB);
        assertEquals(1, calls[0]);
        assertTrue(blocks(file) >= 2 * MIB / 512, blocks(file) + " blocks");
        assertZeros(file);
    }

    @Test
    void aFullDiskIsAnExceptionNamingTheError() throws Exception
    {
        final Path file = sparse(4 * MIB);
        final int enospc = 28;
        final IOException ex = assertThrows(IOException.class,
            () -> FileSpace.allocate(fake(enospc, new int[1]), file, 0, MIB));
        assertTrue(ex.getMessage().startsWith("No space left on device"), ex.getMessage());
        // nothing written instead
        assertEquals(0, blocks(file));
    }

    private Path sparse(final int length) throws IOException
    {
        final Path file = dir.resolve("f" + System.nanoTime());
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE))
        {
            channel.truncate(0);
            channel.write(ByteBuffer.allocate(1), length - 1);
        }
        // the one byte written at the end has a block: punch nothing, just account for it
        return file;
    }

    private static FileSpace.Fallocator fake(final int errno, final int[] calls)
    {
        return new FileSpace.Fallocator()
        {
            @Override
            public int fallocate(final Path path, final long offset, final long length)
            {
                calls[0]++;
                return errno;
            }

            @Override
            public String describe(final int code)
            {
                return code == 28 ? "No space left on device" : "Operation not supported";
            }
        };
    }

    private static long blocks(final Path file) throws Exception
    {
        // the block written at the file's end (by sparse()) is left out
        final Process stat = new ProcessBuilder("stat", "-c", "%b", file.toString()).start();
        final long blocks = Long.parseLong(new String(stat.getInputStream().readAllBytes()).trim());
        assertEquals(0, stat.waitFor());
        return blocks - 8;
    }

    private static void assertZeros(final Path file) throws IOException
    {
        final byte[] bytes = Files.readAllBytes(file);
        for (int i = 0; i < bytes.length - 1; i++)
        {
            if (bytes[i] != 0)
            {
                throw new AssertionError("byte " + i + " is " + bytes[i]);
            }
        }
    }
}
