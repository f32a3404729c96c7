package io.varvedb.internal.util;

import java.lang.ref.Reference;
import java.lang.ref.ReferenceQueue;
import java.lang.ref.WeakReference;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Consumer;

/**
 * The objects a store hands out and must reach at close (appenders, per-thread read state), held weakly: one
 * its user forgot, or whose thread died with its thread-local, is collected with everything it holds, and its
 * entry goes at the next {@link #add}. Anything still reachable is still here, so an object in use (a thread
 * inside an append holds its appender) is never missed.
 *
 * @param <T> what is registered.
 */
public final class WeakRegistry<T>
{
    private final Set<Entry<T>> entries = ConcurrentHashMap.newKeySet();
    private final ReferenceQueue<T> collected = new ReferenceQueue<>();

    /** A registration: remove it with {@link #remove}. */
    public static final class Entry<T> extends WeakReference<T>
    {
        private Entry(final T referent, final ReferenceQueue<T> queue)
        {
            super(referent, queue);
        }
    }

    /**
     * @param value to register.
     * @return its entry.
     */
    public Entry<T> add(final T value)
    {
        purge();
        final Entry<T> entry = new Entry<>(value, collected);
        entries.add(entry);
        return entry;
    }

    /**
     * @param entry from {@link #add}; null is ignored.
     */
    public void remove(final Entry<T> entry)
    {
        if (entry != null)
        {
            entries.remove(entry);
        }
    }

    /**
     * @param action run for each registered object still reachable.
     */
    public void forEach(final Consumer<? super T> action)
    {
        for (final Entry<T> entry : entries)
        {
            final T value = entry.get();
            if (value != null)
            {
                action.accept(value);
            }
        }
    }

    /**
     * @return entries held, after dropping those of collected objects.
     */
    public int size()
    {
        purge();
        return entries.size();
    }

    /**
     * Forget every entry.
     */
    public void clear()
    {
        entries.clear();
        purge();
    }

    private void purge()
    {
        Reference<? extends T> entry;
        while ((entry = collected.poll()) != null)
        {
            entries.remove(entry);
        }
    }
}
