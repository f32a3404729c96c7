package io.varvedb.jmh;

import java.nio.file.Path;
import java.nio.file.Paths;

/**
 * The second writer process of {@link MultiProcessAppendBenchmark}: opens the same store as the JMH fork, appends
 * 64 B events under ANY to one stream as fast as it can through the same {@link EventStore.Writer} code the fork
 * measures, and publishes its running count in a {@link HelperControl} file until the fork asks it to stop.
 * <p>
 * Arguments: {@code <system> <store directory> <control file> <stream id> <payload bytes>}.
 * Exit status 0 after a requested stop (the count is then final and the store closed), 1 on any error.
 */
public final class AppendHelper
{
    private AppendHelper()
    {
    }

    /**
     * @param args see the class comment.
     */
    public static void main(final String[] args)
    {
        final String system = args[0];
        final Path directory = Paths.get(args[1]);
        final long streamId = Long.parseLong(args[3]);
        final int payload = Integer.parseInt(args[4]);
        try (HelperControl control = new HelperControl(Paths.get(args[2])))
        {
            try
            {
                run(system, directory, control, streamId, payload);
                control.state(HelperControl.STOPPED);
            }
            catch (final Throwable error)
            {
                control.state(HelperControl.FAILED);
                error.printStackTrace();
                System.exit(1);
            }
        }
    }

    private static void run(
        final String system, final Path directory, final HelperControl control, final long streamId, final int payload)
    {
        try (EventStore store = Systems.open(system, directory);
            EventStore.Writer writer = store.writer(Bench.payload(payload)))
        {
            long count = 0;
            writer.tryAppend(streamId, EventStore.ANY);
            control.count(++count);
            control.state(HelperControl.APPENDING);
            // the stop flag's cache line is written once, so reading it per append costs an L1 hit until then
            while (!control.stopRequested())
            {
                if (writer.tryAppend(streamId, EventStore.ANY) == EventStore.CONFLICT)
                {
                    throw new IllegalStateException("an append under ANY conflicted on stream " + streamId);
                }
                control.count(++count);
            }
            System.out.println("helper: " + count + " appends to stream " + streamId);
        }
    }
}
