using System.Runtime.InteropServices;
using Allocator.Fibers;
using Allocator.Tests.Support;

namespace Allocator.Tests.Fibers;

/// <summary>The context switch itself: registers, floating-point control state, the context layout shared with C,
/// and unwind information debuggers rely on.</summary>
public sealed class NativeSwitchTests
{
    [FiberFact]
    public unsafe void Switches_preserve_callee_saved_registers_MXCSR_and_x87_control_word_on_both_sides()
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        StackToken stack = store.CheckoutStack("register probe");
        (nint bottom, nint top) = store.GetStackBounds(stack);
        var probeResume = (delegate* unmanaged<NativeFiberContext*, nint, int*, NativeFiberState>)TestGuest.ProbeResume;
        NativeFiberContext* context = Interop.AllocatorNative.Init(bottom, (nuint)(top - bottom), TestGuest.ProbeFiberEntry, 0);
        Assert.True(context != null);
        int mask = -1;

        // Driver side: marker values in every callee-saved register and round-up FP modes; the fiber sets its own.
        NativeFiberState stopped = probeResume(context, 0, &mask);
        Assert.Equal(NativeFiberState.HostCall, stopped);
        Assert.Equal(0, mask);

        // Managed code runs in between and uses whatever registers it likes.
        GC.Collect();

        stopped = probeResume(context, 0, &mask);
        Assert.Equal(NativeFiberState.Completed, stopped);
        Assert.Equal(0, mask);
        // The fiber's own mask: its registers and round-toward-zero FP modes came back, and it started from the ABI
        // defaults rather than the driver's round-up modes.
        Assert.Equal(0, context->Value);
        store.ReturnStack(stack);
    }

    [FiberFact]
    public unsafe void The_C_sharp_context_mirror_matches_the_C_layout()
    {
        var layout = (delegate* unmanaged<int*, int, int>)TestGuest.ContextLayout;
        string[] fields =
        [
            nameof(NativeFiberContext.FiberStackPointer), nameof(NativeFiberContext.ParentStackPointer),
            nameof(NativeFiberContext.StackLimit), nameof(NativeFiberContext.StackBase),
            nameof(NativeFiberContext.State), nameof(NativeFiberContext.ResumeStatus),
            nameof(NativeFiberContext.Value), nameof(NativeFiberContext.HostArguments),
            nameof(NativeFiberContext.HostFunction), nameof(NativeFiberContext.HostArgumentCount),
            nameof(NativeFiberContext.TrapCode), nameof(NativeFiberContext.Cancelled),
            nameof(NativeFiberContext.SyncHost), nameof(NativeFiberContext.SyncState),
            nameof(NativeFiberContext.CancelRequested), nameof(NativeFiberContext.UncheckedCount),
            nameof(NativeFiberContext.Epoch), nameof(NativeFiberContext.Deadline), nameof(NativeFiberContext.Unchecked),
        ];
        int* offsets = stackalloc int[fields.Length];

        int size = layout(offsets, fields.Length);

        Assert.Equal(size, sizeof(NativeFiberContext));
        for (int i = 0; i < fields.Length; i++)
        {
            Assert.Equal((nint)offsets[i], Marshal.OffsetOf<NativeFiberContext>(fields[i]));
        }
    }

    [LinuxFact]
    public async Task Unwinding_from_guest_frames_crosses_the_entry_trampoline_into_the_driver()
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        using Fiber fiber = Fiber.Create(store, "backtrace", TestGuest.Backtrace, 20, FiberHostFunctions.Empty);

        long frame = await fiber.RunAsync();

        // glibc's backtrace() walks the DWARF CFI: through 21 guest frames, the trampoline (whose CFI points at the
        // driver's saved stack pointer), and into allocator_fiber_resume on the thread's stack.
        Assert.True(frame > 21, frame < 0 ? $"the walk stopped after {-frame} frames" : $"resume found at frame {frame}");
    }
}
