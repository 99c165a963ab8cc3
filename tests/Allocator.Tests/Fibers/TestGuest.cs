using System.Runtime.InteropServices;

namespace Allocator.Tests.Fibers;

/// <summary>Entry points of libAllocatorTestGuest.so (AllocatorTestGuest.dll on Windows) (tests/native/guest.c and the register probe), which the test
/// build compiles next to the test assembly.</summary>
internal static class TestGuest
{
    /// <summary>Trap code base guest_recurse uses when a frame's words changed across a suspension.</summary>
    public const int FrameCorruptedTrap = 1000;

    /// <summary>Trap code guest_checked_calls uses when its locals changed across a suspension.</summary>
    public const int LocalsCorruptedTrap = 2000;

    private static readonly Lazy<nint> s_library = new(() =>
        NativeLibrary.Load(Path.Combine(AppContext.BaseDirectory,
            OperatingSystem.IsWindows() ? "AllocatorTestGuest.dll" : "libAllocatorTestGuest.so")));

    public static nint Recurse => Export("guest_recurse");
    public static nint Descend => Export("guest_descend");
    public static nint CheckedCalls => Export("guest_checked_calls");
    public static nint CallLoop => Export("guest_call_loop");
    public static nint TrapAfterCall => Export("guest_trap_after_call");
    public static nint HonoursCancel => Export("guest_honours_cancel");
    public static nint IgnoresCancel => Export("guest_ignores_cancel");
    public static nint CallFunction => Export("guest_call_function");
    public static nint CallWithoutArguments => Export("guest_call_without_arguments");
    public static nint Backtrace => Export("guest_backtrace");
    public static nint StackRemaining => Export("guest_stack_remaining");
    public static nint ProbeFiberEntry => Export("probe_fiber_entry");
    public static nint ProbeResume => Export("probe_resume");
    public static nint ContextLayout => Export("guest_context_layout");
    public static nint PollLoop => Export("guest_poll_loop");
    public static nint PollOnly => Export("guest_poll_only");
    public static nint CallThenPoll => Export("guest_call_then_poll");
    public static nint CallEach => Export("guest_call_each");
    public static nint YieldTimes => Export("guest_yield_times");
    public static nint WriteAfterCall => Export("guest_write_after_call");
    public static nint YieldThenCall => Export("guest_yield_then_call");

    /// <summary>guest_checked_calls' argument: the seed in the high bits, the call count in the low 16.</summary>
    public static nint CheckedCallsArgument(int seed, int count) => ((nint)seed << 16) | (nint)count;

    /// <summary>guest_call_function's argument: which host function, with how many arguments (1, 2, 3, ...).</summary>
    public static nint CallFunctionArgument(int function, int argumentCount) => ((nint)argumentCount << 8) | (nint)function;

    private static nint Export(string name) => NativeLibrary.GetExport(s_library.Value, name);
}
