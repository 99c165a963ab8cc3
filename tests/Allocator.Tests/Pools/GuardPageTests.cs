using Allocator.Tests.Support;

namespace Allocator.Tests.Pools;

/// <summary>Guard regions must fault. Each scenario runs in a child process that is expected to die of SIGSEGV
/// right after printing "armed" (so a crash anywhere earlier does not count).</summary>
public sealed class GuardPageTests
{
    [LinuxTheory]
    [InlineData("stack-guard-write")]
    [InlineData("slot-guard-write")]
    [InlineData("memory-bound-write")]
    public void Write_into_guard_region_kills_the_process_with_SIGSEGV(string scenario)
    {
        ChildProcess.Outcome outcome = ChildProcess.RunCrashHost(scenario);
        Assert.Contains("armed", outcome.StandardOutput);
        Assert.DoesNotContain("survived", outcome.StandardOutput);
        Assert.Equal(ChildProcess.SigSegv, outcome.Signal);
    }

    [LinuxFact]
    public void Writes_at_both_ends_of_a_stack_are_allowed()
    {
        ChildProcess.Outcome outcome = ChildProcess.RunCrashHost("stack-top-write");
        Assert.Equal(0, outcome.ExitCode);
        Assert.Contains("survived", outcome.StandardOutput);
    }
}
