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
/// once: completion, a trap, an interrupt, a host function's exception, an invalid host call, and cancellation by
/// token, <see cref="Cancel"/>, <see cref="Dispose"/> or the Store's Dispose. A suspended fiber's stack is never
/// returned before the fiber has been unwound: the guest is told its host call (or yield) was cancelled and must
/// return. If the Store is finalized instead, the fiber's context is revoked first, and any later resume throws
/// <see cref="ObjectDisposedException"/> without touching the stack.</para>
/// <para>Cancellation reaches the guest at its next host call, synchronous or asynchronous, or its next
/// <c>allocator_fiber_should_yield</c> poll; once <see cref="Cancel"/> has returned, no host function starts for this
/// fiber. If an asynchronous host function's task is still running, <see cref="RunAsync"/> stops waiting and throws,
/// but the guest stays in that call and keeps its stack, and the Store keeps every slot it lent, until the task ends
/// (<see cref="FiberState.Cancelling"/>): a host function holding guest pointers never writes into memory that
/// someone else has. A guest that never polls and never calls the host cannot be interrupted.</para>
/// <para>Thread safety: one thread at a time runs the native side; <see cref="Cancel"/> may be called from any
/// thread and waits while guest code is on the CPU elsewhere, until the guest's next host call, poll or end.</para>
/// </remarks>
public sealed class Fiber : IDisposable
{
    private readonly FiberDriver _driver;

    private Fiber(FiberDriver driver)
    {
        _driver = driver;
        driver.Handle = this;
    }

    internal FiberDriver Driver => _driver;

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
    /// <param name="cancellationToken">Cancels the fiber like <see cref="Cancel"/> when it fires (e.g. with
    /// <c>CancelAfter</c> for a timeout): the guest sees it at its next host call or poll, and an awaited host call
    /// stops being awaited. Host functions see it through <see cref="FiberHostCall.CancellationToken"/>.</param>
    /// <returns>The entry function's return value.</returns>
    /// <exception cref="FiberTrapException">The guest trapped.</exception>
    /// <exception cref="FiberHostCallException">The guest called a function that does not exist.</exception>
    /// <exception cref="OperationCanceledException">Cancelled by the token, by <see cref="Cancel"/>/Dispose or by the
    /// Store's Dispose.</exception>
    /// <exception cref="FiberInterruptedException">The epoch deadline passed and the policy interrupted the guest.</exception>
    /// <exception cref="ObjectDisposedException">The fiber's Store was finalized and revoked it.</exception>
    /// <exception cref="InvalidOperationException">The fiber is already being run (a fiber runs once).</exception>
    /// <remarks>Any exception from a host function is rethrown after the fiber has been unwound. In every case but
    /// one the stack has been returned when the returned task completes; the exception is a cancel during an
    /// asynchronous host call whose task still runs: then the stack (and the Store's slots) go back when that task
    /// ends.</remarks>
    public ValueTask<long> RunAsync(CancellationToken cancellationToken = default) => _driver.RunAsync(cancellationToken);

    /// <summary>Cancels the fiber; once this returns, no host function starts for it. A fiber that is not running
    /// is unwound here (the guest is told its call was cancelled and returns) and its stack returned. If guest code is
    /// on the CPU on another thread, waits until it reaches its next host call, poll or end, where it sees the cancel.
    /// If an asynchronous host function's task is running, returns at once: the guest is unwound and the stack
    /// returned when that task ends. Called from one of this fiber's own host functions, it returns at once and the
    /// guest sees the cancel as soon as that function returns.</summary>
    public void Cancel() => _driver.Cancel();

    /// <summary>Gives the fiber an epoch deadline <paramref name="ticksBeyondCurrent"/> ticks past
    /// <paramref name="epoch"/>'s current value (Wasmtime's <c>set_epoch_deadline</c>). Once the epoch reaches it, the
    /// guest's next <c>allocator_fiber_should_yield</c> poll or host call yields to the driver, which applies the
    /// callback set with <see cref="SetEpochDeadlineCallback"/> (without one: interrupt). Takes effect at the next
    /// resume, or at once when called from one of this fiber's host functions.</summary>
    /// <remarks>Interruption is cooperative: a guest that never polls and never calls the host cannot be
    /// interrupted.</remarks>
    public void SetEpochDeadline(FiberEpoch epoch, ulong ticksBeyondCurrent)
    {
        ArgumentNullException.ThrowIfNull(epoch);
        _driver.SetEpochDeadline(epoch, ticksBeyondCurrent);
    }

    /// <summary>Sets what happens when the epoch deadline passes (Wasmtime's epoch deadline callback): interrupt
    /// (<see cref="FiberInterruptedException"/>), continue with a new deadline, or yield asynchronously so other work
    /// runs and then continue. Null restores the default, interrupt.</summary>
    public void SetEpochDeadlineCallback(FiberEpochDeadlineCallback? callback) => _driver.SetEpochDeadlineCallback(callback);

    /// <summary>Same as <see cref="Cancel"/>: a fiber never outlives its stack.</summary>
    public void Dispose() => _driver.Cancel();
}
