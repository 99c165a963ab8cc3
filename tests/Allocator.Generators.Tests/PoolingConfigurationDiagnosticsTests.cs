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
    [InlineData("StackSize = 10000", "StackSize is 10000 bytes")]
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
    [InlineData("StackSize = 0", "StackSize is 0; it must be from 4096")]
    [InlineData("InstanceSize = -4096", "InstanceSize is -4096")]
    [InlineData("MemoryGuardSize = -4096", "MemoryGuardSize is -4096; it must be from 0")]
    public void Alloc007_SizeOutOfRange(string argument, string message) =>
        Config(argument).AssertSingle("ALLOC007", argument, message);

    [Fact]
    public void Alloc008_OnePoolBeyondAddressSpace()
    {
        Config("MemoryCount = 1000000, MemorySize = 1L << 30")
            .AssertSingle("ALLOC008", "MemoryCount = 1000000", "The memory pool would reserve 1073741824000000 bytes, more than the 140737488355328-byte");
        Config("MemoryCount = 100000, MemorySize = 1L << 30").AssertClean();
    }

    [Fact]
    public void Alloc008_StacksCountTheirGuardPage()
    {
        // 2^20 stacks of 2^27 bytes are exactly 2^47; the guard page below each tips it over.
        Config("TotalStacks = 1048576, StackSize = 1L << 27").AssertSingle("ALLOC008", "TotalStacks = 1048576", "The stack pool");
        Config("TotalStacks = 1048576, StackSize = (1L << 27) - 4096").AssertClean();
    }

    [Fact]
    public void Alloc008_PoolsTogetherBeyondAddressSpace()
    {
        GeneratorRun run = Config("InstanceCount = 1048576, InstanceSize = 1L << 26, MemoryCount = 1048576, MemorySize = 1L << 26, MemoryGuardSize = 4096");
        Microsoft.CodeAnalysis.Diagnostic diagnostic = run.AssertSingle("ALLOC008", "PoolingConfiguration(InstanceCount = 1048576, InstanceSize = 1L << 26, MemoryCount = 1048576, MemorySize = 1L << 26, MemoryGuardSize = 4096)", "'Pools' (all pools together)");
        Assert.NotNull(diagnostic);
        Config("InstanceCount = 1048576, InstanceSize = 1L << 26, MemoryCount = 1048576, MemorySize = 1L << 26").AssertClean();
    }

    [Fact]
    public void Alloc013_KeepResidentBeyondSize()
    {
        Config("StackSize = 8192, StackKeepResident = 12288").AssertSingle("ALLOC013", "StackKeepResident = 12288", "StackKeepResident is 12288 bytes, more than StackSize (8192 bytes)");
        Config("MemorySize = 8192, MemoryKeepResident = 12288").AssertSingle("ALLOC013", "MemoryKeepResident = 12288");
        Config("InstanceSize = 4096, InstanceKeepResident = 8192").AssertSingle("ALLOC013", "InstanceKeepResident = 8192");
        Config("StackSize = 8192, StackKeepResident = 8192").AssertClean();
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
