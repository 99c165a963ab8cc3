using Allocator.Fibers;

namespace Allocator.Tests.Fibers;

/// <summary>What both ways of starting an asynchronous host call (inside the resume, and by the driver) must give:
/// exactly the guest's arguments while the call runs, and nothing once it has ended.</summary>
internal static class HostCallArgumentChecks
{
    /// <summary>Every argument count, 0 to <see cref="FiberHostCall.MaxArguments"/>: the call's words are copied by a
    /// switch that falls through from the count down (FiberHostCallRecord.Begin), so each count is an arm of its own.</summary>
    public static TheoryData<int> EveryCount => [.. Enumerable.Range(0, FiberHostCall.MaxArguments + 1)];

    /// <summary>What a host function read of its <paramref name="call"/> while it ran.</summary>
    public sealed record Seen(int ArgumentCount, int Function, Fiber Fiber, long[] Arguments, bool RefusedPastCount);

    public static Seen Read(FiberHostCall call)
    {
        long[] arguments = new long[call.ArgumentCount];
        for (int i = 0; i < arguments.Length; i++)
        {
            arguments[i] = call[i];
        }
        bool refused;
        try
        {
            _ = call[call.ArgumentCount];
            refused = false;
        }
        catch (ArgumentOutOfRangeException)
        {
            refused = true;
        }
        return new Seen(call.ArgumentCount, call.Function, call.Fiber, arguments, refused);
    }

    /// <summary>The guest (TestGuest.CallFunction) passed 1, 2, ... <paramref name="count"/> to
    /// <paramref name="function"/>: <paramref name="seen"/> was read while the call ran (the copy, after the guest's
    /// words were read out of its frame), and <paramref name="kept"/>, read after the call ended, refuses its request
    /// but still names its fiber.</summary>
    public static void AssertSeenThenEnded(Seen? seen, FiberHostCall kept, Fiber fiber, int function, int count)
    {
        Assert.NotNull(seen);
        Assert.Equal(count, seen.ArgumentCount);
        Assert.Equal(function, seen.Function);
        Assert.Same(fiber, seen.Fiber);
        Assert.Equal(Enumerable.Range(1, count).Select(i => (long)i), seen.Arguments);
        Assert.True(seen.RefusedPastCount, "an index at the count must be refused");
        AssertEnded(kept, fiber);
    }

    /// <summary>A call that has ended refuses its request and still names its fiber.</summary>
    public static void AssertEnded(FiberHostCall kept, Fiber fiber)
    {
        InvalidOperationException refused = Assert.Throws<InvalidOperationException>(() => kept[0]);
        Assert.Contains("only while the call runs", refused.Message, StringComparison.Ordinal);
        Assert.Throws<InvalidOperationException>(() => kept.ArgumentCount);
        Assert.Throws<InvalidOperationException>(() => kept.Function);
        Assert.Same(fiber, kept.Fiber);
    }
}
