using Allocator.Fibers;

namespace Allocator.Tests.Fibers;

/// <summary>What both ways of building an asynchronous host call (inside the resume, and by the driver) must give:
/// exactly the guest's arguments, in a copy of the call's own.</summary>
internal static class HostCallArgumentChecks
{
    /// <summary>Every argument count, 0 to <see cref="FiberHostCall.MaxArguments"/>: the call's words are copied by a
    /// switch that falls through from the count down (FiberHostArgumentWords), so each count is an arm of its own.</summary>
    public static TheoryData<int> EveryCount => [.. Enumerable.Range(0, FiberHostCall.MaxArguments + 1)];

    /// <summary>The guest (TestGuest.CallFunction) passed 1, 2, ... <paramref name="count"/> to
    /// <paramref name="function"/>; <paramref name="kept"/> is read after the guest's frame is gone.</summary>
    public static void AssertKeptCopy(FiberHostCall kept, Fiber fiber, int function, int count)
    {
        Assert.Equal(count, kept.ArgumentCount);
        Assert.Equal(function, kept.Function);
        Assert.Same(fiber, kept.Fiber);
        for (int i = 0; i < count; i++)
        {
            Assert.Equal(i + 1, kept[i]); // the call holds its own copy
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => kept[count]);
    }
}
