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
        Check(limit, CountMappedRegions(), pools);
    }

    /// <summary>The check against a given limit and count of regions in use (tests pin both down exactly).</summary>
    internal static void Check(long limit, long mappedRegions, ReadOnlySpan<(string Field, long Regions)> pools)
    {
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
        long available = limit - mappedRegions - Headroom;
        if (needed > available)
        {
            throw new PoolConfigurationException(largest.Field,
                $"the pools can need {needed} memory map regions, but this process may create only {Math.Max(available, 0)} more " +
                $"(vm.max_map_count = {limit}, less those in use and {Headroom} kept for the runtime); lower {largest.Field} or raise vm.max_map_count",
                largest.Regions);
        }
    }

    /// <summary>vm.max_map_count, or null when it cannot be read (no /proc, a sandbox, a malformed value).</summary>
    internal static long? ReadLimit(string path = "/proc/sys/vm/max_map_count")
    {
        try
        {
            return long.Parse(File.ReadAllText(path).Trim(), CultureInfo.InvariantCulture);
        }
        // Stryker disable once Block : an emptied catch block returns default(long?), which is the null it returns
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException or OverflowException)
        {
            return null;
        }
    }

    /// <summary>Regions this process maps now (one line of /proc/self/maps each); 0 when that cannot be read.</summary>
    internal static long CountMappedRegions(string path = "/proc/self/maps")
    {
        try
        {
            long count = 0;
            foreach (string _ in File.ReadLines(path))
            {
                count++;
            }
            return count;
        }
        // Stryker disable once Block : an emptied catch block returns default(long), which is the 0 it returns
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return 0;
        }
    }
}
