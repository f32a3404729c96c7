package io.varvedb;

/**
 * Hears a {@link VarveDB#scavenge(ScavengeListener)}'s progress, once per segment, on the scavenging thread. Keep
 * it short: the scavenge waits for it.
 */
@FunctionalInterface
public interface ScavengeListener
{
    /** Hears nothing. */
    ScavengeListener NONE = (segment, segments, soFar) -> { };

    /**
     * @param segmentsDone segments done so far (this one included).
     * @param segments     segments this scavenge looks at.
     * @param soFar        the totals so far.
     */
    void onSegment(long segmentsDone, long segments, ScavengeResult soFar);
}
