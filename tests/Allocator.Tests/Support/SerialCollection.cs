namespace Allocator.Tests.Support;

/// <summary>Tests that stop the whole process for long stretches (GC storms) run alone, so they neither slow other
/// tests nor get slowed by them.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class SerialCollection
{
    public const string Name = "Serial";
}
