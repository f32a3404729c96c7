package io.varvedb.tools;

import io.varvedb.EncryptionKeyException;
import io.varvedb.VarveConfig;
import io.varvedb.VarveDB;
import io.varvedb.internal.crypto.KeyFileDescriptor;

import javax.crypto.SecretKey;
import javax.crypto.spec.SecretKeySpec;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Base64;

/**
 * The master key of an encrypted store, from {@code --key-file}, checked against the store before it is opened:
 * what every command that opens a store shares, so that each reads a key file the same way and says the same thing
 * when the key is missing, malformed or wrong.
 * <p>
 * A key file holds the 32-byte AES-256 master key ({@code VarveConfig.Builder.encryption}) in one of three forms:
 * the 32 raw bytes (a file of exactly 32 bytes), 64 hex digits, or the base64 of the 32 bytes; whitespace around
 * the text forms (a trailing newline) is ignored. Anything else is refused with exit status 2, without quoting
 * the file, as is a key file for a store created without encryption (the option does not apply to it). A key
 * that is not the store's master key ends the command with exit status 3 before anything is written; so does an
 * encrypted store without a key, for a command that needs one.
 */
public final class StoreKey
{
    /** Bytes of an AES-256 master key. */
    public static final int KEY_LENGTH = 32;
    private static final int HEX_LENGTH = 2 * KEY_LENGTH;
    /** Longer than any form of a key with generous whitespace: a file this long is surely something else. */
    private static final long MAX_FILE_LENGTH = 4096;
    private static final int HEX_RADIX = 16;
    /** What a key file may hold, for the messages that refuse one. */
    static final String FORMS = "32 raw bytes, 64 hex digits, or the base64 of 32 bytes (whitespace around " +
        "the text forms is ignored)";

    private final Path directory;
    private final Path file;
    private final SecretKey key;
    private final boolean encrypted;

    private StoreKey(final Path directory, final Path file, final SecretKey key, final boolean encrypted)
    {
        this.directory = directory;
        this.file = file;
        this.key = key;
        this.encrypted = encrypted;
    }

    /**
     * The {@code --key-file} option, a picocli mixin shared by every command that opens a store.
     */
    public static final class Options
    {
        @picocli.CommandLine.Option(names = "--key-file", paramLabel = "FILE",
            description = "The master key of an encrypted store: a file holding its 32 bytes raw, as 64 hex " +
                "digits, or in base64. Not needed for a store created without encryption (and refused for one).")
        Path file;

        /**
         * Read the key file, if one was given, and check it against the store.
         *
         * @param directory a directory that {@link Stores#requireStore} accepted.
         * @return the key, or no key, for this store.
         * @throws CliException (usage) if the file cannot be read or holds no key, or if the store is not
         *                      encrypted and a key file was given.
         */
        public StoreKey forStore(final Path directory)
        {
            final SecretKey key = file == null ? null : read(file);
            final boolean encrypted = Stores.isEncrypted(directory);
            if (key != null && !encrypted)
            {
                throw CliException.usage("--key-file " + file + ": " + directory + " is not encrypted (it was " +
                    "created without a master key): leave --key-file out");
            }
            return new StoreKey(directory, file, key, encrypted);
        }

        /**
         * For a directory that may hold no store yet ({@code replicate} creates one): read the key file, if one
         * was given, and check it against the store if there is one.
         *
         * @param directory the directory given on the command line.
         * @return the key, or no key.
         */
        public StoreKey forDirectory(final Path directory)
        {
            final Path absolute = directory.toAbsolutePath().normalize();
            if (Files.isRegularFile(absolute.resolve(io.varvedb.internal.store.MetaDescriptor.FILE_NAME)))
            {
                return forStore(absolute);
            }
            return new StoreKey(absolute, file, file == null ? null : read(file), false);
        }
    }

    /**
     * Read a master key from a file, in any of its three forms.
     *
     * @param file the key file.
     * @return the key.
     * @throws CliException (usage) naming the file and the accepted forms, never quoting what it holds.
     */
    static SecretKey read(final Path file)
    {
        final byte[] content;
        try
        {
            if (Files.isDirectory(file))
            {
                throw CliException.usage("--key-file " + file + " is a directory, not a key file");
            }
            if (Files.size(file) > MAX_FILE_LENGTH)
            {
                throw CliException.usage("--key-file " + file + " is too long to hold a master key: it must " +
                    "hold " + FORMS);
            }
            content = Files.readAllBytes(file);
        }
        catch (final NoSuchFileException ex)
        {
            throw CliException.usage("--key-file " + file + ": no such file");
        }
        catch (final IOException ex)
        {
            throw CliException.usage("--key-file " + file + " cannot be read: " + ex.getMessage());
        }
        final byte[] key = parse(content);
        Arrays.fill(content, (byte)0);
        if (key == null)
        {
            throw CliException.usage("--key-file " + file + " holds no master key (" + content.length +
                " bytes): it must hold " + FORMS);
        }
        try
        {
            return new SecretKeySpec(key, "AES");
        }
        finally
        {
            // the spec holds its own copy
            Arrays.fill(key, (byte)0);
        }
    }

    /**
     * @param content what a key file holds.
     * @return the 32 bytes of the key it holds, or null if it holds none of the three forms.
     */
    static byte[] parse(final byte[] content)
    {
        if (content.length == KEY_LENGTH)
        {
            // raw: taken as it is, whatever its bytes (a raw key may begin or end with a byte that looks like space)
            return content.clone();
        }
        int from = 0;
        int to = content.length;
        while (from < to && isSpace(content[from]))
        {
            from++;
        }
        while (to > from && isSpace(content[to - 1]))
        {
            to--;
        }
        final int length = to - from;
        if (length == HEX_LENGTH)
        {
            final byte[] key = new byte[KEY_LENGTH];
            for (int i = 0; i < KEY_LENGTH; i++)
            {
                final int high = Character.digit(content[from + 2 * i], HEX_RADIX);
                final int low = Character.digit(content[from + 2 * i + 1], HEX_RADIX);
                if (high < 0 || low < 0)
                {
                    Arrays.fill(key, (byte)0);
                    return null;
                }
                key[i] = (byte)(high << 4 | low);
            }
            return key;
        }
        if (length == 0)
        {
            return null;
        }
        final byte[] text = Arrays.copyOfRange(content, from, to);
        try
        {
            final byte[] decoded = Base64.getDecoder().decode(text);
            if (decoded.length == KEY_LENGTH)
            {
                return decoded;
            }
            Arrays.fill(decoded, (byte)0);
            return null;
        }
        catch (final IllegalArgumentException ex)
        {
            return null;
        }
        finally
        {
            Arrays.fill(text, (byte)0);
        }
    }

    private static boolean isSpace(final byte b)
    {
        return b == ' ' || b == '\t' || b == '\n' || b == '\r' || b == '\f' || b == 0x0b;
    }

    /**
     * @return true if the store is encrypted at rest.
     */
    public boolean encrypted()
    {
        return encrypted;
    }

    /**
     * @return true if the store is encrypted and no key was given: an open shows cipher text, if it is allowed to.
     */
    public boolean missing()
    {
        return encrypted && key == null;
    }

    /**
     * Refuse an encrypted store without its key, for a command that cannot do its work without it.
     *
     * @param command what the user ran, as {@code varve tail}.
     * @param why     why it needs the key.
     * @return this.
     * @throws CliException (store) saying to pass {@code --key-file}.
     */
    public StoreKey require(final String command, final String why)
    {
        if (missing())
        {
            throw CliException.store(directory + " is an encrypted store: " + command + " needs its master key " +
                "(" + why + "); give it with --key-file FILE");
        }
        return this;
    }

    /**
     * @param builder settings of an open of this store.
     * @param ciphertext for a read-only open that can do with cipher text when there is no key
     *                   ({@code VarveConfig.Builder.readCiphertext}).
     * @return the settings with the key (or, without one, with cipher text as asked).
     */
    public VarveConfig.Builder apply(final VarveConfig.Builder builder, final boolean ciphertext)
    {
        return key != null ? builder.encryption(key) : builder.readCiphertext(ciphertext && encrypted);
    }

    /**
     * Open the store read-only to look at it, without counters ({@link Stores#lookOnly}), with the key.
     *
     * @param ciphertext without a key, show an encrypted store's payloads as cipher text (the caller makes sure
     *                   none is taken for clear text); false to need the key ({@link #require} first).
     * @return the open store.
     */
    public VarveDB openToLook(final boolean ciphertext)
    {
        return openReadOnly(apply(Stores.lookOnly(directory), ciphertext));
    }

    /**
     * Open the store read-only with these settings, the key applied already ({@link #apply}).
     *
     * @param builder the settings.
     * @return the open store.
     * @throws CliException (store) if the store refuses the key.
     */
    public VarveDB openReadOnly(final VarveConfig.Builder builder)
    {
        try
        {
            return VarveDB.openReadOnly(builder.build());
        }
        catch (final EncryptionKeyException ex)
        {
            throw refused(ex);
        }
    }

    /**
     * Open the store for writing with these settings, the key applied already ({@link #apply}).
     *
     * @param builder the settings.
     * @return the open store.
     * @throws CliException (store) if the store refuses the key; nothing was written.
     */
    public VarveDB open(final VarveConfig.Builder builder)
    {
        checkBeforeWriting();
        try
        {
            return VarveDB.open(builder.build());
        }
        catch (final EncryptionKeyException ex)
        {
            throw refused(ex);
        }
    }

    /**
     * Before a writable open: the engine checks the key only once it holds the writer lock (its pid goes into
     * {@code varve.lock}; in multi-process mode the process registry is written too), so a wrong key would leave
     * those written. A read-only open checks the key first and writes nothing. A master key rotation cut short is
     * left to the writable open, which settles it (a read-only one refuses it).
     *
     * @throws CliException (store) if the store refuses the key.
     */
    public void checkBeforeWriting()
    {
        if (key != null && encrypted && !rotationCutShort())
        {
            openReadOnly(apply(Stores.lookOnly(directory).verifyIndexOnOpen(false), false)).close();
        }
    }

    private boolean rotationCutShort()
    {
        return Files.exists(directory.resolve(KeyFileDescriptor.NEXT_FILE_NAME)) ||
            Files.exists(directory.resolve(KeyFileDescriptor.OLD_FILE_NAME));
    }

    /**
     * @param ex what the store said when it refused to open.
     * @return the line to end the command with: exit status 3, naming the key file or saying to give one.
     */
    public CliException refused(final EncryptionKeyException ex)
    {
        if (file == null)
        {
            return CliException.store(ex.getMessage() + " (give the master key with --key-file FILE)");
        }
        return CliException.store("--key-file " + file + ": " + ex.getMessage());
    }
}
