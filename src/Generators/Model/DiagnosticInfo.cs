using System.Linq;
using Allocator.Generators.Helpers;
using Microsoft.CodeAnalysis;

namespace Allocator.Generators.Model;

/// <summary>A diagnostic found while parsing, kept as plain data until the output stage reports it.</summary>
internal sealed record DiagnosticInfo(DiagnosticDescriptor Descriptor, LocationInfo? Location, EquatableArray<string> Arguments)
{
    public static DiagnosticInfo Create(DiagnosticDescriptor descriptor, Location? location, params object[] arguments)
    {
        string[] text = new string[arguments.Length];
        for (int i = 0; i < arguments.Length; i++)
        {
            text[i] = System.Convert.ToString(arguments[i], System.Globalization.CultureInfo.InvariantCulture) ?? string.Empty;
        }
        return new DiagnosticInfo(descriptor, LocationInfo.From(location), text.ToEquatableArray());
    }

    public Diagnostic ToDiagnostic() =>
        Diagnostic.Create(Descriptor, Location?.ToLocation(), Arguments.Select(a => (object)a).ToArray());
}
