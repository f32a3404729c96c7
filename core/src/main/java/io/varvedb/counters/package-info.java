/**
 * Live counters of a store, readable from any process: {@link io.varvedb.counters.VarveCounters} reads
 * {@code varve.counters}, which every process with the store open updates as it works ({@code varve stat} shows
 * them). {@code VarveDB.counters()} reads the calling instance's own.
 */
package io.varvedb.counters;
