namespace Allocator.Configuration;

/// <summary>Declares a pooling configuration on a <c>partial class</c>. The Allocator.Generators source generator
/// adds <c>CreateOptions()</c> (a <see cref="PoolingAllocatorOptions"/>) and <c>CreateAllocator()</c> and checks the
/// values at compile time. Properties left unset keep the defaults of the option records.</summary>
/// <example>
/// <code>
/// [PoolingConfiguration(TotalStacks = 64, StackSize = 256 * 1024, ZeroStacksOnReturn = true,
///     InstanceCount = 128, InstanceLayout = typeof(VmContext),
///     MemoryCount = 128, MemorySize = 1 &lt;&lt; 20, MemoryGuardSize = 64 * 1024)]
/// public static partial class EmbedderPools;
/// </code>
/// </example>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false, Inherited = false)]
public sealed class PoolingConfigurationAttribute : Attribute
{
    /// <summary><see cref="StackPoolOptions.MaxStacks"/>.</summary>
    public int TotalStacks { get; set; }

    /// <summary><see cref="StackPoolOptions.StackSize"/>, a page multiple.</summary>
    public long StackSize { get; set; }

    /// <summary><see cref="StackPoolOptions.KeepResident"/>, a page multiple no larger than the stack size.</summary>
    public long StackKeepResident { get; set; }

    /// <summary><see cref="StackPoolOptions.ZeroOnReturn"/>.</summary>
    public bool ZeroStacksOnReturn { get; set; }

    /// <summary><see cref="PoolingAllocatorOptions.CacheStackInStore"/>.</summary>
    public bool CacheStackInStore { get; set; }

    /// <summary>Instance slots (<see cref="SlotPoolOptions.MaxSlots"/>).</summary>
    public int InstanceCount { get; set; }

    /// <summary>Bytes per instance slot, a page multiple. Set this or <see cref="InstanceLayout"/>.</summary>
    public long InstanceSize { get; set; }

    /// <summary>A <see cref="SlotLayoutAttribute"/> struct whose slot size becomes the instance slot size.</summary>
    public Type? InstanceLayout { get; set; }

    /// <summary>Inaccessible bytes after each instance slot, a page multiple.</summary>
    public long InstanceGuardSize { get; set; }

    /// <summary>Bytes of an instance slot kept resident on reset, a page multiple.</summary>
    public long InstanceKeepResident { get; set; }

    /// <summary><see cref="SlotPoolOptions.MaxUnusedWarmSlots"/> of the instance pool: free instance slots that
    /// remember the affinity key (e.g. the module) that used them last.</summary>
    public int MaxUnusedWarmInstances { get; set; }

    /// <summary><see cref="SlotPoolOptions.DecommitBatchSize"/> of the instance pool.</summary>
    public int InstanceDecommitBatchSize { get; set; }

    /// <summary>Linear memory slots (<see cref="SlotPoolOptions.MaxSlots"/>).</summary>
    public int MemoryCount { get; set; }

    /// <summary>Bytes per linear memory slot, a page multiple.</summary>
    public long MemorySize { get; set; }

    /// <summary>Inaccessible bytes after each memory slot, a page multiple.</summary>
    public long MemoryGuardSize { get; set; }

    /// <summary>Bytes of a memory slot kept resident on reset, a page multiple.</summary>
    public long MemoryKeepResident { get; set; }

    /// <summary><see cref="SlotPoolOptions.MaxUnusedWarmSlots"/> of the memory pool.</summary>
    public int MaxUnusedWarmMemories { get; set; }

    /// <summary><see cref="SlotPoolOptions.DecommitBatchSize"/> of the memory pool.</summary>
    public int MemoryDecommitBatchSize { get; set; }
}
