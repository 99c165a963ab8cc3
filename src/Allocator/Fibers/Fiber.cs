using Allocator.Stores;

namespace Allocator.Fibers;

/// <summary>Native guest code running on a stack of a <see cref="Store{T}"/>, driven from C# by <see cref="RunAsync"/>.</summary>
/// <remarks>
/// <para>Only native frames ever live on the fiber stack. The entry point must be native code
/// (<c>intptr_t entry(allocator_fiber_ctx*, intptr_t)</c>, see <c>src/Native/fiber.h</c>); never pass a managed
/// <c>[UnmanagedCallersOnly]</c> function pointer, which would run managed code on a stack the runtime does not know.
/// When the guest calls <c>allocator_fiber_host_call</c>, the fiber switches back to the driver, which runs the
/// <see cref="FiberHostFunction"/> on the thread's own stack, awaits it if needed, and resumes the fiber with the
/// result. After an await the fiber may resume on another thread, so a guest must not keep thread-local addresses
/// across host calls.</para>
/// <para>The stack belongs to the Store (one lease, which this fiber holds a handle to). Every end returns it exactly
/// once: completion, a trap, a host function's exception, an invalid host call, and cancellation by token,
/// <see cref="Cancel"/>, <see cref="Dispose"/> or the Store's Dispose. A suspended fiber's stack is never returned
/// before the fiber has been unwound: the guest is resumed with a cancel status and must return. If the Store is
/// finalized instead, the fiber's context is revoked first, and any later resume throws
/// <see cref="ObjectDisposedException"/> without touching the stack.</para>
/// <para>Thread safety: one thread at a time runs the native side; <see cref="Cancel"/> may be called from any
/// thread and waits while guest code is on the CPU elsewhere.</para>
/// </remarks>
public sealed class Fiber : IDisposable
{
    private readonly FiberDriver _driver;

    private Fiber(FiberDriver driver)
    {
        _driver = driver;
        driver.Handle = this;
    }

    /// <summary>The name given at creation; it is the owner label the Store reports for the stack.</summary>
    public string Name => _driver.Name;

    /// <summary>Where the fiber is in its life.</summary>
    public FiberState State => _driver.State;

    /// <summary>Creates a fiber on a stack checked out of <paramref name="store"/> under <paramref name="name"/>. The
    /// Store's Dispose unwinds it. Nothing runs until <see cref="RunAsync"/>.</summary>
    /// <param name="store">The Store to check the stack out of.</param>
    /// <param name="name">Owner label, e.g. in <see cref="StacksCheckedOutException.Owners"/>.</param>
    /// <param name="entryPoint">Address of a native <c>intptr_t entry(allocator_fiber_ctx*, intptr_t)</c>.</param>
    /// <param name="argument">Passed to the entry point.</param>
    /// <param name="hostFunctions">The functions the guest may call.</param>
    /// <exception cref="PoolExhaustedException">No stack is free.</exception>
    /// <exception cref="ArgumentException">The stacks are smaller than a fiber needs; the stack went back.</exception>
    public static Fiber Create<T>(Store<T> store, string name, nint entryPoint, nint argument, FiberHostFunctions hostFunctions)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(hostFunctions);
        if (entryPoint == 0)
        {
            throw new ArgumentException("The entry point must be the address of a native function.", nameof(entryPoint));
        }
        var driver = new FiberDriver(name, hostFunctions);
        var fiber = new Fiber(driver);
        StackLease lease = store.CheckoutStackLease(name, driver);
        driver.Start(lease, entryPoint, argument);
        return fiber;
    }

    /// <summary>Runs the guest to its end, serving its host calls on this thread's stack and awaiting them.</summary>
    /// <param name="cancellationToken">Checked before every resume and while a host call is awaited; when it fires
    /// the fiber is unwound and an <see cref="OperationCanceledException"/> is thrown. Host functions get it too.</param>
    /// <returns>The entry function's return value.</returns>
    /// <exception cref="FiberTrapException">The guest trapped.</exception>
    /// <exception cref="FiberHostCallException">The guest called a function that does not exist.</exception>
    /// <exception cref="OperationCanceledException">Cancelled by the token, or by <see cref="Cancel"/>/Dispose
    /// while suspended.</exception>
    /// <exception cref="ObjectDisposedException">The fiber's Store was finalized and revoked it.</exception>
    /// <exception cref="InvalidOperationException">The fiber is already being run (a fiber runs once).</exception>
    /// <remarks>Any exception from a host function is rethrown after the fiber has been unwound. In every case the
    /// stack has been returned when the returned task completes.</remarks>
    public ValueTask<long> RunAsync(CancellationToken cancellationToken = default) => _driver.RunAsync(cancellationToken);

    /// <summary>Unwinds the fiber if it has not finished, then returns its stack. A suspended guest is resumed with a
    /// cancel status and must return; if guest code is on the CPU on another thread, waits for it to stop.</summary>
    public void Cancel() => _driver.Cancel();

    /// <summary>Same as <see cref="Cancel"/>: a fiber never outlives its stack.</summary>
    public void Dispose() => _driver.Cancel();
}
