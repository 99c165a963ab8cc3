using System.Reflection;
using System.Runtime.InteropServices;

namespace Allocator.Tests.Mutation;

/// <summary>Which fiber imports may skip the GC transition: only the one that runs no guest code. A resume runs the
/// guest for as long as it likes, so it must leave the thread in preemptive mode (the GC never waits for it); init
/// only writes the first frame, and skipping its transition is one of the per-fiber savings.</summary>
public sealed class FiberImportTransitionTests
{
    private static readonly MethodInfo[] s_imports = typeof(Interop.AllocatorNative)
        .GetMethods(BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic)
        .Where(m => m.GetCustomAttribute<LibraryImportAttribute>() is not null)
        .ToArray();

    [Fact]
    public void Only_init_skips_the_GC_transition()
    {
        string[] suppressed = s_imports
            .Where(m => m.GetCustomAttribute<SuppressGCTransitionAttribute>() is not null)
            .Select(m => m.GetCustomAttribute<LibraryImportAttribute>()!.EntryPoint!)
            .ToArray();
        Assert.Equal(["allocator_fiber_init"], suppressed);
    }

    [Fact]
    public void Resume_keeps_its_GC_transition()
    {
        MethodInfo resume = Assert.Single(s_imports, m => m.GetCustomAttribute<LibraryImportAttribute>()!.EntryPoint == "allocator_fiber_resume");
        Assert.Null(resume.GetCustomAttribute<SuppressGCTransitionAttribute>());
    }
}
