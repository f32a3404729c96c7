package io.varvedb.internal.crypto;

import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.Test;

import javax.crypto.Cipher;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.SecretKeySpec;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

class GcmTest
{
    @Test
    void matchesTheJdksAesGcmByteForByteAndRoundTrips() throws Exception
    {
        final Random random = new Random(7);
        for (int round = 0; round < 400; round++)
        {
            final byte[] key = new byte[32];
            random.nextBytes(key);
            final Gcm gcm = new Gcm(key, new Gcm.Work());
            final int length = round < 200 ? round : random.nextInt(5000);
            final int aadLength = random.nextInt(70);
            final byte[] clear = new byte[length];
            random.nextBytes(clear);
            final byte[] aad = new byte[aadLength];
            random.nextBytes(aad);
            final long nonceHigh = random.nextLong();
            final int nonceLow = random.nextInt();
            final byte[] nonce = ByteBuffer.allocate(12).order(ByteOrder.LITTLE_ENDIAN).putLong(nonceHigh)
                .putInt(nonceLow).array();

            final Cipher jdk = Cipher.getInstance("AES/GCM/NoPadding");
            jdk.init(Cipher.ENCRYPT_MODE, new SecretKeySpec(key, "AES"), new GCMParameterSpec(128, nonce));
            jdk.updateAAD(aad);
            final byte[] expected = jdk.doFinal(clear);

            final UnsafeBuffer out = new UnsafeBuffer(new byte[length + 16 + 3]);
            gcm.encrypt(nonceHigh, nonceLow, new UnsafeBuffer(aad), 0, aadLength, new UnsafeBuffer(clear), 0,
                length, out, 3);
            final byte[] actual = new byte[length + 16];
            out.getBytes(3, actual);
            assertArrayEquals(expected, actual, "round " + round + ", length " + length);

            final UnsafeBuffer back = new UnsafeBuffer(new byte[length]);
            assertTrue(gcm.decrypt(nonceHigh, nonceLow, new UnsafeBuffer(aad), 0, aadLength, out, 3, length, back,
                0));
            assertArrayEquals(clear, back.byteArray());

            if (length > 0)
            {
                out.putByte(3 + random.nextInt(length + 16), (byte)(out.getByte(3) ^ 1 << random.nextInt(8)));
                if (!Arrays.equals(expected, copy(out, 3, length + 16)))
                {
                    assertFalse(gcm.decrypt(nonceHigh, nonceLow, new UnsafeBuffer(aad), 0, aadLength, out, 3,
                        length, back, 0));
                    assertTrue(isZero(back.byteArray()), "no clear text is given out for a forged message");
                }
            }
        }
    }

    @Test
    void inPlaceEncryptionGivesTheSameCipherText()
    {
        final byte[] key = new byte[32];
        key[5] = 9;
        final Gcm gcm = new Gcm(key, new Gcm.Work());
        final byte[] clear = "the same bytes, encrypted in place and out of place".getBytes();
        final UnsafeBuffer apart = new UnsafeBuffer(new byte[clear.length + 16]);
        gcm.encrypt(1, 2, new UnsafeBuffer(new byte[0]), 0, 0, new UnsafeBuffer(clear), 0, clear.length, apart, 0);
        final UnsafeBuffer inPlace = new UnsafeBuffer(Arrays.copyOf(clear, clear.length + 16));
        gcm.encrypt(1, 2, new UnsafeBuffer(new byte[0]), 0, 0, inPlace, 0, clear.length, inPlace, 0);
        assertArrayEquals(apart.byteArray(), inPlace.byteArray());
    }

    private static byte[] copy(final UnsafeBuffer buffer, final int offset, final int length)
    {
        final byte[] bytes = new byte[length];
        buffer.getBytes(offset, bytes);
        return bytes;
    }

    private static boolean isZero(final byte[] bytes)
    {
        for (final byte b : bytes)
        {
            if (b != 0)
            {
                return false;
            }
        }
        return true;
    }
}
