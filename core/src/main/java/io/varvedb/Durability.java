package io.varvedb;

/**
 * What an acknowledged append survives. Every mode survives a crash of the process: the log is a shared
 * memory mapping, and the kernel keeps what was written to it. The modes differ on a power cut or kernel crash,
 * which loses whatever the kernel had not yet written back.
 * <ul>
 *   <li>{@link #OS}: the kernel writes the log back in its own time; nothing forces it unless you call
 *   {@link Appender#awaitDurable(long)}. A background checkpoint forces only the index, every
 *   {@link VarveConfig#checkpointIntervalMillis()} ms, to bound the work of recovery after a process crash.
 *   An append promises nothing about power cuts. The fastest.</li>
 *   <li>{@link #GROUP_COMMIT}: a background flusher forces the log every
 *   {@link VarveConfig#flushIntervalMicros()} microseconds; many appends share one force. An append returns at
 *   once; {@link Appender#awaitDurable(long)} waits until an event is forced.</li>
 *   <li>{@link #SYNC}: an append returns only once its event is forced. Concurrent appenders share forces
 *   (the first waiter forces for all whose records are published by then).</li>
 * </ul>
 * {@link VarveDB#durablePosition()} tells, in every mode, how far the log is known to be on disk.
 * <p>
 * <b>The rule of a durable acknowledgement</b>, in every mode: a {@code SYNC} append, and
 * {@link Appender#awaitDurable(long)}, return only once {@link VarveDB#durablePosition()} covers the whole
 * record (for a batch, the whole batch). The durable position never passes a record that is not whole: if an
 * earlier record, claimed by another appender, is still being written, the waiter waits for it to be published
 * (tens of nanoseconds of work) and then forces; concurrent waiters share one force. The durable position never
 * goes backwards.
 */
public enum Durability
{
    /** Survives a process crash; power cuts lose what the kernel had not written back. */
    OS,
    /** Survives a power cut once forced, within a flush interval; {@link Appender#awaitDurable(long)} waits. */
    GROUP_COMMIT,
    /** Survives a power cut as soon as the append returns. */
    SYNC
}
