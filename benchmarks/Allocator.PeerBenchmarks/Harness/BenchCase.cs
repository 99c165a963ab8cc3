namespace Allocator.PeerBenchmarks.Harness;

/// <summary>One measured operation: <see cref="Run"/> performs it <c>n</c> times. A case that must leave something
/// out of its time (the wake-up of a second thread) times itself: <see cref="TimedRun"/> performs it <c>n</c> times
/// and returns the nanoseconds that count.</summary>
internal sealed record BenchCase(string Name, Action<long> Run)
{
    public Func<long, double>? TimedRun { get; init; }

    public static BenchCase SelfTimed(string name, Func<long, double> timedRun) => new(name, n => timedRun(n)) { TimedRun = timedRun };
}

/// <summary>One row of the table: our case against a peer's doing the same work; ratio = peer time / ours, so above 1
/// means we are faster. <paramref name="Note"/> says what exactly is compared when the name cannot.</summary>
internal sealed record Comparison(string Name, BenchCase Ours, BenchCase Peer, string PeerName, string? Target = null, string? Note = null);
