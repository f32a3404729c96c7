package io.varvedb.tools;

/**
 * A failure to report to the user as one line, with the exit status it stands for.
 */
public final class CliException extends RuntimeException
{
    private static final long serialVersionUID = 1L;

    private final int exitCode;

    /**
     * @param exitCode the process exit status, from {@link ExitCode}.
     * @param message  the line to print, without the command name.
     */
    public CliException(final int exitCode, final String message)
    {
        super(message);
        this.exitCode = exitCode;
    }

    /**
     * @param message the line to print; exits with {@link ExitCode#STORE}.
     * @return the exception.
     */
    public static CliException store(final String message)
    {
        return new CliException(ExitCode.STORE, message);
    }

    /**
     * @param message the line to print; exits with {@link ExitCode#USAGE}.
     * @return the exception.
     */
    public static CliException usage(final String message)
    {
        return new CliException(ExitCode.USAGE, message);
    }

    /**
     * @return the process exit status.
     */
    public int exitCode()
    {
        return exitCode;
    }
}
