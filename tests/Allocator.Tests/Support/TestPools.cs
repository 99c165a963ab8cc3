using Allocator.Pooling;

namespace Allocator.Tests.Support;

/// <summary>Pools built the way PoolingAllocator builds them: from validated options. Tests that exercise one pool
/// on its own use these; the Store is the only owner check above a pool, so the store id they pass is arbitrary.</summary>
internal static class TestPools
{
    /// <summary>The store id tests pass when they rent straight from a pool.</summary>
    public const long StoreId = 0;

    public static StackPool Stacks(StackPoolOptions options)
    {
        options.Validate();
        return new StackPool(options);
    }

    public static SlotPool Slots(SlotKind kind, SlotPoolOptions options)
    {
        options.Validate(PoolName(kind));
        return new SlotPool(kind, options);
    }

    public static string PoolName(SlotKind kind) => kind == SlotKind.Instance ? "instances" : "memories";

    /// <summary>Rents a stack, or null when every stack is out (the pool counts that as an exhaustion).</summary>
    public static PooledStack? TryRent(this StackPool pool)
    {
        try
        {
            return pool.Rent(StoreId, owner: null);
        }
        catch (PoolExhaustedException)
        {
            return null;
        }
    }

    public static PooledStack Rent(this StackPool pool) => pool.Rent(StoreId, owner: null);

    /// <summary>Rents a slot with all of it (or <paramref name="accessible"/> bytes) read-write.</summary>
    public static PooledSlot Rent(this SlotPool pool, object? affinityKey = null, nuint? accessible = null) =>
        pool.Rent(StoreId, affinityKey, accessible ?? pool.Options.SlotSize);

    /// <summary>Returns a stack the test knows is current; fails the test if the pool refuses it.</summary>
    public static void ReturnAccepted(this StackPool pool, PooledStack stack) => Assert.Null(pool.Return(stack));

    /// <summary>Returns a slot the test knows is current; fails the test if the pool refuses it.</summary>
    public static void ReturnAccepted(this SlotPool pool, PooledSlot slot) => Assert.Null(pool.Return(slot));
}
