using Allocator.Generators.Helpers;

namespace Allocator.Generators.Model;

/// <summary>A validated pooling configuration: only the settings the attribute names, per options record.</summary>
/// <param name="CacheStackInStore">Null when the attribute leaves it unset.</param>
internal sealed record PoolingConfigurationModel(
    TargetTypeModel Target,
    EquatableArray<OptionSetting> Stacks,
    EquatableArray<OptionSetting> Instances,
    EquatableArray<OptionSetting> Memories,
    bool? CacheStackInStore);
