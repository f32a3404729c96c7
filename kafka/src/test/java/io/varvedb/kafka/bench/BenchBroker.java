package io.varvedb.kafka.bench;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import io.varvedb.kafka.broker.BrokerMain;
import io.varvedb.kafka.broker.EmbeddedKafka;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;

/**
 * The broker the bench talks to: one it forks into a JVM of its own ({@link BrokerMain}), one it starts in its own
 * JVM ({@link EmbeddedKafka}), or one that runs already (a bootstrap address).
 */
abstract class BenchBroker implements AutoCloseable
{
    private Admin admin;

    abstract String bootstrap();

    /** @return how the broker runs, for the report. */
    abstract String describe();

    /** @return the broker's process id if it runs in a process of its own, else -1. */
    long pid()
    {
        return -1;
    }

    static BenchBroker of(final String spec, final String forkJvmArgs, final Path workDir) throws Exception
    {
        if ("fork".equals(spec))
        {
            return Forked.start(forkJvmArgs, workDir);
        }
        if ("inprocess".equals(spec))
        {
            return new InProcess(EmbeddedKafka.start());
        }
        return new External(spec);
    }

    synchronized Admin admin()
    {
        if (admin == null)
        {
            admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap()));
        }
        return admin;
    }

    void createTopic(final String name) throws Exception
    {
        admin().createTopics(List.of(new NewTopic(name, 1, (short)1))).all().get(60, TimeUnit.SECONDS);
        // created is not yet known to every client: a consumer asking for it at once may be told there is none
        final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (true)
        {
            try
            {
                final org.apache.kafka.clients.admin.TopicDescription description = admin()
                    .describeTopics(List.of(name)).allTopicNames().get(60, TimeUnit.SECONDS).get(name);
                if (description.partitions().size() == 1 && description.partitions().get(0).leader() != null)
                {
                    return;
                }
            }
            catch (final java.util.concurrent.ExecutionException ex)
            {
                if (System.nanoTime() > deadline)
                {
                    throw ex;
                }
            }
            if (System.nanoTime() > deadline)
            {
                throw new IllegalStateException("topic " + name + " has no leader after 60 s");
            }
            Thread.sleep(10);
        }
    }

    /** @return the end offset of the topic's one partition (records plus transaction markers). */
    long endOffset(final String name) throws Exception
    {
        final org.apache.kafka.common.TopicPartition partition = new org.apache.kafka.common.TopicPartition(name, 0);
        return admin().listOffsets(Map.of(partition, org.apache.kafka.clients.admin.OffsetSpec.latest())).all()
            .get(60, TimeUnit.SECONDS).get(partition).offset();
    }

    void deleteTopic(final String name) throws Exception
    {
        admin().deleteTopics(List.of(name)).all().get(60, TimeUnit.SECONDS);
    }

    @Override
    public void close() throws Exception
    {
        if (admin != null)
        {
            admin.close();
        }
    }

    /** A broker in a JVM of its own, stopped by closing its standard input. */
    static final class Forked extends BenchBroker
    {
        private final Process process;
        private final String bootstrap;
        private final String jvmArgs;
        private final Path log;

        private Forked(final Process process, final String bootstrap, final String jvmArgs, final Path log)
        {
            this.process = process;
            this.bootstrap = bootstrap;
            this.jvmArgs = jvmArgs;
            this.log = log;
        }

        static Forked start(final String jvmArgs, final Path workDir) throws Exception
        {
            final Path file = workDir.resolve("broker.bootstrap");
            final Path log = workDir.resolve("broker.log");
            final List<String> command = new ArrayList<>();
            command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
            for (final String arg : jvmArgs.trim().split("\\s+"))
            {
                if (!arg.isEmpty())
                {
                    command.add(arg);
                }
            }
            command.add("-cp");
            command.add(System.getProperty("java.class.path"));
            command.add(BrokerMain.class.getName());
            command.add(file.toString());
            final Process process = new ProcessBuilder(command)
                .redirectErrorStream(true)
                .redirectOutput(log.toFile())
                .start();
            final Thread reaper = new Thread(process::destroyForcibly, "bench-broker-reaper");
            Runtime.getRuntime().addShutdownHook(reaper);
            final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
            while (!Files.exists(file))
            {
                if (!process.isAlive() || System.nanoTime() > deadline)
                {
                    process.destroyForcibly();
                    throw new IllegalStateException("the broker did not start; its log " + log + ":\n" +
                        tail(log));
                }
                Thread.sleep(50);
            }
            return new Forked(process, Files.readString(file, StandardCharsets.UTF_8).trim(), jvmArgs, log);
        }

        private static String tail(final Path log)
        {
            try
            {
                final List<String> lines = Files.readAllLines(log);
                return String.join("\n", lines.subList(Math.max(0, lines.size() - 40), lines.size()));
            }
            catch (final IOException ex)
            {
                return "(unreadable: " + ex + ")";
            }
        }

        @Override
        String bootstrap()
        {
            return bootstrap;
        }

        @Override
        String describe()
        {
            return "separate JVM (pid " + process.pid() + ", `" + jvmArgs + "`, log " + log.getFileName() + ")";
        }

        @Override
        long pid()
        {
            return process.pid();
        }

        @Override
        public void close() throws Exception
        {
            super.close();
            process.getOutputStream().close();
            if (!process.waitFor(60, TimeUnit.SECONDS))
            {
                process.destroyForcibly();
            }
        }
    }

    /** A broker in the bench's JVM. */
    static final class InProcess extends BenchBroker
    {
        private final EmbeddedKafka kafka;

        InProcess(final EmbeddedKafka kafka)
        {
            this.kafka = kafka;
        }

        @Override
        String bootstrap()
        {
            return kafka.bootstrap();
        }

        @Override
        String describe()
        {
            return "in the bench's JVM";
        }

        @Override
        public void close() throws Exception
        {
            super.close();
            kafka.close();
        }
    }

    /** A running broker the bench neither starts nor stops. */
    static final class External extends BenchBroker
    {
        private final String bootstrap;

        External(final String bootstrap)
        {
            this.bootstrap = bootstrap;
        }

        @Override
        String bootstrap()
        {
            return bootstrap;
        }

        @Override
        String describe()
        {
            return "already running at " + bootstrap + " (" + (bootstrap.startsWith("localhost") ?
                "this machine" : "elsewhere") + ")";
        }
    }
}
