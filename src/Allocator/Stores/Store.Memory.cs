using Allocator.Memory;
using Allocator.Pooling;
using Allocator.Stores;

namespace Allocator;

/// <summary>Linear memories that start from an image, and growth that may fail softly.</summary>
public sealed partial class Store<T>
{
    /// <summary>Checks out a linear memory slot whose first bytes read as <paramref name="image"/> and the rest of
    /// its <paramref name="accessibleBytes"/> as zeros. Affinity prefers a free slot that still maps
    /// this image: reusing it costs no system call beyond the reset of its last use.</summary>
    /// <exception cref="ObjectDisposedException">The image, the Store or the pool is disposed.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="accessibleBytes"/> is not a page multiple, is
    /// larger than a slot, or is smaller than the image.</exception>
    /// <exception cref="ArgumentException">The image overlaps an interior guard range of the memory slots.</exception>
    public SlotToken CheckoutMemoryFromImage(MemoryImage image, nuint accessibleBytes)
    {
        ArgumentNullException.ThrowIfNull(image);
        ObjectDisposedException.ThrowIf(image.IsDisposed, image);
        return CheckoutSlot(Allocator.Memories, affinityKey: null, accessibleBytes, image);
    }

    /// <summary>Makes more of a memory slot read-write, as <c>memory.grow</c> does: returns the previous accessible
    /// size, or -1, changing nothing, when <paramref name="accessibleBytes"/> is beyond the slot size (the embedder
    /// decides what that means for the guest). <see cref="GrowMemory"/> throws instead.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="accessibleBytes"/> is not a page multiple or is
    /// smaller than the accessible size now (a memory cannot shrink).</exception>
    /// <exception cref="InvalidTokenException">The token is not a slot this Store holds.</exception>
    public long TryGrowMemory(SlotToken token, nuint accessibleBytes)
    {
        (SlotPool pool, PooledSlot slot) = HeldSlotCheckout(token);
        if (!VirtualMemory.IsPageMultiple(accessibleBytes))
        {
            throw new ArgumentOutOfRangeException(nameof(accessibleBytes), accessibleBytes, "Must be a page multiple.");
        }
        if (accessibleBytes > pool.Options.SlotSize)
        {
            return -1;
        }
        return (long)pool.Grow(slot, accessibleBytes);
    }

    private static void CheckImageFits(SlotPool pool, MemoryImage image, nuint accessible)
    {
        if (image.Size > accessible)
        {
            throw new ArgumentOutOfRangeException("accessibleBytes", accessible,
                $"The image spans {image.Size} bytes of memory; at least that many must be accessible.");
        }
        // An empty image (End 0) overlaps nothing: no unsigned offset is below 0.
        if (pool.NextGuardAtOrAfter(image.Start) < image.End)
        {
            throw new ArgumentException(
                $"The image spans [{image.Start}, {image.End}), which overlaps an interior guard range of the {pool.Name} slots at {pool.NextGuardAtOrAfter(image.Start)}; guards are never accessible.",
                nameof(image));
        }
    }
}
