using System.Collections.Generic;
using System.Linq;
using System.Threading;
using Allocator.Generators.Helpers;
using Allocator.Generators.Model;
using Allocator.Generators.SlotLayout;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace Allocator.Generators.PoolingConfiguration;

/// <summary>Turns a [PoolingConfiguration] class into a <see cref="PoolingConfigurationModel"/>, checking every value
/// that can be known at compile time. Unset values keep the option records' defaults and are checked at run time.</summary>
/// <remarks>Every limit comes from <see cref="OptionRules"/>, the rules file the library validates with; only the page
/// size (4096) is assumed here.</remarks>
internal static class PoolingConfigurationParser
{
    public static ParseResult<PoolingConfigurationModel> Parse(GeneratorAttributeSyntaxContext context, CancellationToken cancellationToken)
    {
        var type = (INamedTypeSymbol)context.TargetSymbol;
        var diagnostics = new List<DiagnosticInfo>();
        TargetTypeModel? target = TargetTypeParser.Parse(type, (TypeDeclarationSyntax)context.TargetNode, "PoolingConfiguration", diagnostics);
        var args = new AttributeArguments(context.Attributes[0], cancellationToken);
        var reader = new Reader(args, diagnostics);

        var stacks = new List<OptionSetting>();
        int? stackCount = reader.Count("TotalStacks", 1, OptionRules.MaxSlotCount);
        long? stackSize = reader.Size("StackSize", allowZero: false, minimum: (long)OptionRules.MinimumStackBytes);
        long? stackKeep = reader.Size("StackKeepResident", allowZero: true);
        reader.KeepResidentWithin("StackKeepResident", stackKeep, "StackSize", stackSize);
        Add(stacks, "MaxStacks", OptionValueKind.Int32, stackCount);
        Add(stacks, "StackSize", OptionValueKind.Bytes, stackSize);
        Add(stacks, "KeepResident", OptionValueKind.Bytes, stackKeep);
        Add(stacks, "ZeroOnReturn", OptionValueKind.Boolean, args.Boolean("ZeroStacksOnReturn") is { } zero ? (zero ? 1 : 0) : null);

        var instances = new List<OptionSetting>();
        bool layoutHasErrors = false;
        int? instanceCount = reader.Count("InstanceCount", 1, OptionRules.MaxSlotCount);
        Add(instances, "MaxSlots", OptionValueKind.Int32, instanceCount);
        long? instanceSize = reader.Size("InstanceSize", allowZero: false);
        if (args.Type("InstanceLayout") is { } layoutType)
        {
            if (instanceSize is not null)
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.ConflictingSettings, args.LocationOf("InstanceLayout"), "InstanceSize", "InstanceLayout"));
            }
            else if (layoutType is not INamedTypeSymbol named || !SlotLayoutParser.IsSlotLayout(named))
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.NotASlotLayout, args.LocationOf("InstanceLayout"),
                    "InstanceLayout", layoutType.ToDisplayString()));
            }
            else if (SlotLayoutParser.SlotSizeOf(named, cancellationToken) is { } layoutSize)
            {
                instanceSize = layoutSize;
                string layoutName = named.ToDisplayString(SymbolDisplayFormat.FullyQualifiedFormat);
                instances.Add(new OptionSetting("SlotSize", OptionValueKind.LayoutSlotSize, layoutSize, layoutName));
                instances.Add(new OptionSetting("GuardRanges", OptionValueKind.LayoutGuardRanges, 0, layoutName));
            }
            else
            {
                // The layout reports its own errors; emitting here would only add follow-on compile errors.
                layoutHasErrors = true;
            }
        }
        else
        {
            Add(instances, "SlotSize", OptionValueKind.Bytes, instanceSize);
        }
        long? instanceGuard = reader.Size("InstanceGuardSize", allowZero: true);
        long? instanceKeep = reader.Size("InstanceKeepResident", allowZero: true);
        reader.KeepResidentWithin("InstanceKeepResident", instanceKeep, args.Has("InstanceLayout") ? "the InstanceLayout slot size" : "InstanceSize", instanceSize);
        Add(instances, "GuardSize", OptionValueKind.Bytes, instanceGuard);
        Add(instances, "KeepResident", OptionValueKind.Bytes, instanceKeep);
        int? instanceWarm = reader.Count("MaxUnusedWarmInstances", 0, instanceCount ?? OptionRules.MaxSlotCount);
        int? instanceBatch = reader.Count("InstanceDecommitBatchSize", 1, instanceCount ?? OptionRules.MaxSlotCount);
        Add(instances, "MaxUnusedWarmSlots", OptionValueKind.Int32, instanceWarm);
        Add(instances, "DecommitBatchSize", OptionValueKind.Int32, instanceBatch);

        var memories = new List<OptionSetting>();
        int? memoryCount = reader.Count("MemoryCount", 1, OptionRules.MaxSlotCount);
        long? memorySize = reader.Size("MemorySize", allowZero: false);
        long? memoryGuard = reader.Size("MemoryGuardSize", allowZero: true);
        long? memoryKeep = reader.Size("MemoryKeepResident", allowZero: true);
        reader.KeepResidentWithin("MemoryKeepResident", memoryKeep, "MemorySize", memorySize);
        int? warm = reader.Count("MaxUnusedWarmMemories", 0, memoryCount ?? OptionRules.MaxSlotCount);
        int? batch = reader.Count("MemoryDecommitBatchSize", 1, memoryCount ?? OptionRules.MaxSlotCount);
        Add(memories, "MaxSlots", OptionValueKind.Int32, memoryCount);
        Add(memories, "SlotSize", OptionValueKind.Bytes, memorySize);
        Add(memories, "GuardSize", OptionValueKind.Bytes, memoryGuard);
        Add(memories, "KeepResident", OptionValueKind.Bytes, memoryKeep);
        Add(memories, "MaxUnusedWarmSlots", OptionValueKind.Int32, warm);
        Add(memories, "DecommitBatchSize", OptionValueKind.Int32, batch);

        // Reservations: each pool where count and size are both given, then their sum. Stacks count the guard
        // page below each stack, as the library does.
        ulong total = 0;
        bool anyTooLarge = false;
        total += reader.Reservation("The stack pool", "TotalStacks", stackCount, stackSize, Limits.PageSize, ref anyTooLarge);
        total += reader.Reservation("The instance pool", "InstanceCount", instanceCount, instanceSize, instanceGuard ?? 0, ref anyTooLarge);
        total += reader.Reservation("The memory pool", "MemoryCount", memoryCount, memorySize, memoryGuard ?? 0, ref anyTooLarge);
        if (!anyTooLarge && total > OptionRules.MaxReservationBytes)
        {
            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.ReservationTooLarge, args.Location,
                $"'{type.Name}' (all pools together)", total, OptionRules.MaxReservationBytes));
        }

        bool failed = target is null || layoutHasErrors || diagnostics.Any(d => d.Descriptor.DefaultSeverity == DiagnosticSeverity.Error);
        PoolingConfigurationModel? model = failed ? null : new PoolingConfigurationModel(
            target!, stacks.ToEquatableArray(), instances.ToEquatableArray(), memories.ToEquatableArray(), args.Boolean("CacheStackInStore"));
        return new ParseResult<PoolingConfigurationModel>(model, diagnostics.ToEquatableArray());
    }

    private static void Add(List<OptionSetting> settings, string property, OptionValueKind kind, long? value)
    {
        if (value is { } v)
        {
            settings.Add(new OptionSetting(property, kind, v));
        }
    }

    /// <summary>Checks single values and reports against the named argument that holds them.</summary>
    private sealed class Reader
    {
        private readonly AttributeArguments _args;
        private readonly List<DiagnosticInfo> _diagnostics;

        public Reader(AttributeArguments args, List<DiagnosticInfo> diagnostics)
        {
            _args = args;
            _diagnostics = diagnostics;
        }

        public int? Count(string name, int min, int max)
        {
            if (_args.Int64(name) is not { } value)
            {
                return null;
            }
            if (!OptionRules.IsCountInRange(value, min, max))
            {
                _diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.CountOutOfRange, _args.LocationOf(name), name, value, min, max));
                return null;
            }
            return (int)value;
        }

        /// <summary>A size from <paramref name="minimum"/> (default one page; zero when <paramref name="allowZero"/>)
        /// to <see cref="OptionRules.MaxRegionBytes"/>, in whole pages.</summary>
        public long? Size(string name, bool allowZero, long minimum = Limits.PageSize)
        {
            if (_args.Int64(name) is not { } value)
            {
                return null;
            }
            long min = allowZero ? 0 : minimum;
            if (value < min || !OptionRules.IsSizeInRange((ulong)value, allowZero))
            {
                _diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.SizeOutOfRange, _args.LocationOf(name), name, value,
                    min, OptionRules.MaxRegionBytes));
                return null;
            }
            if (!Limits.IsPageMultiple(value))
            {
                _diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.NotPageMultiple, _args.LocationOf(name), name, value, Limits.PageSize));
                return null;
            }
            return value;
        }

        public void KeepResidentWithin(string keepName, long? keep, string sizeName, long? size)
        {
            if (keep is { } k && size is { } s && k > s)
            {
                _diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.KeepResidentTooLarge, _args.LocationOf(keepName), keepName, k, sizeName, s));
            }
        }

        public ulong Reservation(string pool, string countName, int? count, long? slotSize, long perSlotExtra, ref bool tooLarge)
        {
            if (count is not { } c || slotSize is not { } s)
            {
                return 0;
            }
            // Count and sizes passed the checks above (at most MaxSlotCount and MaxRegionBytes), so this is exact.
            ulong bytes = OptionRules.PoolBytes(c, (ulong)s, (ulong)perSlotExtra);
            if (bytes > OptionRules.MaxReservationBytes)
            {
                _diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.ReservationTooLarge, _args.LocationOf(countName), pool, bytes, OptionRules.MaxReservationBytes));
                tooLarge = true;
                return 0;
            }
            return bytes;
        }
    }
}
