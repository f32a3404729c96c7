package io.varvedb;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Map;
import java.util.TreeMap;

/**
 * The README's projection pattern, as the tests run it: per-product totals saved with the position they reach,
 * every so often, in a file of their own; the processor's checkpoint follows the saved state, and a restart resumes
 * from the state's own position.
 */
final class Projection implements EventHandler
{
    final Map<Long, Long> totals = new TreeMap<>();
    private final Path file;
    private final long saveEveryNanos;
    private Processor processor;
    /** Where the state stands: every event before it is in the totals. */
    long position = VarveDB.START_POSITION;
    private long lastSave = System.nanoTime();
    long saves;

    Projection(final Path file, final long saveEveryMillis)
    {
        this.file = file;
        this.saveEveryNanos = saveEveryMillis * 1_000_000L;
    }

    /** Load the saved state, if any, then start a processor that resumes exactly where it stands. */
    Processor start(final VarveDB db, final String name)
    {
        load();
        processor = db.processor(name, this, ProcessorOptions.defaults()
            .manualCheckpoints()            // the checkpoint moves only when our state is saved
            .resumeFrom(position));         // and our state, not the checkpoint, says where to resume
        return processor;
    }

    @Override
    public void onEvent(final RecordedEvent event)
    {
        apply(totals, event);
        position = event.nextPosition();
        if (System.nanoTime() - lastSave >= saveEveryNanos)
        {
            save();
            processor.checkpoint(position);  // safe from the handler's thread
            lastSave = System.nanoTime();
        }
    }

    static void apply(final Map<Long, Long> totals, final RecordedEvent event)
    {
        totals.merge(event.streamId(), (long)event.payload().getInt(0), Long::sum);
    }

    /** Write the totals and their position to a temporary file, force it, then rename it over the old one. */
    void save()
    {
        final Path temp = file.resolveSibling(file.getFileName() + ".tmp");
        try (DataOutputStream out = new DataOutputStream(Files.newOutputStream(temp)))
        {
            out.writeLong(position);
            out.writeInt(totals.size());
            for (final Map.Entry<Long, Long> entry : totals.entrySet())
            {
                out.writeLong(entry.getKey());
                out.writeLong(entry.getValue());
            }
        }
        catch (final IOException ex)
        {
            throw new UncheckedIOException(ex);
        }
        try (FileChannel channel = FileChannel.open(temp, StandardOpenOption.WRITE))
        {
            channel.force(true);
            Files.move(temp, file, StandardCopyOption.ATOMIC_MOVE);
        }
        catch (final IOException ex)
        {
            throw new UncheckedIOException(ex);
        }
        saves++;
    }

    void load()
    {
        totals.clear();
        position = VarveDB.START_POSITION;
        if (!Files.exists(file))
        {
            return;
        }
        try (DataInputStream in = new DataInputStream(Files.newInputStream(file)))
        {
            position = in.readLong();
            final int size = in.readInt();
            for (int i = 0; i < size; i++)
            {
                totals.put(in.readLong(), in.readLong());
            }
        }
        catch (final IOException ex)
        {
            throw new UncheckedIOException(ex);
        }
    }

    /** The totals of a full replay of the log up to {@code end}. */
    static Map<Long, Long> replay(final VarveDB db, final long end)
    {
        final Map<Long, Long> totals = new TreeMap<>();
        final long[] next = {VarveDB.START_POSITION};
        while (next[0] < end)
        {
            final long before = next[0];
            db.readAll(next[0], 10_000, (event) ->
            {
                if (event.position() < end)
                {
                    apply(totals, event);
                    next[0] = event.nextPosition();
                }
            });
            if (next[0] == before)
            {
                throw new AssertionError("the log ends at " + before + ", before the projection's position " + end);
            }
        }
        return totals;
    }
}
