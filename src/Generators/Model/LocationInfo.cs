using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;

namespace Allocator.Generators.Model;

/// <summary>A source location without its <see cref="SyntaxTree"/>, so models holding it can be cached.</summary>
internal sealed record LocationInfo(string FilePath, TextSpan Span, LinePositionSpan LineSpan)
{
    public static LocationInfo? From(Location? location) =>
        location?.SourceTree is null ? null : new LocationInfo(location.SourceTree.FilePath, location.SourceSpan, location.GetLineSpan().Span);

    public Location ToLocation() => Location.Create(FilePath, Span, LineSpan);
}
