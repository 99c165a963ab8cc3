namespace Allocator.PeerBenchmarks.Harness;

/// <summary>A group of comparisons sharing setup (allocators, engines, native libraries).</summary>
internal interface ICaseSet : IDisposable
{
    /// <summary>The rows this set can measure on this machine.</summary>
    IEnumerable<Comparison> Comparisons();

    /// <summary>The rows it cannot, each with the reason printed in its place.</summary>
    IEnumerable<SkippedComparison> Skipped();
}

/// <summary>A row that is printed but not measured, e.g. when a peer library is not installed.</summary>
internal sealed record SkippedComparison(string Name, string PeerName, string Reason, string? Target = null);
