namespace Allocator.Tests.Stores;

/// <summary>Errors speak the user's language: the Store that owns a foreign token, the pool by kind, and the limit
/// as the user set it (attribute property or options record).</summary>
public sealed class ErrorMessageTests
{
    [Fact]
    public void A_foreign_return_names_the_Store_that_owns_the_token()
    {
        using PoolingAllocator allocator = TestAllocators.Small();
        using var owner = new Store<int>(allocator, 0);
        using var other = new Store<int>(allocator, 0);
        StackToken stack = owner.CheckoutStack("worker 7");
        SlotToken slot = owner.CheckoutInstance();

        var stackError = Assert.Throws<InvalidTokenException>(() => other.ReturnStack(stack));
        var slotError = Assert.Throws<InvalidTokenException>(() => other.ReturnSlot(slot));

        Assert.Equal(InvalidTokenReason.WrongOwner, stackError.Reason);
        Assert.Contains($"'worker 7'", stackError.Message);
        Assert.Contains($"belongs to Store {owner.Id}, not to Store {other.Id}", stackError.Message);
        Assert.Contains($"return it through Store {owner.Id}", stackError.Message);
        Assert.Contains("instances slot", slotError.Message);
        Assert.Contains($"belongs to Store {owner.Id}", slotError.Message);
        owner.ReturnStack(stack);
    }

    [Fact]
    public void Exhaustion_names_the_pool_by_kind_and_the_options_limit_for_options_built_in_code()
    {
        using PoolingAllocator allocator = TestAllocators.Small(slots: 2);
        using var store = new Store<int>(allocator, 0);
        store.CheckoutInstance();
        store.CheckoutInstance();
        var ex = Assert.Throws<PoolExhaustedException>(() => store.CheckoutInstance());
        Assert.Equal("instances", ex.Pool);
        Assert.Equal("SlotPoolOptions(instances).MaxSlots", ex.Limit);
        Assert.Equal("The instances pool is exhausted: all 2 are checked out. Return some, or raise SlotPoolOptions(instances).MaxSlots (now 2).", ex.Message);
    }

    [Theory]
    [InlineData("stacks", "TotalStacks")]
    [InlineData("instances", "InstanceCount")]
    [InlineData("memories", "MemoryCount")]
    public void Exhaustion_names_the_attribute_property_for_options_declared_by_PoolingConfiguration(string pool, string property)
    {
        PoolingAllocatorOptions options = TestAllocators.SmallOptions(stacks: 2, slots: 2) with { DeclaredBy = "MyApp.Pools" };
        using var allocator = new PoolingAllocator(options);
        using var store = new Store<int>(allocator, 0);
        Action checkout = pool switch
        {
            "stacks" => () => store.CheckoutStack("s"),
            "instances" => () => store.CheckoutInstance(),
            _ => () => store.CheckoutMemory(),
        };
        checkout();
        checkout();
        var ex = Assert.Throws<PoolExhaustedException>(checkout);
        Assert.Equal(pool, ex.Pool);
        Assert.Equal($"{property} of [PoolingConfiguration] on MyApp.Pools", ex.Limit);
        Assert.Contains($"raise {property} of [PoolingConfiguration] on MyApp.Pools (now 2)", ex.Message);
        Assert.DoesNotContain("MaxStacks", ex.Message);
        Assert.DoesNotContain("MaxSlots", ex.Message);
    }
}
