using System.Globalization;
using Allocator.Generators.Helpers;
using Allocator.Generators.Model;

namespace Allocator.Generators.PoolingConfiguration;

/// <summary>Writes <c>CreateOptions()</c> and <c>CreateAllocator()</c> for a pooling configuration.</summary>
/// <remarks>Options start from the records' defaults and override only what the attribute sets, via <c>with</c>.</remarks>
internal static class PoolingConfigurationEmitter
{
    private const string OptionsType = "global::Allocator.PoolingAllocatorOptions";

    public static string Emit(PoolingConfigurationModel model) => TypeNesting.Write(model.Target, writer => WriteMembers(writer, model));

    private static void WriteMembers(IndentedTextWriter w, PoolingConfigurationModel model)
    {
        w.WriteLine("/// <summary>The options declared by [PoolingConfiguration]; settings it leaves out keep the option records' defaults.</summary>");
        using (w.WriteBlock($"public static {OptionsType} CreateOptions()"))
        {
            w.WriteLine($"{OptionsType} defaults = new {OptionsType}();");
            w.WriteLine("return defaults with");
            w.WriteLine("{");
            WritePool(w, "Stacks", model.Stacks);
            WritePool(w, "Instances", model.Instances);
            WritePool(w, "Memories", model.Memories);
            if (model.CacheStackInStore is { } cache)
            {
                w.WriteLine($"    CacheStackInStore = {(cache ? "true" : "false")},");
            }
            // Errors name the attribute's settings (TotalStacks of [PoolingConfiguration] on this type).
            w.WriteLine($"    DeclaredBy = \"{DisplayName(model.Target)}\",");
            w.WriteLine("};");
        }
        w.WriteLine();
        w.WriteLine("/// <summary>Reserves every pool of this configuration.</summary>");
        w.WriteLine("public static global::Allocator.PoolingAllocator CreateAllocator() => new global::Allocator.PoolingAllocator(CreateOptions());");
    }

    private static void WritePool(IndentedTextWriter w, string pool, EquatableArray<OptionSetting> settings)
    {
        if (settings.Count == 0)
        {
            return;
        }
        w.WriteLine($"    {pool} = defaults.{pool} with");
        w.WriteLine("    {");
        foreach (OptionSetting setting in settings)
        {
            w.WriteLine($"        {setting.Property} = {Format(setting)},");
        }
        w.WriteLine("    },");
    }

    /// <summary>The type as C# names it, without <c>global::</c> (type names hold no quotes or backslashes).</summary>
    private static string DisplayName(TargetTypeModel target)
    {
        const string Global = "global::";
        string name = target.FullyQualifiedName;
        return name.StartsWith(Global, System.StringComparison.Ordinal) ? name.Substring(Global.Length) : name;
    }

    private static string Format(OptionSetting setting) => setting.Kind switch
    {
        OptionValueKind.Int32 => setting.Value.ToString(CultureInfo.InvariantCulture),
        OptionValueKind.Boolean => setting.Value != 0 ? "true" : "false",
        OptionValueKind.LayoutSlotSize => $"(nuint){setting.LayoutType}.SlotSize",
        OptionValueKind.LayoutGuardRanges => $"{setting.LayoutType}.GuardRanges",
        _ => Bytes(setting.Value),
    };

    /// <summary>A byte count as <c>nuint</c>. Above 4 GiB a constant cast would warn (CS8778: nuint may be 32 bits), so
    /// the value goes through <c>CreateChecked</c>, which throws instead of truncating on a 32-bit process.</summary>
    private static string Bytes(long value)
    {
        string text = value.ToString(CultureInfo.InvariantCulture);
        return value <= uint.MaxValue ? $"(nuint){text}UL" : $"nuint.CreateChecked({text}UL)";
    }
}
