using System.Runtime.CompilerServices;

namespace Allocator.Fibers;

/// <summary>One call from a guest to a host function. Its request (<see cref="Function"/>, <see cref="ArgumentCount"/>,
/// the arguments) was copied out of the guest's stack when the call began and can be read while the call runs, across
/// the host function's awaits too; once the call has ended, reading it throws <see cref="InvalidOperationException"/>
/// (copy what you need to keep). <see cref="Fiber"/> and <see cref="CancellationToken"/> stay readable.</summary>
/// <remarks>16 bytes, passed in registers: it names the calling fiber and which of its driver's calls it is; the
/// request lives in a record the driver reuses call after call (see FiberHostCallRecord), so a call that has ended can
/// never show a later call's request.</remarks>
public readonly struct FiberHostCall
{
    /// <summary>Most arguments one host call can pass (a guest passing more faults the fiber).</summary>
    public const int MaxArguments = 8;

    private readonly Fiber? _fiber;
    private readonly long _generation;

    internal FiberHostCall(Fiber fiber, long generation)
    {
        _fiber = fiber;
        _generation = generation;
    }

    /// <summary>The calling fiber (a handle that names that fiber for good, so it stays readable after the call).</summary>
    public Fiber Fiber => _fiber!;

    /// <summary>Index of the host function in the fiber's <see cref="FiberHostFunctions"/>.</summary>
    /// <exception cref="InvalidOperationException">The call has ended.</exception>
    public int Function => _fiber is { } fiber ? RecordOf(fiber).FunctionOf(_generation) : 0;

    /// <summary>How many arguments the guest passed.</summary>
    /// <exception cref="InvalidOperationException">The call has ended.</exception>
    public int ArgumentCount => _fiber is { } fiber ? RecordOf(fiber).CountOf(_generation) : 0;

    /// <summary>Fires when the fiber is cancelled: by the token passed to <see cref="Fiber.RunAsync"/>, by
    /// <see cref="Fiber.Cancel"/>/<see cref="Fiber.Dispose"/> or by its Store's Dispose. A host function should pass it
    /// on to whatever it awaits: after a cancel, the fiber's stack and every slot of its Store stay checked out until
    /// the host function's task has ended (nothing is reused while it can still write to guest memory), so the sooner
    /// it ends, the sooner they go back. Created on first use.</summary>
    public CancellationToken CancellationToken => Fiber is { } fiber ? fiber.HostCancellationToken : CancellationToken.None;

    /// <summary>Argument <paramref name="index"/> (an <c>intptr_t</c> on the guest side).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The guest passed fewer arguments.</exception>
    /// <exception cref="InvalidOperationException">The call has ended: its arguments can be read only while it runs.</exception>
    public long this[int index]
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)] // native AOT left it a call in every host function
        get
        {
            if (_fiber is not { } fiber)
            {
                throw new ArgumentOutOfRangeException(nameof(index), index, "A default FiberHostCall has no arguments.");
            }
            FiberHostCallRecord record = RecordOf(fiber);
            ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)index, (uint)record.CountOf(_generation), nameof(index));
            return record.Read(_generation, index);
        }
    }

    /// <summary>The record of the fiber's driver; a fiber that has ended has let go of its driver, and its calls with it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static FiberHostCallRecord RecordOf(Fiber fiber)
    {
        FiberDriver? driver = fiber.Driver;
        if (driver is null)
        {
            FiberHostCallRecord.ThrowCallEnded();
        }
        return driver.HostCall;
    }
}
