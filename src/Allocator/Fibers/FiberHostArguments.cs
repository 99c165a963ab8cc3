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
    private FiberHostArgumentValues _values;
    private readonly SyncHostBinding? _binding;
    private readonly long _generation;

    /// <summary>The arguments of synchronous call <paramref name="generation"/> of <paramref name="binding"/>.</summary>
    internal FiberHostArguments(SyncHostBinding binding, long generation)
    {
        _values = default;
        _binding = binding;
        _generation = generation;
    }

    /// <summary>Argument <paramref name="index"/>; the caller has checked it against the call's argument count.</summary>
    /// <exception cref="InvalidOperationException">Read from a synchronous call that has returned.</exception>
    public long this[int index]
    {
        readonly get => _binding is null ? _values[index] : _binding.Read(_generation, index);
        set
        {
            Debug.Assert(_binding is null, "Only the inline copy of an asynchronous call is written.");
            _values[index] = value;
        }
    }
}

/// <summary>Room for <see cref="FiberHostCall.MaxArguments"/> arguments, inline.</summary>
[InlineArray(FiberHostCall.MaxArguments)]
internal struct FiberHostArgumentValues
{
    private long _element0;
}
