package io.varvedb;

/**
 * Receives events from {@link VarveDB#readStream}, {@link VarveDB#readStreamBackward} and
 * {@link VarveDB#readAll}. The {@link RecordedEvent} is a flyweight over the mapped log: valid only during the
 * call; copy what you keep.
 */
@FunctionalInterface
public interface EventHandler
{
    /**
     * @param event the event, valid until this method returns.
     */
    void onEvent(RecordedEvent event);
}
