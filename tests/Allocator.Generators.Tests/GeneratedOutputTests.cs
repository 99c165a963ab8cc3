using Allocator.Generators.Tests.Support;
using Microsoft.CodeAnalysis;

namespace Allocator.Generators.Tests;

public class GeneratedOutputTests
{
    [Fact]
    public void SlotLayoutMatchesBaseline()
    {
        GeneratorRun run = TestCompilation.Generate(Sources.Embedder);
        Baseline.AssertMatches(run.Source("VmContext.SlotLayout.g.cs"), "VmContext.SlotLayout.g.cs.txt");
    }

    [Fact]
    public void PoolingConfigurationMatchesBaseline()
    {
        GeneratorRun run = TestCompilation.Generate(Sources.Embedder);
        Baseline.AssertMatches(run.Source("EmbedderPools.PoolingConfiguration.g.cs"), "EmbedderPools.PoolingConfiguration.g.cs.txt");
    }

    [Fact]
    public void OutputCompilesWithoutWarningsOrUnsafeBlocks()
    {
        GeneratorRun run = TestCompilation.Generate(Sources.Embedder);
        Assert.False(run.Output.Options is Microsoft.CodeAnalysis.CSharp.CSharpCompilationOptions { AllowUnsafe: true });
        Assert.Empty(run.GeneratorDiagnostics);
        Assert.Empty(run.CompileDiagnostics);
        Assert.Equal(new[] { "Embedder.EmbedderPools.PoolingConfiguration.g.cs", "Embedder.VmContext.SlotLayout.g.cs" }, run.HintNames.Order());
    }
}
