using System.Collections.Generic;
using System.Linq;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace Allocator.Generators;

/// <summary>Reads one attribute application: which named arguments were given, their values and where they are.</summary>
internal sealed class AttributeArguments
{
    private readonly AttributeData _data;
    private readonly AttributeSyntax? _syntax;
    private readonly Dictionary<string, TypedConstant> _named;

    public AttributeArguments(AttributeData data, CancellationToken cancellationToken)
    {
        _data = data;
        _syntax = data.ApplicationSyntaxReference?.GetSyntax(cancellationToken) as AttributeSyntax;
        _named = new Dictionary<string, TypedConstant>();
        foreach (KeyValuePair<string, TypedConstant> pair in data.NamedArguments)
        {
            _named[pair.Key] = pair.Value;
        }
    }

    public Location? Location => _syntax?.GetLocation();

    public bool Has(string name) => _named.ContainsKey(name);

    public long? Int64(string name) => _named.TryGetValue(name, out TypedConstant value) && value.Value is not null
        ? System.Convert.ToInt64(value.Value, System.Globalization.CultureInfo.InvariantCulture)
        : null;

    public bool? Boolean(string name) => _named.TryGetValue(name, out TypedConstant value) && value.Value is bool b ? b : null;

    /// <summary>The type given for <paramref name="name"/>; null when unset or null, and also for an erroneous type.</summary>
    public ITypeSymbol? Type(string name) =>
        _named.TryGetValue(name, out TypedConstant value) && value.Value is ITypeSymbol { TypeKind: not TypeKind.Error } type ? type : null;

    public TypedConstant? Constructor(int index) =>
        index < _data.ConstructorArguments.Length ? _data.ConstructorArguments[index] : null;

    /// <summary>The location of the named argument, falling back to the whole attribute.</summary>
    public Location? LocationOf(string name)
    {
        AttributeArgumentSyntax? argument = _syntax?.ArgumentList?.Arguments
            .FirstOrDefault(a => a.NameEquals?.Name.Identifier.ValueText == name);
        return argument?.GetLocation() ?? Location;
    }

    /// <summary>The location of a positional argument, falling back to the whole attribute.</summary>
    public Location? LocationOf(int index)
    {
        var positional = _syntax?.ArgumentList?.Arguments.Where(a => a.NameEquals is null && a.NameColon is null).ToList();
        return positional is not null && index < positional.Count ? positional[index].GetLocation() : Location;
    }
}
