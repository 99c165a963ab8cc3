namespace Allocator.Generators.Tests.Support;

/// <summary>Consumer sources shared by several tests.</summary>
internal static class Sources
{
    public const string Embedder = """
        using Allocator.Configuration;

        namespace Embedder;

        public struct VmGlobals
        {
            public long Fuel;
            public int Flags;
            public int Depth;
        }

        [SlotLayout]
        [SlotRegion("Globals", typeof(VmGlobals))]
        [SlotRegion("Tables", typeof(nint), Count = 16, Alignment = 64)]
        [SlotRegion("Scratch", Size = 8192, Alignment = 4096, GuardBytes = 4096)]
        public partial struct VmContext;

        [PoolingConfiguration(
            TotalStacks = 32, StackSize = 128 * 1024, StackKeepResident = 16 * 1024, ZeroStacksOnReturn = true,
            InstanceCount = 64, InstanceLayout = typeof(VmContext),
            MemoryCount = 16, MemorySize = 1 << 20, MemoryGuardSize = 64 * 1024, MaxUnusedWarmMemories = 4,
            CacheStackInStore = false)]
        public static partial class EmbedderPools;
        """;

    public const string Unrelated = """
        namespace Embedder;

        public static class Unrelated
        {
            public static int Answer() => 42;
        }
        """;
}
