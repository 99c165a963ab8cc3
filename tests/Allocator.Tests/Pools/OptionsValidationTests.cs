using Allocator.Native;
using CsCheck;

namespace Allocator.Tests.Pools;

public sealed class OptionsValidationTests
{
    private static readonly nuint Page = VirtualMemory.PageSize;

    public static TheoryData<string, StackPoolOptions> BadStackOptions => new()
    {
        { "StackPoolOptions.MaxStacks", new StackPoolOptions { MaxStacks = 0 } },
        { "StackPoolOptions.MaxStacks", new StackPoolOptions { MaxStacks = -3 } },
        { "StackPoolOptions.MaxStacks", new StackPoolOptions { MaxStacks = 2_000_000 } },
        { "StackPoolOptions.StackSize", new StackPoolOptions { StackSize = 0 } },
        { "StackPoolOptions.StackSize", new StackPoolOptions { StackSize = 4097 } },
        { "StackPoolOptions.KeepResident", new StackPoolOptions { StackSize = 4 * 4096, KeepResident = 100 } },
        { "StackPoolOptions.KeepResident", new StackPoolOptions { StackSize = 4 * 4096, KeepResident = 8 * 4096 } },
        { "StackPoolOptions.MaxStacks", new StackPoolOptions { MaxStacks = 1 << 20, StackSize = (nuint)1 << 30 } },
    };

    [Theory]
    [MemberData(nameof(BadStackOptions))]
    public void Bad_stack_options_name_the_field_and_reserve_nothing(string field, StackPoolOptions options)
    {
        var ex = Assert.Throws<PoolConfigurationException>(() => new StackPool(options));
        Assert.Equal(field, ex.Field);
        Assert.Contains(field, ex.Message);
        Assert.False(string.IsNullOrWhiteSpace(ex.Rule));
    }

    public static TheoryData<string, SlotPoolOptions> BadSlotOptions => new()
    {
        { "SlotPoolOptions(memories).MaxSlots", new SlotPoolOptions { MaxSlots = 0 } },
        { "SlotPoolOptions(memories).SlotSize", new SlotPoolOptions { SlotSize = 10 } },
        { "SlotPoolOptions(memories).GuardSize", new SlotPoolOptions { GuardSize = 4095 } },
        { "SlotPoolOptions(memories).KeepResident", new SlotPoolOptions { SlotSize = 4096, KeepResident = 8192 } },
        { "SlotPoolOptions(memories).MaxUnusedWarmSlots", new SlotPoolOptions { MaxSlots = 2, MaxUnusedWarmSlots = 3 } },
        { "SlotPoolOptions(memories).MaxUnusedWarmSlots", new SlotPoolOptions { MaxUnusedWarmSlots = -1 } },
        { "SlotPoolOptions(memories).DecommitBatchSize", new SlotPoolOptions { DecommitBatchSize = 0 } },
        { "SlotPoolOptions(memories).DecommitBatchSize", new SlotPoolOptions { MaxSlots = 2, DecommitBatchSize = 3 } },
        { "SlotPoolOptions(memories).MaxSlots", new SlotPoolOptions { MaxSlots = 1000, SlotSize = (nuint)1 << 40 } },
    };

    [Theory]
    [MemberData(nameof(BadSlotOptions))]
    public void Bad_slot_options_name_the_field(string field, SlotPoolOptions options)
    {
        var ex = Assert.Throws<PoolConfigurationException>(() => new SlotPool("memories", options));
        Assert.Equal(field, ex.Field);
    }

    [Fact]
    public void Allocator_options_report_the_pool_at_fault_and_leave_nothing_reserved()
    {
        var ex = Assert.Throws<PoolConfigurationException>(() => new PoolingAllocator(new PoolingAllocatorOptions
        {
            Memories = new SlotPoolOptions { SlotSize = 12345 },
        }));
        Assert.Equal("SlotPoolOptions(memories).SlotSize", ex.Field);
        Assert.Equal((nuint)12345, ex.Value);
    }

    [Fact]
    public void Random_options_are_either_accepted_and_usable_or_refused_with_a_configuration_error()
    {
        Gen<nuint> sizes = Gen.OneOf(
            Gen.Int[0, 64].Select(p => (nuint)p * Page),
            Gen.Int[0, 300_000].Select(b => (nuint)b));
        Gen.Select(Gen.Int[-2, 40], sizes, sizes, Gen.Bool).Sample((count, stackSize, keep, zero) =>
        {
            var options = new StackPoolOptions { MaxStacks = count, StackSize = stackSize, KeepResident = keep, ZeroOnReturn = zero };
            StackPool pool;
            try
            {
                pool = new StackPool(options);
            }
            catch (PoolConfigurationException)
            {
                return;
            }
            using (pool)
            {
                // Accepted options must give a working pool of exactly that shape.
                var stacks = Enumerable.Range(0, count).Select(_ => pool.Rent()).ToList();
                Assert.False(pool.TryRent(out _));
                foreach (PooledStack s in stacks)
                {
                    Assert.Equal(stackSize, s.Size);
                    pool.Return(s);
                }
                Assert.Equal(0, pool.InUse);
            }
        }, iter: 300);
    }
}
