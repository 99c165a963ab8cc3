using System.Globalization;
using Microsoft.CodeAnalysis;

namespace Allocator.Generators.Tests.Support;

/// <summary>Assertions on diagnostics: id, where it points and what it says.</summary>
internal static class DiagnosticAssert
{
    /// <summary>Exactly one diagnostic with <paramref name="id"/>, located on <paramref name="locatedText"/>.
    /// Generator diagnostics carry a path and span only, so <paramref name="compilation"/> resolves them.</summary>
    public static Diagnostic Single(IEnumerable<Diagnostic> diagnostics, string id, string locatedText, string? messageContains = null, Compilation? compilation = null)
    {
        Diagnostic[] matching = diagnostics.Where(d => d.Id == id).ToArray();
        Assert.True(matching.Length == 1, $"Expected one {id}, got: {Describe(diagnostics)}");
        Diagnostic diagnostic = matching[0];
        Assert.Equal(locatedText, TextAt(diagnostic, compilation));
        if (messageContains is not null)
        {
            Assert.Contains(messageContains, diagnostic.GetMessage(CultureInfo.InvariantCulture));
        }
        return diagnostic;
    }

    public static void None(IEnumerable<Diagnostic> diagnostics, string id) =>
        Assert.True(!diagnostics.Any(d => d.Id == id), $"Expected no {id}, got: {Describe(diagnostics)}");

    public static void Empty(IEnumerable<Diagnostic> diagnostics) =>
        Assert.True(!diagnostics.Any(), $"Expected no diagnostics, got: {Describe(diagnostics)}");

    public static string TextAt(Diagnostic diagnostic, Compilation? compilation)
    {
        Location location = diagnostic.Location;
        SyntaxTree? tree = location.SourceTree
            ?? compilation?.SyntaxTrees.FirstOrDefault(t => t.FilePath == location.GetLineSpan().Path);
        Assert.True(tree is not null, $"No source for {diagnostic}");
        return tree!.GetText().ToString(location.SourceSpan);
    }

    public static string Describe(IEnumerable<Diagnostic> diagnostics) =>
        diagnostics.Any() ? string.Join("; ", diagnostics.Select(d => d.ToString())) : "(none)";
}
