namespace Allocator.Generators;

/// <summary>Metadata names of the Allocator types the generator and analyzers look for.</summary>
internal static class KnownNames
{
    public const string SlotLayoutAttribute = "Allocator.Configuration.SlotLayoutAttribute";
    public const string SlotRegionAttribute = "Allocator.Configuration.SlotRegionAttribute";
    public const string PoolingConfigurationAttribute = "Allocator.Configuration.PoolingConfigurationAttribute";
    public const string Store = "Allocator.Store`1";
    public const string StackToken = "Allocator.StackToken";
    public const string Fiber = "Allocator.Fibers.Fiber";
}
