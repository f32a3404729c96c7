package io.varvedb.attack;

import io.varvedb.*;

import java.io.BufferedReader;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.HexFormat;

/**
 * The other processes of {@link EncryptionAttackTest}: a shredder and a rotator to be killed, writers of a
 * multi-process store, and a read-only reader driven through its stdin.
 */
public final class EncryptionAttackChild
{
    private EncryptionAttackChild()
    {
    }

    static VarveConfig.Builder config(final Path dir, final byte[] key)
    {
        return VarveConfig.builder(dir).segmentSize(64 * 1024).indexCapacity(4096).indexBlocksPerChunk(64)
            .eventIdCapacity(4096).nameCapacity(1024).encryption(key);
    }

    public static void main(final String[] args) throws Exception
    {
        final PrintStream out = new PrintStream(new FileOutputStream(FileDescriptor.out), true,
            StandardCharsets.US_ASCII);
        final Path dir = Path.of(args[1]);
        switch (args[0])
        {
            case "shred-loop" -> shredLoop(out, dir, HexFormat.of().parseHex(args[2]), Long.parseLong(args[3]),
                Integer.parseInt(args[4]));
            case "rotate-loop" -> rotateLoop(out, dir, HexFormat.of().parseHex(args[2]),
                HexFormat.of().parseHex(args[3]), Long.parseLong(args[4]));
            case "mp-writer" -> multiWriter(out, dir, HexFormat.of().parseHex(args[2]), Integer.parseInt(args[3]),
                Integer.parseInt(args[4]));
            case "ro-reader" -> readOnlyReader(out, dir, HexFormat.of().parseHex(args[2]));
            case "rw-cmd" -> writerOnCommand(out, dir, HexFormat.of().parseHex(args[2]));
            case "mp-join-loop" -> joinLoop(out, dir, HexFormat.of().parseHex(args[2]), HexFormat.of().parseHex(args[3]),
                Long.parseLong(args[4]), Long.parseLong(args[5]));
            default -> throw new IllegalArgumentException(args[0]);
        }
    }

    /** Shreds streams first..first+count-1 one after the other, saying before ("S") and after ("D") each. */
    private static void shredLoop(final PrintStream out, final Path dir, final byte[] key, final long first,
        final int count) throws InterruptedException
    {
        final VarveDB db = VarveDB.open(config(dir, key).durability(Durability.SYNC).build());
        out.println("opened");
        for (long s = first; s < first + count; s++)
        {
            out.println("S " + s);
            db.shredStream(s);
            out.println("D " + s);
        }
        out.println("done");
        Thread.sleep(60_000);
    }

    /**
     * Rotates between two keys for ever ("R j" before the j-th rotation, "K j" once it returned; the j-th rotation
     * goes to {@code b} for odd j, to {@code a} for even j), while a thread appends new streams from
     * {@code firstStream} on ("A stream" once acknowledged, SYNC).
     */
    private static void rotateLoop(final PrintStream out, final Path dir, final byte[] a, final byte[] b,
        final long firstStream) throws Exception
    {
        final VarveDB db = VarveDB.open(config(dir, a).durability(Durability.SYNC).build());
        out.println("opened");
        final Thread appender = new Thread(() ->
        {
            try (Appender appender1 = db.appender())
            {
                for (long s = firstStream; ; s++)
                {
                    appender1.append(s, ExpectedVersion.NO_STREAM, 7, EncryptionAttackTest.payloadOf(s, 1, 33));
                    synchronized (out)
                    {
                        out.println("A " + s);
                    }
                }
            }
            catch (final Throwable ex)
            {
                // killed, or the store closed under us
            }
        });
        appender.setDaemon(true);
        appender.start();
        for (int j = 1; ; j++)
        {
            synchronized (out)
            {
                out.println("R " + j);
            }
            db.rotateMasterKey(j % 2 == 1 ? b : a);
            synchronized (out)
            {
                out.println("K " + j);
            }
        }
    }

    /** A writer of a multi-process store: the first append of streams 1..count, and of named streams. */
    private static void multiWriter(final PrintStream out, final Path dir, final byte[] key, final int id,
        final int count) throws Exception
    {
        final BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.US_ASCII));
        try (VarveDB db = VarveDB.open(config(dir, key).multiProcess(true).build()))
        {
            out.println("ready");
            if (!"go".equals(in.readLine()))
            {
                return;
            }
            final Appender appender = db.appender();
            for (int round = 0; round < 3; round++)
            {
                for (long s = 1; s <= count; s++)
                {
                    final long v = appender.append(s, ExpectedVersion.ANY, id, EncryptionAttackTest.payloadOf(s * 10 + id,
                        round, 24 + (int)s));
                    out.println("A " + s + " " + v + " " + id + " " + round);
                }
                for (int n = 0; n < 10; n++)
                {
                    final long s = appender.streamId("mp-name-" + n);
                    final long v = appender.append(s, ExpectedVersion.ANY, id, EncryptionAttackTest.payloadOf(
                        1000 + n * 10 + id, round, 20));
                    out.println("N " + n + " " + s + " " + v + " " + id + " " + round);
                }
            }
            out.println("done");
        }
    }

    /** A read-only process with the key, reading on command: "read S", "all", "quit". */
    private static void readOnlyReader(final PrintStream out, final Path dir, final byte[] key) throws Exception
    {
        final BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.US_ASCII));
        try (VarveDB db = VarveDB.openReadOnly(config(dir, key).build()))
        {
            out.println("opened");
            String line;
            while ((line = in.readLine()) != null && !line.equals("quit"))
            {
                final StringBuilder seen = new StringBuilder();
                try
                {
                    final int n;
                    if (line.startsWith("read "))
                    {
                        n = db.readStream(Long.parseLong(line.substring(5)), 1, Integer.MAX_VALUE, (e) ->
                            seen.append(' ').append(e.version()).append(':').append(EncryptionAttackTest.hex(e)));
                    }
                    else
                    {
                        n = db.readAll(VarveDB.START_POSITION, Integer.MAX_VALUE, (e) ->
                            seen.append(' ').append(e.streamId()).append('/').append(e.version()).append(':')
                                .append(EncryptionAttackTest.hex(e)));
                    }
                    out.println("ok " + n + seen);
                }
                catch (final RuntimeException ex)
                {
                    out.println("err " + ex.getClass().getSimpleName() + " " +
                        String.valueOf(ex.getMessage()).replace('\n', ' '));
                }
            }
        }
    }

    /**
     * A writer process that joins a multi-process store again and again (trying both keys, as the other writer
     * rotates between them), creating one new stream each time: "A stream" once acknowledged, "E why" when
     * neither key opens the store.
     */
    private static void joinLoop(final PrintStream out, final Path dir, final byte[] a, final byte[] b,
        final long first, final long millis)
    {
        final long end = System.nanoTime() + millis * 1_000_000L;
        int refused = 0;
        for (long s = first; System.nanoTime() < end; s++)
        {
            VarveDB db = null;
            final StringBuilder why = new StringBuilder();
            for (final byte[] key : new byte[][]{a, b})
            {
                try
                {
                    db = VarveDB.open(config(dir, key).multiProcess(true).durability(Durability.SYNC).build());
                    break;
                }
                catch (final RuntimeException ex)
                {
                    why.append(ex.getClass().getSimpleName()).append(": ").append(ex.getMessage()).append(" / ");
                }
            }
            if (db == null)
            {
                out.println("E " + why.toString().replace('\n', ' '));
                if (++refused == 50)
                {
                    break;
                }
                continue;
            }
            try (VarveDB open = db)
            {
                open.appender().append(s, ExpectedVersion.NO_STREAM, 3, EncryptionAttackTest.payloadOf(s, 1, 28));
                out.println("A " + s);
            }
            catch (final RuntimeException ex)
            {
                out.println("F " + s + " " + ex.getClass().getSimpleName() + ": " +
                    String.valueOf(ex.getMessage()).replace('\n', ' '));
            }
        }
        out.println("done");
    }

    /** A writer of a multi-process store on command: "append S", "read S", "all", "quit". */
    private static void writerOnCommand(final PrintStream out, final Path dir, final byte[] key) throws Exception
    {
        final BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.US_ASCII));
        try (VarveDB db = VarveDB.open(config(dir, key).multiProcess(true).build()))
        {
            final Appender appender = db.appender();
            out.println("opened");
            String line;
            while ((line = in.readLine()) != null && !line.equals("quit"))
            {
                final StringBuilder seen = new StringBuilder();
                try
                {
                    if (line.startsWith("append "))
                    {
                        final long s = Long.parseLong(line.substring(7));
                        final long v = appender.append(s, ExpectedVersion.ANY, 1, EncryptionAttackTest.payloadOf(s,
                            db.streamVersion(s) + 1, 30));
                        out.println("ok v" + v);
                        continue;
                    }
                    final int n;
                    if (line.startsWith("read "))
                    {
                        n = db.readStream(Long.parseLong(line.substring(5)), 1, Integer.MAX_VALUE, (e) ->
                            seen.append(' ').append(e.version()));
                    }
                    else
                    {
                        n = db.readAll(VarveDB.START_POSITION, Integer.MAX_VALUE, (e) ->
                            seen.append(' ').append(e.streamId()).append('/').append(e.version()));
                    }
                    out.println("ok " + n + seen);
                }
                catch (final RuntimeException ex)
                {
                    out.println("err " + ex.getClass().getSimpleName() + " " +
                        String.valueOf(ex.getMessage()).replace('\n', ' '));
                }
            }
        }
    }
}
