using System.Runtime.CompilerServices;

namespace Allocator.Fibers;

/// <summary>An epoch counter for cooperative interruption, in the style of Wasmtime's engine epoch: the host advances
/// it (explicitly, or from a timer it owns), and each fiber given a deadline on it with
/// <see cref="Fiber.SetEpochDeadline"/> is told to yield once the counter reaches that deadline.</summary>
/// <remarks>One counter may serve any number of fibers and Stores. Guests see it through
/// <c>allocator_fiber_should_yield</c> (a load and a compare on this counter's word) and at every host call. A guest
/// that never polls and never calls the host cannot be interrupted: there are no signals and no thread aborts.</remarks>
public sealed class FiberEpoch
{
    // The word sits in the middle of a pinned 128-byte array: native code reads it by address, and no other data
    // shares its cache line with a counter that a timer bumps while every running guest reads it.
    private const int WordIndex = 8;
    private readonly ulong[] _words = GC.AllocateArray<ulong>(16, pinned: true);

    /// <summary>The current epoch; it starts at 0.</summary>
    public ulong Current => Volatile.Read(ref _words[WordIndex]);

    /// <summary>Advances the epoch by one; fibers whose deadline it reaches yield at their next poll or host call.</summary>
    /// <returns>The new epoch.</returns>
    public ulong Increment() => Interlocked.Increment(ref _words[WordIndex]);

    /// <summary>Address of the counter word, for the native context; valid while this object is reachable.</summary>
    internal unsafe nint Address => (nint)Unsafe.AsPointer(ref _words[WordIndex]);
}
