using Allocator.Memory;
using Allocator.Tests.Support;

namespace Allocator.Tests.Mutation;

/// <summary>The exact edges of option validation: zero where it is allowed and where it is not, guard ranges that
/// touch each other or the end of a slot, the allocator-wide reservation maximum reached exactly, unset pools; and
/// the words of each refusal, which name the field, the value and the rule.</summary>
public sealed class OptionBoundaryTests
{
    private static readonly nuint Page = VirtualMemory.PageSize;
    private static readonly string MaxRegion = OptionRules.MaxRegionBytes.ToString(System.Globalization.CultureInfo.InvariantCulture);

    [Fact]
    public void A_zero_size_is_refused_with_the_page_as_the_lower_bound_and_a_zero_guard_or_keep_is_accepted()
    {
        var slot = Assert.Throws<PoolConfigurationException>(() => new SlotPoolOptions { SlotSize = 0 }.Validate("memories"));
        Assert.Equal("SlotPoolOptions(memories).SlotSize", slot.Field);
        Assert.Equal($"must be between {Page} and {MaxRegion} bytes", slot.Rule);
        Assert.Equal((nuint)0, slot.Value);

        var stack = Assert.Throws<PoolConfigurationException>(() => new StackPoolOptions { StackSize = 0 }.Validate());
        Assert.Equal("StackPoolOptions.StackSize", stack.Field);
        Assert.Equal($"must be between {Page} and {MaxRegion} bytes", stack.Rule);

        // Where zero is allowed, the bound a too-large value is told is 0.
        var guard = Assert.Throws<PoolConfigurationException>(() => new SlotPoolOptions { GuardSize = ((nuint)1 << 36) + Page }.Validate());
        Assert.Equal($"must be between 0 and {MaxRegion} bytes", guard.Rule);
        new SlotPoolOptions { GuardSize = 0, KeepResident = 0 }.Validate();
        new StackPoolOptions { KeepResident = 0 }.Validate();
    }

    [Fact]
    public void A_keep_resident_size_that_is_no_page_multiple_is_refused_even_below_the_slot_size()
    {
        var ex = Assert.Throws<PoolConfigurationException>(() => new SlotPoolOptions { SlotSize = 4 * Page, KeepResident = 100 }.Validate("instances"));
        Assert.Equal("SlotPoolOptions(instances).KeepResident", ex.Field);
        Assert.Equal($"must be a multiple of the page size ({Page} bytes)", ex.Rule);
        Assert.Equal((nuint)100, ex.Value);
    }

    [Fact]
    public void Guard_ranges_may_start_at_zero_touch_each_other_and_end_exactly_at_the_slot_end()
    {
        var options = new SlotPoolOptions
        {
            SlotSize = 4 * Page,
            GuardRanges = [new SlotGuardRange(3 * Page, Page), new SlotGuardRange(0, Page), new SlotGuardRange(Page, Page)],
        };
        options.Validate();
        new SlotPoolOptions { SlotSize = 4 * Page, GuardRanges = [new SlotGuardRange(0, 4 * Page)] }.Validate();
    }

    [Fact]
    public void A_guard_range_past_the_slot_end_is_refused_naming_the_slot_size()
    {
        var range = new SlotGuardRange(3 * Page, 2 * Page);
        var ex = Assert.Throws<PoolConfigurationException>(() => new SlotPoolOptions { SlotSize = 4 * Page, GuardRanges = [range] }.Validate("memories"));
        Assert.Equal("SlotPoolOptions(memories).GuardRanges", ex.Field);
        Assert.Equal($"each range must lie inside SlotSize ({4 * Page})", ex.Rule);
        Assert.Equal(range, ex.Value);

        var after = new SlotGuardRange(4 * Page, Page);
        ex = Assert.Throws<PoolConfigurationException>(() => new SlotPoolOptions { SlotSize = 4 * Page, GuardRanges = [after] }.Validate("memories"));
        Assert.Equal(after, ex.Value);

        var beyond = new SlotGuardRange(5 * Page, Page);
        ex = Assert.Throws<PoolConfigurationException>(() => new SlotPoolOptions { SlotSize = 4 * Page, GuardRanges = [beyond] }.Validate("memories"));
        Assert.Equal(beyond, ex.Value);
    }

    [Fact]
    public void Overlapping_guard_ranges_are_refused_naming_the_later_range()
    {
        var later = new SlotGuardRange(Page, Page);
        var ex = Assert.Throws<PoolConfigurationException>(() => new SlotPoolOptions
        {
            SlotSize = 4 * Page,
            GuardRanges = [new SlotGuardRange(0, 2 * Page), later],
        }.Validate("memories"));
        Assert.Equal("SlotPoolOptions(memories).GuardRanges", ex.Field);
        Assert.Equal("ranges must not overlap", ex.Rule);
        Assert.Equal(later, ex.Value);
    }

    [Fact]
    public void A_misaligned_or_empty_guard_range_is_refused_with_the_page_size()
    {
        foreach (SlotGuardRange range in new[] { new SlotGuardRange(0, 0), new SlotGuardRange(1, Page), new SlotGuardRange(0, Page + 1) })
        {
            var ex = Assert.Throws<PoolConfigurationException>(() => new SlotPoolOptions { SlotSize = 4 * Page, GuardRanges = [range] }.Validate());
            Assert.Equal($"each range must have a page-aligned offset and a non-zero page-multiple length (page size {Page})", ex.Rule);
            Assert.Equal(range, ex.Value);
        }
    }

    [Fact]
    public void A_null_guard_range_list_is_refused_by_name()
    {
        var ex = Assert.Throws<PoolConfigurationException>(() => new SlotPoolOptions { GuardRanges = null! }.Validate("instances"));
        Assert.Equal("SlotPoolOptions(instances).GuardRanges", ex.Field);
        Assert.Equal("must not be null (use an empty list)", ex.Rule);
        Assert.Null(ex.Value);
        Assert.Equal("Invalid pool configuration: SlotPoolOptions(instances).GuardRanges = null: must not be null (use an empty list) (Parameter 'SlotPoolOptions(instances).GuardRanges')", ex.Message);
    }

    [Theory]
    [InlineData(nameof(PoolingAllocatorOptions.Stacks))]
    [InlineData(nameof(PoolingAllocatorOptions.Instances))]
    [InlineData(nameof(PoolingAllocatorOptions.Memories))]
    public void An_unset_pool_is_refused_by_name_before_anything_is_reserved(string pool)
    {
        PoolingAllocatorOptions options = pool switch
        {
            nameof(PoolingAllocatorOptions.Stacks) => new() { Stacks = null! },
            nameof(PoolingAllocatorOptions.Instances) => new() { Instances = null! },
            _ => new() { Memories = null! },
        };
        var ex = Assert.Throws<PoolConfigurationException>(() => new PoolingAllocator(options));
        Assert.Equal($"PoolingAllocatorOptions.{pool}", ex.Field);
        Assert.Equal("must be set", ex.Rule);
        Assert.Null(ex.Value);
        Assert.StartsWith($"Invalid pool configuration: PoolingAllocatorOptions.{pool} = null: must be set", ex.Message);
    }

    [Fact]
    public void The_pools_may_reserve_exactly_the_maximum_together_and_not_a_page_more()
    {
        nuint stackSize = Math.Max((nuint)OptionRules.MinimumStackBytes, Page);
        nuint stackBytes = stackSize + Page; // one stack and its guard page
        nuint region = (nuint)1 << 36; // OptionRules.MaxRegionBytes
        // 1023 memories of 2^36 bytes each (slot + guard) and one instance slot that fills the last 2^36 with the stack.
        PoolingAllocatorOptions Exactly(nuint extra) => new()
        {
            Stacks = new StackPoolOptions { MaxStacks = 1, StackSize = stackSize },
            Instances = new SlotPoolOptions { MaxSlots = 1, SlotSize = region - stackBytes, GuardSize = extra },
            Memories = new SlotPoolOptions { MaxSlots = 1023, SlotSize = region / 2, GuardSize = region / 2 },
        };

        Exactly(0).Validate();

        var ex = Assert.Throws<PoolConfigurationException>(() => Exactly(Page).Validate());
        Assert.Equal(nameof(PoolingAllocatorOptions), ex.Field);
        Assert.Equal(OptionRules.MaxReservationBytes + Page, ex.Value);
        Assert.Equal($"the pools would reserve {OptionRules.MaxReservationBytes + Page} bytes together, more than the {OptionRules.MaxReservationBytes} an allocator may", ex.Rule);
    }

    [Fact]
    public void One_pool_may_reserve_exactly_the_maximum_and_not_a_page_per_slot_more()
    {
        nuint half = (nuint)1 << 35;
        new SlotPoolOptions { MaxSlots = 1024, SlotSize = half, GuardSize = half }.Validate("memories"); // 2^10 x 2^36 = 2^46
        var ex = Assert.Throws<PoolConfigurationException>(() => new SlotPoolOptions { MaxSlots = 1024, SlotSize = half, GuardSize = half + Page }.Validate("memories"));
        Assert.Equal("SlotPoolOptions(memories).MaxSlots", ex.Field);
        Assert.Equal(1024, ex.Value);
        ulong bytes = OptionRules.MaxReservationBytes + 1024UL * Page;
        Assert.Equal($"the pool would reserve {bytes} bytes, more than the {OptionRules.MaxReservationBytes} an allocator may", ex.Rule);
    }

    [LinuxFact]
    public void Instance_slots_that_need_more_memory_map_regions_than_the_process_may_create_are_named()
    {
        long limit = long.Parse(File.ReadAllText("/proc/sys/vm/max_map_count").Trim(), System.Globalization.CultureInfo.InvariantCulture);
        if (limit >= 2L << 20)
        {
            return; // a raised limit fits even this pool
        }
        var options = new PoolingAllocatorOptions { Instances = new SlotPoolOptions { MaxSlots = 1 << 20, SlotSize = Page } };
        var ex = Assert.Throws<PoolConfigurationException>(() => options.Validate());
        Assert.Equal("SlotPoolOptions(instances).MaxSlots", ex.Field);
        Assert.Equal(2L * (1 << 20) + 1, ex.Value);
    }

    [Fact]
    public void Region_counts_are_two_per_stack_or_slot_two_more_per_interior_guard_plus_one()
    {
        Assert.Equal(7, OptionRules.StackPoolRegions(3, guardMarkers: false));
        Assert.Equal(1, OptionRules.StackPoolRegions(3, guardMarkers: true));
        Assert.Equal(1, OptionRules.StackPoolRegions(1 << 20, guardMarkers: true));
        Assert.Equal(7, OptionRules.SlotPoolRegions(3, 0));
        Assert.Equal(19, OptionRules.SlotPoolRegions(3, 2));
    }

    [Fact]
    public void Stores_cache_a_stack_unless_told_not_to()
    {
        Assert.True(new PoolingAllocatorOptions().CacheStackInStore);
    }
}
