package io.varvedb.internal.crypto;

import org.agrona.concurrent.UnsafeBuffer;

import javax.crypto.Cipher;
import javax.crypto.spec.SecretKeySpec;
import java.security.GeneralSecurityException;

/**
 * Event ids of an encrypted store, encrypted as one AES-256 block each (a pseudorandom permutation of the 128-bit
 * id under the store's id key). Equal ids stay equal and distinct ids distinct, so the exactly-once table finds and
 * refuses ids by their stored form, and recovery rebuilds it from the log without a key; the files show only which
 * events share an id (none do, but retries). The id 0, 0 (no id) is never encrypted.
 * <p>
 * Allocation-free after construction. Not thread-safe: one per appender or reader.
 */
public final class IdCipher
{
    private final Cipher encrypt;
    private final Cipher decrypt;
    private final byte[] in = new byte[16];
    private final byte[] out = new byte[16];
    private final UnsafeBuffer inBuffer = new UnsafeBuffer(in);
    private final UnsafeBuffer outBuffer = new UnsafeBuffer(out);
    private long high;
    private long low;

    /**
     * @param idKey the store's 32-byte id key.
     */
    public IdCipher(final byte[] idKey)
    {
        try
        {
            final SecretKeySpec key = new SecretKeySpec(idKey, "AES");
            encrypt = Cipher.getInstance("AES/ECB/NoPadding");
            encrypt.init(Cipher.ENCRYPT_MODE, key);
            decrypt = Cipher.getInstance("AES/ECB/NoPadding");
            decrypt.init(Cipher.DECRYPT_MODE, key);
        }
        catch (final GeneralSecurityException ex)
        {
            throw new IllegalStateException("this JVM has no AES: " + ex, ex);
        }
    }

    /**
     * Encrypt an id; read the result with {@link #high()} and {@link #low()}.
     *
     * @param idHigh the id's high half.
     * @param idLow  its low half.
     */
    public void seal(final long idHigh, final long idLow)
    {
        run(encrypt, idHigh, idLow);
    }

    /**
     * Decrypt a stored id; read the result with {@link #high()} and {@link #low()}.
     *
     * @param storedHigh the stored high half.
     * @param storedLow  the stored low half.
     */
    public void open(final long storedHigh, final long storedLow)
    {
        run(decrypt, storedHigh, storedLow);
    }

    private void run(final Cipher cipher, final long idHigh, final long idLow)
    {
        if ((idHigh | idLow) == 0)
        {
            high = 0;
            low = 0;
            return;
        }
        inBuffer.putLong(0, idHigh);
        inBuffer.putLong(8, idLow);
        try
        {
            cipher.update(in, 0, 16, out, 0);
        }
        catch (final GeneralSecurityException ex)
        {
            throw new IllegalStateException(ex);
        }
        high = outBuffer.getLong(0);
        low = outBuffer.getLong(8);
    }

    /**
     * @return the high half of the last result.
     */
    public long high()
    {
        return high;
    }

    /**
     * @return the low half of the last result.
     */
    public long low()
    {
        return low;
    }
}
