package io.varvedb.tools;

import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

/**
 * {@code varve verify DIR}: is the store sound? Prints every problem with its place and exits 1 if there is one.
 */
@Command(
    name = "verify",
    mixinStandardHelpOptions = true,
    header = "Check the meta file, checksums, framing, stream versions and the index; never modifies the store.",
    description = {
        "Checks every field of varve.meta against the log (the durable position and index checkpoint are record boundaries within it, a cleanly closed store has them at the tail, reserved bytes are zero), every record's framing and CRC32C checksum, each stream's versions (1, 2, 3... in log order), that nothing but zeros follows the log's end in any segment, and that the stream index agrees with the log: each stream's version, and each event found at its log position. Files are mapped read-only; nothing is changed. A store a live writer has open is verified up to what it has committed.",
        "An encrypted store is verified with --key-file as any other, and every event read through the index is decrypted, so its authentication tag is checked too; without the key everything but the tags is checked (the CRC32C covers the cipher text), and a note says the payloads were not decrypted. A key the store refuses ends it with exit status 3.",
        "Exit status 0 if the store is sound, 1 if a problem was found."
    })
public final class VerifyCommand implements Callable<Integer>
{
    @Spec
    private CommandSpec spec;

    @Parameters(index = "0", paramLabel = "DIR", description = "The store's directory.")
    private Path directory;

    @Option(names = "--max-problems", paramLabel = "N", defaultValue = "50",
        description = "Most problems to print (default: ${DEFAULT-VALUE}); all are counted.")
    private int maxProblems;

    @Mixin
    private StoreKey.Options keyOptions = new StoreKey.Options();

    @Override
    public Integer call()
    {
        final PrintWriter out = spec.commandLine().getOut();
        final long start = System.nanoTime();
        final StoreVerifier verifier = new StoreVerifier(directory, keyOptions).verify();
        final double seconds = (System.nanoTime() - start) / 1e9;

        out.printf(Locale.ROOT, "verify %s%n", directory.toAbsolutePath().normalize());
        for (final String note : verifier.notes())
        {
            out.println("  note: " + note);
        }
        out.printf(Locale.ROOT, "  log      %d segment file(s), records up to position %s%n", verifier.segments(),
            Format.count(verifier.endPosition()));
        out.printf(Locale.ROOT, "  records  %s events, %s padding; framing and CRC32C checked%n",
            Format.count(verifier.events()), Format.count(verifier.paddingRecords()));
        out.printf(Locale.ROOT, "  streams  %s; versions checked for continuity, index checked against the log%n",
            Format.count(verifier.streams()));
        if (verifier.hiddenEvents() > 0)
        {
            out.printf(Locale.ROOT, "  hidden   %s events that streams no longer show (metadata limits, deletes, " +
                "tombstones, retention): checked in the log, not looked up through the index%n",
                Format.count(verifier.hiddenEvents()));
        }
        if (verifier.shreddedEvents() > 0)
        {
            out.printf(Locale.ROOT, "  shredded %s events of shredded streams (their data keys destroyed): checked in " +
                "the log, unreadable through the index%n", Format.count(verifier.shreddedEvents()));
        }
        final List<String> problems = verifier.problems();
        final int shown = Math.min(problems.size(), Math.max(0, maxProblems));
        for (int i = 0; i < shown; i++)
        {
            out.println("  PROBLEM: " + problems.get(i));
        }
        if (shown < problems.size())
        {
            out.println("  ... and " + (problems.size() - shown) + " more problem(s)");
        }
        if (problems.isEmpty())
        {
            out.printf(Locale.ROOT, "OK: the store is sound (%s)%n", Format.seconds(seconds));
        }
        else
        {
            out.printf(Locale.ROOT, "FAILED: %d problem(s) found (%s)%n", problems.size(), Format.seconds(seconds));
        }
        out.flush();
        return problems.isEmpty() ? ExitCode.OK : ExitCode.CHECK_FAILED;
    }
}
