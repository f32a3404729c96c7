package io.varvedb.internal.log;

import org.agrona.concurrent.UnsafeBuffer;

/**
 * Decides, for {@link Log#replaceSegment}, which committed records of a segment the rewrite keeps. It sees every
 * event and stream name record, in log order; padding is never kept and never shown.
 */
@FunctionalInterface
public interface RecordFilter
{
    /**
     * @param buffer   the segment's buffer (valid during the call only).
     * @param offset   the record's offset in it.
     * @param position the record's log position.
     * @return true to keep the record, false to drop it.
     */
    boolean keep(UnsafeBuffer buffer, int offset, long position);
}
