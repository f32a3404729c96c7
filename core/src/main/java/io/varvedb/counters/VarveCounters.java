package io.varvedb.counters;

import io.varvedb.NoStoreException;
import io.varvedb.StoreIOException;
import io.varvedb.internal.counters.CountersFile;
import io.varvedb.internal.counters.ProcessLiveness;
import org.agrona.IoUtil;
import org.agrona.concurrent.UnsafeBuffer;
import org.agrona.concurrent.status.CountersReader;

import java.io.IOException;
import java.lang.invoke.VarHandle;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;

import static io.varvedb.internal.counters.CountersFileDescriptor.*;

/**
 * Reads the live counters of a store from any process, the way {@code AeronStat} reads Aeron's: every process
 * that has the store open keeps its counters in {@code varve.counters} in the store's directory, updated as it
 * works, and this maps that file read-only. It works on a store nobody has open too: the counters are then each
 * instance's last ({@link ProcessState#CLOSED} or {@link ProcessState#GONE}). Never blocks or disturbs the
 * processes it reads.
 * <pre>{@code
 * try (VarveCounters counters = VarveCounters.open(dir)) {
 *     CountersSnapshot now = counters.snapshot();
 *     long appends = now.total(CounterType.APPENDS);
 * }
 * }</pre>
 */
public final class VarveCounters implements AutoCloseable
{
    private static final int READ_ATTEMPTS = 8;

    private final Path path;
    private final MappedByteBuffer mapped;
    private final UnsafeBuffer buffer;
    private boolean closed;

    private VarveCounters(final Path path, final MappedByteBuffer mapped)
    {
        this.path = path;
        this.mapped = mapped;
        this.buffer = new UnsafeBuffer(mapped);
    }

    /**
     * Map a store's counters file for reading.
     *
     * @param directory the store's directory.
     * @return the reader; close it when done.
     * @throws NoStoreException if the directory has no counters file (no process opened the store with counters,
     *                          or it is not a store).
     * @throws io.varvedb.StoreFormatException if the file is not a counters file this build reads.
     */
    public static VarveCounters open(final Path directory)
    {
        final Path path = directory.resolve(FILE_NAME);
        if (!Files.exists(path))
        {
            throw new NoStoreException("no counters at " + directory + ": no " + FILE_NAME + " (no process has " +
                "opened a VarveDB store there with counters on)");
        }
        try (FileChannel channel = FileChannel.open(path, StandardOpenOption.READ))
        {
            final long length = channel.size();
            if (length < HEADER_LENGTH || length > Integer.MAX_VALUE)
            {
                throw new io.varvedb.StoreFormatException(path + " is not a VarveDB counters file (" + length +
                    " bytes)");
            }
            final MappedByteBuffer mapped = channel.map(FileChannel.MapMode.READ_ONLY, 0, length);
            final VarveCounters counters = new VarveCounters(path, mapped);
            try
            {
                CountersFile.check(counters.buffer, path);
            }
            catch (final RuntimeException ex)
            {
                IoUtil.unmap(mapped);
                throw ex;
            }
            return counters;
        }
        catch (final IOException ex)
        {
            throw new StoreIOException("cannot map " + path + ": " + ex.getMessage(), ex);
        }
    }

    /**
     * Read every instance's counters now.
     *
     * @return what they are.
     */
    public synchronized CountersSnapshot snapshot()
    {
        if (closed)
        {
            throw new IllegalStateException("closed: " + path);
        }
        final List<ProcessCounters> processes = new ArrayList<>();
        final long nanos = System.nanoTime();
        try
        {
            if (Files.size(path) < LENGTH)
            {
                // cut short under this mapping: reading its lost pages would fault
                throw new StoreIOException(path + " was truncated (" + Files.size(path) + " bytes, a counters file " +
                    "has " + LENGTH + "); open it again once a process has made it anew", null);
            }
            for (int r = 0; r < REGIONS; r++)
            {
                final ProcessCounters process = read(buffer, r, true);
                if (process != null)
                {
                    processes.add(process);
                }
            }
        }
        catch (final IOException ex)
        {
            throw new StoreIOException("cannot read " + path + ": " + ex.getMessage(), ex);
        }
        catch (final InternalError ex)
        {
            // the JVM's report of a fault in a mapped page: the file was cut short while it was read
            throw new StoreIOException(path + " changed under the reader (truncated?): " + ex.getMessage(), ex);
        }
        return new CountersSnapshot(nanos, System.currentTimeMillis(), processes);
    }

    /**
     * Read one region of a counters file's mapping. Not for applications: the store reads its own region with it
     * ({@code VarveDB.counters()}).
     *
     * @param file         the whole file's mapping.
     * @param region       the region.
     * @param checkLiveness tell a running owner from a gone one by its pid (false: the caller is the owner).
     * @return its counters, or null if nobody holds it, or it changed owner while it was read.
     */
    public static ProcessCounters read(final UnsafeBuffer file, final int region, final boolean checkLiveness)
    {
        final int descriptor = descriptorOffset(region);
        for (int attempt = 0; attempt < READ_ATTEMPTS; attempt++)
        {
            // acquire: the descriptor and body below are at least as new as this owner's reset of them
            final long owner = file.getLongVolatile(descriptor + OWNER_OFFSET);
            final int stateCode = stateOf(file.getLongVolatile(descriptor + STATE_OFFSET));
            if (owner == 0 || (stateCode != OPEN && stateCode != CLOSED))
            {
                return null;
            }
            final long pid = file.getLong(descriptor + PID_OFFSET);
            final long start = file.getLong(descriptor + PROCESS_START_OFFSET);
            final ProcessState state = stateCode == CLOSED ? ProcessState.CLOSED :
                !checkLiveness || ProcessLiveness.alive(pid, start) ? ProcessState.RUNNING : ProcessState.GONE;
            final int body = regionOffset(region);
            final List<Counter> counters = counters(file, body);
            final AppendLatency[] latencies = latencies(file, descriptor, body);
            final ProcessCounters process = new ProcessCounters(region, pid,
                roleName(file.getInt(descriptor + ROLE_OFFSET)), state, file.getLong(descriptor + OPENED_AT_OFFSET),
                file.getLong(descriptor + CLOSED_AT_OFFSET), counters, latencies[0], latencies[1]);
            // a new owner sets its token before it clears anything (CountersFile.claim): if what was read above
            // was being cleared, the owner word has changed by now
            VarHandle.acquireFence();
            if (file.getLongVolatile(descriptor + OWNER_OFFSET) == owner)
            {
                return process;
            }
        }
        return null;
    }

    /**
     * The allocated counters of a region, as Agrona's {@code CountersReader.forEach} finds them, but with every
     * length checked: a damaged file gives a counter labelled as damaged, never an exception.
     */
    private static List<Counter> counters(final UnsafeBuffer file, final int body)
    {
        final List<Counter> counters = new ArrayList<>();
        final int metadata = body + METADATA_OFFSET;
        final byte[] label = new byte[CountersReader.MAX_LABEL_LENGTH];
        for (int id = 0; id < COUNTERS; id++)
        {
            final int record = metadata + id * CountersReader.METADATA_LENGTH;
            // acquire: pairs with the manager's release of the state after it wrote the record
            final int state = file.getIntVolatile(record);
            if (state == CountersReader.RECORD_UNUSED)
            {
                break;
            }
            if (state != CountersReader.RECORD_ALLOCATED)
            {
                continue;
            }
            final int typeId = file.getInt(record + CountersReader.TYPE_ID_OFFSET);
            final int length = file.getInt(record + CountersReader.LABEL_OFFSET);
            final String text;
            if (length < 0 || length > CountersReader.MAX_LABEL_LENGTH)
            {
                text = "(damaged label, length " + length + ")";
            }
            else
            {
                file.getBytes(record + CountersReader.LABEL_OFFSET + Integer.BYTES, label, 0, length);
                text = new String(label, 0, length, StandardCharsets.UTF_8);
            }
            final long value = file.getLongVolatile(body + VALUES_OFFSET + CountersReader.counterOffset(id));
            counters.add(new Counter(id, typeId, text, value));
        }
        return counters;
    }

    private static AppendLatency[] latencies(final UnsafeBuffer file, final int descriptor, final int body)
    {
        // decoding needs HdrHistogram; reading the bytes does not
        final byte[][] blobs = io.varvedb.internal.counters.HistogramBlobs.read(file, descriptor, body);
        if (blobs == null)
        {
            return new AppendLatency[2];
        }
        final long at = file.getLong(descriptor + HISTOGRAM_AT_OFFSET);
        return new AppendLatency[] {
            new AppendLatency(blobs[0], at), blobs[1].length > 0 ? new AppendLatency(blobs[1], at) : null };
    }

    /**
     * Unmap the file.
     */
    @Override
    public synchronized void close()
    {
        if (!closed)
        {
            closed = true;
            IoUtil.unmap(mapped);
        }
    }
}
