using System.Diagnostics;
using System.Runtime.InteropServices;
using Allocator.Memory;
using Allocator.Pooling;

namespace Allocator;

/// <summary>The initial contents of a linear memory, kept once and shared by every memory slot that starts from it
/// (Wasmtime's <c>MemoryImage</c>). Check out a memory with
/// <see cref="Store{T}.CheckoutMemoryFromImage(MemoryImage, nuint)"/>.</summary>
/// <remarks>
/// <para>On Linux the image lives in a sealed memfd that is mapped copy-on-write into each slot: a checkout costs
/// one <c>mmap</c>, or nothing when the slot already maps this image (affinity prefers such a slot), and a return
/// reverts the slot to the image with the same <c>madvise</c> that resets any slot. Writes go to the slot's private
/// pages and never reach the image or another slot.</para>
/// <para>The image covers whole pages: from the page holding the first segment's first byte to the page holding the
/// last segment's last byte, with zeros around the segments (a sparse image stores only its pages with data).
/// Overlapping segments are applied in order, the later one winning, like data segments.</para>
/// <para>On Windows there is no copy-on-write file mapping of the same kind, so each checkout copies the segments
/// into the zeroed slot; the semantics are the same.</para>
/// <para>Disposing an image while slots still map it is safe: those slots keep it until they are returned, no new
/// checkout may use it, free slots that kept it for affinity drop it at once, and the memfd is closed when the last
/// mapping is gone.</para>
/// </remarks>
public sealed class MemoryImage : IDisposable
{
    private readonly MemoryImageSegment[] _segments;
    private readonly List<SlotPool> _pools = new();   // under _poolsLock, a leaf lock (pools hold theirs around it)
    private readonly object _poolsLock = new();
    private bool _disposed;

    private MemoryImage(MemoryImageSegment[] segments, bool copyOnWrite)
    {
        _segments = segments;
        if (segments.Length > 0)
        {
            nuint first = segments.Min(s => s.Offset);
            nuint end = segments.Max(s => s.Offset + (nuint)s.Bytes.Length);
            Start = first & ~(VirtualMemory.PageSize - 1);
            End = AlignUp(end);
        }
        if (copyOnWrite && End > Start && OperatingSystem.IsLinux())
        {
            File = MemoryImageFile.Create(End - Start, Start, segments);
        }
    }

    /// <summary>Bytes of memory the image spans from the start of the slot, rounded up to a page: a checkout needs
    /// at least this many accessible bytes. 0 for an empty image.</summary>
    public nuint Size => End;

    /// <summary>True when slots map the image copy-on-write (Linux); false when checkouts copy it (Windows).</summary>
    public bool IsCopyOnWrite => File is not null;

    /// <summary>True once <see cref="Dispose"/> has been called.</summary>
    public bool IsDisposed => Volatile.Read(ref _disposed);

    /// <summary>First byte of the image in a slot (page-aligned).</summary>
    internal nuint Start { get; }

    /// <summary>End of the image in a slot (page-aligned).</summary>
    internal nuint End { get; }

    /// <summary>The memfd, or null when checkouts copy the segments.</summary>
    internal MemoryImageFile? File { get; }

    /// <summary>True once the image's memory is gone: disposed, and no slot maps it any more.</summary>
    internal bool IsReleased => IsDisposed && (File is null || File.IsReleased);

    /// <summary>An image of <paramref name="bytes"/> at the start of the memory.</summary>
    public static MemoryImage Create(ReadOnlySpan<byte> bytes) =>
        FromSegments([new MemoryImageSegment(0, bytes.ToArray())], copyOnWrite: true, copyBytes: false); // copied once, here

    /// <summary>An image of data segments, which may be sparse, overlap or come in any order.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A segment ends beyond the largest memory a pool can have.</exception>
    /// <exception cref="VirtualMemoryException">The memfd could not be created or filled.</exception>
    public static MemoryImage Create(IEnumerable<MemoryImageSegment> segments) => Create(segments, copyOnWrite: true);

    /// <summary>Tests use <paramref name="copyOnWrite"/> = false for the copying path that Windows takes.</summary>
    internal static MemoryImage Create(IEnumerable<MemoryImageSegment> segments, bool copyOnWrite) =>
        FromSegments(segments, copyOnWrite, copyBytes: true);

    /// <summary>Checks every segment and keeps the non-empty ones, copying their bytes unless the caller already
    /// owns a private copy.</summary>
    private static MemoryImage FromSegments(IEnumerable<MemoryImageSegment> segments, bool copyOnWrite, bool copyBytes)
    {
        ArgumentNullException.ThrowIfNull(segments);
        var owned = new List<MemoryImageSegment>();
        foreach (MemoryImageSegment segment in segments)
        {
            const ulong max = OptionRules.MaxRegionBytes;
            if (segment.Offset > max || (ulong)segment.Bytes.Length > max - segment.Offset)
            {
                throw new ArgumentOutOfRangeException(nameof(segments), segment.Offset,
                    $"A segment of {segment.Bytes.Length} bytes at offset {segment.Offset} ends beyond {max} bytes, the largest memory slot.");
            }
            if (!segment.Bytes.IsEmpty)
            {
                owned.Add(copyBytes ? segment with { Bytes = segment.Bytes.ToArray() } : segment);
            }
        }
        return new MemoryImage(owned.ToArray(), copyOnWrite);
    }

    /// <summary>No new checkout may use the image after this; slots that map it keep it until they are returned, and
    /// free slots kept for affinity drop it now.</summary>
    public void Dispose()
    {
        SlotPool[] pools;
        lock (_poolsLock)
        {
            // Stryker disable once Block,Statement : a second pass finds no pool to purge and disposes the SafeHandle again, a no-op
            if (_disposed)
            {
                return;
            }
            // A pool that registers from here on sees the image disposed and maps nothing.
            Volatile.Write(ref _disposed, true);
            pools = _pools.ToArray();
            _pools.Clear();
        }
        // Closed: no new mapping can start (the add-ref fails); the descriptor closes with the last mapping.
        File?.Dispose();
        foreach (SlotPool pool in pools)
        {
            pool.PurgeImage(this);
        }
    }

    /// <summary>Copies the segments into a slot whose memory reads as zeros (the path without a memfd).</summary>
    internal unsafe void CopyInto(nint slotBase)
    {
        Debug.Assert(File is null);
        foreach (MemoryImageSegment segment in _segments)
        {
            segment.Bytes.Span.CopyTo(new Span<byte>((void*)(slotBase + (nint)segment.Offset), segment.Bytes.Length));
        }
    }

    /// <summary>Writes the image's original bytes over [from, to) of a slot (offsets from its start): zeros, then
    /// the segments that overlap, in order. How a reset restores the few pages a tenant wrote without a system call.</summary>
    internal unsafe void RestoreInto(nint slotBase, nuint from, nuint to)
    {
        NativeMemory.Clear((void*)(slotBase + (nint)from), to - from);
        foreach (MemoryImageSegment segment in _segments)
        {
            nuint start = Math.Max(segment.Offset, from);
            nuint end = Math.Min(segment.Offset + (nuint)segment.Bytes.Length, to);
            if (start < end)
            {
                segment.Bytes.Span.Slice((int)(start - segment.Offset), (int)(end - start))
                    .CopyTo(new Span<byte>((void*)(slotBase + (nint)start), (int)(end - start)));
            }
        }
    }

    /// <summary>Remembers a pool that may keep this image in free slots, so disposal can purge them. False when the
    /// image is disposed already: then no slot may keep it.</summary>
    internal bool TryRegisterPool(SlotPool pool)
    {
        lock (_poolsLock)
        {
            if (IsDisposed)
            {
                return false;
            }
            if (!_pools.Contains(pool))
            {
                _pools.Add(pool);
            }
            return true;
        }
    }

    /// <summary>A pool whose memory is gone forgets the image (it has no slot left to purge).</summary>
    internal void UnregisterPool(SlotPool pool)
    {
        lock (_poolsLock)
        {
            _pools.Remove(pool);
        }
    }

    private static nuint AlignUp(nuint bytes) => (bytes + VirtualMemory.PageSize - 1) & ~(VirtualMemory.PageSize - 1);
}
