using Allocator.Generators.Tests.Support;

namespace Allocator.Generators.Tests;

/// <summary>Every pooling configuration diagnostic, with a near-identical declaration that must not raise it.</summary>
public class PoolingConfigurationDiagnosticsTests
{
    private static GeneratorRun Config(string arguments, string extra = "") => TestCompilation.Generate($$"""
        using Allocator.Configuration;

        namespace N;

        {{extra}}

        [PoolingConfiguration({{arguments}})]
        public partial class Pools;
        """);

    [Fact]
    public void Alloc001_NonPartialClass()
    {
        GeneratorRun run = TestCompilation.Generate("""
            using Allocator.Configuration;
            [PoolingConfiguration(TotalStacks = 4)]
            public static class Pools;
            """);
        run.AssertSingle("ALLOC001", "Pools", "to use [PoolingConfiguration]");
        Assert.Empty(run.HintNames);
    }

    [Fact]
    public void EmptyConfigurationKeepsDefaults()
    {
        GeneratorRun run = Config(string.Empty);
        run.AssertClean();
        Assert.Contains("return defaults with", run.Source("Pools.PoolingConfiguration.g.cs"));
        Assert.DoesNotContain("Stacks =", run.Source("Pools.PoolingConfiguration.g.cs"));
    }

    [Theory]
    [InlineData("StackSize = 20000", "StackSize is 20000 bytes")]
    [InlineData("StackKeepResident = 100", "StackKeepResident is 100 bytes")]
    [InlineData("InstanceSize = 4097", "InstanceSize is 4097 bytes")]
    [InlineData("InstanceGuardSize = 1", "InstanceGuardSize is 1 bytes")]
    [InlineData("MemorySize = 65535", "MemorySize is 65535 bytes")]
    [InlineData("MemoryGuardSize = 12", "MemoryGuardSize is 12 bytes")]
    [InlineData("MemoryKeepResident = 2048", "MemoryKeepResident is 2048 bytes")]
    public void Alloc002_SizeNotPageMultiple(string argument, string message)
    {
        GeneratorRun run = Config(argument);
        run.AssertSingle("ALLOC002", argument, message);
        Assert.Empty(run.HintNames);
    }

    [Fact]
    public void Alloc002_NotReportedForPageMultiples() =>
        Config("StackSize = 64 * 1024, StackKeepResident = 8192, InstanceSize = 4096, InstanceGuardSize = 0, MemorySize = 1 << 20, MemoryGuardSize = 1 << 16, MemoryKeepResident = 4096")
            .AssertClean();

    [Theory]
    [InlineData("TotalStacks = 0", "TotalStacks is 0; it must be from 1 to 1048576")]
    [InlineData("TotalStacks = -3", "TotalStacks is -3")]
    [InlineData("InstanceCount = 2000000", "InstanceCount is 2000000; it must be from 1 to 1048576")]
    [InlineData("MemoryCount = 0", "MemoryCount is 0")]
    [InlineData("MaxUnusedWarmMemories = -1", "MaxUnusedWarmMemories is -1")]
    [InlineData("MemoryDecommitBatchSize = 0", "MemoryDecommitBatchSize is 0")]
    [InlineData("MaxUnusedWarmInstances = -1", "MaxUnusedWarmInstances is -1")]
    [InlineData("InstanceDecommitBatchSize = 0", "InstanceDecommitBatchSize is 0")]
    public void Alloc006_CountOutOfRange(string argument, string message) =>
        Config(argument).AssertSingle("ALLOC006", argument, message);

    [Fact]
    public void Alloc006_WarmSlotsBeyondMemoryCount()
    {
        Config("MemoryCount = 4, MaxUnusedWarmMemories = 5").AssertSingle("ALLOC006", "MaxUnusedWarmMemories = 5", "from 0 to 4");
        Config("MemoryCount = 4, MaxUnusedWarmMemories = 4, MemoryDecommitBatchSize = 4").AssertClean();
    }

    [Fact]
    public void Alloc006_WarmSlotsBeyondInstanceCount()
    {
        Config("InstanceCount = 2, InstanceSize = 4096, MaxUnusedWarmInstances = 3").AssertSingle("ALLOC006", "MaxUnusedWarmInstances = 3", "from 0 to 2");
        Config("InstanceCount = 2, InstanceSize = 4096, InstanceDecommitBatchSize = 3").AssertSingle("ALLOC006", "InstanceDecommitBatchSize = 3", "from 1 to 2");
        Config("InstanceCount = 2, InstanceSize = 4096, MaxUnusedWarmInstances = 2, InstanceDecommitBatchSize = 2").AssertClean();
    }

    [Theory]
    [InlineData("StackSize = 0", "StackSize is 0; it must be from 16384 to 68719476736 bytes")]
    [InlineData("InstanceSize = -4096", "InstanceSize is -4096; it must be from 4096 to 68719476736 bytes")]
    [InlineData("MemoryGuardSize = -4096", "MemoryGuardSize is -4096; it must be from 0 to 68719476736 bytes")]
    public void Alloc007_SizeOutOfRange(string argument, string message) =>
        Config(argument).AssertSingle("ALLOC007", argument, message);

    [Theory]
    [InlineData("StackSize = 4096", "StackSize is 4096; it must be from 16384")]
    [InlineData("StackSize = 12288", "StackSize is 12288; it must be from 16384")]
    [InlineData("TotalStacks = 4, StackSize = 10000", "StackSize is 10000; it must be from 16384")]
    public void Alloc007_StackBelowTheSmallestAFiberRunsOn(string arguments, string message)
    {
        string argument = arguments.Substring(arguments.IndexOf("StackSize", StringComparison.Ordinal));
        Config(arguments).AssertSingle("ALLOC007", argument, message);
        Assert.Equal(16384UL, OptionRules.MinimumStackBytes);
    }

    [Fact]
    public void Alloc007_NotReportedForTheSmallestStack() =>
        Config("TotalStacks = 4, StackSize = 16 * 1024, StackKeepResident = 0").AssertClean();

    [Theory]
    [InlineData("StackSize = (1L << 36) + 4096", "StackSize is 68719480832; it must be from 16384 to 68719476736 bytes")]
    [InlineData("StackKeepResident = 1L << 37", "StackKeepResident is 137438953472; it must be from 0 to 68719476736 bytes")]
    [InlineData("InstanceSize = 1L << 40", "InstanceSize is 1099511627776; it must be from 4096 to 68719476736 bytes")]
    [InlineData("InstanceGuardSize = (1L << 36) + 4096", "InstanceGuardSize is 68719480832; it must be from 0")]
    [InlineData("MemorySize = 1L << 37", "MemorySize is 137438953472; it must be from 4096 to 68719476736 bytes")]
    [InlineData("MemoryGuardSize = 1L << 46", "MemoryGuardSize is 70368744177664; it must be from 0 to 68719476736 bytes")]
    [InlineData("MemoryKeepResident = long.MaxValue - 4095", "MemoryKeepResident is 9223372036854771712; it must be from 0")]
    public void Alloc007_SizeBeyondTheLargestRegion(string argument, string message) =>
        Config(argument).AssertSingle("ALLOC007", argument, message);

    [Fact]
    public void Alloc007_NotReportedAtTheLargestRegion()
    {
        GeneratorRun run = Config("TotalStacks = 1, StackSize = 1L << 36, MemoryCount = 1, MemorySize = 1L << 36, MemoryGuardSize = 1L << 36, MemoryKeepResident = 1L << 36, InstanceCount = 1, InstanceSize = 1L << 36, InstanceGuardSize = 1L << 36");
        // Also compiles without CS8778: sizes beyond 4 GiB are not written as constant nuint casts.
        run.AssertClean();
        Assert.Contains("StackSize = nuint.CreateChecked(68719476736UL),", run.Source("Pools.PoolingConfiguration.g.cs"));
        Assert.Contains("MaxStacks = 1,", run.Source("Pools.PoolingConfiguration.g.cs"));
    }

    [Fact]
    public void Alloc008_OnePoolBeyondTheAllocatorLimit()
    {
        Config("MemoryCount = 1000000, MemorySize = 1L << 30")
            .AssertSingle("ALLOC008", "MemoryCount = 1000000", "The memory pool would reserve 1073741824000000 bytes, more than the 70368744177664 bytes all pools of one allocator may reserve together");
        // 2^16 memories of 2^30 bytes are exactly 2^46: allowed; one more is not.
        Config("MemoryCount = 65536, MemorySize = 1L << 30").AssertClean();
        Config("MemoryCount = 65537, MemorySize = 1L << 30").AssertSingle("ALLOC008", "MemoryCount = 65537", "The memory pool would reserve 70369817919488 bytes");
        // Guards count: 2^16 slots of 2^29 bytes plus a 2^29 guard are 2^46 again, and a page more tips it over.
        Config("InstanceCount = 65536, InstanceSize = 1L << 29, InstanceGuardSize = 1L << 29").AssertClean();
        Config("InstanceCount = 65536, InstanceSize = 1L << 29, InstanceGuardSize = (1L << 29) + 4096").AssertSingle("ALLOC008", "InstanceCount = 65536", "The instance pool");
    }

    [Fact]
    public void Alloc008_LargestCountsTimesLargestRegionsAreExact()
    {
        // 2^20 × (2^36 + 2^36) = 2^57: far beyond 2^46, and computed without wrapping.
        Config("MemoryCount = 1048576, MemorySize = 1L << 36, MemoryGuardSize = 1L << 36")
            .AssertSingle("ALLOC008", "MemoryCount = 1048576", "would reserve 144115188075855872 bytes");
    }

    [Fact]
    public void Alloc008_StacksCountTheirGuardPage()
    {
        // 2^20 stacks of 2^26 bytes are exactly 2^46; the guard page below each tips it over.
        Config("TotalStacks = 1048576, StackSize = 1L << 26").AssertSingle("ALLOC008", "TotalStacks = 1048576", "The stack pool would reserve 70373039144960 bytes");
        Config("TotalStacks = 1048576, StackSize = (1L << 26) - 4096").AssertClean();
    }

    [Fact]
    public void Alloc008_PoolsTogetherBeyondTheAllocatorLimit()
    {
        // Each pool alone stays under 2^46; together they reach it exactly, and one guard page per memory passes it.
        const string Fits = "InstanceCount = 1048576, InstanceSize = 1L << 25, MemoryCount = 1048576, MemorySize = 1L << 25";
        Config(Fits).AssertClean();
        GeneratorRun run = Config(Fits + ", MemoryGuardSize = 4096");
        run.AssertSingle("ALLOC008", $"PoolingConfiguration({Fits}, MemoryGuardSize = 4096)",
            "'Pools' (all pools together) would reserve 70373039144960 bytes, more than the 70368744177664 bytes");
    }

    [Fact]
    public void Alloc008_StackPoolCountsTowardsTheTotal()
    {
        // Stacks: 2^20 × (2^25 + 4096); memories: 2^20 × 2^25. Together 2^46 + 2^32.
        GeneratorRun run = Config("TotalStacks = 1048576, StackSize = 1L << 25, MemoryCount = 1048576, MemorySize = 1L << 25");
        run.AssertSingle("ALLOC008", "PoolingConfiguration(TotalStacks = 1048576, StackSize = 1L << 25, MemoryCount = 1048576, MemorySize = 1L << 25)",
            "'Pools' (all pools together) would reserve 70373039144960 bytes");
    }

    private static ulong s_maxRegion = OptionRules.MaxRegionBytes;

    [Fact]
    public void LimitsAreTheSharedRules()
    {
        // The generator compiles the library's own OptionRules.cs; its diagnostics quote those values.
        Assert.Equal(1UL << 46, OptionRules.MaxReservationBytes);
        Assert.Equal(1UL << 36, OptionRules.MaxRegionBytes);
        Assert.Equal(1 << 20, OptionRules.MaxSlotCount);
        Assert.Equal("Allocator.Generators", typeof(OptionRules).Assembly.GetName().Name);

        // The runtime rejects what the generator reports, and accepts the boundaries the generator accepts.
        nuint maxRegion = (nuint)Volatile.Read(ref s_maxRegion); // not a constant: nuint is 64-bit only at run time
        Assert.Throws<PoolConfigurationException>(() => new StackPoolOptions { StackSize = 12288 }.Validate());
        new StackPoolOptions { StackSize = (nuint)OptionRules.MinimumStackBytes }.Validate();
        Assert.Throws<PoolConfigurationException>(() => new SlotPoolOptions { SlotSize = maxRegion + 4096 }.Validate());
        new SlotPoolOptions { MaxSlots = 1, SlotSize = maxRegion, GuardSize = maxRegion }.Validate();
        Assert.Throws<PoolConfigurationException>(() => new PoolingAllocatorOptions
        {
            Instances = new SlotPoolOptions { MaxSlots = 1 << 20, SlotSize = 1 << 25 },
            Memories = new SlotPoolOptions { MaxSlots = 1 << 20, SlotSize = 1 << 25, GuardSize = 4096 },
        }.Validate());
    }

    [Fact]
    public void Alloc013_KeepResidentBeyondSize()
    {
        Config("StackSize = 16384, StackKeepResident = 20480").AssertSingle("ALLOC013", "StackKeepResident = 20480", "StackKeepResident is 20480 bytes, more than StackSize (16384 bytes)");
        Config("MemorySize = 8192, MemoryKeepResident = 12288").AssertSingle("ALLOC013", "MemoryKeepResident = 12288");
        Config("InstanceSize = 4096, InstanceKeepResident = 8192").AssertSingle("ALLOC013", "InstanceKeepResident = 8192");
        Config("StackSize = 16384, StackKeepResident = 16384").AssertClean();
    }

    [Fact]
    public void Alloc013_KeepResidentBeyondLayout()
    {
        const string Layout = """[SlotLayout, SlotRegion("A", Size = 64)] public partial struct Ctx;""";
        Config("InstanceLayout = typeof(Ctx), InstanceKeepResident = 8192", Layout)
            .AssertSingle("ALLOC013", "InstanceKeepResident = 8192", "more than the InstanceLayout slot size (4096 bytes)");
        Config("InstanceLayout = typeof(Ctx), InstanceKeepResident = 4096", Layout).AssertClean();
    }

    [Fact]
    public void Alloc015_InstanceLayoutWithoutSlotLayout()
    {
        Config("InstanceLayout = typeof(NotALayout)", "public struct NotALayout;")
            .AssertSingle("ALLOC015", "InstanceLayout = typeof(NotALayout)", "InstanceLayout is 'N.NotALayout', which has no [SlotLayout] attribute");
    }

    [Fact]
    public void InstanceLayoutWithErrorsEmitsNothingAndAddsNoSecondError()
    {
        GeneratorRun run = Config("InstanceLayout = typeof(Ctx)", """[SlotLayout, SlotRegion("A", Size = 64, GuardBytes = 7)] public partial struct Ctx;""");
        Assert.Equal(new[] { "ALLOC002" }, run.GeneratorDiagnostics.Select(d => d.Id));
        Assert.Empty(run.HintNames);
    }

    [Fact]
    public void Alloc016_InstanceSizeAndLayout()
    {
        const string Layout = """[SlotLayout, SlotRegion("A", Size = 64)] public partial struct Ctx;""";
        Config("InstanceSize = 8192, InstanceLayout = typeof(Ctx)", Layout)
            .AssertSingle("ALLOC016", "InstanceLayout = typeof(Ctx)", "Set either InstanceSize or InstanceLayout, not both");
        GeneratorRun run = Config("InstanceLayout = typeof(Ctx)", Layout);
        run.AssertClean();
        Assert.Contains("SlotSize = (nuint)global::N.Ctx.SlotSize,", run.Source("Pools.PoolingConfiguration.g.cs"));
    }
}
