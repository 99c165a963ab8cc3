using Allocator.Pooling;

namespace Allocator.Tests.Mutation;

/// <summary>The rule judging a checkout against a slot's state word, over every boundary of index, parity and
/// generation distance, and the same rule seen through a pool's Return.</summary>
public sealed class CheckoutGenerationTests
{
    public static TheoryData<int, int, ulong, ulong, InvalidTokenReason?> Table => new()
    {
        // index bounds: 0 and slotCount-1 are inside, -1 and slotCount outside
        { 0, 4, 5, 5, null },
        { 3, 4, 5, 5, null },
        { 4, 4, 5, 5, InvalidTokenReason.Unknown },
        { 5, 4, 5, 5, InvalidTokenReason.Unknown },
        { -1, 4, 5, 5, InvalidTokenReason.Unknown },
        { int.MinValue, 4, 5, 5, InvalidTokenReason.Unknown },
        { 0, 0, 1, 1, InvalidTokenReason.Unknown },
        // parity: an even generation is never a checkout, even when the word matches it
        { 1, 4, 0, 0, InvalidTokenReason.Unknown },
        { 1, 4, 4, 4, InvalidTokenReason.Unknown },
        { 1, 4, 6, 7, InvalidTokenReason.Unknown },
        // distance from the generation: equal, one ahead (returned), two or more ahead (moved on), behind (forged)
        { 1, 4, 1, 1, null },
        { 1, 4, 7, 7, null },
        { 1, 4, 7, 8, InvalidTokenReason.AlreadyReturned },
        { 1, 4, 7, 9, InvalidTokenReason.Stale },
        { 1, 4, 7, 10, InvalidTokenReason.Stale },
        { 1, 4, 7, 1_000_001, InvalidTokenReason.Stale },
        { 1, 4, 7, 6, InvalidTokenReason.Unknown },
        { 1, 4, 7, 5, InvalidTokenReason.Unknown },
        { 1, 4, 7, 0, InvalidTokenReason.Unknown },
        // 64-bit generations beyond 32 bits stay distinct
        { 1, 4, (1UL << 32) + 1, 1, InvalidTokenReason.Unknown },
        { 1, 4, 1, (1UL << 32) + 1, InvalidTokenReason.Stale },
        { 1, 4, (1UL << 40) + 1, (1UL << 40) + 2, InvalidTokenReason.AlreadyReturned },
        { 1, 4, ulong.MaxValue - 2, ulong.MaxValue, InvalidTokenReason.Stale },
    };

    [Theory]
    [MemberData(nameof(Table))]
    public void Judge_gives_the_reason_for_every_boundary(int index, int slotCount, ulong generation, ulong state, InvalidTokenReason? expected)
    {
        Assert.Equal(expected, CheckoutGeneration.Judge(index, slotCount, generation, state));
    }

    [Fact]
    public void A_stack_pool_refuses_returned_stale_and_forged_checkouts_and_counts_each_refusal()
    {
        using StackPool pool = Support.TestPools.Stacks(new StackPoolOptions { MaxStacks = 1, StackSize = 4 * Memory.VirtualMemory.PageSize });
        PooledStack first = Support.TestPools.Rent(pool);
        Assert.True(pool.IsCheckedOut(first));
        Assert.Null(pool.Return(first));
        Assert.False(pool.IsCheckedOut(first));
        Assert.Equal(InvalidTokenReason.AlreadyReturned, pool.Return(first));
        Assert.Equal(1, pool.RefusedReturns);

        PooledStack second = Support.TestPools.Rent(pool);
        Assert.Equal(first.Generation + 2, second.Generation);
        Assert.Equal(InvalidTokenReason.Stale, pool.Return(first));
        Assert.Equal(InvalidTokenReason.Unknown, pool.Return(second with { Generation = second.Generation + 1 }));
        Assert.Equal(InvalidTokenReason.Unknown, pool.Return(second with { Index = 1 }));
        Assert.Equal(InvalidTokenReason.Unknown, pool.Return(second with { Index = -1 }));
        Assert.Equal(InvalidTokenReason.Unknown, pool.Return(second with { Generation = second.Generation + 4 }));
        Assert.False(pool.IsCheckedOut(second with { Index = 5 }));
        Assert.Equal(6, pool.RefusedReturns);
        Assert.Equal(1, pool.InUse);
        Assert.True(pool.IsCheckedOut(second));
        Assert.Null(pool.Return(second));
        Assert.Equal(6, pool.GetStatistics().RefusedReturns);
    }

    [Fact]
    public void Generations_past_32_bits_are_judged_exactly()
    {
        using StackPool pool = Support.TestPools.Stacks(new StackPoolOptions { MaxStacks = 1, StackSize = 4 * Memory.VirtualMemory.PageSize });
        pool.SetStateForTest(0, 1UL << 32);
        PooledStack stack = Support.TestPools.Rent(pool);
        Assert.Equal((1UL << 32) + 1, stack.Generation);
        // The same slot one 32-bit wrap earlier: a 32-bit word would take it for the current checkout.
        Assert.Equal(InvalidTokenReason.Stale, pool.Return(stack with { Generation = 1 }));
        Assert.Equal(1, pool.InUse);
        Assert.Null(pool.Return(stack));
        Assert.Equal((1L << 31) + 1, pool.TotalCheckouts);
    }

    [Fact]
    public void A_slot_pool_refuses_returned_stale_and_forged_checkouts_and_counts_each_refusal()
    {
        using SlotPool pool = Support.TestPools.Slots(SlotKind.Memory, new SlotPoolOptions { MaxSlots = 1, SlotSize = Memory.VirtualMemory.PageSize, DecommitBatchSize = 1 });
        PooledSlot first = Support.TestPools.Rent(pool);
        Assert.Null(pool.Return(first));
        Assert.Equal(InvalidTokenReason.AlreadyReturned, pool.Return(first));
        PooledSlot second = Support.TestPools.Rent(pool);
        Assert.Equal(first.Generation + 2, second.Generation);
        Assert.Equal(InvalidTokenReason.Stale, pool.Return(first));
        Assert.Equal(InvalidTokenReason.Unknown, pool.Return(second with { Index = 1 }));
        Assert.Equal(InvalidTokenReason.Unknown, pool.Return(second with { Generation = second.Generation + 1 }));
        Assert.Equal(4, pool.RefusedReturns);
        Assert.Equal(4, pool.GetStatistics().RefusedReturns);
        InvalidTokenException ex = Assert.Throws<InvalidTokenException>(() => pool.GetAccessibleBytes(first));
        Assert.Equal(InvalidTokenReason.Stale, ex.Reason);
        Assert.Null(pool.Return(second));
    }
}
