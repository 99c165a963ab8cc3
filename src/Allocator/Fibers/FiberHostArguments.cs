using System.Diagnostics;
using System.Runtime.CompilerServices;

namespace Allocator.Fibers;

/// <summary>A host call's arguments, stored so that a call allocates nothing: an inline copy for an asynchronous call
/// (the driver fills it; it stays valid across awaits and after the call), or, for a synchronous call, a reference to
/// the fiber's <see cref="SyncHostBinding"/>, which holds the copy while the call runs.</summary>
/// <remarks>Why a synchronous call does not fill the inline copy: the call passes its <see cref="FiberHostCall"/> by
/// value, and copying eight words in one at a time and then out as wide vectors stalls store forwarding twice; that
/// made up about 9 of the 19 ns of a synchronous host call. Left zero, the inline part copies at full speed.</remarks>
internal struct FiberHostArguments
{
    private readonly FiberHostArgumentWords _values;
    private readonly SyncHostBinding? _binding;
    private readonly long _generation;

    /// <summary>The inline copy of an asynchronous call's arguments.</summary>
    internal unsafe FiberHostArguments(nint* arguments, int count)
    {
        _values = FiberHostArgumentWords.Copy(arguments, count);
        _binding = null;
        _generation = 0;
    }

    /// <summary>The arguments of synchronous call <paramref name="generation"/> of <paramref name="binding"/>.</summary>
    internal FiberHostArguments(SyncHostBinding binding, long generation)
    {
        _values = default;
        _binding = binding;
        _generation = generation;
    }

    /// <summary>Argument <paramref name="index"/>; the caller has checked it against the call's argument count.</summary>
    /// <exception cref="InvalidOperationException">Read from a synchronous call that has returned.</exception>
    public readonly long this[int index] => _binding is null ? _values[index] : _binding.Read(_generation, index);
}

/// <summary>An asynchronous call's arguments, inline: eight named words written and read at constant offsets.</summary>
/// <remarks>Why not an inline array: its elements are written through a computed address, which keeps the whole
/// <see cref="FiberHostCall"/> in memory, and passing it to a host function that the JIT inlines (a delegate it
/// guessed) copied it with wide vector loads right after those word stores: two store-forwarding stalls (about a
/// third of ServeInline's samples). Named fields at constant offsets let the JIT keep the call in registers: a ready
/// asynchronous host call went from 17.5 to 13.9 ns (standalone loop of 100 calls per fiber).</remarks>
internal struct FiberHostArgumentWords
{
    private long _a0;
    private long _a1;
    private long _a2;
    private long _a3;
    private long _a4;
    private long _a5;
    private long _a6;
    private long _a7;

    /// <summary>The first <paramref name="count"/> (at most <see cref="FiberHostCall.MaxArguments"/>) words of
    /// <paramref name="arguments"/>; the rest zero.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe FiberHostArgumentWords Copy(nint* arguments, int count)
    {
        Debug.Assert((uint)count <= FiberHostCall.MaxArguments);
        FiberHostArgumentWords words = default;
        switch (count)
        {
            case 8: words._a7 = arguments[7]; goto case 7;
            case 7: words._a6 = arguments[6]; goto case 6;
            case 6: words._a5 = arguments[5]; goto case 5;
            case 5: words._a4 = arguments[4]; goto case 4;
            case 4: words._a3 = arguments[3]; goto case 3;
            case 3: words._a2 = arguments[2]; goto case 2;
            case 2: words._a1 = arguments[1]; goto case 1;
            case 1: words._a0 = arguments[0]; break;
        }
        return words;
    }

    public readonly long this[int index]
    {
        get
        {
            Debug.Assert((uint)index < FiberHostCall.MaxArguments);
            return index switch
            {
                0 => _a0,
                1 => _a1,
                2 => _a2,
                3 => _a3,
                4 => _a4,
                5 => _a5,
                6 => _a6,
                _ => _a7,
            };
        }
    }
}

/// <summary>Room for <see cref="FiberHostCall.MaxArguments"/> arguments, inline.</summary>
[InlineArray(FiberHostCall.MaxArguments)]
internal struct FiberHostArgumentValues
{
    private long _element0;
}
