using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Allocator.Tests.Windows;

/// <summary>Guard pages on Windows: a write below a pooled stack, and a guest recursing off the bottom of its fiber
/// stack, kill the process; the controls survive. Run in a child process (this executable with --crash-host).
/// Measured under Wine 8 (docs/platforms.md): the guard-page write is reported by CoreCLR as "Fatal error.
/// 0xC0000005" (an access violation, as on Windows); the fiber overflow kills the Wine process with SIGSEGV, without a
/// message, and Wine then reports exit code 0 to the parent.</summary>
public sealed class WindowsCrashTests
{
    [Fact]
    public void A_native_write_below_a_pooled_stack_is_an_access_violation_that_kills_the_process()
    {
        (int exitCode, string output) = RunChild("stack-guard-write");
        Assert.Contains("armed", output);
        Assert.DoesNotContain("survived", output);
        Assert.Contains("0xC0000005", output);
        Assert.NotEqual(0, exitCode);
    }

    [Fact]
    public void A_guest_recursing_into_the_guard_page_kills_the_process()
    {
        (int exitCode, string output) = RunChild("fiber-stack-overflow");
        Assert.Contains("armed", output);
        Assert.DoesNotContain("survived", output);
        if (!IsWine)
        {
            Assert.NotEqual(0, exitCode);
        }
    }

    /// <summary>Wine's ntdll exports wine_get_version; Windows' does not.</summary>
    private static bool IsWine =>
        NativeLibrary.TryLoad("ntdll.dll", out nint ntdll) && NativeLibrary.TryGetExport(ntdll, "wine_get_version", out _);

    [Theory]
    [InlineData("stack-top-write")]
    [InlineData("fiber-recursion-within-stack")]
    public void Accesses_inside_the_stack_are_allowed(string scenario)
    {
        (int exitCode, string output) = RunChild(scenario);
        Assert.Contains("survived", output);
        Assert.Equal(0, exitCode);
    }

    private static (int ExitCode, string Output) RunChild(string scenario)
    {
        var start = new ProcessStartInfo(Environment.ProcessPath!)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add("--crash-host");
        start.ArgumentList.Add(scenario);
        using Process process = Process.Start(start)!;
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromSeconds(60)))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"scenario {scenario} did not finish within 60 s");
        }
        return (process.ExitCode, stdout.Result + stderr.Result);
    }
}
