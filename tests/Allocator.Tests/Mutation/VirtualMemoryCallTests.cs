using System.Runtime.InteropServices;
using System.Runtime.Versioning;
using Allocator.Memory;
using Allocator.Tests.Support;

namespace Allocator.Tests.Mutation;

/// <summary>Each OS call of <see cref="VirtualMemory"/> on its own: the exact operation name, error code and size of
/// its failure, whether the failure was injected or real (a misaligned address, a bad descriptor, a huge size), and
/// the residency query's chunking.</summary>
[Collection(SerialCollection.Name)]
[SupportedOSPlatform("linux")]
public sealed unsafe class VirtualMemoryCallTests : IDisposable
{
    /// <summary>Not an errno value, so a test can tell the injected code from whatever the OS would say.</summary>
    private const int Injected = 4242;
    private const int Einval = 22;
    private const int Enomem = 12;
    private const int Ebadf = 9;

    private static readonly nuint Page = VirtualMemory.PageSize;

    public void Dispose() => VirtualMemoryFaults.Hook = null;

    private static void Inject(VirtualMemoryOperation failing) =>
        VirtualMemoryFaults.Hook = (operation, _) => operation == failing ? Injected : 0;

    private static void AssertFailure(VirtualMemoryException failure, string operation, int errorCode, nuint bytes)
    {
        Assert.Equal(operation, failure.Operation);
        Assert.Equal(errorCode, failure.ErrorCode);
        Assert.Equal(bytes, failure.RequestedBytes);
        Assert.Equal($"{operation} of {bytes} bytes failed with OS error {errorCode} ({Marshal.GetPInvokeErrorMessage(errorCode)}).", failure.Message);
    }

    [LinuxFact]
    public void An_injected_reservation_failure_names_mmap_and_the_injected_code()
    {
        Inject(VirtualMemoryOperation.Reserve);
        AssertFailure(Assert.Throws<VirtualMemoryException>(() => VirtualMemory.Reserve(4 * Page)), "mmap", Injected, 4 * Page);
    }

    [LinuxFact]
    public void A_reservation_larger_than_the_address_space_fails_with_enomem()
    {
        nuint huge = (nuint)1 << 62;
        VirtualMemoryException failure = Assert.Throws<VirtualMemoryException>(() => VirtualMemory.Reserve(huge));
        AssertFailure(failure, "mmap", Enomem, huge);
        Assert.Contains("Cannot allocate memory", failure.Message, StringComparison.Ordinal);
    }

    [LinuxFact]
    public void Protect_failures_name_mprotect_with_the_protection()
    {
        using MemoryReservation reservation = VirtualMemory.Reserve(2 * Page);
        Inject(VirtualMemoryOperation.Protect);
        AssertFailure(Assert.Throws<VirtualMemoryException>(() => VirtualMemory.Protect(reservation.BaseAddress, Page, MemoryProtection.ReadWrite)),
            "mprotect(ReadWrite)", Injected, Page);
        VirtualMemoryFaults.Hook = null;
        AssertFailure(Assert.Throws<VirtualMemoryException>(() => VirtualMemory.Protect(reservation.BaseAddress + 1, Page, MemoryProtection.ReadOnly)),
            "mprotect(ReadOnly)", Einval, Page);
    }

    [LinuxFact]
    public void A_successful_protect_allocates_nothing()
    {
        // A slot changes protection on checkouts that change its accessible size; the error's text is built only
        // when the call fails.
        using MemoryReservation reservation = VirtualMemory.Reserve(2 * Page);
        VirtualMemory.Protect(reservation.BaseAddress, Page, MemoryProtection.ReadWrite);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 100; i++)
        {
            VirtualMemory.Protect(reservation.BaseAddress, Page, (i & 1) == 0 ? MemoryProtection.ReadOnly : MemoryProtection.ReadWrite);
        }
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [LinuxFact]
    public void Discard_failures_name_madvise()
    {
        using MemoryReservation reservation = VirtualMemory.Reserve(2 * Page);
        reservation.Protect(0, 2 * Page, MemoryProtection.ReadWrite);
        Inject(VirtualMemoryOperation.Discard);
        AssertFailure(Assert.Throws<VirtualMemoryException>(() => VirtualMemory.Discard(reservation.BaseAddress, 2 * Page)),
            "madvise(MADV_DONTNEED)", Injected, 2 * Page);
        VirtualMemoryFaults.Hook = null;
        AssertFailure(Assert.Throws<VirtualMemoryException>(() => VirtualMemory.Discard(reservation.BaseAddress + 1, Page)),
            "madvise(MADV_DONTNEED)", Einval, Page);
    }

    [LinuxFact]
    public void Guard_install_failures_name_madvise_guard_install()
    {
        if (!VirtualMemory.GuardMarkers)
        {
            return; // no marker is ever installed where the kernel has none
        }
        using MemoryReservation reservation = VirtualMemory.Reserve(2 * Page);
        reservation.Protect(0, 2 * Page, MemoryProtection.ReadWrite);
        Inject(VirtualMemoryOperation.Guard);
        AssertFailure(Assert.Throws<VirtualMemoryException>(() => VirtualMemory.InstallGuard(reservation.BaseAddress, Page)),
            "madvise(MADV_GUARD_INSTALL)", Injected, Page);
        VirtualMemoryFaults.Hook = null;
        AssertFailure(Assert.Throws<VirtualMemoryException>(() => VirtualMemory.InstallGuard(reservation.BaseAddress + 1, Page)),
            "madvise(MADV_GUARD_INSTALL)", Einval, Page);
        VirtualMemory.InstallGuard(reservation.BaseAddress + (nint)Page, Page);
        Assert.True(MemoryProbe.IsReadable(reservation.BaseAddress));
        Assert.False(MemoryProbe.IsReadable(reservation.BaseAddress + (nint)Page));
    }

    [LinuxFact]
    public void Replace_failures_name_the_anonymous_fixed_mmap()
    {
        using MemoryReservation reservation = VirtualMemory.Reserve(2 * Page);
        Inject(VirtualMemoryOperation.Map);
        AssertFailure(Assert.Throws<VirtualMemoryException>(() => VirtualMemory.Replace(reservation.BaseAddress, Page, MemoryProtection.ReadWrite)),
            "mmap(MAP_FIXED|MAP_ANONYMOUS)", Injected, Page);
        VirtualMemoryFaults.Hook = null;
        AssertFailure(Assert.Throws<VirtualMemoryException>(() => VirtualMemory.Replace(reservation.BaseAddress + 1, Page, MemoryProtection.ReadWrite)),
            "mmap(MAP_FIXED|MAP_ANONYMOUS)", Einval, Page);
    }

    [LinuxFact]
    public void Replace_gives_zero_pages_of_the_asked_protection_and_leaves_the_rest()
    {
        using MemoryReservation reservation = VirtualMemory.Reserve(2 * Page);
        reservation.Protect(0, 2 * Page, MemoryProtection.ReadWrite);
        var all = new Span<byte>((void*)reservation.BaseAddress, (int)(2 * Page));
        all.Fill(0xAB);
        VirtualMemory.Replace(reservation.BaseAddress, Page, MemoryProtection.ReadOnly);
        Assert.Equal(-1, all[..(int)Page].IndexOfAnyExcept((byte)0));
        Assert.Equal(-1, all[(int)Page..].IndexOfAnyExcept((byte)0xAB));
        Assert.Equal(Page, VirtualMemory.ResidentBytes(reservation.BaseAddress + (nint)Page, Page));
    }

    [LinuxFact]
    public void MapImage_failures_name_the_memfd_mmap()
    {
        using MemoryReservation reservation = VirtualMemory.Reserve(2 * Page);
        Inject(VirtualMemoryOperation.Map);
        AssertFailure(Assert.Throws<VirtualMemoryException>(() => VirtualMemory.MapImage(reservation.BaseAddress, Page, fd: 0)),
            "mmap(MAP_PRIVATE|MAP_FIXED, memfd)", Injected, Page);
        VirtualMemoryFaults.Hook = null;
        AssertFailure(Assert.Throws<VirtualMemoryException>(() => VirtualMemory.MapImage(reservation.BaseAddress, Page, fd: -1)),
            "mmap(MAP_PRIVATE|MAP_FIXED, memfd)", Ebadf, Page);
    }

    [LinuxFact]
    public void Residency_failures_name_mincore()
    {
        using MemoryReservation reservation = VirtualMemory.Reserve(2 * Page);
        Inject(VirtualMemoryOperation.Residency);
        AssertFailure(Assert.Throws<VirtualMemoryException>(() => VirtualMemory.ResidentBytes(reservation.BaseAddress, 2 * Page)),
            "mincore", Injected, 2 * Page);
        VirtualMemoryFaults.Hook = null;
        AssertFailure(Assert.Throws<VirtualMemoryException>(() => VirtualMemory.ResidentBytes(reservation.BaseAddress + 1, Page)),
            "mincore", Einval, Page);
    }

    [LinuxFact]
    public void Residency_is_asked_in_chunks_of_at_most_ResidencyChunkPages()
    {
        const int pages = 2 * VirtualMemory.ResidencyChunkPages + 452;
        using MemoryReservation reservation = VirtualMemory.Reserve(pages * Page);
        reservation.Protect(0, pages * Page, MemoryProtection.ReadWrite);
        // Only the last chunk is touched: a query that stops after the first chunk finds nothing.
        *(byte*)(reservation.BaseAddress + (nint)((pages - 1) * Page)) = 1;
        var asked = new List<nuint>();
        VirtualMemoryFaults.Hook = (operation, size) =>
        {
            if (operation == VirtualMemoryOperation.Residency)
            {
                asked.Add(size / Page);
            }
            return 0;
        };
        nuint resident = VirtualMemory.ResidentBytes(reservation.BaseAddress, pages * Page);
        Assert.Equal([VirtualMemory.ResidencyChunkPages, VirtualMemory.ResidencyChunkPages, 452], asked);
        Assert.InRange(resident, Page, pages * Page);
        Assert.Equal(0u, VirtualMemory.ResidentBytes(reservation.BaseAddress, VirtualMemory.ResidencyChunkPages * Page));

        asked.Clear();
        VirtualMemory.ResidentBytes(reservation.BaseAddress, 2 * VirtualMemory.ResidencyChunkPages * Page);
        Assert.Equal([VirtualMemory.ResidencyChunkPages, VirtualMemory.ResidencyChunkPages], asked);
    }

    [LinuxFact]
    public void Residency_counts_exactly_the_touched_pages()
    {
        using MemoryReservation reservation = VirtualMemory.Reserve(8 * Page);
        reservation.Protect(0, 8 * Page, MemoryProtection.ReadWrite);
        *(byte*)(reservation.BaseAddress + (nint)Page) = 1;
        *(byte*)(reservation.BaseAddress + (nint)(6 * Page)) = 1;
        Assert.Equal(2 * Page, VirtualMemory.ResidentBytes(reservation.BaseAddress, 8 * Page));
        Assert.Equal(Page, VirtualMemory.ResidentBytes(reservation.BaseAddress, 2 * Page));
        Assert.Equal(0u, VirtualMemory.ResidentBytes(reservation.BaseAddress, 0));
    }

    [LinuxFact]
    public void Release_unmaps_and_reports_success()
    {
        nint address = Interop.Sys.Reserve(2 * Page);
        Assert.NotEqual(0, address);
        Assert.False(VirtualMemory.Release(address + 1, Page)); // munmap wants a page-aligned address
        Assert.True(VirtualMemory.Release(address, 2 * Page));
    }

    [LinuxFact]
    public void An_unknown_protection_is_refused_by_name()
    {
        using MemoryReservation reservation = VirtualMemory.Reserve(Page);
        ArgumentOutOfRangeException refused = Assert.Throws<ArgumentOutOfRangeException>(
            () => Interop.Sys.Protect(reservation.BaseAddress, Page, (MemoryProtection)99));
        Assert.Equal("protection", refused.ParamName);
        Assert.StartsWith("Unknown protection.", refused.Message, StringComparison.Ordinal);
    }

    [LinuxFact]
    public void A_failed_interop_reservation_returns_zero_not_MAP_FAILED() =>
        Assert.Equal(0, Interop.Sys.Reserve((nuint)1 << 62));

    [Fact]
    public void The_exception_message_names_the_call_the_size_and_the_error()
    {
        var failure = new VirtualMemoryException("madvise", Enomem, 8192);
        Assert.Equal($"madvise of 8192 bytes failed with OS error 12 ({Marshal.GetPInvokeErrorMessage(Enomem)}).", failure.Message);
        Assert.Contains(Marshal.GetPInvokeErrorMessage(-12345), new VirtualMemoryException("x", -12345, 1).Message, StringComparison.Ordinal);
    }
}
