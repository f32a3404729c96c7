package io.varvedb.kafka;

import java.io.IOException;
import java.io.Reader;
import java.io.Writer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Properties;

/**
 * {@value #FILE_NAME} in the replica's store directory: how far the follower got, as Kafka offsets per partition and
 * the primary position of the last event applied. A hint, never the truth: the store's versions are. Saved after the
 * events it names are appended, so it is never ahead of the store after a process crash; after a power cut it may
 * be (the store's pages were lost, the file's were not), and then the follower finds a version gap and reads the
 * topic again from its start, skipping what the store holds.
 */
final class ReplicaOffsets
{
    static final String FILE_NAME = "kafka-replica.offsets";
    private static final String PREVIOUS = "previous";
    private static final String PARTITION = "partition.";
    private static final String STREAM = "stream";
    private static final String VERSION = "version";
    private static final String TIMESTAMP = "timestamp";
    private static final String TOPIC_ID = "topic.id";

    final long previous;
    final long[] offsets;
    /** The stream ({@code id:42}, {@code name:orders}) and version of the event at {@link #previous}: the check. */
    final String stream;
    final long version;
    /** The primary timestamp of that event. */
    final long timestamp;
    /** Kafka's id of the topic the offsets are of. */
    final String topicId;

    ReplicaOffsets(final long previous, final long[] offsets, final String stream, final long version,
        final long timestamp, final String topicId)
    {
        this.timestamp = timestamp;
        this.topicId = topicId;
        this.previous = previous;
        this.offsets = offsets;
        this.stream = stream;
        this.version = version;
    }

    static ReplicaOffsets read(final Path directory, final int partitions) throws IOException
    {
        final Properties props = new Properties();
        try (Reader reader = Files.newBufferedReader(directory.resolve(FILE_NAME), StandardCharsets.UTF_8))
        {
            props.load(reader);
        }
        catch (final NoSuchFileException ex)
        {
            return null;
        }
        try
        {
            final long[] offsets = new long[partitions];
            for (int p = 0; p < partitions; p++)
            {
                offsets[p] = Long.parseLong(props.getProperty(PARTITION + p, "0"));
            }
            return new ReplicaOffsets(Long.parseLong(props.getProperty(PREVIOUS)), offsets,
                props.getProperty(STREAM, ""), Long.parseLong(props.getProperty(VERSION, "0")),
                Long.parseLong(props.getProperty(TIMESTAMP, "0")), props.getProperty(TOPIC_ID, ""));
        }
        catch (final RuntimeException ex)
        {
            // damaged: start from the topic's beginning; the store's versions skip what it holds
            return null;
        }
    }

    void write(final Path directory, final boolean force) throws IOException
    {
        final Path temp = directory.resolve(FILE_NAME + ".tmp");
        final StringBuilder text = new StringBuilder(64 + offsets.length * 24);
        text.append(PREVIOUS).append('=').append(previous).append('\n');
        final Properties escaped = new Properties();
        escaped.setProperty(STREAM, stream);
        final java.io.StringWriter line = new java.io.StringWriter();
        escaped.store(line, null);
        // Properties.store writes a date comment first: keep the one line that matters
        for (final String l : line.toString().split("\n"))
        {
            if (l.startsWith(STREAM + "="))
            {
                text.append(l).append('\n');
            }
        }
        text.append(VERSION).append('=').append(version).append('\n');
        text.append(TIMESTAMP).append('=').append(timestamp).append('\n');
        text.append(TOPIC_ID).append('=').append(topicId).append('\n');
        for (int p = 0; p < offsets.length; p++)
        {
            text.append(PARTITION).append(p).append('=').append(offsets[p]).append('\n');
        }
        try (Writer writer = Files.newBufferedWriter(temp, StandardCharsets.UTF_8))
        {
            writer.write(text.toString());
        }
        if (force)
        {
            try (FileChannel channel = FileChannel.open(temp, StandardOpenOption.WRITE))
            {
                channel.force(true);
            }
        }
        Files.move(temp, directory.resolve(FILE_NAME), StandardCopyOption.REPLACE_EXISTING,
            StandardCopyOption.ATOMIC_MOVE);
    }

    static void delete(final Path directory) throws IOException
    {
        Files.deleteIfExists(directory.resolve(FILE_NAME));
        Files.deleteIfExists(directory.resolve(FILE_NAME + ".tmp"));
    }
}
