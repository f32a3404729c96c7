package io.varvedb.tools;

import io.varvedb.VarveException;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.ParseResult;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.util.concurrent.Callable;

/**
 * The {@code varve} command line: one entry point whose subcommands demonstrate, inspect, verify, follow and
 * measure a VarveDB store.
 * <p>
 * Every failure a user can cause (bad arguments, a missing or foreign directory, a locked store) ends with one
 * line on stderr and a non-zero exit status; a stack trace is printed only when {@code VARVE_DEBUG} is set.
 */
@Command(
    name = "varve",
    mixinStandardHelpOptions = true,
    versionProvider = VarveCli.Version.class,
    description = {"VarveDB: an embedded append-only event store for the JVM.", ""},
    commandListHeading = "Commands:%n",
    subcommands = {
        DemoCommand.class,
        DemoBuyerCommand.class,
        InfoCommand.class,
        DumpCommand.class,
        VerifyCommand.class,
        TailCommand.class,
        ScavengeCommand.class,
        StatCommand.class,
        LatencyCommand.class,
        PublishCommand.class,
        ReplicateCommand.class,
        CommandLine.HelpCommand.class
    },
    footer = {
        "",
        "Exit status: 0 success; 1 a check failed (demo invariant, verify);",
        "2 bad arguments (also a --key-file that holds no key); 3 the store",
        "cannot be used (missing, not a store, locked, I/O error, encrypted",
        "and no --key-file given, or the key is not its master key); 4",
        "internal error; 5 Kafka cannot be used (no answer, topic missing or",
        "of another store; publish, replicate).",
        "An encrypted store: info, dump, verify, tail, scavenge, publish and",
        "replicate take its master key with --key-file FILE (32 raw bytes,",
        "64 hex digits or base64); info, dump and verify work without it.",
        "Run 'varve COMMAND --help' for a command's options."
    })
public final class VarveCli implements Callable<Integer>
{
    @Spec
    private CommandSpec spec;

    /**
     * Run the command line and exit with its status.
     *
     * @param args command-line arguments.
     */
    public static void main(final String[] args)
    {
        System.exit(run(args));
    }

    /**
     * Run the command line without exiting: what {@link #main} does, for tests and embedding.
     *
     * @param args command-line arguments.
     * @return the exit status.
     */
    public static int run(final String... args)
    {
        // the latency chart is drawn off-screen; never try to reach a display
        System.setProperty("java.awt.headless", "true");
        return commandLine().execute(args);
    }

    /**
     * @return a configured command line, writing to {@code System.out} and {@code System.err}.
     */
    public static CommandLine commandLine()
    {
        final CommandLine cli = new CommandLine(new VarveCli());
        cli.setParameterExceptionHandler(VarveCli::onBadArguments);
        cli.setExecutionExceptionHandler(VarveCli::onFailure);
        cli.setCaseInsensitiveEnumValuesAllowed(true);
        return cli;
    }

    @Override
    public Integer call()
    {
        spec.commandLine().usage(spec.commandLine().getErr());
        return ExitCode.USAGE;
    }

    private static int onBadArguments(final ParameterException ex, final String[] args)
    {
        final CommandLine cli = ex.getCommandLine();
        final PrintWriter err = cli.getErr();
        final String name = cli.getCommandSpec().qualifiedName();
        err.println(name + ": " + ex.getMessage() + " (see '" + name + " --help')");
        err.flush();
        return ExitCode.USAGE;
    }

    private static int onFailure(final Exception ex, final CommandLine cli, final ParseResult parseResult)
    {
        final PrintWriter err = cli.getErr();
        final String name = cli.getCommandSpec().qualifiedName();
        final int status;
        final String message;
        if (ex instanceof CliException)
        {
            status = ((CliException)ex).exitCode();
            message = ex.getMessage();
        }
        else if (ex instanceof io.varvedb.kafka.KafkaStreamingException ||
            ex instanceof org.apache.kafka.common.KafkaException)
        {
            // publish and replicate say it in their own words; this is for what they did not foresee
            status = ExitCode.KAFKA;
            message = ex.getMessage();
        }
        else if (ex instanceof VarveException || ex instanceof UncheckedIOException)
        {
            status = ExitCode.STORE;
            message = ex.getMessage();
        }
        else if (ex instanceof IllegalArgumentException)
        {
            status = ExitCode.USAGE;
            message = ex.getMessage();
        }
        else
        {
            status = ExitCode.INTERNAL;
            message = "internal error: " + ex + " (set VARVE_DEBUG=1 for the stack trace)";
        }
        err.println(name + ": " + message);
        if (System.getenv("VARVE_DEBUG") != null)
        {
            ex.printStackTrace(err);
        }
        err.flush();
        return status;
    }

    /**
     * Reports the version of the tools jar, from its manifest when there is one.
     */
    static final class Version implements CommandLine.IVersionProvider
    {
        @Override
        public String[] getVersion()
        {
            final String version = VarveCli.class.getPackage().getImplementationVersion();
            return new String[] {"varve " + (version != null ? version : "0.1.0-SNAPSHOT") + ", Java " +
                Runtime.version() + " (" + System.getProperty("java.vm.name") + ")"};
        }
    }
}
