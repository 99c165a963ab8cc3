using System.Runtime.InteropServices;

namespace Allocator.Stores;

/// <summary>Unused bytes declared last in an object that its thread writes on every checkout and return (a Store's
/// core, a lease), so the written words end at least one cache line (64 bytes) before the next object in memory begins.</summary>
/// <remarks>
/// <para>Objects one thread allocates in a row lie back to back on the GC heap, at any address modulo 64, and the
/// runtime cannot align them. 48 bytes: the last word before the padding then starts 64 bytes before the next
/// object's first word (its method table pointer, which every call on it reads), past the 8 bytes of that object's
/// header.</para>
/// <para>Stores: an embedder that creates its Stores on one thread and runs them on others gets them back to back.
/// When a Store carried its lock and lease lists (written on every checkout and return), they shared a line with the
/// next Store's method table pointer and first fields (read by its own thread on every call), at 4 of the 8 addresses
/// modulo 64: measured with two such Stores, each on its own pinned core doing stack get+return, 2 threads took 3x the
/// 1-thread time per operation there (0.29-0.34x) and about the same elsewhere (0.91-0.95x). Padded: 0.91-0.96x at
/// every address, but 48 bytes more in the one object a request allocates. That state now lives in a
/// <see cref="StoreCore"/>, padded here and reused from Store to Store, and the Store itself is written only as it
/// ends.</para>
/// <para>Leases: each stack slot's lease is created by its first checkout, so a thread that moves between cores
/// creates leases back to back: with the leases of stacks 0 and 1 made so, 2 threads' stack get+return went from
/// 0.91-0.95x to 0.36-0.48x. Leases are made once per pool slot: 48 bytes per slot, nothing per checkout.</para>
/// </remarks>
[StructLayout(LayoutKind.Sequential, Size = Bytes)]
internal struct CacheLineTailPadding
{
    internal const int Bytes = 48;
}
