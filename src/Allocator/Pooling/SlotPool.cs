using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Allocator.Memory;

namespace Allocator.Pooling;

/// <summary>Fixed-size slots (instance state or linear memories) carved out of one reservation, each followed by a
/// guard region. This class keeps memory and protection; which slot goes out is the <see cref="IndexAllocator"/>'s
/// business and when returned slots are reset the <see cref="DecommitQueue"/>'s. Internal: slots reach users only
/// through a Store.</summary>
/// <remarks>
/// Only the first <c>accessible</c> bytes of a slot are read-write; the rest of the slot, its interior guard ranges
/// and its trailing guard stay inaccessible, so an access past the bound faults. Bookkeeping is under one lock, and
/// so is every protection change of a checked-out slot together with its accounting (two racing grows must not
/// leave more memory read-write than the pool records, or a reset would miss it).
/// <para>A slot keeps its accessible size across reuse, as Wasmtime's do: a return discards the contents and leaves
/// protection alone, and the next checkout changes protection only for the difference in size. So a slot reused at
/// the same size costs one <c>madvise</c> in all.</para>
/// <para>Memory images: a slot may map one <see cref="MemoryImage"/> copy-on-write at the image's range. A returned
/// slot keeps the mapping only while it is warm for that image (the image is the affinity key), so the next checkout
/// of the same image finds it mapped, and the reset's <c>madvise</c> has already reverted it to the image. A cold slot,
/// a slot pushed out of the warm list and a slot of a disposed image drop the mapping: fresh anonymous memory in its
/// place, so no byte of one image or tenant ever reaches another.</para>
/// </remarks>
internal sealed class SlotPool : IDecommitTarget, IDisposable
{
    private readonly object _lock = new();
    private readonly MemoryReservation _reservation;
    private readonly IndexAllocator _indices;
    private readonly DecommitQueue _resets;
    private readonly nuint _stride;
    private readonly ulong[] _state;            // even = not out, odd = out; the odd value is the generation
    private readonly nuint[] _accessible;       // read-write bytes at the start of each slot (an upper bound)
    private readonly object?[] _rentKey;        // affinity key of the current user, remembered when it returns
    private readonly bool[] _dirty;             // protection may not match _accessible: reset all of it
    private readonly MemoryImage?[] _image;     // mapped copy-on-write at the image's range, holding a file reference
    private readonly HashSet<MemoryImage> _imagesRegistered = new(ReferenceEqualityComparer.Instance); // under _lock
    private readonly CheckoutOwners _owners;
    private readonly SlotGuardRange[] _guards;  // interior guards, sorted by offset
    private int _inUse;
    private int _peak;
    private long _affinityHits;
    private long _totalCheckouts;
    private long _exhaustions;
    private long _refusedReturns;
    private bool _disposed;
    private bool _released;
    private readonly string _limitName;

    /// <summary>Reserves every slot up front; <paramref name="options"/> must have been validated.
    /// <paramref name="limitName"/> is the size limit as exhaustion errors name it (default: the options name).</summary>
    public SlotPool(SlotKind kind, SlotPoolOptions options, string? limitName = null)
    {
        Kind = kind;
        Options = options;
        _limitName = limitName ?? SettingNames.Limit(kind, declaredBy: null);
        _stride = options.SlotSize + options.GuardSize;
        _guards = options.GuardRanges.OrderBy(g => g.Offset).ToArray();
        _reservation = VirtualMemory.Reserve(_stride * (nuint)options.MaxSlots);
        _state = new ulong[options.MaxSlots];
        _accessible = new nuint[options.MaxSlots];
        _rentKey = new object?[options.MaxSlots];
        _dirty = new bool[options.MaxSlots];
        _image = new MemoryImage?[options.MaxSlots];
        _owners = new CheckoutOwners(options.MaxSlots);
        // The pool's lock guards the warm slots too: a keyed checkout or return then enters one monitor, not two.
        _indices = new IndexAllocator(options.MaxSlots, options.MaxUnusedWarmSlots, callersLock: _lock);
        _resets = new DecommitQueue(this, options.DecommitBatchSize);
    }

    public SlotKind Kind { get; }

    /// <summary>The pool's name in errors and metrics: <c>instances</c> or <c>memories</c>.</summary>
    public string Name => SettingNames.Pool(Kind);

    public SlotPoolOptions Options { get; }

    public int InUse => Volatile.Read(ref _inUse);

    public long TotalCheckouts => Interlocked.Read(ref _totalCheckouts);

    public long Exhaustions => Interlocked.Read(ref _exhaustions);

    public long RefusedReturns => Interlocked.Read(ref _refusedReturns);

    public long AffinityHits => Interlocked.Read(ref _affinityHits);

    /// <summary>True once the reservation has been unmapped (after Dispose, when the last slot came back).</summary>
    public bool IsReleased => _reservation.IsClosed;

    /// <summary>Checks out a slot for <paramref name="storeId"/>, preferring the free slot
    /// <paramref name="affinityKey"/> used last. The first <paramref name="accessible"/> bytes are read-write and
    /// read as zeros, or, with an <paramref name="image"/>, as the image (which is then the affinity key).</summary>
    /// <exception cref="PoolExhaustedException">Every slot is checked out.</exception>
    /// <exception cref="ObjectDisposedException">The pool, or the image, is disposed.</exception>
    /// <exception cref="VirtualMemoryException">A protection change or mapping failed; the slot went back and nothing
    /// leaked.</exception>
    public PooledSlot Rent(long storeId, object? affinityKey, nuint accessible, MemoryImage? image = null)
    {
        Debug.Assert(accessible <= Options.SlotSize && VirtualMemory.IsPageMultiple(accessible), "The Store checks the size.");
        Debug.Assert(image is null || (affinityKey is null && image.End <= accessible && NextGuardAtOrAfter(image.Start) >= image.End),
            "The Store checks that the image fits the accessible bytes clear of guards.");
        affinityKey = image ?? affinityKey;
        int index;
        ulong generation;
        // One lock entry checks the pool, takes the slot (the warm slots are under this lock too) and records the
        // checkout.
        while (!TryTakeAndRecord(storeId, affinityKey, out index, out generation))
        {
            // A pending batch (or a reset in flight on another thread) frees slots: reset or wait, then look again.
            if (!_resets.FlushOrWait())
            {
                Interlocked.Increment(ref _exhaustions);
                ThrowExhausted();
            }
        }
        try
        {
            Prepare(index, accessible, image);
        }
        catch (Exception ex) when (ex is VirtualMemoryException or ObjectDisposedException)
        {
            lock (_lock)
            {
                _state[index]++;
                _inUse--;
                _rentKey[index] = null;
                _dirty[index] = true;
            }
            try
            {
                SettleReturned(index);
            }
            catch (VirtualMemoryException)
            {
                // The full reset failed too: the slot stays queued and is reset again before anyone reuses it.
            }
            throw;
        }
        return new PooledSlot(index, generation, SlotAddress(index));
    }

    /// <summary>Under one lock entry: refuses a disposed pool (its memory may be unmapped already), takes a free slot
    /// (the affinity key's, else a cold one, else the oldest warm one) and records its checkout; false when none is
    /// free. Dispose sets its flag under the same lock, so it cannot land between the check and the checkout.</summary>
    private bool TryTakeAndRecord(long storeId, object? affinityKey, out int index, out ulong generation)
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (!_indices.TryAllocate(affinityKey, out index, out bool hit))
            {
                generation = 0;
                return false;
            }
            generation = ++_state[index];
            _rentKey[index] = affinityKey;
            _inUse++;
            _peak = Math.Max(_peak, _inUse);
            _totalCheckouts++;
            _affinityHits += hit ? 1 : 0;
            _owners.Set(index, storeId, null);
            return true;
        }
    }

    /// <summary>Returns a slot; null, or why it was refused (nothing changes then). It is reset (zeroed, memory
    /// given back beyond KeepResident) before anyone reuses it.</summary>
    /// <exception cref="VirtualMemoryException">The reset failed; the slot stays queued and is reset again later.</exception>
    public InvalidTokenReason? Return(PooledSlot slot)
    {
        bool disposed;
        lock (_lock)
        {
            if (Judge(slot) is { } reason)
            {
                _refusedReturns++;
                return reason;
            }
            _state[slot.Index]++;
            _inUse--;
            // SettleReturned, in the same lock entry (one entry less per return).
            disposed = FreeIfDisposed(slot.Index);
        }
        if (!disposed)
        {
            _resets.Enqueue(slot.Index);
        }
        return null;
    }

    /// <summary>Makes more of a checked-out slot read-write (e.g. <c>memory.grow</c>); the protection change and its
    /// accounting are one step under the pool's lock. Returns the accessible size before.</summary>
    public nuint Grow(PooledSlot slot, nuint accessible)
    {
        lock (_lock)
        {
            ThrowIfInvalid(slot);
            if (accessible < _accessible[slot.Index])
            {
                throw new ArgumentOutOfRangeException(nameof(accessible), accessible, $"A slot cannot shrink: {_accessible[slot.Index]} bytes are accessible already.");
            }
            nuint before = _accessible[slot.Index];
            SetAccessible(slot.Index, accessible);
            return before;
        }
    }

    /// <summary>Read-write bytes at the start of a checked-out slot (interior guards inside them stay inaccessible).</summary>
    public nuint GetAccessibleBytes(PooledSlot slot)
    {
        lock (_lock)
        {
            ThrowIfInvalid(slot);
            return _accessible[slot.Index];
        }
    }

    /// <summary>The address of [offset, offset + length) in a checked-out slot, when all of it is read-write: inside
    /// the accessible bytes and clear of every interior guard.</summary>
    public nint GetAccessibleRange(PooledSlot slot, nuint offset, nuint length)
    {
        lock (_lock)
        {
            ThrowIfInvalid(slot);
            nuint accessible = _accessible[slot.Index];
            if (offset > accessible || length > accessible - offset)
            {
                throw new ArgumentOutOfRangeException(nameof(length), $"[{offset}, {offset}+{length}) is outside the {accessible} accessible bytes of the slot.");
            }
            foreach (SlotGuardRange guard in _guards)
            {
                if (offset < guard.End && guard.Offset < offset + length)
                {
                    throw new ArgumentOutOfRangeException(nameof(offset), $"[{offset}, {offset}+{length}) overlaps the guard range [{guard.Offset}, {guard.End}), which is never accessible.");
                }
            }
            return SlotAddress(slot.Index) + (nint)offset;
        }
    }

    /// <summary>Where the first interior guard at or after <paramref name="offset"/> starts, or the slot size.</summary>
    public nuint NextGuardAtOrAfter(nuint offset)
    {
        foreach (SlotGuardRange guard in _guards)
        {
            if (guard.End > offset)
            {
                return guard.Offset;
            }
        }
        return Options.SlotSize;
    }

    public bool IsCheckedOut(PooledSlot slot)
    {
        lock (_lock)
        {
            return Judge(slot) is null;
        }
    }

    /// <summary>Resets every returned slot that is waiting for its batch now.</summary>
    public void FlushPendingResets()
    {
        _resets.FlushAll();
    }

    /// <summary>Describes every slot checked out now, with its owner.</summary>
    public List<string> DescribeCheckouts()
    {
        var live = new List<string>();
        lock (_lock)
        {
            for (int i = 0; i < _state.Length; i++)
            {
                if ((_state[i] & 1) == 1)
                {
                    live.Add($"{Name} slot {i}: {_owners.Describe(i)}");
                }
            }
        }
        return live;
    }

    /// <summary>A snapshot of counters and measured resident memory (0 once the memory is released).</summary>
    public SlotPoolStatistics GetStatistics()
    {
        ulong resident = 0;
        for (int i = 0; i < _state.Length; i++)
        {
            resident += _reservation.ResidentBytes((nuint)i * _stride, Options.SlotSize);
        }
        lock (_lock)
        {
            return new SlotPoolStatistics(Options.MaxSlots, _inUse, _peak, _indices.WarmCount, _resets.Pending, _affinityHits,
                _totalCheckouts, _exhaustions, _refusedReturns, resident);
        }
    }

    /// <summary>Refuses new checkouts and releases the reservation, or, while slots are still out, as soon as the
    /// last one is returned. Slots waiting for a batched reset are simply free: nothing will reuse them.</summary>
    public void Dispose()
    {
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }
            _disposed = true;
        }
        foreach (int index in _resets.DropPending())
        {
            _indices.FreeCold(index);
        }
        lock (_lock)
        {
            ReleaseIfDrained();
        }
    }

    void IDecommitTarget.Reset(int index) => ResetSlot(index);

    void IDecommitTarget.Free(int index)
    {
        // Against the image's Dispose, which marks it disposed and then purges the warm slots under this pool's lock:
        // the decision is taken under that lock too, so either the slot goes warm before the purge (which then drops
        // the image), or it finds the image disposed and is not freed until the image is dropped here.
        if (FreeAndMaybeRelease(index, keepKey: true, mapped: _image[index]))
        {
            return;
        }
        TryDropImage(index);
        // Stryker disable once Boolean : the key kept would be the slot's rent key, this image, which is disposed, and FreeAndMaybeRelease keeps no disposed image as a key.
        FreeAndMaybeRelease(index, keepKey: false);
    }

    /// <summary>Drops <paramref name="image"/> from every free slot that keeps it for affinity (its Dispose).</summary>
    public void PurgeImage(MemoryImage image)
    {
        while (TryTakeWarm(image, out int index))
        {
            // Once the pool's reservation is released, its slots map nothing any more (the unmapping took the
            // mappings); the warm entries are all that is left.
            if (_image[index] == image)
            {
                TryDropImage(index);
            }
            lock (_lock)
            {
                _rentKey[index] = null;
                _indices.FreeCold(index);
                ReleaseIfDrained();
            }
        }
    }

    /// <summary>A free slot that <paramref name="image"/> keeps warm, taken under the pool's lock (which guards the warm
    /// slots).</summary>
    private bool TryTakeWarm(MemoryImage image, out int index)
    {
        lock (_lock)
        {
            return _indices.TryAllocateWarm(image, out index);
        }
    }

    /// <summary>A returned slot goes to the decommit queue, or, once the pool is disposed, straight to free.</summary>
    private void SettleReturned(int index)
    {
        bool disposed;
        lock (_lock)
        {
            disposed = FreeIfDisposed(index);
        }
        if (!disposed)
        {
            _resets.Enqueue(index);
        }
    }

    /// <summary>Under the lock: once the pool is disposed, a returned slot goes straight to free (true); otherwise
    /// (false) the caller queues it for its reset once it has left the lock.</summary>
    private bool FreeIfDisposed(int index)
    {
        Debug.Assert(Monitor.IsEntered(_lock));
        if (!_disposed)
        {
            return false;
        }
        _rentKey[index] = null;
        // Stryker disable once Boolean : FreeAndMaybeRelease keeps no key once _disposed is set, whatever keepKey says.
        FreeAndMaybeRelease(index, keepKey: false);
        return true;
    }

    /// <summary>Makes a returned slot fit for its next user, keeping its accessible size: the kept-resident bytes are
    /// zeroed in place, the rest discarded (reverting an image's pages to the image), all in one <c>madvise</c> when
    /// the image lies beyond the kept bytes.</summary>
    private void ResetSlot(int index)
    {
        nuint offset = (nuint)index * _stride;
        if (Volatile.Read(ref _dirty[index]))
        {
            // A protection change or mapping failed halfway: fresh inaccessible memory over the whole slot, whatever
            // was mapped there.
            _reservation.Replace(offset, Options.SlotSize, MemoryProtection.NoAccess);
            _accessible[index] = 0;
            ForgetImage(index);
            Volatile.Write(ref _dirty[index], false);
            return;
        }
        if (_image[index] is { } mapped && (mapped.IsDisposed || !_indices.KeepsWarm))
        {
            // The slot will not stay warm for this image: drop it now, while the reset may still fail and retry.
            DropImage(index);
        }
        nuint accessible = _accessible[index];
        nuint keep = Math.Min(Options.KeepResident, accessible);
        if (keep >= WrittenPages.WorthScanningBytes && WrittenPages.IsSupported && TryResetWrittenPages(index, accessible, keep))
        {
            return;
        }
        if (_image[index] is not { } image || keep <= image.Start)
        {
            ZeroInPlace(index, 0, keep);
            _reservation.Discard(offset + keep, accessible - keep);
            return;
        }
        Debug.Assert(accessible >= image.End);
        ZeroInPlace(index, 0, image.Start);
        _reservation.Discard(offset + image.Start, image.End - image.Start);
        nuint rest = Math.Max(keep, image.End);
        ZeroInPlace(index, image.End, rest);
        _reservation.Discard(offset + rest, accessible - rest);
    }

    /// <summary>The common reset, as <see cref="ResetSlot"/> does it, split so a batch can coalesce the discards: a clean slot whose image (if any) stays and lies beyond the kept bytes, with too little
    /// kept to scan. Zeroes the kept bytes in place; what is left is one discard of [<paramref name="from"/>,
    /// from + <paramref name="length"/>) (reservation offsets) up to the slot's accessible end, which reverts an
    /// image's pages too. False for every other case, with nothing done.</summary>
    private bool TryZeroForDiscard(int index, out nuint from, out nuint length)
    {
        from = length = 0;
        nuint accessible = _accessible[index];
        nuint keep = Math.Min(Options.KeepResident, accessible);
        if (Volatile.Read(ref _dirty[index])
            || (_image[index] is { } image && (image.IsDisposed || !_indices.KeepsWarm || keep > image.Start))
            || (keep >= WrittenPages.WorthScanningBytes && WrittenPages.IsSupported))
        {
            return false;
        }
        ZeroInPlace(index, 0, keep);
        from = (nuint)index * _stride + keep;
        length = accessible - keep;
        return true;
    }

    /// <summary>Resets a batch (sorted by index) and coalesces the discards of neighbouring slots into one
    /// <c>madvise</c>: between one slot's accessible end and the next slot's start lie only pages that are never
    /// populated (the inaccessible rest of the slot and its guard), so one call covers both. A batch of returned slots
    /// that a warm image cycles through is usually one run of neighbours: one system call for all of them.</summary>
    void IDecommitTarget.ResetBatch(ReadOnlySpan<int> batch, ref int done)
    {
        nuint runStart = 0, runEnd = 0;
        for (int k = done; k < batch.Length; k++)
        {
            int index = batch[k];
            if (!TryZeroForDiscard(index, out nuint from, out nuint length))
            {
                DiscardRun(runStart, runEnd, k, ref done);
                ResetSlot(index);
                // Stryker disable once Arithmetic : every path after it runs a DiscardRun ending at k + 1 or later (the next slot starts no run, or the batch ends) before anything can fail, and that sets done past this slot.
                done = k + 1;
                runStart = runEnd = 0;
                // Stryker disable once Statement : without it the slot falls through with from = length = 0 and no run (runEnd = runStart): not adjacent, and the DiscardRun of the empty run and the run [0, 0) it starts do nothing, the state this continue leaves.
                continue;
            }
            // A run is open only once an earlier slot of this batch joined it, so batch[k - 1] exists.
            // Windows' discard would commit the pages between neighbours (their guards) read-write: no runs there.
            bool adjacent = VirtualMemory.DiscardSpansGuards && runEnd > runStart && batch[k - 1] + 1 == index
                && runEnd == (nuint)batch[k - 1] * _stride + _accessible[batch[k - 1]] && from == (nuint)index * _stride;
            if (!adjacent)
            {
                DiscardRun(runStart, runEnd, k, ref done);
                runStart = from;
            }
            runEnd = from + length; // an empty run (nothing beyond the kept bytes) discards nothing
        }
        DiscardRun(runStart, runEnd, batch.Length, ref done);
        Debug.Assert(done == batch.Length);
    }

    /// <summary>Discards one coalesced run; the slots before <paramref name="end"/> count as reset only once it is done.</summary>
    private void DiscardRun(nuint runStart, nuint runEnd, int end, ref int done)
    {
        Debug.Assert(runEnd >= runStart);
        _reservation.Discard(runStart, runEnd - runStart); // an empty run discards nothing (the reservation skips it)
        done = Math.Max(done, end);
    }

    /// <summary>The reset with PAGEMAP_SCAN: up to <paramref name="keep"/> bytes of the pages the tenant wrote are
    /// restored in place (zeros, or the image's bytes), and only what lies past the scan's end is discarded: a tenant
    /// that wrote less than <paramref name="keep"/> costs one ioctl and no <c>madvise</c>. False when the scan failed;
    /// nothing has changed then.</summary>
    private bool TryResetWrittenPages(int index, nuint accessible, nuint keep)
    {
        nint slotBase = SlotAddress(index);
        Span<Interop.PageRegion> regions = stackalloc Interop.PageRegion[WrittenPages.MaxRegions];
        if (!WrittenPages.TryScan(slotBase, accessible, keep / VirtualMemory.PageSize, regions, out int count, out nint scannedUpTo))
        {
            return false;
        }
        MemoryImage? image = _image[index];
        foreach (Interop.PageRegion region in regions[..count])
        {
            nuint from = (nuint)((nint)region.Start - slotBase), to = (nuint)((nint)region.End - slotBase);
            Debug.Assert(to <= accessible && NextGuardAtOrAfter(from) >= to, "Written pages are accessible ones.");
            if (image is null)
            {
                ZeroInPlace(index, from, to);
            }
            else
            {
                image.RestoreInto(slotBase, from, to);
            }
        }
        nuint scanned = Math.Min((nuint)(scannedUpTo - slotBase), accessible);
        _reservation.Discard((nuint)index * _stride + scanned, accessible - scanned);
        return true;
    }

    /// <summary>Zeroes [from, to) of a slot in place, stepping over interior guards (touching one would fault).</summary>
    private unsafe void ZeroInPlace(int index, nuint from, nuint to)
    {
        nuint cursor = from;
        foreach (SlotGuardRange guard in _guards)
        {
            if (guard.Offset >= to)
            {
                break;
            }
            if (guard.End <= cursor)
            {
                continue;
            }
            if (guard.Offset > cursor)
            {
                NativeMemory.Clear((void*)(SlotAddress(index) + (nint)cursor), guard.Offset - cursor);
            }
            cursor = Math.Min(guard.End, to);
        }
        if (to > cursor)
        {
            NativeMemory.Clear((void*)(SlotAddress(index) + (nint)cursor), to - cursor);
        }
    }

    /// <summary>Gets a slot ready for its next user: drops another image it may map, sets its size, then maps or
    /// copies <paramref name="image"/> unless the slot maps it already.</summary>
    private void Prepare(int index, nuint accessible, MemoryImage? image)
    {
        if (_image[index] is { } mapped && mapped != image)
        {
            DropImage(index);
        }
        SetAccessible(index, accessible);
        if (image is null || _image[index] == image)
        {
            return;
        }
        if (image.File is not { } file)
        {
            image.CopyInto(SlotAddress(index));
            return;
        }
        // Stryker disable once Boolean : DangerousAddRef sets it when it succeeds and throws only for a closed handle, whose count is 0; the extra DangerousRelease then throws the same ObjectDisposedException.
        bool added = false;
        try
        {
            // Throws ObjectDisposedException once the image is disposed and no slot maps it any more.
            file.DangerousAddRef(ref added);
            RegisterWith(image);
            _reservation.MapImage((nuint)index * _stride + image.Start, file);
            _image[index] = image;
        }
        catch
        {
            if (added)
            {
                file.DangerousRelease();
            }
            throw;
        }
    }

    /// <summary>Lets <paramref name="image"/> find this pool when it is disposed (to purge warm slots); the pool lets
    /// go of every image it registered with when its memory is released, so a long-lived image does not keep a
    /// disposed pool alive.</summary>
    private void RegisterWith(MemoryImage image)
    {
        lock (_lock)
        {
            if (_imagesRegistered.Contains(image))
            {
                return;
            }
        }
        if (!image.TryRegisterPool(this))
        {
            throw new ObjectDisposedException(nameof(MemoryImage));
        }
        lock (_lock)
        {
            _imagesRegistered.Add(image);
        }
    }

    /// <summary>Replaces a slot's image mapping with fresh anonymous read-write memory (the slot's accessible bytes
    /// cover the image) and lets go of the image.</summary>
    private void DropImage(int index)
    {
        MemoryImage image = _image[index]!;
        Debug.Assert(_accessible[index] >= image.End, "A slot maps an image only inside its accessible bytes.");
        _reservation.Replace((nuint)index * _stride + image.Start, image.End - image.Start, MemoryProtection.ReadWrite);
        ForgetImage(index);
    }

    /// <summary>Best effort, for free slots: on failure the slot keeps the mapping, and whoever checks it out next
    /// drops it before use.</summary>
    private void TryDropImage(int index)
    {
        try
        {
            DropImage(index);
        }
        catch (VirtualMemoryException)
        {
        }
    }

    private void ForgetImage(int index)
    {
        if (_image[index] is { } image)
        {
            _image[index] = null;
            image.File!.DangerousRelease();
        }
    }

    /// <summary>Sets a slot's read-write prefix. On failure the slot is marked dirty with the larger size recorded,
    /// so its next reset covers everything that may have become read-write.</summary>
    private void SetAccessible(int index, nuint accessible)
    {
        nuint current = _accessible[index];
        nuint offset = (nuint)index * _stride;
        try
        {
            if (accessible > current)
            {
                _reservation.Protect(offset + current, accessible - current, MemoryProtection.ReadWrite);
                foreach (SlotGuardRange guard in _guards)
                {
                    // Put back the interior guards that the range just opened covers.
                    nuint start = Math.Max(guard.Offset, current);
                    nuint end = Math.Min(guard.End, accessible);
                    if (start < end)
                    {
                        _reservation.Protect(offset + start, end - start, MemoryProtection.NoAccess);
                    }
                }
            }
            else if (accessible < current)
            {
                // The kept bytes are zero already; hide the part this user did not ask for.
                _reservation.Protect(offset + accessible, current - accessible, MemoryProtection.NoAccess);
            }
            _accessible[index] = accessible;
        }
        catch (VirtualMemoryException)
        {
            _accessible[index] = Math.Max(current, accessible);
            Volatile.Write(ref _dirty[index], true);
            throw;
        }
    }

    /// <summary>A reset slot goes to the free lists, warm for its last key when <paramref name="keepKey"/>; a disposed
    /// pool whose slots are all free releases its memory. A warm slot this pushes out of the warm list drops its image
    /// before it goes cold.</summary>
    /// <returns>False, with nothing freed, when <paramref name="mapped"/> (the image the slot maps, if any) is disposed
    /// by now: the caller drops it from the slot first.</returns>
    private bool FreeAndMaybeRelease(int index, bool keepKey, MemoryImage? mapped = null)
    {
        int forgotten;
        lock (_lock)
        {
            if (mapped is { IsDisposed: true })
            {
                return false;
            }
            // A disposed image is no key: nothing may come back for it.
            object? key = keepKey && !_disposed && _rentKey[index] is not MemoryImage { IsDisposed: true } ? _rentKey[index] : null;
            _rentKey[index] = null;
            _indices.Free(index, key, out forgotten);
            if (forgotten < 0)
            {
                ReleaseIfDrained();
                return true;
            }
        }
        if (_image[forgotten] is not null)
        {
            TryDropImage(forgotten);
        }
        lock (_lock)
        {
            _indices.FreeCold(forgotten);
            ReleaseIfDrained();
        }
        return true;
    }

    private void ReleaseIfDrained()
    {
        Debug.Assert(Monitor.IsEntered(_lock));
        if (_disposed && !_released && _indices.FreeCount == Options.MaxSlots)
        {
            // Stryker disable once Boolean : a second release finds the reservation closed (no-op), the images forgotten and unregistered already.
            _released = true;
            _reservation.Dispose();
            for (int i = 0; i < _image.Length; i++)
            {
                // The unmapping took every image mapping with it.
                ForgetImage(i);
            }
            foreach (MemoryImage image in _imagesRegistered)
            {
                image.UnregisterPool(this);
            }
            _imagesRegistered.Clear();
        }
    }

    private InvalidTokenReason? Judge(PooledSlot slot) =>
        CheckoutGeneration.Judge(slot.Index, _state.Length, slot.Generation, _state[(int)((uint)slot.Index % (uint)_state.Length)]);

    private void ThrowIfInvalid(PooledSlot slot)
    {
        if (Judge(slot) is { } reason)
        {
            throw ThrowHelper.InvalidToken(reason, $"{Name} slot {slot.Index} is no longer this checkout's");
        }
    }

    private nint SlotAddress(int index) => _reservation.BaseAddress + (nint)((nuint)index * _stride);

    private void ThrowExhausted() => ThrowHelper.ThrowPoolExhausted(Name, _limitName, Options.MaxSlots);
}
