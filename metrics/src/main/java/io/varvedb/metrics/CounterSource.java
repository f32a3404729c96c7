package io.varvedb.metrics;

import io.varvedb.StoreClosedException;
import io.varvedb.VarveDB;
import io.varvedb.VarveException;
import io.varvedb.counters.ProcessCounters;
import io.varvedb.counters.ProcessState;
import io.varvedb.counters.VarveCounters;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Where {@link VarveMetrics} reads counters: the store open in this process, or a store's counters file.
 */
abstract class CounterSource implements AutoCloseable
{
    /**
     * @return false if there are no counters to read, and never will be (counters off).
     */
    abstract boolean available();

    /**
     * @return the instances to show now (none once the store is gone), or null if a read failed for a moment.
     */
    abstract List<ProcessCounters> read();

    /**
     * @return true to tag each instance's meters with its pid and role.
     */
    abstract boolean tagsProcesses();

    /**
     * @return true to keep a meter that is always there ({@code varve.processes}), so instances that start later
     * are found by the reads of a registry of one's own.
     */
    abstract boolean anchored();

    @Override
    public void close()
    {
    }

    /** The store this process has open: {@code VarveDB.counters()}. */
    static final class InProcess extends CounterSource
    {
        private final VarveDB db;

        InProcess(final VarveDB db)
        {
            this.db = db;
        }

        @Override
        boolean available()
        {
            try
            {
                return db.counters() != null;
            }
            catch (final StoreClosedException ex)
            {
                return false;
            }
        }

        @Override
        List<ProcessCounters> read()
        {
            final ProcessCounters counters;
            try
            {
                counters = db.counters();
            }
            catch (final StoreClosedException ex)
            {
                return List.of();
            }
            return counters == null ? null : List.of(counters);
        }

        @Override
        boolean tagsProcesses()
        {
            return false;
        }

        @Override
        boolean anchored()
        {
            return false;
        }

        @Override
        public String toString()
        {
            return db.toString();
        }
    }

    /** A store's counters file, as other processes keep it: {@code VarveCounters}. */
    static final class CountersFile extends CounterSource
    {
        private final Path directory;
        private VarveCounters reader;
        private boolean closed;

        CountersFile(final Path directory)
        {
            this.directory = directory;
        }

        @Override
        boolean available()
        {
            return true;
        }

        @Override
        synchronized List<ProcessCounters> read()
        {
            if (closed)
            {
                return List.of();
            }
            if (reader == null)
            {
                try
                {
                    reader = VarveCounters.open(directory);
                }
                catch (final VarveException ex)
                {
                    // no file yet (no instance has opened the store with counters), or not one this build reads
                    return List.of();
                }
            }
            final List<ProcessCounters> running = new ArrayList<>();
            for (final ProcessCounters process : reader.snapshot().processes())
            {
                if (process.state() == ProcessState.RUNNING)
                {
                    running.add(process);
                }
            }
            return running;
        }

        @Override
        boolean tagsProcesses()
        {
            return true;
        }

        @Override
        boolean anchored()
        {
            return true;
        }

        @Override
        public synchronized void close()
        {
            closed = true;
            if (reader != null)
            {
                reader.close();
                reader = null;
            }
        }

        @Override
        public String toString()
        {
            return "counters of " + directory;
        }
    }
}
