namespace Allocator.Fibers;

/// <summary><c>enum allocator_fiber_state</c>: where a native fiber stopped.</summary>
internal enum NativeFiberState
{
    /// <summary>The native side refused to resume: the fiber is running or finished.</summary>
    Invalid = -1,
    Created = 0,
    Running = 1,
    HostCall = 2,
    Completed = 3,
    Trapped = 4,
    Cancelled = 5,
    /// <summary>The guest yielded at a poll or a host call: its deadline passed or a cancel was requested.</summary>
    Yielded = 6,
}
