using System.Runtime.CompilerServices;

namespace Allocator.Fibers;

/// <summary>Inline storage for a host call's arguments, so a call allocates nothing.</summary>
[InlineArray(FiberHostCall.MaxArguments)]
internal struct FiberHostArguments
{
    private long _element0;
}
