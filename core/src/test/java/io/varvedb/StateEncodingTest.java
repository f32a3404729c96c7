package io.varvedb;

import org.junit.jupiter.api.Test;

import static io.varvedb.internal.index.StreamIndexDescriptor.*;
import static org.junit.jupiter.api.Assertions.*;

/**
 * The slot state's encoding: a pending append never changes the committed version a reader or recovery sees.
 * (A mismatch between the writer's and the reader's view of this encoding once made recovery drop the last
 * committed event of a stream whose next append was in flight when the writer was killed.)
 */
class StateEncodingTest
{
    @Test
    void pendingKeepsTheCommittedVersion()
    {
        for (final long version : new long[]{ 0, 1, 2, 1026, 1L << 40 })
        {
            assertEquals(version, committedVersion(committedState(version)));
            assertFalse(isPending(committedState(version)));
            assertEquals(version, committedVersion(pendingState(version)), "pending on top of " + version);
            assertTrue(isPending(pendingState(version)));
            assertNotEquals(committedState(version + 1), pendingState(version));
        }
    }

    @Test
    void aPendingStateNamesItsHolderAndKeepsTheVersion()
    {
        for (final long version : new long[]{ 0, 1, 77, 1L << 40, MAX_VERSION - 1 })
        {
            for (final int holder : new int[]{ 0, 1, 4096, MAX_HOLDER })
            {
                final long state = pendingState(version, holder);
                assertTrue(isPending(state));
                assertEquals(version, committedVersion(state), "version under holder " + holder);
                assertEquals(holder, holder(state), "holder at version " + version);
                // two holders of one version never share a state: the CAS tells them apart
                if (holder > 0)
                {
                    assertNotEquals(pendingState(version, holder - 1), state);
                }
            }
        }
    }
}
