package io.varvedb.counters;

/**
 * What became of the store instance whose counters are read.
 */
public enum ProcessState
{
    /** It has the store open: the values are live. */
    RUNNING,
    /** It closed the store: the values are its last. */
    CLOSED,
    /** Its process ended without closing the store (killed, crashed): the values are its last. */
    GONE
}
