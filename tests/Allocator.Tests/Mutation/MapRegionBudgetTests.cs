using Allocator.Memory;
using Allocator.Tests.Support;

namespace Allocator.Tests.Mutation;

/// <summary>The map-region budget: the exact arithmetic against a given limit and count, the largest consumer named
/// (the first of equals), and reading the limit and the count from /proc (or nothing when they cannot be read).</summary>
// Alone: other tests map and unmap thousands of regions (guarded pools), which moves the count between two reads.
[Collection(SerialCollection.Name)]
public sealed class MapRegionBudgetTests : IDisposable
{
    private const long Limit = 100_000;
    private const long Mapped = 1_000;
    private const long Available = Limit - Mapped - MapRegionBudget.Headroom; // 82,616

    private readonly string _scratch = Path.Combine(Path.GetTempPath(), $"map-budget-{Guid.NewGuid():N}");

    public void Dispose() => File.Delete(_scratch);

    [Fact]
    public void Exactly_the_available_regions_fit_and_one_more_does_not()
    {
        MapRegionBudget.Check(Limit, Mapped, [("a", Available - 10), ("b", 10)]);
        PoolConfigurationException refused = Assert.Throws<PoolConfigurationException>(
            () => MapRegionBudget.Check(Limit, Mapped, [("a", Available - 9), ("b", 10)]));
        Assert.Equal("a", refused.Field);
        Assert.Equal(Available - 9, refused.Value);
        Assert.Equal(
            $"the pools can need {Available + 1} memory map regions, but this process may create only {Available} more " +
            $"(vm.max_map_count = {Limit}, less those in use and {MapRegionBudget.Headroom} kept for the runtime); lower a or raise vm.max_map_count",
            refused.Rule);
    }

    [Fact]
    public void With_nothing_left_the_message_says_zero_more()
    {
        PoolConfigurationException refused = Assert.Throws<PoolConfigurationException>(
            () => MapRegionBudget.Check(MapRegionBudget.Headroom, Mapped, [("only", 1)]));
        Assert.Contains("may create only 0 more", refused.Rule, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(5, 5, "first")]
    [InlineData(5, 6, "second")]
    [InlineData(6, 5, "first")]
    public void The_largest_consumer_is_named_the_first_of_equals(long first, long second, string named)
    {
        PoolConfigurationException refused = Assert.Throws<PoolConfigurationException>(
            () => MapRegionBudget.Check(MapRegionBudget.Headroom, 0, [("first", first), ("second", second)]));
        Assert.Equal(named, refused.Field);
    }

    [LinuxFact]
    public void The_limit_and_the_regions_come_from_proc()
    {
        long limit = long.Parse(File.ReadAllText("/proc/sys/vm/max_map_count").Trim(), System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(limit, MapRegionBudget.ReadLimit());
        long lines = File.ReadLines("/proc/self/maps").LongCount();
        Assert.InRange(MapRegionBudget.CountMappedRegions(), lines / 2, lines * 2);

        // Through the real limit and count: half the regions in use of slack is too little.
        long nearlyAll = limit - MapRegionBudget.Headroom - (lines / 2);
        Assert.Throws<PoolConfigurationException>(() => MapRegionBudget.Check([("x", nearlyAll)]));
        MapRegionBudget.Check([("x", 1)]);
    }

    [Fact]
    public void A_missing_or_malformed_limit_reads_as_none()
    {
        Assert.Null(MapRegionBudget.ReadLimit(_scratch));
        File.WriteAllText(_scratch, "lots\n");
        Assert.Null(MapRegionBudget.ReadLimit(_scratch));
        File.WriteAllText(_scratch, "99999999999999999999999\n");
        Assert.Null(MapRegionBudget.ReadLimit(_scratch));
        File.WriteAllText(_scratch, " 65530\n");
        Assert.Equal(65530, MapRegionBudget.ReadLimit(_scratch));
    }

    [Fact]
    public void Regions_are_counted_by_line_and_unreadable_maps_count_none()
    {
        Assert.Equal(0, MapRegionBudget.CountMappedRegions(_scratch));
        File.WriteAllLines(_scratch, ["a", "b", "c"]);
        Assert.Equal(3, MapRegionBudget.CountMappedRegions(_scratch));
    }
}
