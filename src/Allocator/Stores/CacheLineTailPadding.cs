using System.Runtime.InteropServices;

namespace Allocator.Stores;

/// <summary>Unused bytes declared last in an object that its thread writes on every checkout and return (a lease), so
/// the written words end at least one cache line (64 bytes) before the next object in memory begins.</summary>
/// <remarks>Objects one thread allocates in a row lie back to back on the GC heap, at any address modulo 64, and the
/// runtime cannot align them. A thread that moves between cores creates leases in a row (each stack slot's lease is
/// made by its first checkout), and two threads then using neighbouring leases moved a shared line between their
/// cores on every operation: with the leases of stacks 0 and 1 made back to back by one thread, 2 threads' stack
/// get+return went from 0.91-0.95x of the 1-thread time per operation to 0.36-0.48x. 48 bytes: the last word before
/// the padding then starts 64 bytes before the next object's first word (its method table pointer, which a call on
/// it reads), past the 8 bytes of that object's header. Leases are made once per pool slot, so this costs 48 bytes
/// per slot, nothing per checkout.</remarks>
[StructLayout(LayoutKind.Sequential, Size = Bytes)]
internal struct CacheLineTailPadding
{
    internal const int Bytes = 48;
}
