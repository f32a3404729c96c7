package io.varvedb.internal.log;

/**
 * What {@link Log#replaceSegment} did.
 *
 * @param segment        the segment rewritten.
 * @param kept           records kept (events and stream names).
 * @param dropped        records dropped, padding not counted.
 * @param oldDiskBytes   disk the old file took (see {@link Log#diskBytes}).
 * @param newDiskBytes   disk the new file takes.
 * @param abandoned      true if the progress callback abandoned the rewrite (the segment is unchanged).
 */
public record ReplaceResult(
    long segment, long kept, long dropped, long oldDiskBytes, long newDiskBytes, boolean abandoned)
{
}
