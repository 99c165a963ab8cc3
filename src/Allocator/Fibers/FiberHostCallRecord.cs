using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;

namespace Allocator.Fibers;

/// <summary>Where a host call's request lives while it runs: the function, a copy of the guest's argument words
/// (managed memory, so a late or racing read can never touch a returned stack) and the call's generation. Each fiber
/// driver has one, reused by every host call (synchronous or not) of every fiber it runs, so a call allocates
/// nothing. A <see cref="FiberHostCall"/> names the calling fiber's handle and the generation; once its call has
/// ended (it returned, another began, or the fiber ended and let go of the driver) reading it throws instead of
/// showing a later call's request.</summary>
/// <remarks>
/// <para>Why not the request inline in <see cref="FiberHostCall"/>, as before: 96 bytes passed by value. Native AOT
/// compiles without profile data, so nothing inlined the host function's delegate call, and the struct was built on
/// the stack word by word and copied into the argument area with wide loads and <c>rep movsq</c>: store-forwarding
/// stalls on every call (a third of a synchronous call's samples). 16 bytes travel in two registers.</para>
/// <para>Why the call names the fiber's handle and not this record: a call kept after its fiber ended would keep the
/// record, and through the driver's next fiber that fiber's Store, alive; the handle lets go of its driver when its
/// fiber ends.</para>
/// <para>Ordering: <see cref="Begin"/> publishes the new generation before it writes the request, every write a
/// release, and a read loads the value (acquire) before it checks the generation, so a read that sees any of the next
/// call's words also sees its generation, and throws.</para>
/// </remarks>
internal sealed class FiberHostCallRecord
{
    private int _function;
    private int _count;
    private long _a0;
    private long _a1;
    private long _a2;
    private long _a3;
    private long _a4;
    private long _a5;
    private long _a6;
    private long _a7;
    private long _generation;

    /// <summary>Starts a call: a new generation, then the request, the first <paramref name="count"/> (checked by the
    /// caller, at most <see cref="FiberHostCall.MaxArguments"/>) words of <paramref name="arguments"/> copied.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public unsafe FiberHostCall Begin(Fiber fiber, int function, int count, nint* arguments)
    {
        Debug.Assert((uint)count <= FiberHostCall.MaxArguments && (count == 0 || arguments != null));
        long generation = _generation + 1;
        Volatile.Write(ref _generation, generation);
        Volatile.Write(ref _function, function);
        Volatile.Write(ref _count, count);
        // Words beyond the count keep an earlier call's values: the indexer never reads past ArgumentCount.
        switch (count)
        {
            case 8: Volatile.Write(ref _a7, arguments[7]); goto case 7;
            case 7: Volatile.Write(ref _a6, arguments[6]); goto case 6;
            case 6: Volatile.Write(ref _a5, arguments[5]); goto case 5;
            case 5: Volatile.Write(ref _a4, arguments[4]); goto case 4;
            case 4: Volatile.Write(ref _a3, arguments[3]); goto case 3;
            case 3: Volatile.Write(ref _a2, arguments[2]); goto case 2;
            case 2: Volatile.Write(ref _a1, arguments[1]); goto case 1;
            case 1: Volatile.Write(ref _a0, arguments[0]); break;
        }
        return new FiberHostCall(fiber, generation);
    }

    /// <summary>Ends the call in progress: reading it throws from now on.</summary>
    public void End() => Volatile.Write(ref _generation, _generation + 1);

    /// <summary>The function of call <paramref name="generation"/>, if that call still runs.</summary>
    public int FunctionOf(long generation)
    {
        int function = Volatile.Read(ref _function);
        Check(generation);
        return function;
    }

    /// <summary>The argument count of call <paramref name="generation"/>, if that call still runs.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int CountOf(long generation)
    {
        int count = Volatile.Read(ref _count);
        Check(generation);
        return count;
    }

    /// <summary>Argument <paramref name="index"/> of call <paramref name="generation"/>, which has at least
    /// <paramref name="index"/> + 1 arguments (checked by the caller against the same generation's count).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public long Read(long generation, int index)
    {
        Debug.Assert((uint)index < FiberHostCall.MaxArguments);
        long value = index switch
        {
            0 => Volatile.Read(ref _a0),
            1 => Volatile.Read(ref _a1),
            2 => Volatile.Read(ref _a2),
            3 => Volatile.Read(ref _a3),
            4 => Volatile.Read(ref _a4),
            5 => Volatile.Read(ref _a5),
            6 => Volatile.Read(ref _a6),
            _ => Volatile.Read(ref _a7),
        };
        Check(generation);
        return value;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Check(long generation)
    {
        if (Volatile.Read(ref _generation) != generation)
        {
            ThrowCallEnded();
        }
    }

    [DoesNotReturn]
    public static void ThrowCallEnded() => throw new InvalidOperationException(
        "This host call has ended: its request can be read only while the call runs. Copy the values you need to keep before the host function returns.");
}
