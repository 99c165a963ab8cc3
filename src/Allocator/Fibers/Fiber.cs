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
/// <para>Once a fiber has ended and its run's result has been read (or it is disposed), its driver is reused by the
/// next fiber created on the same thread (not while code awaiting its run runs inline inside the driver's frames, as
/// after a pending host call that ended inside its task's completion). This handle then behaves as on the ended fiber for
/// good (its final <see cref="State"/>, a second <see cref="RunAsync"/> refused, Cancel/Dispose doing
/// nothing, a cancelled host token) and no longer references the driver.</para>
/// </remarks>
public sealed class Fiber : IDisposable, IStackHolder
{
    // The driver is reused by later fibers (FiberDriver.Rent): this handle names one use of it by the generation in
    // _stamp's upper bits. Every member goes to the driver only while the driver still shows that generation; the low
    // byte is 0 while the fiber is this handle's, and 1 + the final state (+ RunBit if a run had started) once the
    // driver has moved on. One word, so the handle is 40 bytes: the Store object and this are all a request allocates.
    private const int StateBits = 8;
    private const long StateMask = (1 << StateBits) - 1;
    private const long RunBit = 0x80;

    // Null once the driver has moved on: a handle kept after its fiber ended must not keep the driver, which by then
    // holds a later fiber's lease and so that fiber's Store (an abandoned one would never be finalized).
    private FiberDriver? _driver;
    private readonly string _name;
    private long _stamp;

    private Fiber(FiberDriver driver, string name)
    {
        _driver = driver;
        _name = name;
        _stamp = driver.Generation << StateBits;
        driver.Handle = this;
    }

    /// <summary>The driver, for tests; null once it has moved on to another fiber.</summary>
    internal FiberDriver? Driver => Volatile.Read(ref _driver);

    /// <summary>The name given at creation; it is the owner label the Store reports for the stack.</summary>
    public string Name => _name;

    /// <summary>Where the fiber is in its life.</summary>
    public FiberState State
    {
        get
        {
            long generation = Volatile.Read(ref _stamp) >> StateBits;
            FiberDriver? driver = Volatile.Read(ref _driver);
            if (driver is not null && driver.Generation == generation)
            {
                FiberState state = driver.State;
                // Read again after the state (a volatile read): a driver reset in between shows a new generation.
                if (driver.Generation == generation)
                {
                    return state;
                }
            }
            return EndedState;
        }
    }

    private FiberState EndedState => (FiberState)((Volatile.Read(ref _stamp) & ~RunBit & StateMask) - 1);

    string IStackHolder.Name => _name;

    bool IStackHolder.HostCallOutlivesCancel
    {
        get
        {
            if (TryEnter() is not { } driver)
            {
                return false;
            }
            try
            {
                return driver.HostCallOutlivesCancel;
            }
            finally
            {
                driver.ExitHandle();
            }
        }
    }

    /// <summary>The host functions' token (<see cref="FiberHostCall.CancellationToken"/>). Once the driver has moved
    /// on, the fiber is over and its token never fires again: cancelled if it ended cancelled, otherwise one that
    /// never fires.</summary>
    internal CancellationToken HostCancellationToken
    {
        get
        {
            if (TryEnter() is not { } driver)
            {
                return new CancellationToken(canceled: EndedState == FiberState.Cancelled);
            }
            try
            {
                return driver.HostCancellationToken;
            }
            finally
            {
                driver.ExitHandle();
            }
        }
    }

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
        FiberDriver driver = FiberDriver.Rent(name, hostFunctions);
        var fiber = new Fiber(driver, name);
        // The lease's holder is this handle, not the driver: the Store's Dispose and finalizer reach the fiber through
        // a generation check, so a late one never cancels or revokes the driver's next fiber.
        StackLease lease = store.CheckoutStackLease(name, fiber);
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
    /// ends. As with any <see cref="ValueTask{TResult}"/>, read the result once (await it, or call
    /// <c>AsTask</c> once): a run that had to wait is backed by the fiber's driver, which a second read finds reset
    /// (<see cref="InvalidOperationException"/>), and whose reuse by the next fiber on this thread waits for that one
    /// read.</remarks>
    public ValueTask<long> RunAsync(CancellationToken cancellationToken = default)
    {
        // The claim names this handle's generation: a driver that moved on refuses it, and one whose run is claimed
        // is never moved on until that run's last touch, so the run needs no other pin.
        FiberDriver? driver = Volatile.Read(ref _driver);
        bool moved = true;
        if (driver is null || !driver.TryClaimRun(Volatile.Read(ref _stamp) >> StateBits, out moved))
        {
            return moved ? RunEnded()
                : throw new InvalidOperationException($"Fiber '{_name}' is already being run; RunAsync drives a fiber once, to its end.");
        }
        return driver.RunClaimed(this, cancellationToken);
    }

    /// <summary>Cancels the fiber; once this returns, no host function starts for it. A fiber that is not running
    /// is unwound here (the guest is told its call was cancelled and returns) and its stack returned. If guest code is
    /// on the CPU on another thread, waits until it reaches its next host call, poll or end, where it sees the cancel.
    /// If an asynchronous host function's task is running, returns at once: the guest is unwound and the stack
    /// returned when that task ends. Called from one of this fiber's own host functions, it returns at once and the
    /// guest sees the cancel as soon as that function returns.</summary>
    public void Cancel()
    {
        if (TryEnter() is not { } driver)
        {
            return; // ended, and its driver moved on
        }
        try
        {
            driver.Cancel();
        }
        finally
        {
            driver.ExitHandle();
        }
    }

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
        if (TryEnter() is not { } driver)
        {
            return;
        }
        try
        {
            driver.SetEpochDeadline(epoch, ticksBeyondCurrent);
        }
        finally
        {
            driver.ExitHandle();
        }
    }

    /// <summary>Sets what happens when the epoch deadline passes (Wasmtime's epoch deadline callback): interrupt
    /// (<see cref="FiberInterruptedException"/>), continue with a new deadline, or yield asynchronously so other work
    /// runs and then continue. Null restores the default, interrupt.</summary>
    public void SetEpochDeadlineCallback(FiberEpochDeadlineCallback? callback)
    {
        if (TryEnter() is not { } driver)
        {
            return;
        }
        try
        {
            driver.SetEpochDeadlineCallback(callback);
        }
        finally
        {
            driver.ExitHandle();
        }
    }

    /// <summary>Same as <see cref="Cancel"/>: a fiber never outlives its stack.</summary>
    public void Dispose()
    {
        FiberDriver? driver = Volatile.Read(ref _driver);
        if (driver is null || driver.Generation != Volatile.Read(ref _stamp) >> StateBits)
        {
            return; // the driver has moved on (generations only grow: a stale handle never becomes current again)
        }
        Cancel();
        driver.TryRecycle(this);
    }

    void IStackHolder.ReleaseStack() => Cancel();

    bool IStackHolder.TryRevoke()
    {
        if (TryEnter() is not { } driver)
        {
            // The driver moved on, so this fiber ended and returned its lease: nothing runs on the stack for it.
            return true;
        }
        try
        {
            return driver.TryRevoke();
        }
        finally
        {
            driver.ExitHandle();
        }
    }

    /// <summary>Called by the driver before it moves on: from now on this handle answers as the ended fiber.</summary>
    internal void Seal(FiberState finalState, bool runStarted)
    {
        long stamp = Volatile.Read(ref _stamp) & ~StateMask;
        Volatile.Write(ref _stamp, stamp | (1 + (long)finalState) | (runStarted ? RunBit : 0));
    }

    /// <summary>The generation this handle names.</summary>
    internal long Generation => Volatile.Read(ref _stamp) >> StateBits;

    /// <summary>Called by the driver once it has moved on (after <see cref="Seal"/>): the handle lets go of it.</summary>
    internal void Detach() => Volatile.Write(ref _driver, null);

    /// <summary>Pins the driver to this handle's fiber for one member (<see cref="FiberDriver.ExitHandle"/> ends it)
    /// and returns it; null when the driver has moved on.</summary>
    private FiberDriver? TryEnter()
    {
        FiberDriver? driver = Volatile.Read(ref _driver);
        return driver is not null && driver.TryEnterHandle(Volatile.Read(ref _stamp) >> StateBits) ? driver : null;
    }

    /// <summary>What a run of an ended fiber whose driver moved on gives: as for the ended fiber itself.</summary>
    private ValueTask<long> RunEnded() => (Volatile.Read(ref _stamp) & RunBit) != 0
        ? throw new InvalidOperationException($"Fiber '{_name}' is already being run; RunAsync drives a fiber once, to its end.")
        : ValueTask.FromException<long>(new OperationCanceledException($"Fiber '{_name}' was cancelled (Cancel, Dispose or its Store's Dispose)."));
}
