using Allocator.Pooling;

namespace Allocator;

/// <summary>The name of a pool's size limit as its author wrote it: the <c>[PoolingConfiguration]</c> property when
/// the options came from the attribute (<see cref="PoolingAllocatorOptions.DeclaredBy"/>), else the options record's.</summary>
internal static class SettingNames
{
    public static string Limit(SlotKind kind, string? declaredBy) => declaredBy is null
        ? kind switch
        {
            SlotKind.Stack => $"{nameof(StackPoolOptions)}.{nameof(StackPoolOptions.MaxStacks)}",
            SlotKind.Instance => $"{nameof(SlotPoolOptions)}(instances).{nameof(SlotPoolOptions.MaxSlots)}",
            _ => $"{nameof(SlotPoolOptions)}(memories).{nameof(SlotPoolOptions.MaxSlots)}",
        }
        : kind switch
        {
            SlotKind.Stack => nameof(Configuration.PoolingConfigurationAttribute.TotalStacks),
            SlotKind.Instance => nameof(Configuration.PoolingConfigurationAttribute.InstanceCount),
            _ => nameof(Configuration.PoolingConfigurationAttribute.MemoryCount),
        } + $" of [PoolingConfiguration] on {declaredBy}";

    /// <summary>The pool's name in messages and metrics.</summary>
    public static string Pool(SlotKind kind) => kind switch
    {
        SlotKind.Stack => "stacks",
        SlotKind.Instance => "instances",
        _ => "memories",
    };
}
