namespace Allocator.Tests;

/// <summary>Waiting for what a cancel sets in motion on other threads (a host task's end, a deferred release).</summary>
internal static class CancellationAssert
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    /// <summary>Polls <paramref name="condition"/> until it holds; fails after <see cref="Timeout"/>.</summary>
    public static async Task EventuallyAsync(Func<bool> condition, string? what = null)
    {
        DateTime giveUp = DateTime.UtcNow + Timeout;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < giveUp, $"Timed out waiting for {what ?? "the condition"}.");
            await Task.Delay(5);
        }
    }
}
