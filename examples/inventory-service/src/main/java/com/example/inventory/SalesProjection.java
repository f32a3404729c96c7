package com.example.inventory;

import io.varvedb.EventHandler;
import io.varvedb.Processor;
import io.varvedb.ProcessorOptions;
import io.varvedb.RecordedEvent;
import io.varvedb.VarveDB;

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
 * A read model: units sold per product, kept by a named processor and saved to a file of its own every
 * {@link #SAVE_EVERY_NANOS}, with the log position it reaches. This is the README's projection pattern: the
 * processor's checkpoint moves only once the state is saved ({@code manualCheckpoints()}), and a restart resumes
 * from the saved state's own position ({@code resumeFrom}), so after a kill -9 at any moment the state is exactly
 * a replay of the log up to its position.
 */
final class SalesProjection implements EventHandler, AutoCloseable
{
    static final long SAVE_EVERY_NANOS = 200_000_000L;

    private final Path file;
    private final Map<Long, Long> unitsSold = new TreeMap<>();
    /** Every event before this position is in {@link #unitsSold}. */
    private long position = VarveDB.START_POSITION;
    private long lastSave = System.nanoTime();
    private Processor processor;

    SalesProjection(final Path file)
    {
        this.file = file;
    }

    /** Load the saved state, then follow the log from exactly where it stands, on a thread of its own. */
    SalesProjection start(final VarveDB db)
    {
        load();
        processor = db.processor("sales", this, ProcessorOptions.defaults()
            .manualCheckpoints()            // the checkpoint moves only when our state is saved
            .resumeFrom(position))          // and our saved state, not the checkpoint, says where to resume
            .start();
        return this;
    }

    @Override
    public void onEvent(final RecordedEvent event)
    {
        if (event.eventType() == StockEvents.STOCK_RESERVED)
        {
            unitsSold.merge(event.streamId(), (long)event.decode(StockEvents.RESERVED).units(), Long::sum);
        }
        position = event.nextPosition();
        if (System.nanoTime() - lastSave >= SAVE_EVERY_NANOS)
        {
            save();
            processor.checkpoint(position);  // from the handler's thread: fine
            lastSave = System.nanoTime();
        }
    }

    /** The processor's position: where it will read next. */
    long position()
    {
        return processor.position();
    }

    /** A copy of the totals; call once the processor is closed, or accept a view that is a moment old. */
    synchronized Map<Long, Long> unitsSold()
    {
        return new TreeMap<>(unitsSold);
    }

    /** Stop the processor (it waits for the event being handled), then save the state it reached. */
    @Override
    public void close()
    {
        processor.close();
        save();
    }

    /** Write position and totals to a temporary file, force it, and rename it over the last save. */
    private synchronized void save()
    {
        final Path temp = file.resolveSibling(file.getFileName() + ".tmp");
        try
        {
            try (DataOutputStream out = new DataOutputStream(Files.newOutputStream(temp)))
            {
                out.writeLong(position);
                out.writeInt(unitsSold.size());
                for (final Map.Entry<Long, Long> entry : unitsSold.entrySet())
                {
                    out.writeLong(entry.getKey());
                    out.writeLong(entry.getValue());
                }
            }
            try (FileChannel channel = FileChannel.open(temp, StandardOpenOption.WRITE))
            {
                channel.force(true);
            }
            Files.move(temp, file, StandardCopyOption.ATOMIC_MOVE);
        }
        catch (final IOException ex)
        {
            throw new UncheckedIOException("cannot save the projection to " + file, ex);
        }
    }

    private void load()
    {
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
                unitsSold.put(in.readLong(), in.readLong());
            }
        }
        catch (final IOException ex)
        {
            throw new UncheckedIOException("cannot load the projection from " + file, ex);
        }
    }
}
