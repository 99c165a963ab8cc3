namespace Allocator.Stores;

/// <summary>Process-wide Store ids, shared by every <c>Store&lt;T&gt;</c> instantiation: unique, not sequential.</summary>
/// <remarks>Each thread takes a block of ids from the shared counter and hands them out alone, so creating a Store
/// touches no shared cache line (one increment per <see cref="BlockSize"/> Stores instead of one per Store). Ids
/// never repeat: blocks do not overlap, and 64 bits do not wrap.</remarks>
internal static class StoreIds
{
    /// <summary>Ids a thread takes at once.</summary>
    internal const long BlockSize = 1024;

    private static long s_blocks;

    [ThreadStatic]
    private static long t_next;

    [ThreadStatic]
    private static long t_end;

    public static long Next()
    {
        long id = t_next;
        if (id == t_end)
        {
            // Block b holds [b * BlockSize + 1, (b + 1) * BlockSize]: 0 stays free for "no Store".
            long block = Interlocked.Increment(ref s_blocks) - 1;
            id = block * BlockSize + 1;
            t_end = id + BlockSize;
        }
        t_next = id + 1;
        return id;
    }
}
