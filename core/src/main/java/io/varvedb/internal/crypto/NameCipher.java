package io.varvedb.internal.crypto;

import io.varvedb.EncryptionKeyException;

import javax.crypto.Cipher;
import javax.crypto.Mac;
import javax.crypto.spec.IvParameterSpec;
import javax.crypto.spec.SecretKeySpec;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.util.Arrays;

/**
 * Stream names of an encrypted store, encrypted deterministically (the SIV construction of RFC 5297, with
 * HMAC-SHA256 as its PRF): the stored name is {@code iv || AES-256-CTR(encKey, iv, name)} with
 * {@code iv = HMAC-SHA256(macKey, name)[0, 16)}. The same name always gives the same bytes, so the name table finds
 * a name by its stored form and recovery rebuilds the table from the log's name records without any key; a
 * reader checks the iv against the name it decrypts, so a forged or damaged stored name is refused. What it shows
 * is only which stored names are equal (each name is stored once anyway) and their lengths.
 * <p>
 * The two keys are derived from the store's name key, which {@code varve.keys} keeps wrapped under the master key.
 * Names of metadata streams ({@code "$$" + name}) are encrypted the same way. Thread-safe.
 */
public final class NameCipher
{
    /** Bytes a stored name takes beyond the name. */
    public static final int OVERHEAD = 16;

    private final SecretKeySpec encryptionKey;
    private final SecretKeySpec macKey;

    /**
     * @param nameKey the store's 32-byte name key.
     */
    public NameCipher(final byte[] nameKey)
    {
        encryptionKey = new SecretKeySpec(derive(nameKey, "varve stream name encryption"), "AES");
        macKey = new SecretKeySpec(derive(nameKey, "varve stream name iv"), "HmacSHA256");
    }

    private static byte[] derive(final byte[] key, final String label)
    {
        try
        {
            final Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(key, "HmacSHA256"));
            return mac.doFinal(label.getBytes(StandardCharsets.US_ASCII));
        }
        catch (final GeneralSecurityException ex)
        {
            throw new EncryptionKeyException("this JVM lacks HmacSHA256: " + ex.getMessage(), ex);
        }
    }

    /**
     * @param name a name's UTF-8 bytes.
     * @return its stored form.
     */
    public byte[] seal(final byte[] name)
    {
        try
        {
            final byte[] iv = iv(name);
            final byte[] stored = Arrays.copyOf(iv, OVERHEAD + name.length);
            final Cipher ctr = Cipher.getInstance("AES/CTR/NoPadding");
            ctr.init(Cipher.ENCRYPT_MODE, encryptionKey, new IvParameterSpec(iv));
            ctr.doFinal(name, 0, name.length, stored, OVERHEAD);
            return stored;
        }
        catch (final GeneralSecurityException ex)
        {
            throw new IllegalStateException("cannot encrypt a stream name: " + ex.getMessage(), ex);
        }
    }

    /**
     * @param stored a stored name.
     * @return the name's UTF-8 bytes, or null if the stored form is not one this key made (damaged, or forged).
     */
    public byte[] open(final byte[] stored)
    {
        if (stored.length < OVERHEAD)
        {
            return null;
        }
        try
        {
            final byte[] iv = Arrays.copyOf(stored, OVERHEAD);
            final Cipher ctr = Cipher.getInstance("AES/CTR/NoPadding");
            ctr.init(Cipher.DECRYPT_MODE, encryptionKey, new IvParameterSpec(iv));
            final byte[] name = ctr.doFinal(stored, OVERHEAD, stored.length - OVERHEAD);
            return MessageDigest.isEqual(iv, iv(name)) ? name : null;
        }
        catch (final GeneralSecurityException ex)
        {
            throw new IllegalStateException("cannot decrypt a stream name: " + ex.getMessage(), ex);
        }
    }

    private byte[] iv(final byte[] name) throws GeneralSecurityException
    {
        final Mac mac = Mac.getInstance("HmacSHA256");
        mac.init(macKey);
        return Arrays.copyOf(mac.doFinal(name), OVERHEAD);
    }
}
