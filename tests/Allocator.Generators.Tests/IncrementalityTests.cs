using Allocator.Generators.Tests.Support;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace Allocator.Generators.Tests;

/// <summary>An edit that does not touch a model must leave its pipeline steps and outputs cached.</summary>
public class IncrementalityTests
{
    private static readonly string[] s_trackedSteps = { "SlotLayouts", "PoolingConfigurations" };

    [Fact]
    public void UnrelatedEditLeavesTrackedStepsCached()
    {
        (GeneratorRunResult second, _) = RunTwice(edit: (compilation, trees) =>
            compilation.ReplaceSyntaxTree(trees[1], Reparse(trees[1], Sources.Unrelated.Replace("42", "43"))));

        foreach (string step in s_trackedSteps)
        {
            IncrementalGeneratorRunStep[] steps = second.TrackedSteps[step].ToArray();
            Assert.NotEmpty(steps);
            Assert.All(steps.SelectMany(s => s.Outputs), output =>
                Assert.True(output.Reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, $"{step}: {output.Reason}"));
        }
        Assert.All(second.TrackedOutputSteps.SelectMany(s => s.Value).SelectMany(s => s.Outputs), output =>
            Assert.Equal(IncrementalStepRunReason.Cached, output.Reason));
    }

    [Fact]
    public void AddingAnUnrelatedFileLeavesTrackedStepsCached()
    {
        (GeneratorRunResult second, _) = RunTwice(edit: (compilation, _) =>
            compilation.AddSyntaxTrees(CSharpSyntaxTree.ParseText("namespace Embedder; public class Extra;", TestCompilation.ParseOptions, path: "Extra.cs")));

        foreach (string step in s_trackedSteps)
        {
            Assert.All(second.TrackedSteps[step].SelectMany(s => s.Outputs), output =>
                Assert.True(output.Reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, $"{step}: {output.Reason}"));
        }
    }

    [Fact]
    public void EditingTheLayoutIsSeenAsAChange()
    {
        // The control for the tests above: the tracking does report real changes.
        (GeneratorRunResult second, string source) = RunTwice(edit: (compilation, trees) =>
            compilation.ReplaceSyntaxTree(trees[0], Reparse(trees[0], Sources.Embedder.Replace("Size = 8192", "Size = 16384"))));

        Assert.Contains(second.TrackedSteps["SlotLayouts"].SelectMany(s => s.Outputs), o => o.Reason == IncrementalStepRunReason.Modified);
        // The configuration embeds the layout's slot size in its checks, so it is re-evaluated as well.
        Assert.Contains(second.TrackedSteps["PoolingConfigurations"].SelectMany(s => s.Outputs), o => o.Reason == IncrementalStepRunReason.Modified);
        Assert.Contains("public const int ScratchSize = 16384;", source);
    }

    private static (GeneratorRunResult Second, string LayoutSource) RunTwice(Func<Compilation, IReadOnlyList<SyntaxTree>, Compilation> edit)
    {
        CSharpCompilation compilation = TestCompilation.Create(Sources.Embedder, Sources.Unrelated);
        GeneratorDriver driver = TestCompilation.CreateDriver().RunGenerators(compilation);
        Compilation edited = edit(compilation, compilation.SyntaxTrees.ToList());
        driver = driver.RunGenerators(edited);
        GeneratorRunResult result = driver.GetRunResult().Results.Single();
        string layout = result.GeneratedSources.Single(s => s.HintName.EndsWith("VmContext.SlotLayout.g.cs", StringComparison.Ordinal)).SourceText.ToString();
        return (result, layout);
    }

    private static SyntaxTree Reparse(SyntaxTree tree, string text) =>
        CSharpSyntaxTree.ParseText(text, TestCompilation.ParseOptions, tree.FilePath);
}
