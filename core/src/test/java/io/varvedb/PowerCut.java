package io.varvedb;

import io.varvedb.internal.io.ForceObserver;
import io.varvedb.internal.store.BootId;
import io.varvedb.internal.store.MetaDescriptor;
import org.agrona.concurrent.UnsafeBuffer;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * A simulated disk that holds exactly what a store forced, for cutting the power in tests.
 * <p>
 * Routed through the store's {@link ForceObserver}, it keeps an image of every file the store creates: zeros at
 * first, then each range the store forces, copied at the moment the force returned. A file's name is durable only
 * once its directory was forced after the file got that name. {@link #cut} "cuts the power": from then on nothing
 * reaches the simulated disk, and the disk gets what a real one may hold after a power cut besides the forced
 * bytes: a random share of the pages the kernel might have written back on its own (the live file's page as it is
 * now, whole or in random 512-byte sectors), and the names of a random prefix, in creation order, of the files
 * whose directory was not forced, as a journaling file system commits them in order. {@link #materialize} writes
 * the disk out as a store directory, with the boot id changed: the machine rebooted.
 */
final class PowerCut implements ForceObserver
{
    private static final int PAGE = 4096;
    private static final int SECTOR = 512;

    private final Path live;
    private final Map<Path, Image> images = new HashMap<>();
    private final ThreadLocal<Map<Path, Image>> forcing = new ThreadLocal<>();
    private long createdSequence;
    private volatile boolean off;
    private java.util.function.Predicate<Path> cutBeforeForceOf;
    private SplittableRandom armedRandom;
    private java.util.function.ToDoubleFunction<Path> armedShares;

    /** One file on the simulated disk. */
    private static final class Image
    {
        final long sequence;
        final byte[] bytes;
        boolean nameDurable;
        boolean deleting;

        Image(final long sequence, final int length)
        {
            this.sequence = sequence;
            this.bytes = new byte[length];
        }
    }

    /**
     * @param live the store's directory; the files it holds already are on the disk, names and all.
     * @throws IOException if they cannot be read.
     */
    PowerCut(final Path live) throws IOException
    {
        this.live = live.toAbsolutePath();
        if (Files.isDirectory(this.live))
        {
            try (java.util.stream.Stream<Path> files = Files.walk(this.live))
            {
                for (final Path file : files.filter(Files::isRegularFile).toList())
                {
                    final byte[] bytes = Files.readAllBytes(file);
                    final Image image = new Image(createdSequence++, bytes.length);
                    System.arraycopy(bytes, 0, image.bytes, 0, bytes.length);
                    image.nameDurable = true;
                    images.put(key(file), image);
                }
            }
        }
    }

    /**
     * @return true once the power is off: an acknowledgement read after this may not have reached the disk.
     */
    boolean isOff()
    {
        return off;
    }

    private Path key(final Path file)
    {
        return live.relativize(file.toAbsolutePath());
    }

    @Override
    public synchronized void created(final Path file, final long length)
    {
        if (!off)
        {
            images.put(key(file), new Image(createdSequence++, (int)length));
        }
    }

    /**
     * Cut the power the moment the store forces a file that matches, before that force reaches the disk.
     *
     * @param file   tests a file's path relative to the store directory.
     * @param random decides what else reached the disk.
     * @param shares share of each file's pages the kernel wrote back on its own, by relative path.
     */
    synchronized void cutBeforeForceOf(
        final java.util.function.Predicate<Path> file, final SplittableRandom random,
        final java.util.function.ToDoubleFunction<Path> shares)
    {
        this.cutBeforeForceOf = file;
        this.armedRandom = random;
        this.armedShares = shares;
    }

    @Override
    public synchronized void forced(final Path file, final UnsafeBuffer buffer, final int offset, final int length)
    {
        if (!off && cutBeforeForceOf != null && cutBeforeForceOf.test(key(file)))
        {
            cut(armedRandom, armedShares);
            return;
        }
        if (!off)
        {
            final Image image = images.computeIfAbsent(key(file), (k) ->
            {
                // a file that existed before observation began is taken as durable, name and all
                final Image existing = new Image(createdSequence++, buffer.capacity());
                existing.nameDurable = true;
                return existing;
            });
            buffer.getBytes(offset, image.bytes, offset, length);
        }
    }

    @Override
    public synchronized void moved(final Path from, final Path to)
    {
        if (!off)
        {
            final Image image = images.remove(key(from));
            if (image != null)
            {
                image.nameDurable = false;
                images.put(key(to), image);
            }
        }
    }

    @Override
    public synchronized void deleted(final Path file)
    {
        final Image image = images.get(key(file));
        if (!off && image != null)
        {
            image.deleting = true;
        }
    }

    @Override
    public synchronized void directoryForcing(final Path directory)
    {
        final Path dir = key(directory);
        final Map<Path, Image> named = new HashMap<>();
        for (final Map.Entry<Path, Image> entry : images.entrySet())
        {
            final Path parent = entry.getKey().getParent();
            if (dir.toString().isEmpty() ? parent == null : dir.equals(parent))
            {
                named.put(entry.getKey(), entry.getValue());
            }
        }
        forcing.set(named);
    }

    @Override
    public synchronized void directoryForced(final Path directory)
    {
        final Map<Path, Image> named = forcing.get();
        forcing.remove();
        if (!off && named != null)
        {
            for (final Map.Entry<Path, Image> entry : named.entrySet())
            {
                // only a name the file still has, and had when the force began, is durable now; so is a deletion
                if (images.get(entry.getKey()) == entry.getValue())
                {
                    if (entry.getValue().deleting)
                    {
                        images.remove(entry.getKey());
                    }
                    else
                    {
                        entry.getValue().nameDurable = true;
                    }
                }
            }
        }
    }

    /**
     * Cut the power now.
     *
     * @param random         decides what else reached the disk.
     * @param writebackShare share of the pages the kernel wrote back on its own, 0 to 1.
     */
    synchronized void cut(final SplittableRandom random, final double writebackShare)
    {
        cut(random, (file) -> writebackShare);
    }

    /**
     * Cut the power now.
     *
     * @param random decides what else reached the disk.
     * @param shares share of each file's pages the kernel wrote back on its own, 0 to 1, by relative path.
     */
    synchronized void cut(final SplittableRandom random, final java.util.function.ToDoubleFunction<Path> shares)
    {
        off = true;
        for (final Map.Entry<Path, Image> entry : images.entrySet())
        {
            writeBack(live.resolve(entry.getKey()), entry.getValue().bytes, random,
                shares.applyAsDouble(entry.getKey()));
        }
        final List<Image> unnamed = new ArrayList<>();
        for (final Image image : images.values())
        {
            if (!image.nameDurable)
            {
                unnamed.add(image);
            }
        }
        unnamed.sort(Comparator.comparingLong((Image image) -> image.sequence));
        final int committed = random.nextInt(unnamed.size() + 1);
        for (int i = 0; i < committed; i++)
        {
            unnamed.get(i).nameDurable = true;
        }
        // a deletion whose directory was not forced may or may not have reached the disk
        images.values().removeIf((image) -> image.deleting && random.nextBoolean());
    }

    private static void writeBack(
        final Path file, final byte[] image, final SplittableRandom random, final double share)
    {
        if (share <= 0)
        {
            return;
        }
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ))
        {
            final ByteBuffer page = ByteBuffer.allocate(PAGE);
            for (int offset = 0; offset < image.length; offset += PAGE)
            {
                if (random.nextDouble() >= share)
                {
                    continue;
                }
                page.clear().limit(Math.min(PAGE, image.length - offset));
                while (page.hasRemaining() && channel.read(page, offset + page.position()) >= 0)
                {
                    // read the whole page
                }
                final boolean torn = random.nextInt(8) == 0;
                for (int sector = 0; sector < page.position(); sector += SECTOR)
                {
                    if (!torn || random.nextBoolean())
                    {
                        System.arraycopy(page.array(), sector, image, offset + sector,
                            Math.min(SECTOR, page.position() - sector));
                    }
                }
            }
        }
        catch (final NoSuchFileException ex)
        {
            // renamed or deleted meanwhile: only what was forced of it is on the disk
        }
        catch (final IOException ex)
        {
            throw new java.io.UncheckedIOException(ex);
        }
    }

    /**
     * Write the simulated disk out as a store directory, as the machine finds it after rebooting.
     *
     * @param target an empty or missing directory.
     * @return the number of files that survived.
     * @throws IOException if the files cannot be written.
     */
    synchronized int materialize(final Path target) throws IOException
    {
        if (!off)
        {
            throw new IllegalStateException("cut the power first");
        }
        Files.createDirectories(target);
        int files = 0;
        for (final Map.Entry<Path, Image> entry : images.entrySet())
        {
            if (!entry.getValue().nameDurable)
            {
                continue;
            }
            final Path file = target.resolve(entry.getKey().toString());
            Files.createDirectories(file.getParent());
            Files.write(file, entry.getValue().bytes);
            files++;
        }
        final Path meta = target.resolve(MetaDescriptor.FILE_NAME);
        if (Files.exists(meta))
        {
            // another boot: nothing that lived only in the page cache may be trusted
            try (FileChannel channel = FileChannel.open(meta, StandardOpenOption.WRITE))
            {
                final long otherBoot = BootId.current() + 1;
                channel.write(ByteBuffer.allocate(Long.BYTES).order(ByteOrder.LITTLE_ENDIAN)
                    .putLong(0, otherBoot == 0 ? 1 : otherBoot), MetaDescriptor.BOOT_ID_OFFSET);
            }
        }
        return files;
    }
}
