/**
 * Attacks on the exactly-once appends and the named streams of issue 13, written by reviewers who had only the
 * README and the public API (and a hex editor for the files), kept as regression tests: each defect they found
 * (event id capacity used by appends that wrote nothing; a name table damaged at rest trusted after a clean close;
 * a damaged name record taken into a rebuilt table; racing creators using up the name capacity) is a test here that
 * failed before its fix, beside the attacks that held.
 * <p>
 * {@link io.varvedb.attack.EncryptionAttackTest} does the same for encryption at rest and crypto-shredding: forged
 * and replayed records, damaged, foreign and stale key files, shreds and rotations raced and killed, in one process
 * and across processes ({@link io.varvedb.attack.EncryptionAttackChild}).
 */
package io.varvedb.attack;
