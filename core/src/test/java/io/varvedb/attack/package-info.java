/**
 * Attacks on the exactly-once appends and the named streams of issue 13, written by reviewers who had only the
 * README and the public API (and a hex editor for the files), kept as regression tests: each defect they found
 * (event id capacity used by appends that wrote nothing; a name table damaged at rest trusted after a clean close;
 * a damaged name record taken into a rebuilt table; racing creators using up the name capacity) is a test here that
 * failed before its fix, beside the attacks that held.
 */
package io.varvedb.attack;
