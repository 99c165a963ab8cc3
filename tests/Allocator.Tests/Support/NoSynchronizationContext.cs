namespace Allocator.Tests.Support;

/// <summary>Clears the test runner's synchronization context for a scope: with one (xunit sets one), a task's
/// completion and a value task's awaiter queue their continuations to it instead of running them inline, which hides
/// whether the code under test would have run them inline.</summary>
internal sealed class NoSynchronizationContext : IDisposable
{
    private readonly SynchronizationContext? _previous = SynchronizationContext.Current;

    public NoSynchronizationContext() => SynchronizationContext.SetSynchronizationContext(null);

    public void Dispose() => SynchronizationContext.SetSynchronizationContext(_previous);
}
