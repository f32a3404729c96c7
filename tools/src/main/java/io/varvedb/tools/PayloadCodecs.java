package io.varvedb.tools;

import io.varvedb.Codec;
import io.varvedb.RecordedEvent;
import picocli.CommandLine.Option;

import java.io.File;
import java.io.IOException;
import java.lang.reflect.Constructor;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Modifier;
import java.net.MalformedURLException;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The application's own {@link Codec}s, plugged into {@code dump} and {@code tail} to show payloads decoded: each
 * {@code --codec [TYPE=]CLASS} names a class implementing {@code io.varvedb.Codec} with a public no-arg
 * constructor, found on {@code --class-path} and {@code VARVE_CLASSPATH} (jars and directories, separated by the
 * platform's path separator) or on the tools' own class path. The decoded object's {@code toString()} is printed
 * in place of the payload's bytes. A class that cannot be used stops the command with one line (exit 2); a
 * payload the codec cannot decode prints the error on that event's line, and the command goes on.
 */
public final class PayloadCodecs implements AutoCloseable
{
    /** The environment variable that adds to {@code --class-path}, as the {@code varve} launcher passes it on. */
    public static final String CLASS_PATH_VARIABLE = "VARVE_CLASSPATH";

    private final URLClassLoader loader;
    private final Codec<?> forAllTypes;
    private final Map<Integer, Codec<?>> byType;

    private PayloadCodecs(final URLClassLoader loader, final Codec<?> forAllTypes, final Map<Integer, Codec<?>> byType)
    {
        this.loader = loader;
        this.forAllTypes = forAllTypes;
        this.byType = byType;
    }

    /**
     * The command line options, a picocli mixin shared by {@code dump} and {@code tail}.
     */
    public static final class Options
    {
        @Option(names = "--codec", paramLabel = "[TYPE=]CLASS",
            description = "Decode payloads with this io.varvedb.Codec (a public class with a public no-arg " +
                "constructor) and print the decoded object's toString(). TYPE=CLASS: only events of that type; " +
                "repeatable. A payload it cannot decode prints the error on its line.")
        List<String> codecs = new ArrayList<>();

        @Option(names = "--class-path", paramLabel = "PATH",
            description = "Jars and directories, separated by '" + "${sys:path.separator}" + "', where --codec " +
                "classes are found; the environment variable " + CLASS_PATH_VARIABLE + " adds to it.")
        String classPath;

        /**
         * @return the codecs, or null when none was asked for.
         */
        PayloadCodecs load()
        {
            return PayloadCodecs.load(codecs, classPath, System.getenv(CLASS_PATH_VARIABLE));
        }
    }

    /**
     * @param specs        {@code CLASS} or {@code TYPE=CLASS}, as given.
     * @param classPath    {@code --class-path}, or null.
     * @param envClassPath {@code VARVE_CLASSPATH}, or null.
     * @return the codecs, or null if {@code specs} is empty.
     * @throws CliException (usage) naming the class or path entry that cannot be used.
     */
    static PayloadCodecs load(final List<String> specs, final String classPath, final String envClassPath)
    {
        if (specs.isEmpty())
        {
            if (classPath != null)
            {
                throw CliException.usage("--class-path is for --codec classes, and no --codec was given");
            }
            return null;
        }
        final List<URL> urls = new ArrayList<>();
        addEntries(urls, classPath, "--class-path");
        addEntries(urls, envClassPath, CLASS_PATH_VARIABLE);
        final URLClassLoader loader = new URLClassLoader(urls.toArray(new URL[0]), Codec.class.getClassLoader());
        try
        {
            Codec<?> forAllTypes = null;
            final Map<Integer, Codec<?>> byType = new HashMap<>();
            for (final String spec : specs)
            {
                final int equals = spec.indexOf('=');
                final String className = spec.substring(equals + 1).trim();
                final Codec<?> codec = instantiate(loader, className, urls.size());
                if (equals < 0)
                {
                    if (forAllTypes != null)
                    {
                        throw CliException.usage("--codec " + spec + ": a codec for every type was given already; " +
                            "use TYPE=CLASS for each event type");
                    }
                    forAllTypes = codec;
                }
                else
                {
                    final int type = parseType(spec, spec.substring(0, equals).trim());
                    if (byType.put(type, codec) != null)
                    {
                        throw CliException.usage("--codec " + spec + ": event type " + type + " has a codec already");
                    }
                }
            }
            return new PayloadCodecs(loader, forAllTypes, byType);
        }
        catch (final RuntimeException ex)
        {
            closeQuietly(loader);
            throw ex;
        }
    }

    private static int parseType(final String spec, final String type)
    {
        try
        {
            return Integer.parseInt(type);
        }
        catch (final NumberFormatException ex)
        {
            throw CliException.usage("--codec " + spec + ": TYPE must be an event type number, got '" + type + "'");
        }
    }

    private static void addEntries(final List<URL> urls, final String path, final String where)
    {
        if (path == null || path.isBlank())
        {
            return;
        }
        for (final String entry : path.split(File.pathSeparator))
        {
            if (entry.isBlank())
            {
                continue;
            }
            final Path file = Path.of(entry).toAbsolutePath().normalize();
            if (!Files.exists(file))
            {
                throw CliException.usage(where + ": no such jar or directory: " + entry);
            }
            try
            {
                urls.add(file.toUri().toURL());
            }
            catch (final MalformedURLException ex)
            {
                throw CliException.usage(where + ": cannot use " + entry + ": " + ex.getMessage());
            }
        }
    }

    private static Codec<?> instantiate(final ClassLoader loader, final String className, final int entries)
    {
        final Class<?> type;
        try
        {
            type = Class.forName(className, true, loader);
        }
        catch (final ClassNotFoundException | LinkageError ex)
        {
            throw CliException.usage("--codec " + className + ": class not found" +
                (ex instanceof ClassNotFoundException ? "" : " (" + ex + ")") + " on the tools' class path" +
                (entries == 0 ? " (give its jar or directory with --class-path or " + CLASS_PATH_VARIABLE + ")" :
                " or the " + entries + " entr" + (entries == 1 ? "y" : "ies") + " of --class-path and " +
                CLASS_PATH_VARIABLE));
        }
        if (!Codec.class.isAssignableFrom(type))
        {
            throw CliException.usage("--codec " + className + ": not an io.varvedb.Codec (it implements " +
                (type.getInterfaces().length == 0 ? "no interface" : List.of(type.getInterfaces())) + ")");
        }
        if (Modifier.isAbstract(type.getModifiers()))
        {
            throw CliException.usage("--codec " + className + ": an abstract class or interface, not a codec to use");
        }
        final Constructor<?> constructor;
        try
        {
            constructor = type.getConstructor();
        }
        catch (final NoSuchMethodException ex)
        {
            throw CliException.usage("--codec " + className + ": needs a public no-arg constructor (and to be a " +
                "public class)");
        }
        try
        {
            return (Codec<?>)constructor.newInstance();
        }
        catch (final InvocationTargetException ex)
        {
            throw CliException.usage("--codec " + className + ": its constructor threw " + ex.getCause());
        }
        catch (final ReflectiveOperationException ex)
        {
            throw CliException.usage("--codec " + className + ": cannot be created: " + ex);
        }
    }

    /**
     * @param event the event, inside its callback.
     * @return the decoded event's {@code toString()} on one line; the error, if the codec failed; null if no codec
     * applies to the event's type.
     */
    @SuppressWarnings({"unchecked", "rawtypes"})
    String decode(final RecordedEvent event)
    {
        final Codec codec = byType.getOrDefault(event.eventType(), forAllTypes);
        if (codec == null)
        {
            return null;
        }
        try
        {
            final Object decoded = codec.decode(event.payload(), 0, event.payloadLength());
            return oneLine(String.valueOf(decoded));
        }
        catch (final RuntimeException | LinkageError | AssertionError | StackOverflowError ex)
        {
            return "[" + codec.getClass().getName() + " could not decode it: " + oneLine(ex.toString()) + "]";
        }
    }

    private static String oneLine(final String text)
    {
        return text.replace("\r", "\\r").replace("\n", "\\n");
    }

    @Override
    public void close()
    {
        closeQuietly(loader);
    }

    private static void closeQuietly(final URLClassLoader loader)
    {
        try
        {
            loader.close();
        }
        catch (final IOException ignore)
        {
            // nothing was written through it
        }
    }
}
