namespace Allocator.Memory;

/// <summary>Test seam: makes chosen OS memory calls fail as the OS would, so every failure path can be exercised.</summary>
/// <remarks>Process-wide on purpose (pools do memory work on whichever thread returns a slot), so tests that set it
/// run in a collection of their own. Null in production: the check is one static read before a system call.</remarks>
internal static class VirtualMemoryFaults
{
    private static Func<VirtualMemoryOperation, nuint, int>? s_hook;

    /// <summary>Called before each OS call with the operation and its size; a non-zero result is the error code the
    /// call then fails with, without being made.</summary>
    public static Func<VirtualMemoryOperation, nuint, int>? Hook
    {
        get => Volatile.Read(ref s_hook);
        set => Volatile.Write(ref s_hook, value);
    }

    /// <summary>The injected error code for this call, or 0.</summary>
    public static int Check(VirtualMemoryOperation operation, nuint size) =>
        Volatile.Read(ref s_hook) is { } hook ? hook(operation, size) : 0;
}
