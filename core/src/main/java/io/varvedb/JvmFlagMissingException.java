package io.varvedb;

/**
 * Thrown by {@link VarveDB#open} and {@link VarveDB#openReadOnly} when the JVM was started without the flag that
 * Agrona, the library VarveDB maps its files with, needs:
 * {@code --add-exports java.base/jdk.internal.misc=ALL-UNNAMED}. Without it Agrona fails with an
 * {@code IllegalAccessError} (later a {@code NoClassDefFoundError}) that names neither VarveDB nor the fix; this
 * exception names both, and is thrown before the open creates, locks or changes anything.
 * <p>
 * The flag goes on the {@code java} command line, in Maven Surefire's {@code <argLine>} for tests, in
 * {@code MAVEN_OPTS} or {@code .mvn/jvm.config} for {@code mvn exec:java} (which runs in Maven's own JVM), or, for
 * {@code java -jar}, in the jar's manifest as {@code Add-Exports: java.base/jdk.internal.misc}.
 * {@link #flag()} is the exact flag for this JVM (it names Agrona's module if Agrona is on the module path).
 */
public final class JvmFlagMissingException extends VarveException
{
    private static final long serialVersionUID = 1L;

    private final String flag;

    /**
     * @param flag    the JVM flag to add, e.g. {@code --add-exports java.base/jdk.internal.misc=ALL-UNNAMED}.
     * @param message what went wrong and where the flag goes.
     * @param cause   Agrona's error.
     */
    public JvmFlagMissingException(final String flag, final String message, final Throwable cause)
    {
        super(message, cause);
        this.flag = flag;
    }

    /**
     * @return the JVM flag to add, e.g. {@code --add-exports java.base/jdk.internal.misc=ALL-UNNAMED}.
     */
    public String flag()
    {
        return flag;
    }
}
