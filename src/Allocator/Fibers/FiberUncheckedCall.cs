using System.Runtime.InteropServices;

namespace Allocator.Fibers;

/// <summary>What an unchecked host function (<see cref="FiberHostEntry.Unchecked"/>) receives: the guest's host call
/// as it made it, nothing checked or copied. Mirror of <c>allocator_fiber_unchecked_call</c> in <c>fiber.h</c>.</summary>
/// <remarks>It lives in the guest's host call frame, and <see cref="Arguments"/> in the guest's memory: both are valid
/// only while the function runs. Keep neither the pointer to this struct nor <see cref="Arguments"/>.</remarks>
[StructLayout(LayoutKind.Sequential)]
public readonly unsafe struct FiberUncheckedCall
{
    private readonly long* _arguments;
    private readonly int _function;
    private readonly int _argumentCount;

    internal FiberUncheckedCall(long* arguments, int function, int argumentCount)
    {
        _arguments = arguments;
        _function = function;
        _argumentCount = argumentCount;
    }

    /// <summary>The guest's argument words, as it passed them (may be null when <see cref="ArgumentCount"/> is 0, or
    /// when the guest passed none).</summary>
    public long* Arguments => _arguments;

    /// <summary>The index the guest called: the entry's position in its <see cref="FiberHostFunctions"/> table.</summary>
    public int Function => _function;

    /// <summary>The argument count the guest passed; not checked against anything: reading beyond what the guest
    /// really passed reads whatever lies there.</summary>
    public int ArgumentCount => _argumentCount;
}
