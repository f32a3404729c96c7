package io.varvedb.internal.log;

/**
 * Told of the progress of {@link Log#replaceSegment}, record by record, and may abandon it.
 */
@FunctionalInterface
public interface ScavengeProgress
{
    /** Goes on to the end. */
    ScavengeProgress NONE = (segment, records, bytesKept) -> true;

    /**
     * @param segment   the segment being rewritten.
     * @param records   records looked at so far (padding included).
     * @param bytesKept bytes of kept records so far.
     * @return false to abandon the rewrite: the segment stays as it was, the temporary file is deleted.
     */
    boolean progress(long segment, long records, long bytesKept);
}
