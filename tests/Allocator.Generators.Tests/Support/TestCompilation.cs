using System.Collections.Immutable;
using Allocator.Generators;
using Allocator.Generators.Analyzers;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Diagnostics;

namespace Allocator.Generators.Tests.Support;

/// <summary>Builds in-memory compilations against the real Allocator assembly and runs the generator or analyzer.</summary>
internal static class TestCompilation
{
    public static readonly CSharpParseOptions ParseOptions = new(LanguageVersion.Latest);

    private static readonly Lazy<ImmutableArray<MetadataReference>> s_references = new(() =>
    {
        // The test host runs on the same framework the consumer targets, so its platform assemblies stand in for
        // the reference pack; the Allocator assembly comes from this test's output folder.
        string[] platform = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator);
        return platform
            .Where(p => Path.GetFileName(p).StartsWith("System.", StringComparison.Ordinal) || Path.GetFileName(p) is "mscorlib.dll" or "netstandard.dll")
            .Append(typeof(PoolingAllocator).Assembly.Location)
            .Distinct()
            .Select(p => (MetadataReference)MetadataReference.CreateFromFile(p))
            .ToImmutableArray();
    });

    public static CSharpCompilation Create(params string[] sources) => Create(OutputKind.DynamicallyLinkedLibrary, sources);

    public static CSharpCompilation Create(OutputKind kind, params string[] sources) =>
        CSharpCompilation.Create(
            "Consumer",
            sources.Select((s, i) => CSharpSyntaxTree.ParseText(s, ParseOptions, path: $"Source{i}.cs")),
            s_references.Value,
            new CSharpCompilationOptions(kind, nullableContextOptions: NullableContextOptions.Enable));

    public static GeneratorDriver CreateDriver() =>
        CSharpGeneratorDriver.Create(
            new[] { new AllocatorGenerator().AsSourceGenerator() },
            parseOptions: ParseOptions,
            driverOptions: new GeneratorDriverOptions(IncrementalGeneratorOutputKind.None, trackIncrementalGeneratorSteps: true));

    /// <summary>Runs the generator once; the result carries generated sources, generator diagnostics and the
    /// diagnostics of compiling everything together.</summary>
    public static GeneratorRun Generate(params string[] sources)
    {
        CSharpCompilation input = Create(sources);
        GeneratorDriver driver = CreateDriver().RunGeneratorsAndUpdateCompilation(input, out Compilation output, out ImmutableArray<Diagnostic> diagnostics);
        return new GeneratorRun(driver.GetRunResult(), output, diagnostics);
    }

    /// <summary>Runs <see cref="StackHolderAnalyzer"/> and returns its diagnostics after checking the source compiles.</summary>
    public static async Task<ImmutableArray<Diagnostic>> AnalyzeAsync(string source, OutputKind kind = OutputKind.DynamicallyLinkedLibrary)
    {
        CSharpCompilation compilation = Create(kind, source);
        Diagnostic[] errors = compilation.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error).ToArray();
        Assert.True(errors.Length == 0, "Test source does not compile:\n" + string.Join("\n", errors.Select(e => e.ToString())));
        var crashes = new List<Exception>();
        var options = new CompilationWithAnalyzersOptions(
            new AnalyzerOptions(ImmutableArray<AdditionalText>.Empty),
            onAnalyzerException: (exception, _, _) => { lock (crashes) { crashes.Add(exception); } },
            concurrentAnalysis: false, logAnalyzerExecutionTime: false);
        CompilationWithAnalyzers withAnalyzers = compilation.WithAnalyzers(ImmutableArray.Create<DiagnosticAnalyzer>(new StackHolderAnalyzer()), options);
        ImmutableArray<Diagnostic> diagnostics = await withAnalyzers.GetAnalyzerDiagnosticsAsync();
        Assert.True(crashes.Count == 0, "The analyzer threw:\n" + string.Join("\n", crashes));
        return diagnostics;
    }
}

/// <summary>The outcome of one generator run.</summary>
internal sealed record GeneratorRun(GeneratorDriverRunResult Result, Compilation Output, ImmutableArray<Diagnostic> GeneratorDiagnostics)
{
    public ImmutableArray<Diagnostic> CompileDiagnostics =>
        Output.GetDiagnostics().Where(d => d.Severity >= DiagnosticSeverity.Warning).ToImmutableArray();

    public string Source(string hintSuffix) =>
        Result.Results.Single().GeneratedSources.Single(s => s.HintName.EndsWith(hintSuffix, StringComparison.Ordinal)).SourceText.ToString();

    public IEnumerable<string> HintNames => Result.Results.Single().GeneratedSources.Select(s => s.HintName);

    /// <summary>Exactly one generator diagnostic <paramref name="id"/>, located on <paramref name="locatedText"/>.</summary>
    public Diagnostic AssertSingle(string id, string locatedText, string? messageContains = null) =>
        DiagnosticAssert.Single(GeneratorDiagnostics, id, locatedText, messageContains, Output);

    /// <summary>No generator diagnostics, and the consumer plus generated code compiles with no warning.</summary>
    public void AssertClean()
    {
        DiagnosticAssert.Empty(GeneratorDiagnostics);
        DiagnosticAssert.Empty(CompileDiagnostics);
    }
}
