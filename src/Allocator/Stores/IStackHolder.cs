namespace Allocator.Stores;

/// <summary>What runs on a leased stack: a fiber's driver. The Store asks it, not the stack, when it ends.</summary>
internal interface IStackHolder
{
    /// <summary>Owner label reported in <see cref="StacksCheckedOutException.Owners"/>.</summary>
    string Name { get; }

    /// <summary>True while the fiber is cancelled but an asynchronous host function's task still holds it: its stack,
    /// and the Store's slots, stay out until that task ends.</summary>
    bool HostCallOutlivesCancel { get; }

    /// <summary>Store.Dispose: cancels whatever runs on the stack; the lease comes back now, or when a running host
    /// task ends.</summary>
    void ReleaseStack();

    /// <summary>The abandoned-Store finalizer: when nothing runs on the stack, makes the context unusable for good
    /// (a later resume throws <see cref="ObjectDisposedException"/> without touching memory) and returns true; the
    /// caller then returns the stack. False while guest code is on the CPU or a host task holds the fiber: that run, or
    /// the task's end, returns the lease itself.</summary>
    bool TryRevoke();
}
