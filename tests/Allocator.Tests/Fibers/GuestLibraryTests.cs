using Allocator.Fibers;
using Allocator.Tests.Stores;
using Allocator.Tests.Support;

namespace Allocator.Tests.Fibers;

/// <summary>Guests are loaded by plain name; wrong names, paths and symbols fail with errors that say what to fix.</summary>
public sealed class GuestLibraryTests
{
    [LinuxFact]
    public void File_names_follow_the_platform()
    {
        Assert.Equal("libGuest.so", GuestLibrary.GetFileName("Guest"));
        Assert.Equal("libMy.App.so", GuestLibrary.GetFileName("My.App"));
    }

    [Theory]
    [InlineData("")]
    [InlineData("guests/Guest")]
    [InlineData("..\\Guest")]
    public void Empty_names_and_paths_are_refused(string name)
    {
        Assert.ThrowsAny<ArgumentException>(() => GuestLibrary.GetFileName(name));
        Assert.ThrowsAny<ArgumentException>(() => GuestLibrary.Load(name));
    }

    [LinuxFact]
    public async Task Loads_the_test_guest_by_plain_name_and_runs_a_fiber_from_its_export()
    {
        GuestLibrary guest = GuestLibrary.Load("AllocatorTestGuest");
        Assert.Equal(Path.Combine(AppContext.BaseDirectory, "libAllocatorTestGuest.so"), guest.Path);
        Assert.Equal(TestGuest.CallLoop, guest.GetExport("guest_call_loop"));

        using PoolingAllocator allocator = TestAllocators.Small();
        using var store = new Store<int>(allocator, 0);
        using Fiber fiber = Fiber.Create(store, "loaded by name", guest.GetExport("guest_checked_calls"),
            TestGuest.CheckedCallsArgument(seed: 3, count: 2), new FiberHostFunctions(call => ValueTask.FromResult(call[1])));
        Assert.Equal(0 + 1, await fiber.RunAsync());
    }

    [LinuxFact]
    public void A_missing_library_names_the_file_and_the_build_item()
    {
        var ex = Assert.Throws<DllNotFoundException>(() => GuestLibrary.Load("NoSuchGuest"));
        Assert.Contains(Path.Combine(AppContext.BaseDirectory, "libNoSuchGuest.so"), ex.Message);
        Assert.Contains("AllocatorGuest", ex.Message);
    }

    [LinuxFact]
    public void A_missing_export_names_the_library_and_the_symbol()
    {
        GuestLibrary guest = GuestLibrary.Load("AllocatorTestGuest");
        var ex = Assert.Throws<EntryPointNotFoundException>(() => guest.GetExport("no_such_entry"));
        Assert.Contains("'AllocatorTestGuest'", ex.Message);
        Assert.Contains("'no_such_entry'", ex.Message);
    }
}
