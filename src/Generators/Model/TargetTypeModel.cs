using Allocator.Generators.Helpers;

namespace Allocator.Generators.Model;

/// <summary>Where generated members go: the namespace, the containing types (outermost first) and the type itself.</summary>
/// <param name="SimpleName">The type's name without type parameters, used for constructors and messages.</param>
/// <param name="FullyQualifiedName">e.g. <c>global::Embedder.VmContext</c>.</param>
/// <param name="HintName">A file-name-safe unique name for the generated source.</param>
internal sealed record TargetTypeModel(
    string? Namespace,
    EquatableArray<TypeDeclarationModel> ContainingTypes,
    TypeDeclarationModel Type,
    string SimpleName,
    string FullyQualifiedName,
    string HintName);
