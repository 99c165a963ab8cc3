using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using Allocator.Native.Fibers;

namespace Allocator.Fibers;

/// <summary>Native guest code running on a pooled stack, driven from C# by <see cref="RunAsync"/>.</summary>
/// <remarks>
/// <para>Only native frames ever live on the fiber stack. The entry point must be native code
/// (<c>intptr_t entry(allocator_fiber_ctx*, intptr_t)</c>, see <c>src/Native/native/fiber.h</c>); never pass a
/// managed <c>[UnmanagedCallersOnly]</c> function pointer, which would run managed code on a stack the runtime does
/// not know. When the guest calls <c>allocator_fiber_host_call</c>, the fiber switches back to the driver, which runs
/// the <see cref="FiberHostFunction"/> on the thread's own stack, awaits it if needed, and resumes the fiber with the
/// result. After an await the fiber may resume on another thread, so a guest must not keep thread-local addresses
/// across host calls.</para>
/// <para>Every end returns the stack exactly once, through the Store's token (or the pool): completion, a trap, a
/// host function's exception, an invalid host call, and cancellation by token, <see cref="Cancel"/>,
/// <see cref="Dispose"/> or the Store's Dispose. A suspended fiber's stack is never returned before the fiber has
/// been unwound: the guest is resumed with a cancel status and must return; a guest that makes another host call
/// instead is abandoned there (native frames only, never resumed, so nothing can touch them again).</para>
/// <para>A fiber that is created but not run to its end must be disposed (or its Store disposed): until then it
/// keeps its stack, as a suspended fiber must.</para>
/// <para>Thread safety: one thread at a time runs the native side (an ownership word guards the context);
/// <see cref="Cancel"/> may be called from any thread and waits while guest code is on the CPU elsewhere.</para>
/// </remarks>
public sealed class Fiber : IStackHolder, IDisposable
{
    // Ownership of the native context: nobody uses it (Idle), one thread does (Busy), or it is gone (Finished).
    private const int Idle = 0;
    private const int Busy = 1;
    private const int Finished = 2;

    private readonly FiberHostFunctions _hostFunctions;
    private FiberStackLease? _lease;
    private unsafe NativeFiberContext* _context;
    private int _ownership = Busy;
    private int _busyThread = Environment.CurrentManagedThreadId;
    private int _driven;
    private TaskCompletionSource? _finished;
    private volatile FiberState _state;
    private GCHandle _self;                       // lets the synchronous host callback find this fiber
    private CancellationToken _driveToken;        // the token RunAsync was given, for synchronous host calls
    private ExceptionDispatchInfo? _syncFailure;  // what a synchronous host function threw

    private Fiber(string name, FiberHostFunctions hostFunctions)
    {
        Name = name;
        _hostFunctions = hostFunctions;
    }

    /// <summary>The name given at creation; it is the owner label the Store reports for the stack.</summary>
    public string Name { get; }

    /// <summary>Where the fiber is in its life.</summary>
    public FiberState State => _state;

    /// <summary>The stack the fiber runs on (stale once the fiber has finished).</summary>
    internal PooledStack Stack { get; private set; }

    /// <summary>Creates a fiber on a stack checked out of <paramref name="store"/> under <paramref name="name"/>,
    /// registered as the stack's holder so the Store's Dispose unwinds it. Nothing runs until <see cref="RunAsync"/>.</summary>
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
        ValidateArguments(name, entryPoint, hostFunctions);
        var fiber = new Fiber(name, hostFunctions);
        StackToken token = store.CheckoutStack(name, fiber);
        fiber.Start(new StoreFiberStackLease<T>(store, token), entryPoint, argument);
        return fiber;
    }

    /// <summary>Creates a fiber on a stack rented straight from <paramref name="pool"/>, for use without a Store.</summary>
    /// <inheritdoc cref="Create{T}(Store{T}, string, nint, nint, FiberHostFunctions)"/>
    public static Fiber Create(StackPool pool, string name, nint entryPoint, nint argument, FiberHostFunctions hostFunctions)
    {
        ArgumentNullException.ThrowIfNull(pool);
        ValidateArguments(name, entryPoint, hostFunctions);
        var fiber = new Fiber(name, hostFunctions);
        PooledStack stack = pool.Rent();
        fiber.Start(new PoolFiberStackLease(pool, stack), entryPoint, argument);
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
    /// <exception cref="InvalidOperationException">The fiber is already being run (a fiber runs once).</exception>
    /// <remarks>Any exception from a host function is rethrown after the fiber has been unwound. In every case the
    /// stack has been returned when the returned task completes.</remarks>
    public ValueTask<long> RunAsync(CancellationToken cancellationToken = default)
    {
        if (Interlocked.Exchange(ref _driven, 1) != 0)
        {
            throw new InvalidOperationException($"Fiber '{Name}' is already being run; RunAsync drives a fiber once, to its end.");
        }
        return DriveAsync(cancellationToken);
    }

    /// <summary>Unwinds the fiber if it has not finished, then returns its stack. A suspended guest is resumed with a
    /// cancel status and must return; if guest code is on the CPU on another thread, waits for it to stop.</summary>
    public void Cancel() => Unwind(FiberState.Cancelled);

    /// <summary>Same as <see cref="Cancel"/>: a fiber never outlives its stack.</summary>
    public void Dispose() => Cancel();

    /// <inheritdoc />
    void IStackHolder.ReleaseStack() => Cancel();

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<long> DriveAsync(CancellationToken cancellationToken)
    {
        _driveToken = cancellationToken;
        nint resumeValue = 0;
        while (true)
        {
            if (cancellationToken.IsCancellationRequested)
            {
                Unwind(FiberState.Cancelled);
                throw new OperationCanceledException($"Fiber '{Name}' was cancelled.", cancellationToken);
            }
            if (!Step(resumeValue, cancellationToken, out FiberHostCall call, out long result))
            {
                return result;
            }
            long hostResult;
            try
            {
                ValueTask<long> pending = _hostFunctions[call.Function](call);
                hostResult = pending.IsCompletedSuccessfully ? pending.Result
                    : await AwaitHostAsync(pending, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                bool cancelled = ex is OperationCanceledException && cancellationToken.IsCancellationRequested;
                Unwind(cancelled ? FiberState.Cancelled : FiberState.Faulted);
                throw;
            }
            resumeValue = (nint)hostResult;
        }
    }

    /// <summary>Waits for a host call that did not complete at once, but no longer than the token or the fiber
    /// itself: when <see cref="Cancel"/> unwinds the fiber meanwhile, the driver stops waiting and reports it.</summary>
    private async Task<long> AwaitHostAsync(ValueTask<long> pending, CancellationToken cancellationToken)
    {
        Task<long> host = pending.AsTask();
        if (cancellationToken.CanBeCanceled)
        {
            host = host.WaitAsync(cancellationToken);
        }
        Task finished = FinishedSignal();
        if (Volatile.Read(ref _ownership) != Finished)
        {
            await Task.WhenAny(host, finished).ConfigureAwait(false);
        }
        if (!host.IsCompleted)
        {
            throw CancelledWhileSuspended();
        }
        return await host.ConfigureAwait(false);
    }

    private OperationCanceledException CancelledWhileSuspended() =>
        new($"Fiber '{Name}' was cancelled while suspended (Cancel, Dispose or its Store's Dispose).");

    private Task FinishedSignal()
    {
        TaskCompletionSource? signal = Volatile.Read(ref _finished);
        if (signal is null)
        {
            var created = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            signal = Interlocked.CompareExchange(ref _finished, created, null) ?? created;
        }
        return signal.Task;
    }

    /// <summary>Resumes the guest once. True: it waits in a host call, described by <paramref name="call"/>. False: it
    /// completed with <paramref name="result"/>. Every other end throws, with the stack already returned.</summary>
    private unsafe bool Step(nint resumeValue, CancellationToken cancellationToken, out FiberHostCall call, out long result)
    {
        call = default;
        result = 0;
        if (!TryAcquire())
        {
            WaitUntilFinished();
            throw CancelledWhileSuspended();
        }
        _state = FiberState.Running;
        NativeFiberContext* context = _context;
        NativeFiberState stopped = NativeFiber.Resume(context, NativeFiberResumeStatus.Result, resumeValue);
        if (_syncFailure is { } failure)
        {
            // A synchronous host function threw; the guest was told its call was cancelled and has ended.
            _syncFailure = null;
            bool cancelled = failure.SourceException is OperationCanceledException && cancellationToken.IsCancellationRequested;
            Finish(cancelled ? FiberState.Cancelled : FiberState.Faulted);
            failure.Throw();
        }
        switch (stopped)
        {
            case NativeFiberState.HostCall:
                call = ReadHostCall(context, cancellationToken);
                _state = FiberState.Suspended;
                Release();
                return true;
            case NativeFiberState.Completed:
                result = context->Value;
                Finish(FiberState.Completed);
                return false;
            case NativeFiberState.Trapped:
                int trapCode = context->TrapCode;
                Finish(FiberState.Trapped);
                throw new FiberTrapException(Name, trapCode);
            default:
                Finish(FiberState.Faulted);
                throw new InvalidOperationException($"Fiber '{Name}' stopped in native state {stopped}, which a plain resume cannot produce.");
        }
    }

    /// <summary>Copies the pending request off the fiber stack; an invalid one unwinds the fiber and throws.</summary>
    private unsafe FiberHostCall ReadHostCall(NativeFiberContext* context, CancellationToken cancellationToken)
    {
        int function = context->HostFunction;
        int count = context->HostArgumentCount;
        string? problem = !_hostFunctions.TryGet(function, out _) ? $"the host table has {_hostFunctions.Count} function(s)"
            : (uint)count > FiberHostCall.MaxArguments ? $"a host call takes 0 to {FiberHostCall.MaxArguments} arguments"
            : count > 0 && context->HostArguments == 0 ? "the argument pointer is null"
            : null;
        if (problem is not null)
        {
            UnwindOwned(FiberState.Faulted);
            throw new FiberHostCallException(Name, function, count, problem);
        }
        FiberHostArguments arguments = default;
        nint* source = (nint*)context->HostArguments;
        for (int i = 0; i < count; i++)
        {
            arguments[i] = source[i];
        }
        return new FiberHostCall(this, function, arguments, count, cancellationToken);
    }

    private unsafe void Start(FiberStackLease lease, nint entryPoint, nint argument)
    {
        _lease = lease;
        Stack = lease.Stack;
        NativeFiberContext* context;
        try
        {
            context = NativeFiber.Init(Stack.Bottom, Stack.Size, entryPoint, argument);
        }
        catch
        {
            Finish(FiberState.Faulted);
            throw;
        }
        if (context == null)
        {
            Finish(FiberState.Faulted);
            throw new ArgumentException($"Fiber '{Name}': a stack of {Stack.Size} bytes is smaller than the {NativeFiber.MinimumStackSize} bytes a fiber needs.", nameof(lease));
        }
        _context = context;
        if (_hostFunctions.HasSynchronous)
        {
            _self = GCHandle.Alloc(this);
            NativeFiber.SetSyncHost(context, (nint)(delegate* unmanaged<nint, int, nint*, int, int*, nint>)&ServeSynchronousHostCall, GCHandle.ToIntPtr(_self));
        }
        _state = FiberState.Created;
        Release();
    }

    /// <summary>Called by the native trampoline on the driver's thread stack, inside <see cref="NativeFiber.Resume"/>,
    /// while the guest waits in a host call with only native frames on the fiber stack. Nothing may escape it.</summary>
    [UnmanagedCallersOnly]
    private static unsafe nint ServeSynchronousHostCall(nint state, int function, nint* arguments, int count, int* status)
    {
        const int Handled = 0, NotHandled = 1, Failed = 2;
        Fiber? fiber = null;
        try
        {
            fiber = (Fiber)GCHandle.FromIntPtr(state).Target!;
            if (!fiber._hostFunctions.TryGetSynchronous(function, out FiberSyncHostFunction sync)
                || (uint)count > FiberHostCall.MaxArguments || (count > 0 && arguments == null))
            {
                // Asynchronous or malformed: the driver serves it, or reports it, as usual.
                *status = NotHandled;
                return 0;
            }
            FiberHostArguments copy = default;
            for (int i = 0; i < count; i++)
            {
                copy[i] = arguments[i];
            }
            long result = sync(new FiberHostCall(fiber, function, copy, count, fiber._driveToken));
            *status = Handled;
            return (nint)result;
        }
        catch (Exception ex)
        {
            if (fiber is not null)
            {
                fiber._syncFailure = ExceptionDispatchInfo.Capture(ex);
            }
            *status = Failed;
            return 0;
        }
    }

    private void Unwind(FiberState finalState)
    {
        SpinWait spin = default;
        while (true)
        {
            int ownership = Volatile.Read(ref _ownership);
            if (ownership == Finished)
            {
                return;
            }
            if (ownership == Idle && TryAcquire())
            {
                UnwindOwned(finalState);
                return;
            }
            if (Volatile.Read(ref _busyThread) == Environment.CurrentManagedThreadId)
            {
                // Only guest code calling managed code directly (which the rules forbid) could get here; waiting would hang.
                throw new InvalidOperationException($"Fiber '{Name}' cannot be cancelled from code running inside its own resume.");
            }
            // Guest code is on the CPU on another thread: it stops at its next host call or its end.
            spin.SpinOnce();
        }
    }

    /// <summary>With ownership held: lets a suspended guest unwind (a fiber that never ran has nothing to unwind),
    /// then returns the stack. Whatever state the guest ends in, nothing runs on the stack afterwards.</summary>
    private unsafe void UnwindOwned(FiberState finalState)
    {
        try
        {
            NativeFiber.Resume(_context, NativeFiberResumeStatus.Cancel, 0);
        }
        finally
        {
            Finish(finalState);
        }
    }

    /// <summary>With ownership held: forgets the context, returns the stack, and gives up ownership for good.</summary>
    private unsafe void Finish(FiberState finalState)
    {
        _context = null;
        if (_self.IsAllocated)
        {
            _self.Free();
        }
        _state = finalState;
        FiberStackLease? lease = _lease;
        _lease = null;
        try
        {
            lease?.Return();
        }
        finally
        {
            Volatile.Write(ref _busyThread, 0);
            // A full fence: either a driver about to wait sees Finished, or we see its signal and wake it.
            Interlocked.Exchange(ref _ownership, Finished);
            Volatile.Read(ref _finished)?.TrySetResult();
        }
    }

    private bool TryAcquire()
    {
        if (Interlocked.CompareExchange(ref _ownership, Busy, Idle) != Idle)
        {
            return false;
        }
        Volatile.Write(ref _busyThread, Environment.CurrentManagedThreadId);
        return true;
    }

    private void Release()
    {
        Volatile.Write(ref _busyThread, 0);
        Volatile.Write(ref _ownership, Idle);
    }

    private void WaitUntilFinished()
    {
        SpinWait spin = default;
        while (Volatile.Read(ref _ownership) != Finished)
        {
            spin.SpinOnce();
        }
    }

    private static void ValidateArguments(string name, nint entryPoint, FiberHostFunctions hostFunctions)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(hostFunctions);
        if (entryPoint == 0)
        {
            throw new ArgumentException("The entry point must be the address of a native function.", nameof(entryPoint));
        }
    }
}
