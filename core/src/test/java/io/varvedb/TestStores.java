package io.varvedb;

import java.nio.file.Path;

/**
 * Configurations small enough for many stores per test run, and small enough that tests roll segments and
 * index chunks.
 */
final class TestStores
{
    static final int SEGMENT = 64 * 1024;

    private TestStores()
    {
    }

    static VarveConfig small(final Path dir)
    {
        return VarveConfig.builder(dir).segmentSize(SEGMENT).indexCapacity(4096).indexBlocksPerChunk(64).build();
    }
}
