using System.Runtime.CompilerServices;
using Allocator.Fibers;
using Allocator.Tests.Fibers;
using Allocator.Tests.Support;

namespace Allocator.Tests.Mutation;

/// <summary>The small public pieces around fibers: deadline updates compare by action and ticks, the epoch word never
/// moves, host tables refuse null or empty entries and indices at their end, synchronous host calls take 0 to
/// <see cref="FiberHostCall.MaxArguments"/> arguments, and guest libraries are named and loaded by the platform's rule.</summary>
public sealed class FiberApiSurfaceTests
{
    [Fact]
    public void Deadline_updates_are_equal_exactly_when_action_and_ticks_are()
    {
        FiberDeadlineUpdate a = FiberDeadlineUpdate.Continue(5);
        Assert.True(a == FiberDeadlineUpdate.Continue(5));
        Assert.False(a != FiberDeadlineUpdate.Continue(5));
        Assert.True(a.Equals(FiberDeadlineUpdate.Continue(5)));
        Assert.True(a.Equals((object)FiberDeadlineUpdate.Continue(5)));
        Assert.Equal(a.GetHashCode(), FiberDeadlineUpdate.Continue(5).GetHashCode());

        // Same ticks, other action; same action, other ticks; both different.
        foreach (FiberDeadlineUpdate other in new[] { FiberDeadlineUpdate.Yield(5), FiberDeadlineUpdate.Continue(6), FiberDeadlineUpdate.Yield(6), FiberDeadlineUpdate.Interrupt })
        {
            Assert.False(a == other);
            Assert.True(a != other);
            Assert.False(a.Equals(other));
            Assert.False(a.Equals((object)other));
        }
        Assert.False(a.Equals("Continue(5)"));
        Assert.Equal((FiberDeadlineAction.Interrupt, 0UL), (FiberDeadlineUpdate.Interrupt.Action, FiberDeadlineUpdate.Interrupt.Ticks));
        Assert.Equal((FiberDeadlineAction.Yield, 3UL), (FiberDeadlineUpdate.Yield(3).Action, FiberDeadlineUpdate.Yield(3).Ticks));
    }

    [Fact]
    public unsafe void The_epoch_word_native_code_reads_never_moves_across_compacting_collections()
    {
        FiberEpoch epoch = EpochAfterGarbage();
        nint address = epoch.Address;
        for (int i = 0; i < 3; i++)
        {
            GC.Collect(i % 3, GCCollectionMode.Forced, blocking: true, compacting: true);
        }
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        Assert.Equal(address, epoch.Address);
        Assert.Equal(1UL, epoch.Increment());
        Assert.Equal(1UL, Volatile.Read(ref *(ulong*)address));
        Assert.Equal(1UL, epoch.Current);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static FiberEpoch EpochAfterGarbage()
    {
        // Dead objects allocated before the epoch give a compacting collection something to slide it over.
        for (int i = 0; i < 1000; i++)
        {
            _ = new byte[64];
        }
        var epoch = new FiberEpoch();
        for (int i = 0; i < 1000; i++)
        {
            _ = new byte[64];
        }
        return epoch;
    }

    [Fact]
    public void A_null_host_function_is_refused_by_its_index()
    {
        FiberHostFunction ok = _ => ValueTask.FromResult(0L);
        var ex = Assert.Throws<ArgumentNullException>(() => new FiberHostFunctions(ok, null!, ok));
        Assert.Equal("functions", ex.ParamName);
        Assert.StartsWith("Host function 1 is null.", ex.Message);
        Assert.Equal(3, new FiberHostFunctions(ok, ok, ok).Count);
    }

    [Fact]
    public void An_empty_host_entry_is_refused_by_its_index()
    {
        var ex = Assert.Throws<ArgumentException>(() => FiberHostFunctions.From(FiberHostEntry.Sync(_ => 1), default));
        Assert.Equal("entries", ex.ParamName);
        Assert.StartsWith("Host entry 1 is empty; use FiberHostEntry.Sync, FiberHostEntry.Async or FiberHostEntry.Unchecked.", ex.Message);
    }

    [Fact]
    public void Host_tables_answer_indices_below_their_count_only()
    {
        FiberHostFunctions table = FiberHostFunctions.From(FiberHostEntry.Async(_ => ValueTask.FromResult(1L)), FiberHostEntry.Sync(_ => 2));
        Assert.True(table.TryGet(1, out FiberHostFunction last));
        Assert.Same(table[1], last);
        Assert.False(table.TryGet(2, out _));
        Assert.False(table.TryGet(-1, out _));
        Assert.True(table.TryGetSynchronous(1, out FiberSyncHostFunction sync));
        Assert.Equal(2, sync(default));
        Assert.False(table.TryGetSynchronous(0, out _)); // asynchronous
        Assert.False(table.TryGetSynchronous(2, out _));
        Assert.False(table.TryGetSynchronous(-1, out _));
        Assert.True(table.HasSynchronous);
        Assert.False(FiberHostFunctions.Empty.TryGet(0, out _));
    }

    [FiberFact]
    public async Task A_guest_calling_the_function_just_past_a_synchronous_table_gets_a_host_call_error()
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        FiberHostFunctions hosts = FiberHostFunctions.From(FiberHostEntry.Sync(_ => 1));
        using Fiber fiber = Fiber.Create(store, "past the end", TestGuest.CallFunction, TestGuest.CallFunctionArgument(function: 1, argumentCount: 1), hosts);
        FiberHostCallException ex = await Assert.ThrowsAsync<FiberHostCallException>(() => fiber.RunAsync().AsTask());
        Assert.Equal((1, 1), (ex.Function, ex.ArgumentCount));
        Assert.Contains("the host table has 1 function(s)", ex.Message);
        Assert.Equal(0, allocator.GetStackStatistics().InUse);
    }

    [FiberFact]
    public async Task A_synchronous_host_call_with_exactly_the_most_arguments_is_served_directly()
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        var states = new List<FiberState>();
        FiberHostFunctions hosts = FiberHostFunctions.From(FiberHostEntry.Sync(call =>
        {
            states.Add(call.Fiber.State); // Running on the direct path; the driver loop marks it Suspended
            long sum = 0;
            for (int i = 0; i < call.ArgumentCount; i++)
            {
                sum += call[i];
            }
            return sum;
        }));
        using Fiber fiber = Fiber.Create(store, "eight", TestGuest.CallFunction,
            TestGuest.CallFunctionArgument(function: 0, argumentCount: FiberHostCall.MaxArguments), hosts);
        Assert.Equal(1 + 2 + 3 + 4 + 5 + 6 + 7 + 8, await fiber.RunAsync());
        Assert.Equal([FiberState.Running], states);
    }

    [FiberTheory]
    [InlineData(FiberHostCall.MaxArguments + 1)]
    [InlineData(-1)]
    public async Task A_synchronous_host_call_with_too_many_or_negative_arguments_is_refused(int count)
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        int calls = 0;
        FiberHostFunctions hosts = FiberHostFunctions.From(FiberHostEntry.Sync(_ => ++calls));
        using Fiber fiber = Fiber.Create(store, "bad count", TestGuest.CallFunction, TestGuest.CallFunctionArgument(function: 0, argumentCount: count), hosts);
        FiberHostCallException ex = await Assert.ThrowsAsync<FiberHostCallException>(() => fiber.RunAsync().AsTask());
        Assert.Equal(count, ex.ArgumentCount);
        Assert.Contains($"a host call takes 0 to {FiberHostCall.MaxArguments} arguments", ex.Message);
        Assert.Equal(0, calls);
        Assert.Equal(0, allocator.GetStackStatistics().InUse);
    }

    [FiberFact]
    public async Task A_host_call_with_arguments_but_no_argument_array_is_refused_not_served()
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        int calls = 0;
        FiberHostFunctions hosts = FiberHostFunctions.From(FiberHostEntry.Sync(_ => ++calls));
        using Fiber fiber = Fiber.Create(store, "no array", TestGuest.CallWithoutArguments, 2, hosts);
        FiberHostCallException ex = await Assert.ThrowsAsync<FiberHostCallException>(() => fiber.RunAsync().AsTask());
        Assert.Equal(2, ex.ArgumentCount);
        Assert.Contains("the argument pointer is null", ex.Message);
        Assert.Equal(0, calls);

        // With no arguments a null array is fine.
        using Fiber none = Fiber.Create(store, "no arguments", TestGuest.CallWithoutArguments, 0, hosts);
        Assert.Equal(1, await none.RunAsync());
        Assert.Equal(0, allocator.GetStackStatistics().InUse);
    }

    [Fact]
    public void Guest_file_names_follow_each_platforms_rule()
    {
        Assert.Equal("Guest.dll", GuestLibrary.GetFileName("Guest", windows: true, macOS: false));
        Assert.Equal("libGuest.dylib", GuestLibrary.GetFileName("Guest", windows: false, macOS: true));
        Assert.Equal("libGuest.so", GuestLibrary.GetFileName("Guest", windows: false, macOS: false));
        string expected = OperatingSystem.IsWindows() ? "My.App.dll" : OperatingSystem.IsMacOS() ? "libMy.App.dylib" : "libMy.App.so";
        Assert.Equal(expected, GuestLibrary.GetFileName("My.App"));
    }

    [Theory]
    [InlineData("/Guest")]
    [InlineData("\\Guest")]
    [InlineData("dir/Guest")]
    [InlineData("Guest\\")]
    public void A_name_with_a_separator_anywhere_is_refused_as_a_path(string name)
    {
        ArgumentException ex = Assert.Throws<ArgumentException>(() => GuestLibrary.GetFileName(name));
        Assert.Equal("name", ex.ParamName);
        Assert.StartsWith($"'{name}' is a path; pass the library's plain name, such as 'Guest' for libGuest.so.", ex.Message);
    }

    [LinuxFact]
    public void A_guest_is_looked_up_in_the_directory_given()
    {
        string directory = Path.Combine(Path.GetTempPath(), "allocator-no-guest-" + Environment.ProcessId);
        var ex = Assert.Throws<DllNotFoundException>(() => GuestLibrary.Load("AllocatorTestGuest", directory));
        Assert.StartsWith($"Guest library 'AllocatorTestGuest' not found at {Path.Combine(directory, "libAllocatorTestGuest.so")}.", ex.Message);
        Assert.Contains("(AllocatorGuestName=AllocatorTestGuest)", ex.Message);
    }

    [LinuxFact]
    public void A_file_that_is_no_library_is_refused_naming_it()
    {
        string directory = Directory.CreateTempSubdirectory("allocator-bad-guest").FullName;
        try
        {
            string path = Path.Combine(directory, "libNotAnElf.so");
            File.WriteAllText(path, "this is not a shared library");
            var ex = Assert.Throws<DllNotFoundException>(() => GuestLibrary.Load("NotAnElf", directory));
            Assert.StartsWith($"Guest library 'NotAnElf' at {path} could not be loaded: ", ex.Message);
            Assert.IsType<DllNotFoundException>(ex.InnerException);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [LinuxFact]
    public void A_loaded_guest_describes_itself_and_refuses_an_empty_symbol()
    {
        GuestLibrary guest = GuestLibrary.Load("AllocatorTestGuest", AppContext.BaseDirectory);
        Assert.Equal("AllocatorTestGuest", guest.Name);
        Assert.Equal($"GuestLibrary(AllocatorTestGuest, {Path.Combine(AppContext.BaseDirectory, "libAllocatorTestGuest.so")})", guest.ToString());
        ArgumentException ex = Assert.Throws<ArgumentException>(() => guest.GetExport(""));
        Assert.Equal("symbol", ex.ParamName);
        Assert.Equal("symbol", Assert.Throws<ArgumentNullException>(() => guest.GetExport(null!)).ParamName);
    }
}
