using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using Allocator.Stores;

namespace Allocator.Fibers;

/// <summary>Drives one native fiber: owns its context, resumes it, serves its host calls on the thread's stack and
/// ends it exactly once. The public <see cref="Fiber"/> is a handle to it; the Store's lease points at it as the
/// stack's holder.</summary>
/// <remarks>
/// <para>An ownership word guards the native context: nobody uses it (Idle), one thread does (Busy), or it is gone
/// for good (Finished). Only the thread that moved it to Busy may touch the context, and only the move to Finished
/// returns the stack, so the stack goes back exactly once and never while anything can resume on it.</para>
/// <para>Invariant: Finished ⇒ the context pointer is null and the lease has been returned or revoked.</para>
/// </remarks>
internal sealed class FiberDriver : IStackHolder
{
    private const int Idle = 0;
    private const int Busy = 1;
    private const int Finished = 2;

    private StackLease? _lease;
    private unsafe NativeFiberContext* _context;
    private int _ownership = Busy;
    private int _busyThread = Environment.CurrentManagedThreadId;
    private int _driven;
    private bool _revoked;
    private TaskCompletionSource? _finished;
    private volatile FiberState _state;

    public FiberDriver(string name, FiberHostFunctions hostFunctions)
    {
        Name = name;
        HostFunctions = hostFunctions;
    }

    public string Name { get; }

    public FiberHostFunctions HostFunctions { get; }

    /// <summary>The handle users hold; host calls report it as their fiber.</summary>
    public Fiber Handle { get; set; } = null!;

    public FiberState State => _state;

    /// <summary>The token RunAsync was given, for synchronous host calls.</summary>
    public CancellationToken DriveToken { get; private set; }

    /// <summary>What a synchronous host function threw, captured by <see cref="SyncHostCallback"/>.</summary>
    public ExceptionDispatchInfo? SyncFailure { get; set; }

    /// <summary>Takes ownership of the stack <paramref name="lease"/> names and prepares the native context.</summary>
    public unsafe void Start(StackLease lease, nint entryPoint, nint argument)
    {
        _lease = lease;
        NativeFiberContext* context;
        try
        {
            context = Interop.AllocatorNative.Init(lease.Stack.Bottom, lease.Stack.Size, entryPoint, argument);
        }
        catch
        {
            Finish(FiberState.Faulted);
            throw;
        }
        if (context == null)
        {
            Finish(FiberState.Faulted);
            throw new ArgumentException($"Fiber '{Name}': a stack of {lease.Stack.Size} bytes is smaller than the {Interop.AllocatorNative.MinimumStackSize} bytes a fiber needs.", "store");
        }
        _context = context;
        if (HostFunctions.HasSynchronous)
        {
            Interop.AllocatorNative.SetSyncHost(context, SyncHostCallback.Pointer, 0);
        }
        _state = FiberState.Created;
        Release();
    }

    public ValueTask<long> RunAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _driven, 1) != 0)
        {
            throw new InvalidOperationException($"Fiber '{Name}' is already being run; RunAsync drives a fiber once, to its end.");
        }
        return DriveAsync(cancellationToken);
    }

    /// <summary>Unwinds the fiber if it has not finished, then returns its stack.</summary>
    public void Cancel() => Unwind(FiberState.Cancelled);

    void IStackHolder.ReleaseStack() => Cancel();

    bool IStackHolder.TryRevoke()
    {
        int seen = Interlocked.CompareExchange(ref _ownership, Finished, Idle);
        if (seen == Busy)
        {
            return false;
        }
        if (seen == Idle)
        {
            unsafe
            {
                _context = null;
            }
            _revoked = true;
            _lease = null;
            _state = FiberState.Cancelled;
            Volatile.Read(ref _finished)?.TrySetResult();
        }
        return true;
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<long> DriveAsync(CancellationToken cancellationToken)
    {
        DriveToken = cancellationToken;
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
                ValueTask<long> pending = HostFunctions[call.Function](call);
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
            throw EndedWhileSuspended();
        }
        return await host.ConfigureAwait(false);
    }

    private Exception EndedWhileSuspended() => _revoked
        ? new ObjectDisposedException(Name, $"Fiber '{Name}' was revoked when its Store was finalized; it can never run again.")
        : new OperationCanceledException($"Fiber '{Name}' was cancelled while suspended (Cancel, Dispose or its Store's Dispose).");

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
            throw EndedWhileSuspended();
        }
        _state = FiberState.Running;
        NativeFiberContext* context = _context;
        Debug.Assert(context != null, "Owned and not finished means the context is live.");
        NativeFiberState stopped = ResumeOwned(context, NativeFiberResumeStatus.Result, resumeValue);
        if (SyncFailure is { } failure)
        {
            // A synchronous host function threw; the guest was told its call was cancelled and has ended.
            SyncFailure = null;
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

    /// <summary>With ownership held: one native resume, with this driver serving synchronous host calls.</summary>
    private unsafe NativeFiberState ResumeOwned(NativeFiberContext* context, NativeFiberResumeStatus status, nint value)
    {
        FiberDriver? previous = SyncHostCallback.Enter(this);
        try
        {
            return Interop.AllocatorNative.Resume(context, status, value);
        }
        finally
        {
            SyncHostCallback.Exit(previous);
        }
    }

    /// <summary>Copies the pending request off the fiber stack; an invalid one unwinds the fiber and throws.</summary>
    private unsafe FiberHostCall ReadHostCall(NativeFiberContext* context, CancellationToken cancellationToken)
    {
        int function = context->HostFunction;
        int count = context->HostArgumentCount;
        string? problem = !HostFunctions.TryGet(function, out _) ? $"the host table has {HostFunctions.Count} function(s)"
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
        return new FiberHostCall(Handle, function, arguments, count, cancellationToken);
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
                // Only a host function cancelling its own fiber from inside the resume could get here; waiting would hang.
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
            ResumeOwned(_context, NativeFiberResumeStatus.Cancel, 0);
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
        _state = finalState;
        StackLease? lease = _lease;
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
}
