using Allocator.Configuration;
using Allocator.Fibers;
using Allocator.Tests.Stores;

namespace Allocator.Tests.Mutation;

/// <summary>The words users read in the library's public exceptions: who (fiber, Store, field), which value, and
/// what rule or what to do.</summary>
public sealed class ErrorMessageWordingTests
{
    [Fact]
    public void A_trap_names_the_fiber_and_the_code()
    {
        var ex = new FiberTrapException("worker", 42);
        Assert.Equal("Fiber 'worker' trapped with code 42.", ex.Message);
        Assert.Equal(("worker", 42), (ex.FiberName, ex.TrapCode));
    }

    [Fact]
    public void An_interruption_names_the_fiber_the_epoch_and_the_deadline()
    {
        var ex = new FiberInterruptedException("worker", 9, 7);
        Assert.Equal("Fiber 'worker' was interrupted: the epoch reached 9, past its deadline 7.", ex.Message);
        Assert.Equal(("worker", 9UL, 7UL), (ex.FiberName, ex.Epoch, ex.Deadline));
    }

    [Fact]
    public void A_bad_host_call_names_the_fiber_the_function_the_argument_count_and_the_problem()
    {
        var ex = new FiberHostCallException("worker", 3, 9, "a host call takes 0 to 8 arguments");
        Assert.Equal("Fiber 'worker' made an invalid host call to function 3 with 9 argument(s): a host call takes 0 to 8 arguments.", ex.Message);
        Assert.Equal(("worker", 3, 9), (ex.FiberName, ex.Function, ex.ArgumentCount));
    }

    [Fact]
    public void Consuming_a_Store_with_stacks_out_counts_and_names_their_owners()
    {
        using PoolingAllocator allocator = TestAllocators.Small(cache: false);
        using var store = new Store<int>(allocator, 0);
        StackToken first = store.CheckoutStack("first owner");
        StackToken second = store.CheckoutStack("second owner");
        StacksCheckedOutException ex = Assert.Throws<StacksCheckedOutException>(() => store.IntoData());
        Assert.Equal(2, ex.Count);
        Assert.StartsWith("Cannot consume the Store: 2 stack(s) are still checked out, held by: ", ex.Message);
        Assert.Equal(2, ex.Owners.Count);
        Assert.Contains(ex.Owners, o => o.Contains("first owner"));
        Assert.Contains(ex.Owners, o => o.Contains("second owner"));
        Assert.Contains($"held by: {ex.Owners[0]}, {ex.Owners[1]}.", ex.Message);
        Assert.EndsWith(". Return them (or finish/cancel their fibers) first.", ex.Message);
        store.ReturnStack(first);
        store.ReturnStack(second);
    }

    [Fact]
    public void A_configuration_error_for_an_unset_value_says_null()
    {
        var ex = new PoolConfigurationException("SomeOptions.Field", "must be set", null);
        Assert.StartsWith("Invalid pool configuration: SomeOptions.Field = null: must be set", ex.Message);
        Assert.Equal("SomeOptions.Field", ex.ParamName);
        Assert.StartsWith("Invalid pool configuration: SomeOptions.Field = 7: must be", new PoolConfigurationException("SomeOptions.Field", "must be 8", 7).Message);
    }

    [Fact]
    public void A_region_attribute_keeps_its_name_and_type_and_places_itself_after_the_previous_region_by_default()
    {
        var bytes = new SlotRegionAttribute("Scratch") { Size = 64 };
        Assert.Equal(("Scratch", null, 64L, -1L), (bytes.Name, bytes.Type, bytes.Size, bytes.Offset));
        var typed = new SlotRegionAttribute("Header", typeof(long)) { Count = 4, Alignment = 16, GuardBytes = 4096, Offset = 128 };
        Assert.Equal(("Header", typeof(long), 4, 16, 4096L, 128L), (typed.Name, typed.Type, typed.Count, typed.Alignment, typed.GuardBytes, typed.Offset));
        Assert.Equal(-1L, new SlotRegionAttribute("Value", typeof(int)).Offset);
    }
}
