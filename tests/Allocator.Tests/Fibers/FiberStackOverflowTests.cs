using Allocator.Tests.Support;

namespace Allocator.Tests.Fibers;

/// <summary>A guest that recurses past its pooled stack hits the guard page below it. That is fatal by design (no
/// runtime can resume a thread whose stack pointer sits in a guard page), so it runs in a child process.</summary>
public sealed class FiberStackOverflowTests
{
    private const int SigAbrt = 6;

    [LinuxFact]
    public void Overflowing_a_fiber_stack_hits_the_guard_page_and_CoreCLR_aborts_with_stack_overflow()
    {
        ChildProcess.Outcome outcome = ChildProcess.RunCrashHost("fiber-stack-overflow");

        Assert.Contains("armed", outcome.StandardOutput);
        Assert.DoesNotContain("survived", outcome.StandardOutput);
        // Measured under CoreCLR (JIT): its SIGSEGV handler sees the fault next to the stack pointer, reports a stack
        // overflow with the managed frames that led into the fiber, and aborts. (NativeAOT dies of plain SIGSEGV.)
        Assert.StartsWith("Stack overflow.", outcome.StandardError);
        Assert.Contains("AllocatorNative.Resume", outcome.StandardError);
        Assert.Equal(SigAbrt, outcome.Signal);
    }

    [LinuxFact]
    public void An_exception_escaping_an_unchecked_host_function_ends_the_process_as_the_runtime_rules()
    {
        ChildProcess.Outcome outcome = ChildProcess.RunCrashHost("fiber-unchecked-host-throws");

        Assert.Contains("armed", outcome.StandardOutput);
        Assert.DoesNotContain("caught", outcome.StandardOutput);
        Assert.DoesNotContain("survived", outcome.StandardOutput);
        // Measured under CoreCLR (JIT): an unhandled exception report naming it, then abort.
        Assert.Contains("unchecked host function threw", outcome.StandardError);
        Assert.Equal(SigAbrt, outcome.Signal);
    }

    [LinuxFact]
    public void Recursion_that_fits_the_fiber_stack_survives()
    {
        ChildProcess.Outcome outcome = ChildProcess.RunCrashHost("fiber-recursion-within-stack");

        Assert.Equal(0, outcome.ExitCode);
        Assert.Contains("survived", outcome.StandardOutput);
    }
}
