package io.varvedb.internal.index;

/**
 * Test access to the name table's checksum.
 */
public final class NameTableAccess
{
    private NameTableAccess()
    {
    }

    /**
     * @param n    an entry.
     * @param utf8 its name.
     * @return the entry's checksum.
     */
    public static int checksum(final int n, final byte[] utf8)
    {
        return NameTable.checksum(n, utf8, utf8.length);
    }
}
