package io.varvedb.attack;

import io.varvedb.*;
import java.nio.file.Path;

public final class NameChild
{
    static VarveConfig config(Path dir, boolean mp, int cap)
    {
        return VarveConfig.builder(dir).segmentSize(64 * 1024).indexCapacity(4096).indexBlocksPerChunk(16)
            .nameCapacity(cap).multiProcess(mp).build();
    }

    // args: mode dir count cap
    public static void main(String[] args) throws Exception
    {
        String mode = args[0];
        Path dir = Path.of(args[1]);
        int count = Integer.parseInt(args[2]);
        int cap = Integer.parseInt(args[3]);
        boolean mp = mode.startsWith("mp");
        try (VarveDB db = VarveDB.open(config(dir, mp, cap)); Appender a = db.appender())
        {
            System.out.println("READY");
            System.out.flush();
            for (int i = 0; i < count; i++)
            {
                String name = "n-" + i;
                long id = mode.endsWith("app") ? a.streamId(name) : db.streamId(name);
                a.append(id, ExpectedVersion.ANY, 1, new byte[]{ 1 });
                System.out.println(name + " " + id);
                System.out.flush();
            }
            System.out.println("DONE");
            System.out.flush();
            if (mode.contains("hang")) Thread.sleep(60_000);
        }
    }
}
