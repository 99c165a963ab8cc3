using Allocator.Memory;
using Allocator.Pooling;
using Allocator.Tests.Support;
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
        { "StackPoolOptions.StackSize", new StackPoolOptions { StackSize = 3 * 4096 } },           // below the 16 KiB a fiber needs
        { "StackPoolOptions.StackSize", new StackPoolOptions { StackSize = ((nuint)1 << 36) + 4096 } }, // above 64 GiB
        { "StackPoolOptions.KeepResident", new StackPoolOptions { StackSize = 4 * 4096, KeepResident = 100 } },
        { "StackPoolOptions.KeepResident", new StackPoolOptions { StackSize = 4 * 4096, KeepResident = 8 * 4096 } },
    };

    [Theory]
    [MemberData(nameof(BadStackOptions))]
    public void Bad_stack_options_name_the_field_and_reserve_nothing(string field, StackPoolOptions options)
    {
        var ex = Assert.Throws<PoolConfigurationException>(() => options.Validate());
        Assert.Equal(field, ex.Field);
        Assert.Contains(field, ex.Message);
        Assert.False(string.IsNullOrWhiteSpace(ex.Rule));
        // The allocator validates before it reserves anything, and names the same field.
        ex = Assert.Throws<PoolConfigurationException>(() => new PoolingAllocator(new PoolingAllocatorOptions { Stacks = options }));
        Assert.Equal(field, ex.Field);
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
        { "SlotPoolOptions(memories).MaxSlots", new SlotPoolOptions { MaxSlots = (1 << 20) + 1 } },
        { "SlotPoolOptions(memories).SlotSize", new SlotPoolOptions { MaxSlots = 1000, SlotSize = (nuint)1 << 40 } }, // above 64 GiB
        { "SlotPoolOptions(memories).GuardSize", new SlotPoolOptions { GuardSize = ((nuint)1 << 36) + 4096 } },      // above 64 GiB
    };

    [Theory]
    [MemberData(nameof(BadSlotOptions))]
    public void Bad_slot_options_name_the_field(string field, SlotPoolOptions options)
    {
        var ex = Assert.Throws<PoolConfigurationException>(() => options.Validate("memories"));
        Assert.Equal(field, ex.Field);
        ex = Assert.Throws<PoolConfigurationException>(() => new PoolingAllocator(new PoolingAllocatorOptions { Memories = options }));
        Assert.Equal(field, ex.Field);
    }

    public static TheoryData<string, PoolingAllocatorOptions> OversizedAllocators => new()
    {
        // One pool alone over what an allocator may reserve (2^46 bytes): its own count is named.
        { "StackPoolOptions.MaxStacks", new PoolingAllocatorOptions { Stacks = new StackPoolOptions { MaxStacks = 1 << 20, StackSize = (nuint)1 << 30 } } },
        { "SlotPoolOptions(memories).MaxSlots", new PoolingAllocatorOptions { Memories = new SlotPoolOptions { MaxSlots = 1000, SlotSize = (nuint)1 << 36, GuardSize = (nuint)1 << 36 } } },
        // Each pool within the limit, but not together.
        {
            nameof(PoolingAllocatorOptions),
            new PoolingAllocatorOptions
            {
                Instances = new SlotPoolOptions { MaxSlots = 1 << 9, SlotSize = (nuint)1 << 36 },
                Memories = new SlotPoolOptions { MaxSlots = 1 << 9, SlotSize = ((nuint)1 << 36) - 4096, GuardSize = 4096 },
            }
        },
    };

    [Theory]
    [MemberData(nameof(OversizedAllocators))]
    public void Pools_that_reserve_too_much_are_refused_before_anything_is_reserved(string field, PoolingAllocatorOptions options)
    {
        var ex = Assert.Throws<PoolConfigurationException>(() => new PoolingAllocator(options));
        Assert.Equal(field, ex.Field);
        Assert.Contains($"more than the {1UL << 46}", ex.Message);
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
                pool = TestPools.Stacks(options);
            }
            catch (PoolConfigurationException)
            {
                return;
            }
            using (pool)
            {
                // Accepted options must give a working pool of exactly that shape.
                var stacks = Enumerable.Range(0, count).Select(_ => pool.Rent()).ToList();
                Assert.Null(pool.TryRent());
                foreach (PooledStack s in stacks)
                {
                    Assert.Equal(stackSize, s.Size);
                    pool.ReturnAccepted(s);
                }
                Assert.Equal(0, pool.InUse);
            }
        }, iter: 300);
    }
}
