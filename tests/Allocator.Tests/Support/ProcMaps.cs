namespace Allocator.Tests.Support;

/// <summary>This process's memory map regions as /proc/self/maps lists them (Linux).</summary>
internal static class ProcMaps
{
    public readonly record struct Region(long Start, long End, string Permissions, bool Anonymous)
    {
        public long Length => End - Start;

        public bool Overlaps(long start, long end) => Start < end && End > start;
    }

    public static IEnumerable<Region> Regions() => File.ReadLines("/proc/self/maps").Select(line =>
    {
        // "start-end perms offset dev inode [path]": no path for anonymous memory
        string[] fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        string[] range = fields[0].Split('-');
        return new Region(Convert.ToInt64(range[0], 16), Convert.ToInt64(range[1], 16), fields[1], fields.Length == 5);
    });
}
