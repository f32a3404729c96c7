package io.varvedb.kafka.broker;

import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import kafka.server.KafkaConfig;
import kafka.server.KafkaRaftServer;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.utils.Time;
import org.apache.kafka.metadata.storage.Formatter;

/**
 * A real single-node KRaft Kafka broker (the server artifact of the client's release), started in the test JVM on
 * free localhost ports in a temporary directory: no mock, no Docker. Its classes are Kafka's internal ones and move
 * between releases; this is the one place that knows them.
 */
public final class EmbeddedKafka implements AutoCloseable
{
    private final Path directory;
    private final int brokerPort;
    private final KafkaRaftServer server;

    private EmbeddedKafka(final Path directory, final int brokerPort, final KafkaRaftServer server)
    {
        this.directory = directory;
        this.brokerPort = brokerPort;
        this.server = server;
    }

    /**
     * Format a log directory and start a broker (broker and controller in one node) on it.
     *
     * @return the running broker; {@link #close()} stops it and deletes its files.
     * @throws Exception if it does not start.
     */
    public static EmbeddedKafka start() throws Exception
    {
        final Path directory = Files.createTempDirectory("varve-kafka-");
        final int brokerPort = freePort();
        final int controllerPort = freePort();
        final String logDir = directory.resolve("logs").toString();
        final Properties props = new Properties();
        props.put("process.roles", "broker,controller");
        props.put("node.id", "1");
        props.put("controller.quorum.voters", "1@localhost:" + controllerPort);
        props.put("listeners", "PLAINTEXT://localhost:" + brokerPort + ",CONTROLLER://localhost:" + controllerPort);
        props.put("advertised.listeners", "PLAINTEXT://localhost:" + brokerPort);
        props.put("controller.listener.names", "CONTROLLER");
        props.put("inter.broker.listener.name", "PLAINTEXT");
        props.put("listener.security.protocol.map", "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT");
        props.put("log.dirs", logDir);
        props.put("offsets.topic.replication.factor", "1");
        props.put("offsets.topic.num.partitions", "2");
        props.put("transaction.state.log.replication.factor", "1");
        props.put("transaction.state.log.min.isr", "1");
        props.put("transaction.state.log.num.partitions", "2");
        props.put("share.coordinator.state.topic.replication.factor", "1");
        props.put("share.coordinator.state.topic.min.isr", "1");
        props.put("group.initial.rebalance.delay.ms", "0");
        props.put("num.partitions", "1");
        props.put("auto.create.topics.enable", "false");
        final KafkaConfig config = new KafkaConfig(props, false);

        new Formatter()
            .setPrintStream(new java.io.PrintStream(java.io.OutputStream.nullOutputStream()))
            .setNodeId(1)
            .setClusterId(Uuid.randomUuid().toString())
            .setControllerListenerName("CONTROLLER")
            .setMetadataLogDirectory(logDir)
            .setWriteBootstrapSnapshot(true)
            .setHasDynamicQuorum(false)
            .addDirectory(logDir)
            .run();

        final KafkaRaftServer server = new KafkaRaftServer(config, Time.SYSTEM);
        server.startup();
        final EmbeddedKafka kafka = new EmbeddedKafka(directory, brokerPort, server);
        kafka.awaitReady();
        return kafka;
    }

    /** @return {@code localhost:port} of the broker's client listener. */
    public String bootstrap()
    {
        return "localhost:" + brokerPort;
    }

    /**
     * Create a topic of this many partitions (replication factor 1).
     *
     * @param name       of the topic.
     * @param partitions it has.
     * @throws Exception if the broker refuses.
     */
    public void createTopic(final String name, final int partitions) throws Exception
    {
        try (Admin admin = admin())
        {
            admin.createTopics(List.of(new NewTopic(name, partitions, (short)1))).all().get(60, TimeUnit.SECONDS);
        }
    }

    /** @return an admin client of this broker; the caller closes it. */
    public Admin admin()
    {
        return Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap()));
    }

    private void awaitReady() throws Exception
    {
        try (Admin admin = admin())
        {
            final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (true)
            {
                try
                {
                    admin.describeCluster().nodes().get(5, TimeUnit.SECONDS);
                    return;
                }
                catch (final Exception ex)
                {
                    if (System.nanoTime() > deadline)
                    {
                        throw ex;
                    }
                    Thread.sleep(100);
                }
            }
        }
    }

    @Override
    public void close() throws IOException
    {
        server.shutdown();
        server.awaitShutdown();
        try (Stream<Path> files = Files.walk(directory))
        {
            files.sorted(Comparator.reverseOrder()).forEach((p) -> p.toFile().delete());
        }
    }

    private static int freePort() throws IOException
    {
        try (ServerSocket socket = new ServerSocket(0))
        {
            socket.setReuseAddress(true);
            return socket.getLocalPort();
        }
    }
}
