package io.varvedb;

/**
 * Receives the named streams {@link VarveDB#streams(String, StreamNameHandler)} lists.
 */
@FunctionalInterface
public interface StreamNameHandler
{
    /**
     * @param name     the stream's name.
     * @param streamId its stream id (negative).
     */
    void onStream(String name, long streamId);
}
