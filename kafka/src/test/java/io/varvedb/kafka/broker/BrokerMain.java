package io.varvedb.kafka.broker;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/**
 * Runs an {@link EmbeddedKafka} in a JVM of its own, for tools that must not share their heap and JIT with the
 * broker: writes the broker's bootstrap ({@code localhost:port}) to the file named by its one argument once the
 * broker is ready, and stops the broker (deleting its files) when its standard input ends, which is when the
 * process that started it closes the pipe or dies.
 */
public final class BrokerMain
{
    private BrokerMain()
    {
    }

    /**
     * @param args the file to write the bootstrap to.
     * @throws Exception if the broker does not start.
     */
    public static void main(final String[] args) throws Exception
    {
        if (args.length != 1)
        {
            System.err.println("usage: BrokerMain <bootstrap-file>");
            System.exit(2);
        }
        final Path file = Path.of(args[0]);
        try (EmbeddedKafka kafka = EmbeddedKafka.start())
        {
            // written whole, then renamed: whoever polls for the file never reads half of it
            final Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
            Files.writeString(tmp, kafka.bootstrap() + "\n", StandardCharsets.UTF_8);
            Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE);
            drainUntilEof();
        }
    }

    private static void drainUntilEof()
    {
        final byte[] buffer = new byte[256];
        try
        {
            while (System.in.read(buffer) >= 0)
            {
                // nothing is said on the pipe: its end is the signal
            }
        }
        catch (final IOException ex)
        {
            // the parent is gone: stop as well
        }
    }
}
