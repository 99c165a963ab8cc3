using System.Collections.Immutable;
using Allocator.Generators.Analyzers;
using Allocator.Generators.CodeFixes;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Testing;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Testing;

namespace Allocator.Generators.Tests.Support;

/// <summary>Runs <see cref="IntoDataWhileStackHeldCodeFix"/> through the Roslyn code fix test framework, against the
/// real Allocator assembly and the test host's own framework assemblies (nothing is downloaded).</summary>
internal sealed class CodeFixVerifier : CSharpCodeFixTest<StackHolderAnalyzer, IntoDataWhileStackHeldCodeFix, DefaultVerifier>
{
    private static readonly Lazy<ImmutableArray<MetadataReference>> s_references = new(() =>
        ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
            .Where(p => Path.GetFileName(p).StartsWith("System.", StringComparison.Ordinal) || Path.GetFileName(p) is "mscorlib.dll" or "netstandard.dll")
            .Append(typeof(PoolingAllocator).Assembly.Location)
            .Distinct()
            .Select(p => (MetadataReference)MetadataReference.CreateFromFile(p))
            .ToImmutableArray());

    public CodeFixVerifier()
    {
        // An empty set: every reference, the framework included, comes from AdditionalReferences.
        ReferenceAssemblies = new ReferenceAssemblies("net10.0");
        TestState.AdditionalReferences.AddRange(s_references.Value);
        FixedState.AdditionalReferences.AddRange(s_references.Value);
    }

    /// <summary>Checks that <paramref name="before"/> gets exactly the ALLOC100 marked <c>{|ALLOC100:...|}</c> and that the fix
    /// with <paramref name="equivalenceKey"/> turns it into <paramref name="after"/> (which must be clean).</summary>
    public static Task VerifyAsync(string before, string after, string equivalenceKey, OutputKind kind = OutputKind.DynamicallyLinkedLibrary)
    {
        var test = new CodeFixVerifier
        {
            TestCode = before,
            FixedCode = after,
            CodeActionEquivalenceKey = equivalenceKey,
        };
        test.TestState.OutputKind = kind;
        return test.RunAsync();
    }

    /// <summary>The equivalence keys of every fix offered for the ALLOC100 diagnostics of <paramref name="source"/>
    /// (which must compile), asked of the provider directly, as the IDE does.</summary>
    public static async Task<string[]> OfferedFixesAsync(string source)
    {
        using var workspace = new AdhocWorkspace();
        Document document = workspace.CurrentSolution
            .AddProject("Consumer", "Consumer", LanguageNames.CSharp)
            .WithCompilationOptions(new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable))
            .WithParseOptions(TestCompilation.ParseOptions)
            .AddMetadataReferences(s_references.Value)
            .AddDocument("Source.cs", source);
        Compilation compilation = (await document.Project.GetCompilationAsync())!;
        Assert.Empty(compilation.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error));
        ImmutableArray<Diagnostic> diagnostics = await compilation
            .WithAnalyzers(ImmutableArray.Create<DiagnosticAnalyzer>(new StackHolderAnalyzer()))
            .GetAnalyzerDiagnosticsAsync();
        var keys = new List<string>();
        foreach (Diagnostic diagnostic in diagnostics.Where(d => d.Id == "ALLOC100"))
        {
            var context = new CodeFixContext(document, diagnostic, (action, _) => keys.Add(action.EquivalenceKey!), CancellationToken.None);
            await new IntoDataWhileStackHeldCodeFix().RegisterCodeFixesAsync(context);
        }
        return keys.Order(StringComparer.Ordinal).ToArray();
    }
}
