package io.varvedb.kafka;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.OptionalLong;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;

import io.varvedb.Appender;
import io.varvedb.EventBatch;
import io.varvedb.ExpectedVersion;
import io.varvedb.StreamDeletedException;
import io.varvedb.StreamMetadata;
import io.varvedb.VarveConfig;
import io.varvedb.VarveDB;
import org.agrona.concurrent.UnsafeBuffer;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;

/**
 * Follows a topic written by a {@link KafkaPublisher} into a local <b>replica store</b>, with the same streams,
 * versions, event types, timestamps, event ids and payloads as the primary.
 * <p>
 * Every event is appended with the {@code exact} expected version it had on the primary, which makes following
 * idempotent: an event the replica holds already (its stream is at or past the event's version) is skipped, the
 * next one is appended, and anything else is a gap, which is never papered over. So the replica survives its own
 * crashes: it goes on from {@value ReplicaOffsets#FILE_NAME}, a hint saved after the appends it names, and skips
 * what it finds it has. Batches are appended as batches, tombstones as tombstones, stream metadata (soft deletes,
 * limits) as metadata; a named stream is the same name on both sides (its negative id may differ, as names take
 * ids in the order a store creates them).
 * <p>
 * With several partitions, the records are merged back into the primary's global log order by following the
 * {@link KafkaRecordFormat#PREVIOUS} chain: the replica's {@code readAll} order is the primary's.
 * <p>
 * The store is opened as a replica ({@link VarveConfig.Builder#replicaOf}): ordinary writers are refused until
 * {@link #promote(Path)}, and it can be opened read-only while the replica follows. To fail over: stop the
 * replica ({@link #close()}), {@link #promote(Path)} its directory, open it as usual: appends go on from the
 * versions it holds.
 */
public final class KafkaReplica implements AutoCloseable
{
    /** How often the offsets hint is saved while following. */
    private static final long SAVE_INTERVAL_NS = TimeUnit.MILLISECONDS.toNanos(200);
    /** Records buffered for one partition before it is paused (others are behind it in the merge). */
    private static final int MAX_BUFFERED = 20_000;
    private static final Duration POLL = Duration.ofMillis(100);
    /** How often the topic is asked whether it gained partitions. */
    private static final long REFRESH_INTERVAL_NS = TimeUnit.SECONDS.toNanos(5);
    /** How the offsets hint names the last event's stream: {@code id:42} or {@code name:orders}. */
    private static final String ID_PREFIX = "id:";
    private static final String NAME_PREFIX = "name:";
    private static final Duration CLOSE_TIMEOUT = Duration.ofSeconds(10);

    /**
     * Told about each event the replica appended.
     */
    @FunctionalInterface
    public interface Listener
    {
        /**
         * @param position       the event's position in the primary's log.
         * @param timestampNanos its timestamp on the primary (epoch nanoseconds).
         */
        void applied(long position, long timestampNanos);
    }

    private final String bootstrap;
    private final String topic;
    private final Path directory;
    private final VarveDB db;
    private final Appender appender;
    private final ReplicaClock clock;
    private final KafkaConsumer<byte[], byte[]> consumer;
    /** Partitions 0..n-1 of the topic, grown when the topic gains partitions; index = partition number. */
    private final List<TopicPartition> partitions = new ArrayList<>();
    private ArrayDeque<ConsumerRecord<byte[], byte[]>>[] buffers;
    private boolean[] paused;
    private final Listener listener;
    private final EventBatch batch = new EventBatch();
    private final List<ConsumerRecord<byte[], byte[]>> pendingBatch = new ArrayList<>();
    private final UnsafeBuffer view = new UnsafeBuffer(new byte[0]);

    /** Primary position of the last record taken from the merge, and the offsets after what was applied. */
    private long chain;
    private long[] appliedOffsets;
    /** The topic's id: a topic deleted and created again under its name is another topic to the offsets hint. */
    private final String topicId;
    private final Duration timeout;
    /** Asks Kafka about the topic itself: its id, and partitions added while following. */
    private org.apache.kafka.clients.admin.Admin admin;
    private long lastRefreshNs;
    /**
     * True while following from the offsets hint, not from the topic's start: a stuck merge or a version gap then
     * means the hint was wrong, and the topic is read again from its start (once: from there, either is for real).
     */
    private boolean fromHint;
    /** What {@link #store()} hands out: the store opened read-only, so that nothing but the follower writes. */
    private VarveDB readOnlyView;
    /** The stream ({@code id:} or {@code name:}) and version of the last event applied. */
    private String appliedStream = "";
    private long appliedVersion;
    private long lastSaveNs;
    private boolean dirty;

    private volatile long appliedPosition;
    private volatile long appliedEvents;
    private volatile long skippedEvents;
    private volatile long lastTimestamp;
    private volatile long recordsBehind;
    private volatile boolean running;
    private volatile Throwable failure;
    private Thread thread;
    private boolean closed;

    private KafkaReplica(final Builder builder)
    {
        this.bootstrap = builder.bootstrap;
        this.topic = builder.topic;
        this.directory = builder.directory.toAbsolutePath();
        this.listener = builder.listener;
        this.clock = new ReplicaClock();
        final VarveConfig.Builder store = builder.store.apply(VarveConfig.builder(directory))
            .replicaOf(source(topic))
            .clock(clock);
        this.timeout = builder.timeout;
        this.db = VarveDB.open(store.build());
        KafkaConsumer<byte[], byte[]> opened = null;
        try
        {
            this.appender = db.appender();
            final Map<String, Object> consumerSettings = new HashMap<>();
            consumerSettings.putAll(TopicTail.timeouts(builder.timeout));
            consumerSettings.putAll(builder.consumerOverrides);
            opened = new KafkaConsumer<>(TopicTail.consumerProperties(bootstrap, consumerSettings));
            this.consumer = opened;
            this.admin = admin(bootstrap, builder);
            final org.apache.kafka.clients.admin.TopicDescription description = describe();
            this.topicId = description.topicId().toString();
            final List<TopicPartition> found = partitionsOf(description);
            this.buffers = newBuffers(0);
            this.paused = new boolean[0];
            this.appliedOffsets = new long[0];
            grow(found);
            final ReplicaOffsets saved = ReplicaOffsets.read(directory, partitions.size());
            // the hint is believed only if it is of this very topic (not one deleted and created again under its
            // name) and the store holds the last event it names (a store's log survives a crash as a prefix:
            // holding that event, it holds all before); else the topic is read again from its start
            seek(saved != null && topicId.equals(saved.topicId) && holds(saved) ? saved : null);
        }
        catch (final IOException ex)
        {
            closeQuietly(opened);
            db.close();
            throw new KafkaStreamingException("cannot read " + directory.resolve(ReplicaOffsets.FILE_NAME), ex);
        }
        catch (final org.apache.kafka.common.KafkaException ex)
        {
            closeQuietly(opened);
            db.close();
            throw new KafkaStreamingException("cannot follow " + topic + " at " + bootstrap + ": " + ex, ex);
        }
        catch (final RuntimeException | Error ex)
        {
            closeQuietly(opened);
            db.close();
            throw ex;
        }
    }

    private static org.apache.kafka.clients.admin.Admin admin(final String bootstrap, final Builder builder)
    {
        final java.util.Properties props = new java.util.Properties();
        props.put(org.apache.kafka.clients.admin.AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.putAll(TopicTail.timeouts(builder.timeout));
        // the security settings given for the consumer serve the admin client too
        for (final Map.Entry<String, Object> e : builder.consumerOverrides.entrySet())
        {
            if (e.getKey().startsWith("security.") || e.getKey().startsWith("ssl.") ||
                e.getKey().startsWith("sasl."))
            {
                props.put(e.getKey(), e.getValue());
            }
        }
        return org.apache.kafka.clients.admin.Admin.create(props);
    }

    /** The topic as Kafka describes it now (the consumer's view of a topic's partitions may be minutes old). */
    private org.apache.kafka.clients.admin.TopicDescription describe()
    {
        try
        {
            return admin.describeTopics(List.of(topic)).topicNameValues().get(topic)
                .get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        }
        catch (final java.util.concurrent.ExecutionException ex)
        {
            if (ex.getCause() instanceof org.apache.kafka.common.errors.UnknownTopicOrPartitionException)
            {
                throw new KafkaStreamingException("topic " + topic + " does not exist (create it first; see the " +
                    "README)", ex.getCause());
            }
            throw new KafkaStreamingException("cannot describe topic " + topic + " at " + bootstrap + ": " +
                ex.getCause(), ex.getCause());
        }
        catch (final java.util.concurrent.TimeoutException ex)
        {
            throw new KafkaStreamingException("no answer from Kafka at " + bootstrap + " within " + timeout, ex);
        }
        catch (final InterruptedException ex)
        {
            Thread.currentThread().interrupt();
            throw new KafkaStreamingException("interrupted while connecting to " + bootstrap, ex);
        }
    }

    @SuppressWarnings("unchecked")
    private static ArrayDeque<ConsumerRecord<byte[], byte[]>>[] newBuffers(final int count)
    {
        return new ArrayDeque[count];
    }

    /** Take on the partitions beyond those followed so far (a topic only ever gains partitions). */
    private void grow(final List<TopicPartition> found)
    {
        final int old = partitions.size();
        if (found.size() <= old)
        {
            return;
        }
        for (int p = old; p < found.size(); p++)
        {
            if (found.get(p).partition() != p)
            {
                throw new KafkaStreamingException("topic " + topic + " has no partition " + p);
            }
            partitions.add(found.get(p));
        }
        buffers = java.util.Arrays.copyOf(buffers, found.size());
        for (int p = old; p < found.size(); p++)
        {
            buffers[p] = new ArrayDeque<>();
        }
        paused = java.util.Arrays.copyOf(paused, found.size());
        appliedOffsets = java.util.Arrays.copyOf(appliedOffsets, found.size());
        // partitions assigned before keep their positions and pause states; the new ones start at their beginning
        consumer.assign(new ArrayList<>(partitions));
        if (old > 0)
        {
            consumer.seekToBeginning(partitions.subList(old, partitions.size()));
        }
    }

    private List<TopicPartition> partitionsOf(final org.apache.kafka.clients.admin.TopicDescription description)
    {
        final List<TopicPartition> found = new ArrayList<>();
        for (final org.apache.kafka.common.TopicPartitionInfo info : description.partitions())
        {
            found.add(new TopicPartition(topic, info.partition()));
        }
        found.sort((a, b) -> Integer.compare(a.partition(), b.partition()));
        return found;
    }

    /** Look for partitions added to the topic; true if there were. */
    private boolean refreshPartitions()
    {
        lastRefreshNs = System.nanoTime();
        final int before = partitions.size();
        final org.apache.kafka.clients.admin.TopicDescription description = describe();
        if (!description.topicId().toString().equals(topicId))
        {
            throw new KafkaStreamingException("topic " + topic + " was deleted and created again while the replica " +
                "followed it (id " + topicId + ", now " + description.topicId() + "): restart the replica");
        }
        grow(partitionsOf(description));
        return partitions.size() > before;
    }

    private void closeQuietly(final KafkaConsumer<byte[], byte[]> consumer)
    {
        if (consumer != null)
        {
            consumer.close(Duration.ZERO);
        }
        if (admin != null)
        {
            admin.close(Duration.ZERO);
        }
    }

    /**
     * @param directory of the replica store (created if missing; must be empty or a replica of this topic).
     * @param bootstrap Kafka's bootstrap servers.
     * @param topic     the topic a {@link KafkaPublisher} writes.
     * @return a builder.
     */
    public static Builder builder(final Path directory, final String bootstrap, final String topic)
    {
        return new Builder(directory, bootstrap, topic);
    }

    /**
     * What a replica of a topic records as its source ({@link VarveDB#replicaSource}).
     *
     * @param topic the topic.
     * @return {@code kafka:<topic>}.
     */
    public static String source(final String topic)
    {
        return "kafka:" + topic;
    }

    /**
     * Make a stopped replica's store a primary: ordinary writers may open it and go on from its versions. The
     * replica must be closed (its store not open for writing).
     *
     * @param directory the replica's store directory.
     * @return the source it followed, null if it was no replica.
     * @throws io.varvedb.StoreLockedException if the replica (or anything else) still has it open for writing.
     */
    public static String promote(final Path directory)
    {
        final String source = VarveDB.promoteReplica(directory);
        try
        {
            ReplicaOffsets.delete(directory);
        }
        catch (final IOException ex)
        {
            // a stale hint is harmless: a promoted store is no replica, and nobody follows into it
        }
        return source;
    }

    private boolean holds(final ReplicaOffsets saved)
    {
        if (saved.previous == KafkaRecordFormat.NONE)
        {
            return true;
        }
        if (saved.stream.isEmpty())
        {
            return false;
        }
        try
        {
            final long version = saved.stream.startsWith(ID_PREFIX) ?
                versionOf(Long.parseLong(saved.stream.substring(ID_PREFIX.length()))) :
                saved.stream.startsWith(NAME_PREFIX) ? versionOfName(saved.stream.substring(NAME_PREFIX.length())) :
                -1;
            return version >= saved.version;
        }
        catch (final RuntimeException ex)
        {
            // a damaged hint: read the topic again
            return false;
        }
    }

    private void seek(final ReplicaOffsets saved)
    {
        for (int p = 0; p < partitions.size(); p++)
        {
            buffers[p].clear();
            if (paused[p])
            {
                consumer.resume(List.of(partitions.get(p)));
                paused[p] = false;
            }
        }
        pendingBatch.clear();
        batch.clear();
        if (saved == null)
        {
            consumer.seekToBeginning(partitions);
            for (int p = 0; p < partitions.size(); p++)
            {
                appliedOffsets[p] = 0;
            }
            chain = KafkaRecordFormat.NONE;
            fromHint = false;
        }
        else
        {
            for (int p = 0; p < partitions.size(); p++)
            {
                consumer.seek(partitions.get(p), saved.offsets[p]);
                appliedOffsets[p] = saved.offsets[p];
            }
            chain = saved.previous;
            fromHint = true;
        }
        appliedPosition = chain;
        if (saved != null)
        {
            appliedStream = saved.stream;
            appliedVersion = saved.version;
            lastTimestamp = saved.timestamp;
        }
    }

    /**
     * Fetch from Kafka once (waiting up to {@code timeout}) and append what can be appended, in the primary's
     * order.
     *
     * @param timeout longest wait for records.
     * @return events appended or found already there.
     * @throws KafkaStreamingException if the topic lacks records the replica needs.
     */
    public int poll(final Duration timeout)
    {
        final ConsumerRecords<byte[], byte[]> records = consumer.poll(timeout);
        for (int p = 0; p < partitions.size(); p++)
        {
            final List<ConsumerRecord<byte[], byte[]>> fetched = records.records(partitions.get(p));
            if (!fetched.isEmpty())
            {
                buffers[p].addAll(fetched);
            }
        }
        if (System.nanoTime() - lastRefreshNs > REFRESH_INTERVAL_NS)
        {
            refreshPartitions();
        }
        int applied;
        try
        {
            applied = drain();
        }
        catch (final Stuck stuck)
        {
            // no partition's next record follows the last one taken: new partitions may hold it; else, following
            // from the hint, the hint was wrong: read the topic again from its start (what the store has is skipped)
            if (refreshPartitions())
            {
                return 0;
            }
            if (fromHint)
            {
                seek(null);
                return 0;
            }
            throw new KafkaStreamingException(stuck.getMessage());
        }
        catch (final VersionGap gap)
        {
            if (!fromHint)
            {
                throw new KafkaStreamingException(gap.getMessage() + " (reading the topic from its start)");
            }
            // the store lost what the hint says it has (a power cut): read the whole topic again, skipping what it has
            seek(null);
            return 0;
        }
        updateFlow();
        final long now = System.nanoTime();
        if (dirty && now - lastSaveNs > SAVE_INTERVAL_NS)
        {
            save(false);
            lastSaveNs = now;
        }
        return applied;
    }

    private void updateFlow()
    {
        long behind = 0;
        for (int p = 0; p < partitions.size(); p++)
        {
            final int size = buffers[p].size();
            behind += size;
            if (!paused[p] && size > MAX_BUFFERED)
            {
                // the merge waits for another partition: stop fetching this one meanwhile
                consumer.pause(List.of(partitions.get(p)));
                paused[p] = true;
            }
            else if (paused[p] && size < MAX_BUFFERED / 2)
            {
                consumer.resume(List.of(partitions.get(p)));
                paused[p] = false;
            }
            final OptionalLong lag = consumer.currentLag(partitions.get(p));
            if (lag.isPresent())
            {
                behind += lag.getAsLong();
            }
        }
        recordsBehind = behind;
    }

    private int drain()
    {
        int applied = 0;
        while (true)
        {
            final int p = nextPartition();
            if (p < 0)
            {
                return applied;
            }
            final ConsumerRecord<byte[], byte[]> record = buffers[p].poll();
            chain = KafkaRecordFormat.longHeader(record.headers(), KafkaRecordFormat.POSITION);
            applied += apply(record);
        }
    }

    /** The partition whose next record follows {@link #chain}; -1 if none has it buffered yet. */
    private int nextPartition()
    {
        for (int p = 0; p < buffers.length; p++)
        {
            while (true)
            {
                final ConsumerRecord<byte[], byte[]> head = buffers[p].peek();
                if (head == null)
                {
                    break;
                }
                if (!KafkaRecordFormat.isVarveRecord(head.headers()))
                {
                    throw new KafkaStreamingException("topic " + topic + " holds a record not published by " +
                        "VarveDB at " + partitions.get(p) + " offset " + head.offset());
                }
                final long position = KafkaRecordFormat.longHeader(head.headers(), KafkaRecordFormat.POSITION);
                if (chain != KafkaRecordFormat.NONE && position <= chain)
                {
                    // taken already (seeked back to a hint older than the merge): its offset is applied
                    buffers[p].poll();
                    appliedOffsets[p] = Math.max(appliedOffsets[p], head.offset() + 1);
                    continue;
                }
                if (KafkaRecordFormat.longHeader(head.headers(), KafkaRecordFormat.PREVIOUS) == chain)
                {
                    return p;
                }
                break;
            }
        }
        checkNotStuck();
        return -1;
    }

    private void checkNotStuck()
    {
        for (int p = 0; p < buffers.length; p++)
        {
            if (buffers[p].isEmpty())
            {
                return;
            }
        }
        // every partition has a record and none follows the last one taken: the topic lost one
        final ConsumerRecord<byte[], byte[]> head = buffers[0].peek();
        throw new Stuck("topic " + topic + " lacks the event after position " + chain +
            " (every partition's next record follows another; e.g. " + partitions.get(0) + " offset " +
            head.offset() + " follows " + KafkaRecordFormat.longHeader(head.headers(), KafkaRecordFormat.PREVIOUS) +
            "): records were deleted (retention?) before the replica read them");
    }

    private int apply(final ConsumerRecord<byte[], byte[]> record)
    {
        final int flags = KafkaRecordFormat.flags(record.headers());
        if ((flags & KafkaRecordFormat.FLAG_IN_BATCH) != 0)
        {
            pendingBatch.add(record);
            if ((flags & KafkaRecordFormat.FLAG_LAST_IN_BATCH) == 0)
            {
                return 0;
            }
            final int events = applyBatch();
            for (final ConsumerRecord<byte[], byte[]> r : pendingBatch)
            {
                applied(r);
            }
            pendingBatch.clear();
            return events;
        }
        if (!pendingBatch.isEmpty())
        {
            throw new KafkaStreamingException("topic " + topic + ": a batch ends without its last event before " +
                partitions.get(record.partition()) + " offset " + record.offset());
        }
        final long version = KafkaRecordFormat.longHeader(record.headers(), KafkaRecordFormat.VERSION);
        final long timestamp = KafkaRecordFormat.longHeader(record.headers(), KafkaRecordFormat.TIMESTAMP);
        final String name = KafkaRecordFormat.streamName(record.headers());
        clock.copying(timestamp);
        try
        {
            if ((flags & KafkaRecordFormat.FLAG_METADATA) != 0)
            {
                final long current = versionOfName(name);
                if (decide(current, version, name, record, 1))
                {
                    final byte[] value = KafkaRecordFormat.value(record);
                    view.wrap(value);
                    final StreamMetadata metadata = StreamMetadata.decode(view, 0, value.length);
                    if (name.startsWith("$$$"))
                    {
                        db.setStreamMetadata(Long.parseLong(name.substring(3)), metadata);
                    }
                    else
                    {
                        db.setStreamMetadata(name.substring(2), metadata);
                    }
                }
            }
            else
            {
                final long streamId = name != null ? appender.streamId(name) :
                    KafkaRecordFormat.longHeader(record.headers(), KafkaRecordFormat.STREAM);
                final long current = versionOf(streamId);
                if (!decide(current, version, name != null ? name : Long.toString(streamId), record, 1))
                {
                    checkHeld(streamId, version, record);
                }
                else
                {
                    if ((flags & KafkaRecordFormat.FLAG_TOMBSTONE) != 0)
                    {
                        db.tombstoneStream(streamId, ExpectedVersion.exact(version - 1));
                    }
                    else
                    {
                        final int type = KafkaRecordFormat.intHeader(record.headers(), KafkaRecordFormat.EVENT_TYPE);
                        final byte[] id = KafkaRecordFormat.eventId(record.headers());
                        final byte[] value = KafkaRecordFormat.value(record);
                        if (id != null)
                        {
                            final ByteBuffer ids = ByteBuffer.wrap(id);
                            appender.append(streamId, ExpectedVersion.exact(version - 1), type, ids.getLong(),
                                ids.getLong(), value);
                        }
                        else
                        {
                            appender.append(streamId, ExpectedVersion.exact(version - 1), type, value);
                        }
                    }
                }
            }
        }
        finally
        {
            clock.done();
        }
        applied(record);
        return 1;
    }

    private int applyBatch()
    {
        final ConsumerRecord<byte[], byte[]> first = pendingBatch.get(0);
        final String name = KafkaRecordFormat.streamName(first.headers());
        final long streamId = name != null ? appender.streamId(name) :
            KafkaRecordFormat.longHeader(first.headers(), KafkaRecordFormat.STREAM);
        final long firstVersion = KafkaRecordFormat.longHeader(first.headers(), KafkaRecordFormat.VERSION);
        final long current = versionOf(streamId);
        if (!decide(current, firstVersion, name != null ? name : Long.toString(streamId), first,
            pendingBatch.size()))
        {
            for (final ConsumerRecord<byte[], byte[]> record : pendingBatch)
            {
                checkHeld(streamId, KafkaRecordFormat.longHeader(record.headers(), KafkaRecordFormat.VERSION), record);
            }
            return pendingBatch.size();
        }
        batch.clear();
        for (final ConsumerRecord<byte[], byte[]> record : pendingBatch)
        {
            final byte[] value = KafkaRecordFormat.value(record);
            batch.add(KafkaRecordFormat.intHeader(record.headers(), KafkaRecordFormat.EVENT_TYPE), value);
            final byte[] id = KafkaRecordFormat.eventId(record.headers());
            if (id != null)
            {
                final ByteBuffer ids = ByteBuffer.wrap(id);
                batch.eventId(ids.getLong(), ids.getLong());
            }
        }
        clock.copying(KafkaRecordFormat.longHeader(first.headers(), KafkaRecordFormat.TIMESTAMP));
        try
        {
            appender.appendBatch(streamId, ExpectedVersion.exact(firstVersion - 1), batch);
        }
        finally
        {
            clock.done();
            batch.clear();
        }
        return pendingBatch.size();
    }

    /**
     * True if the event at {@code version} (the first of {@code events}: a batch is appended whole or not at all) is to
     * be appended; false if the stream has it; a gap throws.
     */
    private boolean decide(final long current, final long version, final String stream,
        final ConsumerRecord<byte[], byte[]> record, final int events)
    {
        if (current >= version)
        {
            skippedEvents += events;
            return false;
        }
        if (current != version - 1)
        {
            throw new VersionGap("stream " + stream + " is at version " + current + " in the replica, but the next " +
                "event the topic has for it (" + record.topic() + "-" + record.partition() + " offset " +
                record.offset() + ") is version " + version);
        }
        return true;
    }

    /**
     * An event the store holds already must be the one the topic has: else something other than the follower wrote
     * to the replica (or it follows another primary's topic), and following on would hide the difference for good.
     */
    private void checkHeld(final long streamId, final long version, final ConsumerRecord<byte[], byte[]> record)
    {
        if ((KafkaRecordFormat.flags(record.headers()) & KafkaRecordFormat.FLAG_TOMBSTONE) != 0 ||
            versionOf(streamId) == Long.MAX_VALUE)
        {
            return;
        }
        final String[] differs = {null};
        db.readStream(streamId, version, 1, (event) ->
        {
            if (event.version() != version)
            {
                // hidden by the stream's metadata (a limit, a soft delete): nothing left to compare
                return;
            }
            final String difference = KafkaRecordFormat.difference(event, record);
            if (difference != null)
            {
                differs[0] = "the replica holds another event (" + difference + ") at stream " + (streamId < 0 ?
                    db.streamName(streamId) : Long.toString(streamId)) + " version " + version + " than " +
                    record.topic() + "-" + record.partition() + " offset " + record.offset();
            }
        });
        if (differs[0] != null)
        {
            throw new KafkaStreamingException(differs[0] + ": the replica was written by something other than " +
                "its follower, or follows another primary's topic; it is no copy of the primary any more");
        }
    }

    private long versionOfName(final String name)
    {
        final long id = db.findStreamId(name);
        return id == 0 ? 0 : versionOf(id);
    }

    private long versionOf(final long streamId)
    {
        try
        {
            return db.streamVersion(streamId);
        }
        catch (final StreamDeletedException ex)
        {
            // tombstoned: nothing of it can come after the tombstone, which it holds
            return Long.MAX_VALUE;
        }
    }

    private void applied(final ConsumerRecord<byte[], byte[]> record)
    {
        final long position = KafkaRecordFormat.longHeader(record.headers(), KafkaRecordFormat.POSITION);
        final long timestamp = KafkaRecordFormat.longHeader(record.headers(), KafkaRecordFormat.TIMESTAMP);
        appliedOffsets[record.partition()] = record.offset() + 1;
        final String name = KafkaRecordFormat.streamName(record.headers());
        appliedStream = name != null ? NAME_PREFIX + name :
            ID_PREFIX + KafkaRecordFormat.longHeader(record.headers(), KafkaRecordFormat.STREAM);
        appliedVersion = KafkaRecordFormat.longHeader(record.headers(), KafkaRecordFormat.VERSION);
        appliedPosition = position;
        lastTimestamp = timestamp;
        appliedEvents++;
        dirty = true;
        if (listener != null)
        {
            listener.applied(position, timestamp);
        }
    }

    private void save(final boolean force)
    {
        try
        {
            new ReplicaOffsets(appliedPosition, appliedOffsets.clone(), appliedStream, appliedVersion, lastTimestamp,
                topicId).write(directory, force);
            dirty = false;
        }
        catch (final IOException ex)
        {
            throw new KafkaStreamingException("cannot save " + directory.resolve(ReplicaOffsets.FILE_NAME), ex);
        }
    }

    /**
     * Follow on a thread of its own until {@link #close()}; a failure stops it, and {@link #failure()} says why.
     *
     * @return this replica.
     */
    public synchronized KafkaReplica start()
    {
        if (thread != null)
        {
            throw new IllegalStateException("already started");
        }
        running = true;
        thread = new Thread(this::run, "varve-kafka-replica-" + topic);
        thread.setDaemon(true);
        thread.start();
        return this;
    }

    private void run()
    {
        while (running)
        {
            try
            {
                poll(POLL);
            }
            catch (final org.apache.kafka.common.errors.WakeupException ex)
            {
                return;
            }
            catch (final RuntimeException | Error ex)
            {
                failure = ex;
                running = false;
            }
        }
    }

    /**
     * The replica store, opened read-only: read it, subscribe to it, run processors on it. Every write through it
     * is refused ({@link io.varvedb.ReadOnlyStoreException}): only the follower writes to a replica. Closed by
     * {@link #close()}.
     *
     * @return the store, read-only.
     */
    public synchronized VarveDB store()
    {
        if (closed)
        {
            throw new io.varvedb.StoreClosedException("the replica of " + topic + " at " + directory + " is closed");
        }
        if (readOnlyView == null)
        {
            // with the replica's own settings: an encrypted replica opens with its key
            readOnlyView = VarveDB.openReadOnly(db.config());
        }
        return readOnlyView;
    }

    /** @return the primary position of the last event applied, {@link KafkaRecordFormat#NONE} if none yet. */
    public long appliedPosition()
    {
        return appliedPosition;
    }

    /** @return events applied (appended, or found there already) since it was built. */
    public long appliedEvents()
    {
        return appliedEvents;
    }

    /** @return of those, the ones the store held already (after a restart). */
    public long skippedEvents()
    {
        return skippedEvents;
    }

    /** @return the primary timestamp (epoch nanoseconds) of the last event applied; 0 if none yet. */
    public long lastAppliedTimestamp()
    {
        return lastTimestamp;
    }

    /** @return records in the topic not applied yet, as of the last fetch (Kafka's lag plus those buffered). */
    public long recordsBehind()
    {
        return recordsBehind;
    }

    /** @return true while its thread follows. */
    public boolean isRunning()
    {
        return running;
    }

    /** @return what stopped its thread, or null. */
    public Throwable failure()
    {
        return failure;
    }

    /** @return the topic it follows. */
    public String topic()
    {
        return topic;
    }

    /**
     * Stop following: save how far it got (forced), close the consumer and the store. The store stays a replica
     * until {@link #promote(Path)}.
     */
    @Override
    public void close()
    {
        final Thread t;
        synchronized (this)
        {
            if (closed)
            {
                return;
            }
            closed = true;
            t = thread;
        }
        running = false;
        if (t != null)
        {
            consumer.wakeup();
            try
            {
                t.join(CLOSE_TIMEOUT.toMillis());
            }
            catch (final InterruptedException ex)
            {
                Thread.currentThread().interrupt();
            }
        }
        try
        {
            if (dirty)
            {
                save(true);
            }
        }
        finally
        {
            try
            {
                admin.close(CLOSE_TIMEOUT);
                consumer.close(CLOSE_TIMEOUT);
            }
            finally
            {
                appender.close();
                synchronized (this)
                {
                    if (readOnlyView != null)
                    {
                        readOnlyView.close();
                    }
                }
                db.close();
            }
        }
    }

    /** No partition's next record follows the last one taken. */
    private static final class Stuck extends RuntimeException
    {
        private static final long serialVersionUID = 1L;

        Stuck(final String message)
        {
            super(message, null, false, false);
        }
    }

    /** A stream of the replica is behind the next event the topic has for it. */
    private static final class VersionGap extends RuntimeException
    {
        private static final long serialVersionUID = 1L;

        VersionGap(final String message)
        {
            super(message, null, false, false);
        }
    }

    /**
     * Builder of {@link KafkaReplica}.
     */
    public static final class Builder
    {
        private final Path directory;
        private final String bootstrap;
        private final String topic;
        private UnaryOperator<VarveConfig.Builder> store = UnaryOperator.identity();
        private Listener listener;
        private Duration timeout = Duration.ofSeconds(30);
        private final Map<String, Object> consumerOverrides = new HashMap<>();

        private Builder(final Path directory, final String bootstrap, final String topic)
        {
            this.directory = Objects.requireNonNull(directory, "directory");
            this.bootstrap = KafkaPublisher.requireText(bootstrap, "bootstrap");
            this.topic = KafkaPublisher.requireText(topic, "topic");
        }

        /**
         * Settings of the replica store (capacities as large as the primary's, durability...). Its
         * {@code replicaOf} and {@code clock} are the replica's own.
         *
         * @param settings applied to the store's config builder.
         * @return this builder.
         */
        public Builder store(final UnaryOperator<VarveConfig.Builder> settings)
        {
            this.store = Objects.requireNonNull(settings, "settings");
            return this;
        }

        /**
         * @param listener told of each event applied, on the following thread (keep it short).
         * @return this builder.
         */
        public Builder listener(final Listener listener)
        {
            this.listener = listener;
            return this;
        }

        /**
         * @param timeout for Kafka's answers when starting (default 30 s).
         * @return this builder.
         */
        public Builder timeout(final Duration timeout)
        {
            this.timeout = Objects.requireNonNull(timeout, "timeout");
            return this;
        }

        /**
         * @param name  of a consumer setting (security, client id...).
         * @param value its value.
         * @return this builder.
         */
        public Builder consumerProperty(final String name, final Object value)
        {
            consumerOverrides.put(name, value);
            return this;
        }

        /**
         * Open (or create) the replica store and connect.
         *
         * @return the replica; {@link KafkaReplica#start()} it or call {@link KafkaReplica#poll}.
         * @throws io.varvedb.ReplicaStoreException if the directory holds a store that is no replica of this topic.
         * @throws KafkaStreamingException          if the topic does not exist.
         */
        public KafkaReplica build()
        {
            return new KafkaReplica(this);
        }
    }
}
