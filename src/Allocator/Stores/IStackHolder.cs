namespace Allocator.Stores;

/// <summary>What runs on a leased stack: a fiber's driver. The Store asks it, not the stack, when it ends.</summary>
internal interface IStackHolder
{
    /// <summary>Owner label reported in <see cref="StacksCheckedOutException.Owners"/>.</summary>
    string Name { get; }

    /// <summary>Store.Dispose: unwinds whatever runs on the stack, then returns the lease.</summary>
    void ReleaseStack();

    /// <summary>The abandoned-Store finalizer: when nothing runs on the stack, makes the context unusable for good
    /// (a later resume throws <see cref="ObjectDisposedException"/> without touching memory) and returns true; the
    /// caller then returns the stack. False while guest code is on the CPU: that run returns the lease itself.</summary>
    bool TryRevoke();
}
