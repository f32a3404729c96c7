package io.varvedb.internal.crypto;

import org.agrona.DirectBuffer;
import org.agrona.MutableDirectBuffer;
import org.agrona.concurrent.UnsafeBuffer;

import javax.crypto.Cipher;
import javax.crypto.spec.SecretKeySpec;
import java.nio.ByteOrder;
import java.security.GeneralSecurityException;
import java.util.Arrays;

/**
 * AES-256-GCM (NIST SP 800-38D) for one data key, allocation-free after construction: the JDK's
 * {@code AES/GCM/NoPadding} makes new engine objects at every {@code init}, and GCM needs an {@code init} per
 * message (a new nonce). Here the block cipher is the JDK's {@code AES/ECB/NoPadding} (AES-NI where the CPU has
 * it), driven over reused arrays for the counter blocks, and GHASH is Shoup's 8-bit table method over two longs.
 * The output is standard GCM: {@code GcmTest} checks it byte for byte against the JDK's.
 * <p>
 * Not thread-safe: one instance per key per thread (see {@link StreamCiphers}), sharing that thread's {@link Work}.
 */
public final class Gcm
{
    /** Bytes of the authentication tag. */
    public static final int TAG_LENGTH = 16;
    /** Bytes of a nonce. */
    public static final int NONCE_LENGTH = 12;
    /** Bytes of a data key. */
    public static final int KEY_LENGTH = 32;

    private static final int BLOCK = 16;
    /** Counter blocks encrypted per call into the JDK cipher. */
    private static final int CHUNK_BLOCKS = 64;
    /** GCM's reduction polynomial, as the top byte of the high half (bits are reflected: x^0 is the top bit). */
    private static final long R = 0xe1L << 56;
    /** What shifting a byte out of the low end (a multiplication by x^8) adds to the high half, by that byte. */
    private static final long[] REDUCE8 = new long[256];

    static
    {
        for (int rem = 0; rem < 256; rem++)
        {
            long zh = 0;
            long zl = rem;
            for (int bit = 0; bit < 8; bit++)
            {
                final boolean carry = (zl & 1) != 0;
                zl = (zh << 63) | (zl >>> 1);
                zh = (zh >>> 1) ^ (carry ? R : 0);
            }
            REDUCE8[rem] = zh;
        }
    }

    /**
     * What the instances of one thread share: the counter blocks and key stream of the message being processed.
     * Kept apart from the per-key state so that a thread may cache many keys for little memory.
     */
    public static final class Work
    {
        private final byte[] counters = new byte[CHUNK_BLOCKS * BLOCK];
        private final byte[] keystream = new byte[CHUNK_BLOCKS * BLOCK];
        private final UnsafeBuffer keystreamBuffer = new UnsafeBuffer(keystream);
        private final UnsafeBuffer countersBuffer = new UnsafeBuffer(counters);
        private final byte[] block = new byte[BLOCK];
    }

    private final Cipher ecb;
    /** b * H for every byte b (Shoup's 8-bit table), high and low halves: 4 KiB a key. */
    private final long[] hh = new long[256];
    private final long[] hl = new long[256];
    private final byte[] counters;
    private final byte[] keystream;
    private final UnsafeBuffer keystreamBuffer;
    private final UnsafeBuffer countersBuffer;
    private final byte[] block;
    private long nonceHigh;
    private int nonceLow;
    /** GHASH state, big-endian halves. */
    private long yh;
    private long yl;
    /** E(K, J0), little-endian halves as read from {@link #keystream}. */
    private long tagMaskLow;
    private long tagMaskHigh;

    /**
     * @param key  a 32-byte AES key.
     * @param work the calling thread's work arrays.
     */
    public Gcm(final byte[] key, final Work work)
    {
        counters = work.counters;
        keystream = work.keystream;
        keystreamBuffer = work.keystreamBuffer;
        countersBuffer = work.countersBuffer;
        block = work.block;
        if (key.length != KEY_LENGTH)
        {
            throw new IllegalArgumentException("an AES-256 key has 32 bytes, not " + key.length);
        }
        try
        {
            ecb = Cipher.getInstance("AES/ECB/NoPadding");
        }
        catch (final GeneralSecurityException ex)
        {
            throw new IllegalStateException("this JVM has no AES: " + ex, ex);
        }
        rekey(key);
    }

    /**
     * Take another key, reusing this instance's cipher object and tables: a cache that evicts one key for another
     * allocates only the JDK's key schedule, not a new cipher (whose look-up is most of the cost).
     *
     * @param key a 32-byte AES key.
     */
    public void rekey(final byte[] key)
    {
        if (key.length != KEY_LENGTH)
        {
            throw new IllegalArgumentException("an AES-256 key has 32 bytes, not " + key.length);
        }
        try
        {
            ecb.init(Cipher.ENCRYPT_MODE, new SecretKeySpec(key, "AES"));
            Arrays.fill(block, (byte)0);
            ecb.update(block, 0, BLOCK, keystream, 0);
        }
        catch (final GeneralSecurityException ex)
        {
            throw new IllegalStateException("this JVM has no AES: " + ex, ex);
        }
        final long h1 = keystreamBuffer.getLong(0, ByteOrder.BIG_ENDIAN);
        final long h2 = keystreamBuffer.getLong(8, ByteOrder.BIG_ENDIAN);
        Arrays.fill(keystream, (byte)0);
        tables(h1, h2);
    }

    private void tables(final long h1, final long h2)
    {
        // the top bit of a byte is x^0: 0x80 * H = H, 0x40 * H = H * x, ... 0x01 * H = H * x^7
        long vh = h1;
        long vl = h2;
        for (int bit = 0x80; bit > 0; bit >>= 1)
        {
            hh[bit] = vh;
            hl[bit] = vl;
            final boolean carry = (vl & 1) != 0;
            vl = (vh << 63) | (vl >>> 1);
            vh = (vh >>> 1) ^ (carry ? R : 0);
        }
        for (int i = 2; i < 256; i <<= 1)
        {
            for (int j = 1; j < i; j++)
            {
                hh[i + j] = hh[i] ^ hh[j];
                hl[i + j] = hl[i] ^ hl[j];
            }
        }
    }

    /**
     * Forget the key material this instance holds (its tables; the JDK cipher keeps its schedule until collected).
     */
    public void destroy()
    {
        Arrays.fill(hh, 0);
        Arrays.fill(hl, 0);
    }

    /**
     * Encrypt {@code length} bytes from {@code src} into {@code dst} (which may be the same bytes), and write the
     * tag after them in {@code dst}.
     *
     * @param nonceHigh the nonce's first 8 bytes, as a little-endian long.
     * @param nonceLow  its last 4 bytes, as a little-endian int.
     * @param aad       authenticated data.
     * @param aadOffset its offset.
     * @param aadLength its length.
     * @param src       clear text.
     * @param srcOffset its offset.
     * @param length    its length.
     * @param dst       where the cipher text goes, then the tag.
     * @param dstOffset offset of the cipher text.
     */
    public void encrypt(
        final long nonceHigh, final int nonceLow,
        final DirectBuffer aad, final int aadOffset, final int aadLength,
        final DirectBuffer src, final int srcOffset, final int length,
        final MutableDirectBuffer dst, final int dstOffset)
    {
        start(nonceHigh, nonceLow, aad, aadOffset, aadLength);
        crypt(src, srcOffset, length, dst, dstOffset, true);
        finish(aadLength, length);
        dst.putLong(dstOffset + length, Long.reverseBytes(yh) ^ tagMaskLow);
        dst.putLong(dstOffset + length + 8, Long.reverseBytes(yl) ^ tagMaskHigh);
    }

    /**
     * Decrypt {@code length} bytes of cipher text followed by the tag; the clear text is written only if the tag
     * holds (else {@code dst}'s range is zeroed).
     *
     * @return true if the tag holds.
     */
    public boolean decrypt(
        final long nonceHigh, final int nonceLow,
        final DirectBuffer aad, final int aadOffset, final int aadLength,
        final DirectBuffer src, final int srcOffset, final int length,
        final MutableDirectBuffer dst, final int dstOffset)
    {
        start(nonceHigh, nonceLow, aad, aadOffset, aadLength);
        final long tagLow = src.getLong(srcOffset + length);
        final long tagHigh = src.getLong(srcOffset + length + 8);
        crypt(src, srcOffset, length, dst, dstOffset, false);
        finish(aadLength, length);
        final long difference = ((Long.reverseBytes(yh) ^ tagMaskLow) ^ tagLow) |
            ((Long.reverseBytes(yl) ^ tagMaskHigh) ^ tagHigh);
        if (difference != 0)
        {
            dst.setMemory(dstOffset, length, (byte)0);
            return false;
        }
        return true;
    }

    private void start(
        final long nonceHigh, final int nonceLow, final DirectBuffer aad, final int aadOffset, final int aadLength)
    {
        this.nonceHigh = nonceHigh;
        this.nonceLow = nonceLow;
        yh = 0;
        yl = 0;
        ghash(aad, aadOffset, aadLength);
    }

    private void finish(final int aadLength, final int length)
    {
        mult(yh ^ ((long)aadLength << 3), yl ^ ((long)length << 3));
    }

    /**
     * CTR over {@code length} bytes from {@code src} to {@code dst}, hashing the cipher text; the first call of a
     * message also makes E(K, J0) for the tag.
     */
    private void crypt(
        final DirectBuffer src, final int srcOffset, final int length, final MutableDirectBuffer dst,
        final int dstOffset, final boolean encrypting)
    {
        int done = 0;
        int counter = 1;
        boolean first = true;
        do
        {
            final int blocksWanted = (length - done + BLOCK - 1) / BLOCK + (first ? 1 : 0);
            final int blocks = Math.min(CHUNK_BLOCKS, blocksWanted);
            for (int b = 0; b < blocks; b++)
            {
                final int at = b * BLOCK;
                countersBuffer.putLong(at, nonceHigh);
                countersBuffer.putInt(at + 8, nonceLow);
                countersBuffer.putInt(at + 12, counter++, ByteOrder.BIG_ENDIAN);
            }
            try
            {
                ecb.update(counters, 0, blocks * BLOCK, keystream, 0);
            }
            catch (final GeneralSecurityException ex)
            {
                throw new IllegalStateException(ex);
            }
            int k = 0;
            if (first)
            {
                tagMaskLow = keystreamBuffer.getLong(0);
                tagMaskHigh = keystreamBuffer.getLong(8);
                k = BLOCK;
                first = false;
            }
            final int end = Math.min(length, done + blocks * BLOCK - k);
            while (done + BLOCK <= end)
            {
                final long in1 = src.getLong(srcOffset + done);
                final long in2 = src.getLong(srcOffset + done + 8);
                final long out1 = in1 ^ keystreamBuffer.getLong(k);
                final long out2 = in2 ^ keystreamBuffer.getLong(k + 8);
                dst.putLong(dstOffset + done, out1);
                dst.putLong(dstOffset + done + 8, out2);
                final long c1 = encrypting ? out1 : in1;
                final long c2 = encrypting ? out2 : in2;
                mult(yh ^ Long.reverseBytes(c1), yl ^ Long.reverseBytes(c2));
                done += BLOCK;
                k += BLOCK;
            }
            if (done < end)
            {
                // the last, partial block: hashed zero-padded
                final int rest = end - done;
                Arrays.fill(block, (byte)0);
                for (int i = 0; i < rest; i++)
                {
                    final byte in = src.getByte(srcOffset + done + i);
                    final byte out = (byte)(in ^ keystream[k + i]);
                    dst.putByte(dstOffset + done + i, out);
                    block[i] = encrypting ? out : in;
                }
                hashBlock(block, 0);
                done = end;
            }
        }
        while (done < length);
    }

    private void ghash(final DirectBuffer data, final int offset, final int length)
    {
        int i = 0;
        while (i + BLOCK <= length)
        {
            mult(yh ^ data.getLong(offset + i, ByteOrder.BIG_ENDIAN), yl ^ data.getLong(offset + i + 8,
                ByteOrder.BIG_ENDIAN));
            i += BLOCK;
        }
        if (i < length)
        {
            Arrays.fill(block, (byte)0);
            data.getBytes(offset + i, block, 0, length - i);
            hashBlock(block, 0);
        }
    }

    private void hashBlock(final byte[] bytes, final int offset)
    {
        long h = 0;
        long l = 0;
        for (int i = 0; i < 8; i++)
        {
            h = (h << 8) | (bytes[offset + i] & 0xff);
            l = (l << 8) | (bytes[offset + 8 + i] & 0xff);
        }
        mult(yh ^ h, yl ^ l);
    }

    /**
     * y = x * H in GF(2^128), GCM's bit order; x as big-endian halves. Horner's rule over x's bytes, last first:
     * z = z * x^8 + b * H, each step one shift, one reduction and one table look-up.
     */
    private void mult(final long xh, final long xl)
    {
        final long[] hh = this.hh;
        final long[] hl = this.hl;
        int b = (int)xl & 0xff;
        long zh = hh[b];
        long zl = hl[b];
        for (int shift = 8; shift < 64; shift += 8)
        {
            b = (int)(xl >>> shift) & 0xff;
            final int rem = (int)zl & 0xff;
            zl = (zh << 56) | (zl >>> 8);
            zh = (zh >>> 8) ^ REDUCE8[rem] ^ hh[b];
            zl ^= hl[b];
        }
        for (int shift = 0; shift < 64; shift += 8)
        {
            b = (int)(xh >>> shift) & 0xff;
            final int rem = (int)zl & 0xff;
            zl = (zh << 56) | (zl >>> 8);
            zh = (zh >>> 8) ^ REDUCE8[rem] ^ hh[b];
            zl ^= hl[b];
        }
        yh = zh;
        yl = zl;
    }
}
