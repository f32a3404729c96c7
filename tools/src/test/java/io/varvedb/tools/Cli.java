package io.varvedb.tools;

import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;

/**
 * Runs the command line in this JVM and captures what it prints.
 */
final class Cli
{
    private Cli()
    {
    }

    static Result run(final String... args)
    {
        System.setProperty("java.awt.headless", "true");
        final StringWriter out = new StringWriter();
        final StringWriter err = new StringWriter();
        final CommandLine cli = VarveCli.commandLine();
        cli.setOut(new PrintWriter(out, true));
        cli.setErr(new PrintWriter(err, true));
        final int exit = cli.execute(args);
        return new Result(exit, out.toString(), err.toString());
    }

    /**
     * What a run printed and returned.
     *
     * @param exit exit status.
     * @param out  standard output.
     * @param err  standard error.
     */
    record Result(int exit, String out, String err)
    {
        @Override
        public String toString()
        {
            return "exit " + exit + "\n--- stdout\n" + out + "--- stderr\n" + err;
        }
    }
}
