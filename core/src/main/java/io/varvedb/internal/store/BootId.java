package io.varvedb.internal.store;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.UUID;

/**
 * Which boot of the machine this is: a process crash keeps the page cache, so state that lives only there (an
 * unforced checkpoint) can be trusted after a crash of the same boot, and never after a reboot.
 */
public final class BootId
{
    private static final Path LINUX_BOOT_ID = Path.of("/proc/sys/kernel/random/boot_id");

    private BootId()
    {
    }

    /**
     * @return a hash of the kernel's boot id, never 0; or 0 when the platform does not tell (then nothing
     * unforced is trusted).
     */
    public static long current()
    {
        try
        {
            final UUID id = UUID.fromString(Files.readString(LINUX_BOOT_ID, StandardCharsets.US_ASCII).trim());
            final long hash = id.getMostSignificantBits() ^ id.getLeastSignificantBits();
            return hash == 0 ? 1 : hash;
        }
        catch (final IOException | IllegalArgumentException ex)
        {
            return 0;
        }
    }
}
