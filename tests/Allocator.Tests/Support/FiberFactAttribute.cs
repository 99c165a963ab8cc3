using System.Runtime.InteropServices;

namespace Allocator.Tests.Support;

/// <summary>Where the native fiber library and the test guests are built: linux-x64, linux-arm64 and win-x64.</summary>
internal static class FiberPlatform
{
    public static bool IsSupported =>
        (OperatingSystem.IsLinux() && RuntimeInformation.ProcessArchitecture is Architecture.X64 or Architecture.Arm64)
        || (OperatingSystem.IsWindows() && RuntimeInformation.ProcessArchitecture == Architecture.X64);

    public const string SkipReason = "needs the native fiber library: linux-x64, linux-arm64 or win-x64";
}

/// <summary>A fact that runs guests on fibers; reported as skipped where there is no native fiber library.</summary>
public sealed class FiberFactAttribute : FactAttribute
{
    public FiberFactAttribute()
    {
        if (!FiberPlatform.IsSupported)
        {
            Skip = FiberPlatform.SkipReason;
        }
    }
}

/// <summary>A theory that runs guests on fibers; reported as skipped where there is no native fiber library.</summary>
public sealed class FiberTheoryAttribute : TheoryAttribute
{
    public FiberTheoryAttribute()
    {
        if (!FiberPlatform.IsSupported)
        {
            Skip = FiberPlatform.SkipReason;
        }
    }
}
