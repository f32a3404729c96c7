package io.varvedb.tools;

import io.varvedb.EventHandler;
import io.varvedb.RecordedEvent;
import io.varvedb.VarveDB;
import io.varvedb.internal.log.RecordDescriptor;
import net.openhft.chronicle.bytes.HexDumpBytes;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.MappedByteBuffer;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/**
 * {@code varve dump DIR}: events as readable lines, in log order or one stream's order; with {@code --hex}, every
 * record's bytes as they lie on disk, annotated field by field.
 */
@Command(
    name = "dump",
    mixinStandardHelpOptions = true,
    header = "Print events as readable lines, or their bytes on disk with --hex.",
    description = {
        "Prints the whole log in order, from a log position (--from), or one stream (--stream). --hex adds each record's bytes as they lie on disk with every field annotated. --codec shows payloads decoded by the application's own io.varvedb.Codec. Read-only.",
        "An encrypted store: with --key-file its payloads are shown decrypted, as for any store; without it, each encrypted event shows its header and the size of its cipher text only ('payload: 57 bytes encrypted'), and --hex labels the writer generation, cipher text and tag of each encrypted record. A key the store refuses ends it with exit status 3, nothing written."
    })
public final class DumpCommand implements Callable<Integer>
{
    private static final int DEFAULT_LIMIT = 100;
    private static final int HEX_INDENT = 2;
    private static final int HEX_ROW = 16;
    private static final int FIRST_PRINTABLE = 0x20;
    private static final int LAST_PRINTABLE = 0x7e;

    @Spec
    private CommandSpec spec;

    @Mixin
    private PayloadCodecs.Options codecOptions = new PayloadCodecs.Options();

    @Mixin
    private StoreKey.Options keyOptions = new StoreKey.Options();

    @Parameters(index = "0", paramLabel = "DIR", description = "The store's directory.")
    private Path directory;

    @ArgGroup(exclusive = true)
    private Where where;

    @Option(names = "--limit", paramLabel = "N", defaultValue = "" + DEFAULT_LIMIT,
        description = "Most events to print; 0 for all (default: ${DEFAULT-VALUE}).")
    private int limit;

    @Option(names = "--hex", description = "Show each record's bytes, field by field (Chronicle HexDumpBytes).")
    private boolean hex;

    /**
     * Where to start: one of the two, or neither for the start of the log.
     */
    static final class Where
    {
        @Option(names = "--stream", paramLabel = "ID|NAME",
            description = "Only this stream (its id, or its name), from its first version.")
        private String stream;

        @Option(names = "--from", paramLabel = "POS", description = "Start at this log position (a record's @).")
        private Long from;
    }

    @Override
    public Integer call() throws IOException
    {
        if (limit < 0)
        {
            throw CliException.usage("--limit must be >= 0, got " + limit);
        }
        final String streamOption = where == null ? null : where.stream;
        final Long from = where == null ? null : where.from;
        Stores.checkStreamOption(streamOption);
        if (from != null && (from < 0 || from % RecordDescriptor.ALIGNMENT != 0))
        {
            throw CliException.usage("--from must be a record position: >= 0 and a multiple of " +
                RecordDescriptor.ALIGNMENT + ", got " + from);
        }

        final PrintWriter out = spec.commandLine().getOut();
        final Path dir = Stores.requireStore(directory);
        final int max = limit == 0 ? Integer.MAX_VALUE : limit;
        final Stores.Meta meta = Stores.readMeta(dir);
        final StoreKey key = keyOptions.forStore(dir);
        try (PayloadCodecs codecs = codecOptions.load();
            // without the key, an encrypted store's payloads are read as cipher text: the printer shows their sizes
            VarveDB db = key.openToLook(true);
            SegmentFiles segments = new SegmentFiles(dir, meta.segmentLength()))
        {
            if (from != null)
            {
                checkRecordStart(segments, from);
            }
            final Long stream = streamOption == null ? null : Stores.streamId(db, streamOption);
            if (key.missing())
            {
                out.println(dir + " is encrypted and was opened without its master key: encrypted payloads are " +
                    "shown by their size only (--key-file FILE to see them)");
            }
            final Printer printer = new Printer(out, hex ? segments : null, codecs, db, key.missing());
            final int printed;
            if (stream != null)
            {
                printed = db.readStream(stream, 1, max, printer);
                if (printed == 0)
                {
                    out.println("stream " + Stores.describeStream(db, stream) + " has no events");
                }
            }
            else
            {
                final long start = from == null ? VarveDB.START_POSITION : from;
                printed = db.readAll(start, max, printer);
                if (printed == 0)
                {
                    out.println("no events at or after position " + start + " (the log's tail is at " +
                        db.tailPosition() + ")");
                }
            }
            if (printer.failure != null)
            {
                throw printer.failure;
            }
            if (printed == max && printer.lastNext > 0 && stream == null)
            {
                out.println("... more may follow: --from " + printer.lastNext + " to continue, --limit 0 for all");
            }
            out.flush();
        }
        return ExitCode.OK;
    }

    /**
     * A position inside a record would be read as garbage: walk the segment's records from its start to make sure
     * {@code from} is where one begins.
     */
    private static void checkRecordStart(final SegmentFiles segments, final long from) throws IOException
    {
        final long segment = segments.segmentOf(from);
        final MappedByteBuffer file = segments.map(segment);
        if (file == null)
        {
            return;
        }
        if (segments.isCompacted(from))
        {
            // a kept record starts there, or a dropped range does (readers go on at the next kept record); only a
            // position inside a kept record is refused
            final io.varvedb.internal.log.CompactedBuffer map = new io.varvedb.internal.log.CompactedBuffer(file);
            if (map.insideKept((int)(from - segments.segmentStart(segment))))
            {
                throw CliException.usage("--from " + from + " is inside a kept record of the compacted segment " +
                    segments.path(segment).getFileName());
            }
            return;
        }
        long position = segments.segmentStart(segment);
        long previous = position;
        while (position < from)
        {
            final int frameLength = file.getInt(segments.fileOffset(position));
            if (frameLength == 0)
            {
                return;
            }
            previous = position;
            position += RecordDescriptor.alignedLength(Math.abs(frameLength));
        }
        if (position != from)
        {
            throw CliException.usage("--from " + from + " is inside the record at @" + previous +
                "; records start at @" + previous + " and @" + position);
        }
    }

    /**
     * Prints each event; with segments, also its record's bytes.
     */
    private static final class Printer implements EventHandler
    {
        private final PrintWriter out;
        private final SegmentFiles segments;
        private final PayloadCodecs codecs;
        private final VarveDB db;
        private final boolean ciphertext;
        private long lastNext;
        private IOException failure;

        Printer(
            final PrintWriter out, final SegmentFiles segments, final PayloadCodecs codecs, final VarveDB db,
            final boolean ciphertext)
        {
            this.db = db;
            this.ciphertext = ciphertext;
            this.codecs = codecs;
            this.out = out;
            this.segments = segments;
        }

        @Override
        public void onEvent(final RecordedEvent event)
        {
            // a named stream's name beside its id (a numeric id costs no lookup)
            out.println(EventLine.format(event, codecs,
                event.streamId() < 0 ? db.streamName(event.streamId()) : null, ciphertext));
            lastNext = event.nextPosition();
            if (segments != null && failure == null)
            {
                try
                {
                    out.print(hexDump(segments, event.position()));
                }
                catch (final IOException ex)
                {
                    failure = ex;
                }
            }
        }
    }

    /**
     * @param segments  the log's files.
     * @param position  a record's position.
     * @return the record's bytes as they lie on disk, field by field; an encrypted event's writer generation,
     * cipher text and tag labelled as such.
     * @throws IOException if its segment cannot be mapped.
     */
    static String hexDump(final SegmentFiles segments, final long position) throws IOException
    {
        final MappedByteBuffer file = segments.map(segments.segmentOf(position));
        if (file == null)
        {
            return "    (segment file " + segments.path(segments.segmentOf(position)) + " is missing)\n";
        }
        // through the position map in a compacted segment: the record keeps its position, not its file offset
        final int offset = segments.recordOffset(position);
        final int frameLength = file.getInt(offset + RecordDescriptor.FRAME_LENGTH_OFFSET);
        final short type = file.getShort(offset + RecordDescriptor.RECORD_TYPE_OFFSET);
        final short flags = file.getShort(offset + RecordDescriptor.FLAGS_OFFSET);
        final boolean event = type == RecordDescriptor.TYPE_EVENT;
        final boolean withId = event && (flags & RecordDescriptor.FLAG_EVENT_ID) != 0;
        final boolean encrypted = event && (flags & RecordDescriptor.FLAG_ENCRYPTED) != 0;
        // an encrypted event: writer generation after the header (and id), cipher text, then the tag ends the frame
        final int payloadOffset = event ? RecordDescriptor.payloadOffset(flags) : RecordDescriptor.HEADER_LENGTH;
        final int payloadLength = Math.max(0, event ? RecordDescriptor.payloadLength(flags, frameLength) :
            frameLength - payloadOffset);
        final boolean whole = frameLength >= (event ? RecordDescriptor.minFrameLength(flags) : payloadOffset);
        final int aligned = RecordDescriptor.alignedLength(frameLength);
        final HexDumpBytes bytes = new HexDumpBytes();
        try
        {
            bytes.adjustHexDumpIndentation(HEX_INDENT);
            bytes.writeHexDumpDescription("frame length " + frameLength + " (" + (encrypted ?
                "header " + (payloadOffset - RecordDescriptor.NONCE_PREFIX_LENGTH) + " + writer generation " +
                    RecordDescriptor.NONCE_PREFIX_LENGTH + " + cipher text " + payloadLength + " + tag " +
                    RecordDescriptor.TAG_LENGTH :
                "header " + payloadOffset + " + payload " + payloadLength) + "), published last");
            bytes.writeInt(frameLength);
            final boolean padding = type == RecordDescriptor.TYPE_PADDING;
            bytes.writeHexDumpDescription("CRC32C of bytes 8.." +
                (padding ? RecordDescriptor.PADDING_CHECKSUM_END : frameLength) +
                (encrypted ? " (cipher text and tag included)" : ""));
            bytes.writeInt(file.getInt(offset + RecordDescriptor.CHECKSUM_OFFSET));
            bytes.writeHexDumpDescription("record type " + type + (event ? " (event)" :
                padding ? " (padding)" :
                type == RecordDescriptor.TYPE_STREAM_NAME ? " (stream name)" : " (unknown)") + ", flags " + flags +
                flagNames(event ? flags : 0));
            bytes.writeShort(type);
            bytes.writeShort(flags);
            final int eventType = file.getInt(offset + RecordDescriptor.EVENT_TYPE_OFFSET);
            bytes.writeHexDumpDescription("event type " + eventType);
            bytes.writeInt(eventType);
            final long streamId = file.getLong(offset + RecordDescriptor.STREAM_ID_OFFSET);
            bytes.writeHexDumpDescription(padding ? "frame length again " + streamId + " (a padding repeats it)" :
                "stream id " + streamId);
            bytes.writeLong(streamId);
            final long version = file.getLong(offset + RecordDescriptor.VERSION_OFFSET);
            bytes.writeHexDumpDescription("version " + version);
            bytes.writeLong(version);
            final long timestamp = file.getLong(offset + RecordDescriptor.TIMESTAMP_OFFSET);
            bytes.writeHexDumpDescription("timestamp " + Format.timestamp(timestamp));
            bytes.writeLong(timestamp);
            if (withId && whole)
            {
                final long high = file.getLong(offset + RecordDescriptor.EVENT_ID_HIGH_OFFSET);
                final long low = file.getLong(offset + RecordDescriptor.EVENT_ID_LOW_OFFSET);
                bytes.writeHexDumpDescription("event id, high 64 bits (" + new java.util.UUID(high, low) + ")");
                bytes.writeLong(high);
                bytes.writeHexDumpDescription("event id, low 64 bits");
                bytes.writeLong(low);
            }
            if (encrypted && whole)
            {
                final int generation = file.getInt(offset + payloadOffset - RecordDescriptor.NONCE_PREFIX_LENGTH);
                bytes.writeHexDumpDescription("writer generation " + generation + " (the nonce is the position " +
                    position + ", then this)");
                bytes.writeInt(generation);
            }
            if (payloadLength > 0)
            {
                final byte[] payload = new byte[payloadLength];
                file.get(offset + payloadOffset, payload);
                final String what = encrypted ? "cipher text [" : "payload [";
                // one described line per row: HexDumpBytes joins an undescribed row to the next description
                for (int from = 0; from < payloadLength; from += HEX_ROW)
                {
                    final int to = Math.min(payloadLength, from + HEX_ROW);
                    bytes.writeHexDumpDescription(what + from + ".." + to + ") " + ascii(payload, from, to));
                    bytes.write(payload, from, to - from);
                }
            }
            if (encrypted && whole)
            {
                final byte[] tag = new byte[RecordDescriptor.TAG_LENGTH];
                file.get(offset + payloadOffset + payloadLength, tag);
                bytes.writeHexDumpDescription("GCM authentication tag (" + RecordDescriptor.TAG_LENGTH + " bytes)");
                bytes.write(tag, 0, tag.length);
            }
            if (aligned > frameLength)
            {
                bytes.writeHexDumpDescription("zero bytes up to the next " + RecordDescriptor.ALIGNMENT +
                    "-byte boundary");
                final byte[] gap = new byte[aligned - frameLength];
                file.get(offset + frameLength, gap);
                bytes.write(gap, 0, gap.length);
            }
            return bytes.toHexString();
        }
        finally
        {
            bytes.releaseLast();
        }
    }

    /**
     * @param flags an event's flags.
     * @return the names of those set, in parentheses; empty for none.
     */
    static String flagNames(final short flags)
    {
        final StringBuilder names = new StringBuilder();
        appendFlag(names, flags, RecordDescriptor.FLAG_BATCH_MORE, "batch-more");
        appendFlag(names, flags, RecordDescriptor.FLAG_BATCH_CONTINUATION, "batch-continuation");
        appendFlag(names, flags, RecordDescriptor.FLAG_EVENT_ID, "event-id");
        appendFlag(names, flags, RecordDescriptor.FLAG_TOMBSTONE, "tombstone");
        appendFlag(names, flags, RecordDescriptor.FLAG_ENCRYPTED, "encrypted");
        return names.length() == 0 ? "" : " (" + names + ")";
    }

    private static void appendFlag(final StringBuilder names, final short flags, final short flag, final String name)
    {
        if ((flags & flag) != 0)
        {
            names.append(names.length() == 0 ? "" : ", ").append(name);
        }
    }

    private static String ascii(final byte[] bytes, final int from, final int to)
    {
        final StringBuilder text = new StringBuilder(to - from + 2).append('|');
        for (int i = from; i < to; i++)
        {
            final int b = bytes[i] & 0xFF;
            text.append(b >= FIRST_PRINTABLE && b <= LAST_PRINTABLE ? (char)b : '.');
        }
        return text.append('|').toString();
    }
}
