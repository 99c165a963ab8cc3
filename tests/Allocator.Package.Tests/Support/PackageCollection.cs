namespace Allocator.Package.Tests.Support;

/// <summary>Tests that share one packed feed (packing once keeps the suite fast).</summary>
[CollectionDefinition(Name)]
public sealed class PackageCollection : ICollectionFixture<PackedFeed>
{
    public const string Name = "packed feed";
}
