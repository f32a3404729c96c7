package io.varvedb.kafka.broker;

/**
 * One broker for every test class of a test JVM (it takes seconds to start): started at first use, stopped when the
 * JVM exits. Tests use topics of their own.
 */
public final class SharedKafka
{
    private static EmbeddedKafka kafka;

    private SharedKafka()
    {
    }

    /**
     * @return the running broker.
     * @throws Exception if it cannot start.
     */
    public static synchronized EmbeddedKafka get() throws Exception
    {
        if (kafka == null)
        {
            final EmbeddedKafka started = EmbeddedKafka.start();
            Runtime.getRuntime().addShutdownHook(new Thread(() ->
            {
                try
                {
                    started.close();
                }
                catch (final Exception ex)
                {
                    // the JVM is going away; its temp files may stay
                }
            }));
            kafka = started;
        }
        return kafka;
    }
}
