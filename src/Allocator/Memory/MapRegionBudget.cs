using System.Globalization;

namespace Allocator.Memory;

/// <summary>Linux lets a process hold at most <c>vm.max_map_count</c> memory map regions (65,530 by default). Every
/// stack and every partly open slot costs regions, and running out later kills the process (mmap, mprotect and the
/// runtime's own allocations fail), so configurations are checked against the budget up front.</summary>
internal static class MapRegionBudget
{
    /// <summary>Regions left for the runtime, the GC heap and native libraries after the pools' worst case.</summary>
    internal const long Headroom = 16_384;

    /// <summary>Throws <see cref="PoolConfigurationException"/> naming the largest consumer when the pools' worst
    /// case does not fit what this process may still map. No-op where the OS has no such limit.</summary>
    public static void Check(params ReadOnlySpan<(string Field, long Regions)> pools)
    {
        if (!OperatingSystem.IsLinux() || ReadLimit() is not { } limit)
        {
            return;
        }
        long needed = 0;
        (string Field, long Regions) largest = pools[0];
        foreach ((string Field, long Regions) pool in pools)
        {
            needed += pool.Regions;
            if (pool.Regions > largest.Regions)
            {
                largest = pool;
            }
        }
        long available = limit - CountMappedRegions() - Headroom;
        if (needed > available)
        {
            throw new PoolConfigurationException(largest.Field,
                $"the pools can need {needed} memory map regions, but this process may create only {Math.Max(available, 0)} more " +
                $"(vm.max_map_count = {limit}, less those in use and {Headroom} kept for the runtime); lower {largest.Field} or raise vm.max_map_count",
                largest.Regions);
        }
    }

    private static long? ReadLimit()
    {
        try
        {
            return long.Parse(File.ReadAllText("/proc/sys/vm/max_map_count").Trim(), CultureInfo.InvariantCulture);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException or OverflowException)
        {
            return null;
        }
    }

    private static long CountMappedRegions()
    {
        try
        {
            long count = 0;
            foreach (string _ in File.ReadLines("/proc/self/maps"))
            {
                count++;
            }
            return count;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return 0;
        }
    }
}
