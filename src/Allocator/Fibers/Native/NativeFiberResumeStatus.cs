namespace Allocator.Fibers;

/// <summary><c>enum allocator_fiber_resume_status</c>: how a pending host call ends for the guest.</summary>
internal enum NativeFiberResumeStatus
{
    /// <summary>The host call returned a value.</summary>
    Result = 0,
    /// <summary>The fiber is being cancelled; the guest sees <c>ALLOCATOR_FIBER_HOST_CANCELLED</c>.</summary>
    Cancel = 1,
}
