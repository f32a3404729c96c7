package io.varvedb;

/**
 * Thrown when a stream was deleted for good ({@link VarveDB#tombstoneStream}): an append to it, a read of it, a
 * subscription to it or a question about its version. A tombstoned stream can never be written again; its id (or
 * name) stays taken. A stream deleted softly ({@link VarveDB#deleteStream}) never throws this: it reads as empty
 * and accepts appends, which continue its version numbering.
 */
public final class StreamDeletedException extends VarveException
{
    private static final long serialVersionUID = 1L;

    private final long streamId;

    /**
     * @param streamId the tombstoned stream.
     * @param message  what was refused.
     */
    public StreamDeletedException(final long streamId, final String message)
    {
        super(message);
        this.streamId = streamId;
    }

    /**
     * @return the tombstoned stream.
     */
    public long streamId()
    {
        return streamId;
    }
}
