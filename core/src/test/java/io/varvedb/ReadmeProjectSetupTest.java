package io.varvedb;

import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The README's "Use it in your project" shows parts of {@code examples/inventory-service/pom.xml}, which CI builds
 * and runs as an outside project: every XML fragment the section shows must be in that POM, line for line
 * (indentation aside), so the section cannot drift from a POM that works.
 */
class ReadmeProjectSetupTest
{
    private static final Path ROOT = Path.of("").toAbsolutePath().getParent();
    private static final String HEADING = "### Use it in your project";

    @Test
    void everyXmlFragmentOfTheSectionIsInTheExamplePom() throws Exception
    {
        final String readme = Files.readString(ROOT.resolve("README.md"));
        final int start = readme.indexOf("\n" + HEADING + "\n");
        assertTrue(start >= 0, "README.md has the section " + HEADING);
        final Matcher next = Pattern.compile("\n##+ ").matcher(readme);
        final int end = next.find(start + HEADING.length() + 1) ? next.start() : readme.length();
        final String section = readme.substring(start, end);

        final List<String> pom = lines(Files.readString(ROOT.resolve("examples/inventory-service/pom.xml")));
        final Matcher fragments = Pattern.compile("```xml\n(.*?)```", Pattern.DOTALL).matcher(section);
        int count = 0;
        while (fragments.find())
        {
            final List<String> fragment = lines(fragments.group(1));
            assertTrue(Collections.indexOfSubList(pom, fragment) >= 0,
                "this fragment of README.md's \"Use it in your project\" is not in examples/inventory-service/" +
                "pom.xml:\n" + fragments.group(1));
            count++;
        }
        assertTrue(count >= 5, "the section shows the dependency and the plugins: " + count + " fragments");
        assertTrue(section.contains(JvmFlagMissingException.class.getSimpleName()));

        final String jvmConfig = Files.readString(ROOT.resolve("examples/inventory-service/.mvn/jvm.config")).trim();
        assertTrue(section.contains("`" + jvmConfig + "`"), "the section shows .mvn/jvm.config: " + jvmConfig);
    }

    /** The non-blank lines, without their indentation. */
    private static List<String> lines(final String text)
    {
        final List<String> lines = new ArrayList<>();
        for (final String line : text.split("\n"))
        {
            if (!line.isBlank())
            {
                lines.add(line.strip());
            }
        }
        return lines;
    }
}
