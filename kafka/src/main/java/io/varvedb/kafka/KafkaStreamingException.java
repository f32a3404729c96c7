package io.varvedb.kafka;

import io.varvedb.VarveException;

/**
 * A {@link KafkaPublisher} or {@link KafkaReplica} cannot go on: the topic is missing or was published from another
 * store, another publisher took over, the topic lost records the replica needs, or Kafka refused for good. The
 * message says which; what was published or applied before stays as it was.
 */
public final class KafkaStreamingException extends VarveException
{
    private static final long serialVersionUID = 1L;

    /**
     * @param message what went wrong.
     */
    public KafkaStreamingException(final String message)
    {
        super(message);
    }

    /**
     * @param message what went wrong.
     * @param cause   the underlying failure.
     */
    public KafkaStreamingException(final String message, final Throwable cause)
    {
        super(message, cause);
    }
}
