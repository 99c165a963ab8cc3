using System.Collections.Generic;
using System.Linq;
using Allocator.Generators.Helpers;
using Allocator.Generators.Model;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace Allocator.Generators;

/// <summary>Describes where generated members go and checks that the type (and its containers) can be reopened.</summary>
internal static class TargetTypeParser
{
    private static readonly SymbolDisplayFormat s_fullyQualified = SymbolDisplayFormat.FullyQualifiedFormat
        .WithMiscellaneousOptions(SymbolDisplayMiscellaneousOptions.EscapeKeywordIdentifiers);

    /// <summary>Returns null (after adding ALLOC001) when the type or a containing type is not partial.</summary>
    public static TargetTypeModel? Parse(
        INamedTypeSymbol type, TypeDeclarationSyntax syntax, string attributeName, List<DiagnosticInfo> diagnostics)
    {
        bool allPartial = true;
        for (SyntaxNode? node = syntax; node is not null; node = node.Parent)
        {
            if (node is TypeDeclarationSyntax declaration && !declaration.Modifiers.Any(SyntaxKind.PartialKeyword))
            {
                allPartial = false;
                break;
            }
        }
        if (!allPartial)
        {
            diagnostics.Add(DiagnosticInfo.Create(
                DiagnosticDescriptors.TypeNotPartial, syntax.Identifier.GetLocation(), type.Name, attributeName));
            return null;
        }

        var containing = new List<TypeDeclarationModel>();
        for (INamedTypeSymbol? outer = type.ContainingType; outer is not null; outer = outer.ContainingType)
        {
            containing.Insert(0, Describe(outer));
        }
        string? ns = type.ContainingNamespace is { IsGlobalNamespace: false } n ? n.ToDisplayString() : null;
        string fullyQualified = type.ToDisplayString(s_fullyQualified);
        string hint = fullyQualified.Replace("global::", string.Empty).Replace('<', '[').Replace('>', ']').Replace(" ", string.Empty);
        return new TargetTypeModel(ns, containing.ToEquatableArray(), Describe(type), type.Name, fullyQualified, hint);
    }

    private static TypeDeclarationModel Describe(INamedTypeSymbol type)
    {
        var modifiers = new List<string>();
        if (type.IsStatic)
        {
            modifiers.Add("static");
        }
        if (type.TypeKind == TypeKind.Struct && type.IsReadOnly)
        {
            modifiers.Add("readonly");
        }
        if (type.IsRefLikeType)
        {
            modifiers.Add("ref");
        }
        string keyword = type.TypeKind switch
        {
            TypeKind.Struct => type.IsRecord ? "record struct" : "struct",
            TypeKind.Interface => "interface",
            _ => type.IsRecord ? "record" : "class",
        };
        string name = type.Name;
        if (type.TypeParameters.Length > 0)
        {
            name += "<" + string.Join(", ", type.TypeParameters.Select(p => p.Name)) + ">";
        }
        return new TypeDeclarationModel(string.Join(" ", modifiers), keyword, name);
    }
}
