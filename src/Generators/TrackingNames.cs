namespace Allocator.Generators;

/// <summary>Names of the pipeline steps, so tests can check that they stay cached.</summary>
internal static class TrackingNames
{
    public const string SlotLayouts = nameof(SlotLayouts);
    public const string PoolingConfigurations = nameof(PoolingConfigurations);
}
