using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using Allocator.Generators.Helpers;
using Allocator.Generators.Model;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace Allocator.Generators.SlotLayout;

/// <summary>Turns a [SlotLayout] struct and its [SlotRegion] attributes into a <see cref="SlotLayoutModel"/>.</summary>
/// <remarks>
/// Placement: regions go in declaration order, each at the next offset meeting its alignment, unless Offset pins
/// it. A region's guard starts at the first page boundary at or after the region's end. The slot is the furthest
/// region or guard end rounded up to a page (or the explicit SlotSize).
/// </remarks>
internal static class SlotLayoutParser
{
    private const int DefaultByteAlignment = 8;
    private static readonly HashSet<string> s_reservedNames = new(StringComparer.Ordinal)
    {
        "PageSize", "SlotSize", "AccessibleSize", "SlotBase",
    };

    public static ParseResult<SlotLayoutModel> Parse(GeneratorAttributeSyntaxContext context, CancellationToken cancellationToken)
    {
        var type = (INamedTypeSymbol)context.TargetSymbol;
        var diagnostics = new List<DiagnosticInfo>();
        TargetTypeModel? target = TargetTypeParser.Parse(type, (TypeDeclarationSyntax)context.TargetNode, "SlotLayout", diagnostics);
        Layout? layout = Compute(type, context.Attributes[0], diagnostics, cancellationToken);
        bool failed = target is null || layout is null || diagnostics.Any(d => d.Descriptor.DefaultSeverity == DiagnosticSeverity.Error);
        SlotLayoutModel? model = failed ? null
            : new SlotLayoutModel(target!, layout!.Regions.ToEquatableArray(), layout.SlotSize, layout.AccessibleSize);
        return new ParseResult<SlotLayoutModel>(model, diagnostics.ToEquatableArray());
    }

    /// <summary>The slot size of a layout type referenced from elsewhere (e.g. a pooling configuration), or null when
    /// the type has no [SlotLayout] or its layout has errors (those are reported on the layout itself).</summary>
    public static int? SlotSizeOf(INamedTypeSymbol type, CancellationToken cancellationToken)
    {
        AttributeData? attribute = type.GetAttributes()
            .FirstOrDefault(a => a.AttributeClass?.ToDisplayString() == KnownNames.SlotLayoutAttribute);
        if (attribute is null)
        {
            return null;
        }
        var diagnostics = new List<DiagnosticInfo>();
        Layout? layout = Compute(type, attribute, diagnostics, cancellationToken);
        return layout is null || diagnostics.Any(d => d.Descriptor.DefaultSeverity == DiagnosticSeverity.Error) ? null : layout.SlotSize;
    }

    public static bool IsSlotLayout(INamedTypeSymbol type) =>
        type.GetAttributes().Any(a => a.AttributeClass?.ToDisplayString() == KnownNames.SlotLayoutAttribute);

    private static Layout? Compute(INamedTypeSymbol type, AttributeData layoutAttribute, List<DiagnosticInfo> diagnostics, CancellationToken cancellationToken)
    {
        var regions = new List<SlotRegionModel>();
        var occupied = new List<(string What, long Start, long End)>();
        var memberNames = new HashSet<string>(s_reservedNames, StringComparer.Ordinal) { type.Name };
        long cursor = 0;
        long furthest = 0;
        long furthestRegionEnd = 0;
        int declared = 0;

        foreach (AttributeData attribute in type.GetAttributes())
        {
            if (attribute.AttributeClass?.ToDisplayString() != KnownNames.SlotRegionAttribute)
            {
                continue;
            }
            cancellationToken.ThrowIfCancellationRequested();
            declared++;
            var args = new AttributeArguments(attribute, cancellationToken);
            if (ParseRegion(args, memberNames, diagnostics) is not { } region)
            {
                continue;
            }

            long start = region.Offset ?? Limits.AlignUp(cursor, region.Alignment);
            long end = start + region.Size;
            long guardStart = Limits.AlignUp(end, Limits.PageSize);
            long guardEnd = guardStart + region.GuardBytes;
            if (guardEnd > Limits.MaxLayoutBytes)
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.SizeOutOfRange, args.Location,
                    $"The end of region '{region.Name}'", guardEnd, 1, Limits.MaxLayoutBytes));
                continue;
            }

            bool overlaps = false;
            foreach ((string what, long otherStart, long otherEnd) in occupied)
            {
                if (Overlap(start, end, otherStart, otherEnd) || Overlap(guardStart, guardEnd, otherStart, otherEnd))
                {
                    bool guardHit = !Overlap(start, end, otherStart, otherEnd);
                    diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.RegionsOverlap,
                        args.Has("Offset") ? args.LocationOf("Offset") : args.Location,
                        guardHit ? $"The guard of region '{region.Name}'" : $"Region '{region.Name}'",
                        guardHit ? guardStart : start, guardHit ? guardEnd : end, what, otherStart, otherEnd));
                    overlaps = true;
                    break;
                }
            }
            if (overlaps)
            {
                continue;
            }

            occupied.Add(($"region '{region.Name}'", start, end));
            if (region.GuardBytes > 0)
            {
                occupied.Add(($"the guard of region '{region.Name}'", guardStart, guardEnd));
            }
            long reach = region.GuardBytes > 0 ? guardEnd : end;
            cursor = Math.Max(cursor, reach);
            furthest = Math.Max(furthest, reach);
            furthestRegionEnd = Math.Max(furthestRegionEnd, end);
            regions.Add(new SlotRegionModel(region.Name, region.ElementType, region.Count, (int)start, (int)region.Size,
                region.Alignment, (int)guardStart, (int)region.GuardBytes));
        }

        if (declared == 0)
        {
            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.EmptyLayout, type.Locations.FirstOrDefault(), type.Name));
        }

        var layoutArgs = new AttributeArguments(layoutAttribute, cancellationToken);
        long needed = Math.Max(Limits.AlignUp(furthest, Limits.PageSize), Limits.PageSize);
        long slotSize = needed;
        if (layoutArgs.Int64("SlotSize") is { } explicitSize && explicitSize != 0)
        {
            if (explicitSize < 0 || explicitSize > Limits.MaxLayoutBytes)
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.SizeOutOfRange, layoutArgs.LocationOf("SlotSize"),
                    $"SlotSize of '{type.Name}'", explicitSize, Limits.PageSize, Limits.MaxLayoutBytes));
                return null;
            }
            if (!Limits.IsPageMultiple(explicitSize))
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.NotPageMultiple, layoutArgs.LocationOf("SlotSize"),
                    $"SlotSize of '{type.Name}'", explicitSize, Limits.PageSize));
                return null;
            }
            if (explicitSize < furthest)
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.SlotSizeTooSmall, layoutArgs.LocationOf("SlotSize"),
                    type.Name, explicitSize, furthest));
                return null;
            }
            slotSize = explicitSize;
        }
        int accessible = (int)Math.Max(Limits.AlignUp(furthestRegionEnd, Limits.PageSize), Limits.PageSize);
        return new Layout(regions, (int)slotSize, accessible);
    }

    private static Region? ParseRegion(AttributeArguments args, HashSet<string> memberNames, List<DiagnosticInfo> diagnostics)
    {
        if (args.Constructor(0) is not { Value: string name })
        {
            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.InvalidRegionName, args.LocationOf(0), "(null)", "is not a valid C# identifier"));
            return null;
        }
        if (!SyntaxFacts.IsValidIdentifier(name) || SyntaxFacts.GetKeywordKind(name) != SyntaxKind.None)
        {
            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.InvalidRegionName, args.LocationOf(0), name, "is not a valid C# identifier"));
            return null;
        }
        string[] generated = { name, name + "Offset", name + "Size", name + "Count", name + "GuardOffset", name + "GuardSize" };
        if (generated.FirstOrDefault(memberNames.Contains) is { } clash)
        {
            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.InvalidRegionName, args.LocationOf(0), name,
                $"clashes with the member '{clash}' of the layout; region names must be unique and may not reuse generated member names"));
            return null;
        }
        foreach (string member in generated)
        {
            memberNames.Add(member);
        }

        ITypeSymbol? elementType = null;
        if (args.Constructor(1) is { } typeArgument)
        {
            if (typeArgument.Value is not ITypeSymbol { TypeKind: not TypeKind.Error } resolved)
            {
                return null; // The compiler already reports the bad typeof.
            }
            elementType = resolved;
        }

        long count = args.Int64("Count") ?? 0;
        if (count < 0 || count > int.MaxValue)
        {
            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.CountOutOfRange, args.LocationOf("Count"),
                $"Count of region '{name}'", count, 0, int.MaxValue));
            return null;
        }

        TypeLayout element = elementType is null ? TypeLayout.Of(1, 1) : TypeLayoutCalculator.Compute(elementType);
        string? typeDisplay = elementType?.ToDisplayString();
        if (element.Kind == TypeLayoutKind.NotUnmanaged)
        {
            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.RegionTypeNotUnmanaged, args.LocationOf(1), name, typeDisplay!));
            return null;
        }

        long? explicitSize = args.Int64("Size");
        if (element.Kind == TypeLayoutKind.Unknown && explicitSize is null)
        {
            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.RegionTypeSizeUnknown, args.LocationOf(1), name, typeDisplay!, element.Reason!));
            return null;
        }
        long needed = element.Kind == TypeLayoutKind.Known ? element.Size * (elementType is null ? count : Math.Max(count, 1)) : 0;
        long size = explicitSize ?? needed;
        if (size <= 0 || size > Limits.MaxLayoutBytes)
        {
            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.SizeOutOfRange, args.LocationOf("Size"),
                $"Size of region '{name}'", size, 1, Limits.MaxLayoutBytes));
            return null;
        }
        if (size < needed)
        {
            string what = elementType is null ? $"Count of {count}" : count > 0 ? $"{count} x '{typeDisplay}'" : $"type '{typeDisplay}'";
            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.RegionSmallerThanType, args.LocationOf("Size"), name, size, needed, what));
            return null;
        }

        int naturalAlignment = element.Kind == TypeLayoutKind.Known && elementType is not null ? element.Alignment : DefaultByteAlignment;
        long alignment = args.Int64("Alignment") is { } explicitAlignment && explicitAlignment != 0 ? explicitAlignment : naturalAlignment;
        if (alignment <= 0 || alignment > Limits.PageSize || (alignment & (alignment - 1)) != 0)
        {
            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.InvalidAlignment, args.LocationOf("Alignment"), name, alignment, Limits.PageSize));
            return null;
        }
        if (elementType is not null && element.Kind == TypeLayoutKind.Known && alignment < element.Alignment)
        {
            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.RegionMisaligned, args.LocationOf("Alignment"), name,
                $"alignment {alignment} is below the {element.Alignment}-byte natural alignment of '{typeDisplay}'"));
            return null;
        }

        long? offset = args.Int64("Offset") is { } o && o >= 0 ? o : null;
        if (offset is { } pinned)
        {
            if (pinned > Limits.MaxLayoutBytes)
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.SizeOutOfRange, args.LocationOf("Offset"),
                    $"Offset of region '{name}'", pinned, 0, Limits.MaxLayoutBytes));
                return null;
            }
            if (pinned % alignment != 0)
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.RegionMisaligned, args.LocationOf("Offset"), name,
                    $"offset {pinned} is not a multiple of its {alignment}-byte alignment"));
                return null;
            }
        }

        long guard = args.Int64("GuardBytes") ?? 0;
        if (guard < 0 || guard > Limits.MaxLayoutBytes)
        {
            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.SizeOutOfRange, args.LocationOf("GuardBytes"),
                $"GuardBytes of region '{name}'", guard, 0, Limits.MaxLayoutBytes));
            return null;
        }
        if (!Limits.IsPageMultiple(guard))
        {
            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.NotPageMultiple, args.LocationOf("GuardBytes"),
                $"GuardBytes of region '{name}'", guard, Limits.PageSize));
            return null;
        }

        string? elementName = elementType?.ToDisplayString(SymbolDisplayFormat.FullyQualifiedFormat);
        int spanCount = elementType is not null ? (int)count : 0;
        return new Region(name, elementName, spanCount, size, (int)alignment, offset, guard);
    }

    private static bool Overlap(long start, long end, long otherStart, long otherEnd) =>
        start < end && otherStart < otherEnd && start < otherEnd && otherStart < end;

    private sealed record Region(string Name, string? ElementType, int Count, long Size, int Alignment, long? Offset, long GuardBytes);

    private sealed record Layout(List<SlotRegionModel> Regions, int SlotSize, int AccessibleSize);
}
