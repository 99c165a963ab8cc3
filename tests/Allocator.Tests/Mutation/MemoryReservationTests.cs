using System.Runtime.Versioning;
using Allocator.Memory;
using Allocator.Tests.Support;

namespace Allocator.Tests.Mutation;

/// <summary>A reservation refuses every range outside itself before any OS call, skips empty ranges, refuses calls
/// once disposed, and holds a reference across each call so a racing release waits.</summary>
/// <remarks>The reservation under test is a view of the first half of a larger one, so a missing bounds check shows
/// as a call that succeeds on the other half (our own pages) instead of touching a neighbour's memory.</remarks>
[Collection(SerialCollection.Name)]
[SupportedOSPlatform("linux")]
public sealed unsafe class MemoryReservationTests : IDisposable
{
    private static readonly nuint Page = VirtualMemory.PageSize;
    private readonly MemoryReservation _whole = VirtualMemory.Reserve(4 * Page);
    private readonly MemoryReservation _view;

    public MemoryReservationTests() => _view = new MemoryReservation(_whole.BaseAddress, 2 * Page);

    public void Dispose()
    {
        VirtualMemoryFaults.Hook = null;
        _view.SetHandleAsInvalid(); // the view owns nothing: the whole reservation unmaps all four pages
        _whole.Dispose();
    }

    private static void AssertOutside(Action call, nuint offset, nuint length)
    {
        ArgumentOutOfRangeException refused = Assert.Throws<ArgumentOutOfRangeException>(call);
        Assert.Equal("length", refused.ParamName);
        Assert.StartsWith($"Range [{offset}, {offset}+{length}) lies outside the reservation of {2 * Page} bytes.", refused.Message, StringComparison.Ordinal);
    }

    [LinuxTheory]
    [InlineData(2, 1)] // just past the end
    [InlineData(1, 2)] // starts inside, ends past the end
    [InlineData(3, 0)] // empty, but starting past the end
    public void Every_call_refuses_a_range_outside_the_reservation(int offsetPages, int lengthPages)
    {
        nuint offset = (nuint)offsetPages * Page, length = (nuint)lengthPages * Page;
        AssertOutside(() => _view.Protect(offset, length, MemoryProtection.ReadWrite), offset, length);
        AssertOutside(() => _view.Discard(offset, length), offset, length);
        AssertOutside(() => _view.Replace(offset, length, MemoryProtection.ReadWrite), offset, length);
        AssertOutside(() => _view.InstallGuard(offset, length), offset, length);
        AssertOutside(() => _view.ResidentBytes(offset, length), offset, length);
    }

    [LinuxFact]
    public void Mapping_an_image_that_ends_past_the_reservation_is_refused()
    {
        using MemoryImageFile file = MemoryImageFile.Create(2 * Page, 0, [new MemoryImageSegment(0, new byte[] { 1 })]);
        AssertOutside(() => _view.MapImage(Page, file), Page, 2 * Page);
        _view.MapImage(0, file);
        Assert.Equal(1, *(byte*)_view.BaseAddress);
    }

    [LinuxFact]
    public void Empty_ranges_make_no_OS_call()
    {
        var calls = new List<VirtualMemoryOperation>();
        VirtualMemoryFaults.Hook = (operation, _) =>
        {
            calls.Add(operation);
            return 0;
        };
        _view.Protect(Page, 0, MemoryProtection.ReadWrite);
        _view.Discard(2 * Page, 0);
        _view.Replace(0, 0, MemoryProtection.ReadWrite);
        _view.InstallGuard(Page, 0);
        Assert.Equal(0u, _view.ResidentBytes(2 * Page, 0));
        Assert.Empty(calls);
        _view.Protect(0, Page, MemoryProtection.ReadWrite);
        Assert.Equal([VirtualMemoryOperation.Protect], calls);
    }

    [LinuxFact]
    public void A_disposed_reservation_refuses_calls_before_checking_the_range()
    {
        MemoryReservation reservation = VirtualMemory.Reserve(Page);
        reservation.Dispose();
        foreach (Action call in new Action[]
        {
            () => reservation.Protect(2 * Page, Page, MemoryProtection.ReadWrite),
            () => reservation.Discard(2 * Page, Page),
            () => reservation.Replace(2 * Page, Page, MemoryProtection.ReadWrite),
            () => reservation.InstallGuard(2 * Page, Page),
        })
        {
            ObjectDisposedException refused = Assert.Throws<ObjectDisposedException>(call);
            Assert.Equal(typeof(MemoryReservation).FullName, refused.ObjectName);
        }
        Assert.Equal(0u, reservation.ResidentBytes(0, Page)); // statistics racing the release read 0
    }

    [LinuxFact]
    public void A_release_racing_a_call_waits_for_the_call()
    {
        MemoryReservation reservation = VirtualMemory.Reserve(2 * Page);
        bool mappedDuringCall = false;
        byte[] vector = new byte[1];
        VirtualMemoryFaults.Hook = (operation, _) =>
        {
            reservation.Dispose(); // from inside the call: the reference the call holds keeps the pages mapped
            fixed (byte* v = vector)
            {
                mappedDuringCall = Interop.Sys.Residency(reservation.BaseAddress, Page, v);
            }
            return 0;
        };
        reservation.Protect(0, Page, MemoryProtection.ReadWrite);
        VirtualMemoryFaults.Hook = null;
        Assert.True(mappedDuringCall);
        Assert.True(reservation.IsClosed);
    }
}
