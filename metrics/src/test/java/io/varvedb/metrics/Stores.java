package io.varvedb.metrics;

import io.varvedb.VarveConfig;

import java.nio.file.Path;

/** Small stores for the tests: 1 MiB segments, a small index. */
final class Stores
{
    static final int SEGMENT = 1 << 20;

    private Stores()
    {
    }

    static VarveConfig.Builder small(final Path dir)
    {
        return VarveConfig.builder(dir).segmentSize(SEGMENT).indexCapacity(4096);
    }
}
