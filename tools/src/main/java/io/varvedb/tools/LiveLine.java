package io.varvedb.tools;

import java.io.PrintWriter;

/**
 * The progress line of a command that runs live: on a terminal one line rewritten in place each refresh; piped or
 * redirected, one line per refresh (no escape codes), as {@code demo} prints its progress.
 */
final class LiveLine
{
    /** Back to the start of the line, then clear it: a shorter line leaves nothing of the longer one. */
    private static final String REWRITE = "\r\033[K";

    private final PrintWriter out;
    private final boolean terminal;
    private boolean open;

    LiveLine(final PrintWriter out, final boolean terminal)
    {
        this.out = out;
        this.terminal = terminal;
    }

    /** @param line the line to show now. */
    void show(final String line)
    {
        if (terminal)
        {
            out.print(REWRITE + line);
            open = true;
        }
        else
        {
            out.println(line);
        }
        out.flush();
    }

    /** End the line in place, if any, so what is printed next starts on a line of its own. */
    void finish()
    {
        if (open)
        {
            out.println();
            out.flush();
            open = false;
        }
    }
}
