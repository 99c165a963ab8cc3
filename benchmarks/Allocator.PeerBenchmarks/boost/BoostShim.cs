using System.Runtime.InteropServices;

namespace Allocator.PeerBenchmarks.Boost;

/// <summary>libPeerBoost.so (boost/boost_shim.cpp), built only where libboost-context-dev is installed. Each measured
/// function loops n times in C, so the one P/Invoke per batch costs nothing per operation.</summary>
internal static unsafe partial class BoostShim
{
    private const string Library = "PeerBoost";

    /// <summary>Why the Boost rows cannot run here, or null when the shim was built.</summary>
    public static string? Missing { get; } = File.Exists(Path.Combine(AppContext.BaseDirectory, "libPeerBoost.so"))
        ? null : "skipped: libboost-context-dev not installed";

    /// <summary>Prepares the calling thread's contexts and pool; throws if a step failed.</summary>
    public static void Initialize()
    {
        int status = Init();
        if (status != 0)
        {
            throw new InvalidOperationException($"peer_boost_init failed at step {-status}");
        }
    }

    /// <summary>"Boost.Context 1.74" from BOOST_VERSION.</summary>
    public static string Version
    {
        get
        {
            int version = BoostVersion();
            return $"Boost.Context {version / 100000}.{version / 100 % 1000}";
        }
    }

    [LibraryImport(Library, EntryPoint = "peer_boost_version")]
    private static partial int BoostVersion();

    [LibraryImport(Library, EntryPoint = "peer_boost_init")]
    private static partial int Init();

    /// <summary>n jump_fcontext round trips.</summary>
    [LibraryImport(Library, EntryPoint = "peer_boost_switch")]
    public static partial void Switch(long n);

    /// <summary>n round trips of our switch, from C: allocator_fiber_resume_inline into a guest whose
    /// allocator_fiber_host_call_inline comes straight back. 0, or -1 if the fiber stopped otherwise.</summary>
    [LibraryImport(Library, EntryPoint = "peer_native_switch")]
    public static partial int NativeSwitch(long n);

    /// <summary>n pooled_fixedsize_stack (256 KiB) allocate + deallocate.</summary>
    [LibraryImport(Library, EntryPoint = "peer_boost_pooled_stack")]
    public static partial void PooledStack(long n);

    /// <summary>n Boost fibers on pooled stacks: create, one call out to the creator and back, end. Returns the sum
    /// of the answers (i + 1 each).</summary>
    [LibraryImport(Library, EntryPoint = "peer_boost_fiber")]
    public static partial long Fiber(long n);
}
