using System.Runtime.InteropServices;

namespace Allocator.Package.Tests.Support;

/// <summary>The package's native fiber library is built for linux-x64 here; elsewhere the test is reported as skipped.</summary>
public sealed class LinuxX64FactAttribute : FactAttribute
{
    public LinuxX64FactAttribute()
    {
        if (!OperatingSystem.IsLinux() || RuntimeInformation.OSArchitecture != Architecture.X64)
        {
            Skip = "needs linux-x64 (libAllocatorNative.so)";
        }
    }
}
