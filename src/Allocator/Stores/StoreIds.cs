namespace Allocator.Stores;

/// <summary>Process-wide Store ids, shared by every <c>Store&lt;T&gt;</c> instantiation.</summary>
internal static class StoreIds
{
    private static long s_last;

    public static long Next() => Interlocked.Increment(ref s_last);
}
