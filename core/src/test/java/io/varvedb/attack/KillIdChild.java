package io.varvedb.attack;

import io.varvedb.*;

import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.PrintStream;
import java.nio.file.Path;

public final class KillIdChild
{
    static VarveConfig config(final Path dir, final boolean multi)
    {
        return VarveConfig.builder(dir).segmentSize(256 * 1024).indexCapacity(1024).eventIdCapacity(1 << 18)
            .multiProcess(multi).build();
    }

    public static void main(final String[] args) throws Exception
    {
        final Path dir = Path.of(args[0]);
        final boolean multi = Boolean.parseBoolean(args[1]);
        final long base = Long.parseLong(args[2]);
        final int threads = Integer.parseInt(args[3]);
        final boolean shared = args.length > 4 && args[4].equals("shared");
        final PrintStream out = new PrintStream(new FileOutputStream(FileDescriptor.out), false);
        final VarveDB db = VarveDB.open(config(dir, multi));
        synchronized (out) { out.println("opened"); out.flush(); }
        final Thread[] ts = new Thread[threads];
        for (int t = 0; t < threads; t++)
        {
            final int tt = t;
            ts[t] = new Thread(() ->
            {
                try (Appender a = db.appender())
                {
                    final long[] ver = new long[3];
                    for (int k = 0; k < 3; k++) ver[k] = db.streamVersion(1 + tt * 10 + k);
                    long i = 0;
                    while (true)
                    {
                        final int k = (int)(i % 3);
                        final long stream = shared ? 1000 + (i % 7) : 1 + tt * 10 + k;
                        final int n = (i % 5 == 4) ? 3 : 1;
                        final long low = shared ? base + i : base + tt * 10_000_000L + i;
                        final long expected = shared ? ExpectedVersion.ANY_VALUE : ver[k];
                        synchronized (out) { out.println("T " + tt + " " + low + " " + n + " " + stream + " " + expected); out.flush(); }
                        final long v;
                        if (n == 1)
                        {
                            v = a.append(stream, shared ? ExpectedVersion.ANY : ExpectedVersion.exact(expected), 1, 0xD1, low, new byte[16 + (int)(i % 40)]);
                        }
                        else
                        {
                            final EventBatch b = new EventBatch();
                            for (int j = 0; j < n; j++) b.add(1, new byte[10 + j]).eventId(0xD1, low + j * 1_000_000_000L);
                            v = a.appendBatch(stream, shared ? ExpectedVersion.ANY : ExpectedVersion.exact(expected), b);
                        }
                        if (!shared) ver[k] = v;
                        synchronized (out) { out.println("A " + low + " " + v + " " + a.lastPosition() + " " + (a.lastWasDuplicate() ? "d" : "w")); out.flush(); }
                        i++;
                    }
                }
                catch (Throwable e)
                {
                    synchronized (out) { out.println("E " + e); out.flush(); }
                    e.printStackTrace();
                }
            });
            ts[t].start();
        }
        for (Thread th : ts) th.join();
    }
}
