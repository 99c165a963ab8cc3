using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using System.Threading.Tasks.Sources;
using Allocator.Pooling;
using Allocator.Stores;

namespace Allocator.Fibers;

/// <summary>Drives one native fiber: owns its context, resumes it, serves its host calls on the thread's stack and
/// ends it exactly once. The public <see cref="Fiber"/> is a handle to it; the Store's lease points at it as the
/// stack's holder.</summary>
/// <remarks>
/// <para>An ownership word guards the native context: nobody uses it (Idle), one thread does (Busy), a pending
/// asynchronous host task holds it while the run waits for it (AwaitingHost) or after a cancel ended that wait
/// (AwaitingHostAbandoned), or it is gone for good (Finished). The wait's outcome lives in the same word, so the host
/// task's end takes the fiber back in one compare-exchange and a cancel or revoke ends the wait in one. Only the
/// thread that moved it to Busy may resume the fiber, and only the move to Finished returns the stack, so the stack
/// goes back exactly once and never while anything can resume on it. A host function starts only while its driver is
/// Busy, and AwaitingHost(Abandoned) is left only by the task's own completion (or a finalizer's revoke): the stack
/// (and, through the Store, every slot) stays out while the host task can still write to guest memory.</para>
/// <para>Cancelling is a flag plus the native word <c>cancel_requested</c>: <see cref="Cancel"/> sets both and then
/// waits while the fiber is Busy on another thread. The native host call and the driver check them before starting
/// any host function, so once Cancel has returned, none starts for this fiber.</para>
/// <para>Invariant: Finished ⇒ the context is closed and the lease has been returned or revoked.</para>
/// <para>Reuse: a driver serves one fiber after another (<see cref="Rent"/>, <see cref="TryRecycle"/>), so a request
/// allocates only its <see cref="Fiber"/> handle. Each use has a generation; a handle reaches the driver only through
/// <see cref="TryEnterHandle"/> with its own, and the driver moves on only once it is Finished, its run has made its
/// last touch, and no handle member is inside: it bumps the generation first and then waits for the members already
/// in, so nothing of an old fiber (its handle, a Store's Dispose or finalizer through the lease's holder, which is the
/// handle, a cancel racing, its run) ever reaches the next one. Nothing kept after a fiber ended may keep its driver
/// reachable either, since the driver then holds a later fiber's lease and so that fiber's Store: the handle lets go
/// of the driver when it moves on, the synchronous binding holds no driver, and a driver is not reused while code
/// awaiting its run runs inside its frames (see <see cref="FiberThread.Completing"/>).</para>
/// <para>Inlining: native AOT compiles without profile data and inlines much less than tiered JIT, so the run's path
/// (claim, own, step, resume) is marked for inlining; under native AOT a fiber's life (create, one host call, end)
/// went from 195 to 151 ns with it (peer benchmark), and JIT code was unchanged.</para>
/// </remarks>
internal sealed class FiberDriver : IValueTaskSource<long>
{
    private const int Idle = 0;
    private const int Busy = 1;
    private const int Finished = 2;
    private const int AwaitingHost = 3;
    private const int AwaitingHostAbandoned = 4;

    // _run's low bits: no run yet, a run is between its start and its last touch of this driver, or that run has ended.
    private const int NotDriven = 0;
    private const int Driving = 1;
    private const int Driven = 2;

    private static Action<FiberDriver>? s_beforeCancelSignal;

    // The driver whose run is completing on this thread from inside its own frames (FiberThread.Completing). A run
    // that waited ends inside a continuation (the host task's end, the scheduler), and the code awaiting the run then
    // runs inline, below this driver's frames (its continuation on the host task, ContinueRun), which keep the driver
    // reachable until that code returns. The driver is not reused while that is so: if that code abandoned a Store
    // whose fiber reused it, the frames would keep the Store alive and its finalizer would never run. CompleteRun sets
    // it around publishing the run's result and restores what it found once that code has returned. The thread's spare
    // driver lives beside it (FiberThread.Spare): both are read through one thread-static lookup.

    // Which use of this driver the current handle names (only grows) and, in the low bits, its run's progress: one
    // word, so claiming the run and moving on to the next use exclude each other in one compare-exchange.
    private long _run;
    private int _handleUsers;  // handle members inside (TryEnterHandle .. ExitHandle)


    private StackLease? _lease;
    private ulong _leaseGeneration; // the checkout _lease names: the lease object is reused by the slot's next one
    private nint _context;
    private SyncHostBinding? _syncBinding; // only for tables with synchronous functions; its handle freed by CloseContext
    private ExceptionDispatchInfo? _inlineFailure; // what an asynchronous function run inside the resume threw
    private int _contextWriters;
    private int _ownership = Busy;
    private int _busyThread = Environment.CurrentManagedThreadId; // read only while _ownership is Busy
    private int _cancelRequested;
    private bool _revoked;
    private FiberHostWait? _wait; // created by the first pending host call
    // A run that had to wait is this driver's value task (see ContinueRun): its result, the execution context its
    // wait began in, and its token with the registration that cancels the fiber, both let go before its end is published.
    private ManualResetValueTaskSourceCore<long> _runCore;
    private ExecutionContext? _runContext;
    private CancellationToken _runToken;
    private CancellationTokenRegistration _runRegistration;
    private Action? _afterYield; // the chained run's continuation after Task.Yield, created by its first yield
    private Fiber? _recycleAfterCompletion; // disposed inline below CompleteRun: recycled once that code has returned
    // Which native host callback this fiber's context has (see Start), and whether a host function started inside it
    // left a pending task in _wait.Pending for the driver to wait for.
    private HostCallback _callback;
    private bool _hostStartedInline;
    private CancellationTokenSource? _hostCancellation;
    private volatile FiberState _state;
    private FiberEpoch? _epoch;
    private FiberEpoch? _appliedEpoch;
    private ulong _deadline = ulong.MaxValue;
    private FiberEpochDeadlineCallback? _deadlineCallback;

    public FiberDriver(string name, FiberHostFunctions hostFunctions)
    {
        Name = name;
        HostFunctions = hostFunctions;
    }

    private enum StepOutcome { Start, Completed, HostCall, HostStarted, Yield }

    private enum HostCallback : byte { None, Ready }

    public string Name { get; private set; }

    public FiberHostFunctions HostFunctions { get; private set; }

    /// <summary>Which use of this driver is current (see <see cref="Fiber"/>'s stamp).</summary>
    public long Generation => Volatile.Read(ref _run) >> 2;

    /// <summary>The handle users hold; host calls report it as their fiber.</summary>
    public Fiber Handle { get; set; } = null!;

    /// <summary>The request of each host call of each fiber this driver runs (see <see cref="FiberHostCallRecord"/>).</summary>
    public FiberHostCallRecord HostCall { get; } = new();

    public FiberState State
    {
        get
        {
            // Between the cancel and the end, whatever the driver is doing (waiting for a host task, resuming the
            // guest so it can unwind), the fiber is Cancelling.
            FiberState state = _state;
            return CancelRequested && state is FiberState.Created or FiberState.Running or FiberState.Suspended
                ? FiberState.Cancelling : state;
        }
    }

    /// <summary>True while the fiber is cancelled but an asynchronous host function's task still holds it.</summary>
    public bool HostCallOutlivesCancel => CancelRequested && Volatile.Read(ref _ownership) is AwaitingHost or AwaitingHostAbandoned;

    /// <summary>Fires when the fiber is cancelled (its run's token, <see cref="Cancel"/>, Dispose or its Store's
    /// Dispose); created on first use, so host functions that never look at it cost nothing.</summary>
    public CancellationToken HostCancellationToken
    {
        get
        {
            CancellationTokenSource? source = Volatile.Read(ref _hostCancellation);
            if (source is null)
            {
                var created = new CancellationTokenSource();
                source = Interlocked.CompareExchange(ref _hostCancellation, created, null) ?? created;
                if (CancelRequested)
                {
                    CancelHostToken(source);
                }
            }
            return source.Token;
        }
    }

    /// <summary>Test seam: runs when a driver has published its wait for a pending host task, before it looks for a
    /// cancel itself: a cancel or revoke from another thread landing there must still end the wait, either because it
    /// finds the wait published or because the driver finds the cancel. Null in production (one static read per
    /// pending host call).</summary>
    internal static Action<FiberDriver>? BeforeCancelSignalForTest
    {
        set => s_beforeCancelSignal = value;
    }

    private bool CancelRequested => Volatile.Read(ref _cancelRequested) != 0;

    /// <summary>This thread's spare driver, or a new one, for a fiber about to be created.</summary>
    public static FiberDriver Rent(string name, FiberHostFunctions hostFunctions)
    {
        FiberThread thread = FiberThread.Current;
        FiberDriver? driver = thread.Spare;
        if (driver is null)
        {
            return new FiberDriver(name, hostFunctions);
        }
        thread.Spare = null;
        driver.Name = name;
        driver.HostFunctions = hostFunctions;
        driver._busyThread = thread.ThreadId;
        Debug.Assert(driver._ownership == Busy && driver.Handle is null && driver._handleUsers == 0);
        return driver;
    }

    /// <summary>A handle member enters: true (and the driver pinned to that fiber until <see cref="ExitHandle"/>) when
    /// <paramref name="generation"/> is still current.</summary>
    public bool TryEnterHandle(long generation)
    {
        // Announce, then check: TryRecycle bumps the generation, then waits for announced members (both full fences),
        // so either this sees the new generation or the recycle waits for this member to leave.
        Interlocked.Increment(ref _handleUsers);
        if (Volatile.Read(ref _run) >> 2 == generation)
        {
            return true;
        }
        Interlocked.Decrement(ref _handleUsers);
        return false;
    }

    public void ExitHandle() => Interlocked.Decrement(ref _handleUsers);

    /// <summary>Called through <paramref name="handle"/> once its fiber may be over: when the fiber is Finished, its
    /// run has made its last touch and it was not revoked, seals the handle with the final state and makes the driver
    /// this thread's spare. Anything else: nothing happens, and the driver is simply collected with its handle.</summary>
    public void TryRecycle(Fiber handle)
    {
        // Finished is final and is read first: a run that began before the end still shows Driving after it.
        if (Volatile.Read(ref _ownership) != Finished || _revoked)
        {
            return;
        }
        FiberThread thread = FiberThread.Current;
        if (thread.Completing == this)
        {
            // Disposed by the code awaiting the run, inline below CompleteRun (an await's continuation, as in
            // Store.RunFiberAsync): this thread recycles it once that code has returned, so the next fiber here still
            // finds a spare (otherwise a scoped run that waited allocated a driver every time, about 360 B).
            _recycleAfterCompletion = handle;
            return;
        }
        if (thread.Spare is not null)
        {
            return;
        }
        long generation = handle.Generation;
        long run = Volatile.Read(ref _run);
        if (run >> 2 != generation || (run & 3) == Driving)
        {
            return;
        }
        // Sealed before the bump: whoever sees the new generation reads the final state in the handle.
        handle.Seal(_state, (run & 3) != NotDriven);
        if (Interlocked.CompareExchange(ref _run, ((generation + 1) << 2) | NotDriven, run) != run)
        {
            return; // a run claimed just now, or another member of the same handle recycled it
        }
        handle.Detach();
        SpinWait spin = default;
        while (Volatile.Read(ref _handleUsers) != 0)
        // Stryker disable once Block,Statement : SpinOnce only backs off; the loop leaves on the same condition without it
        {
            spin.SpinOnce();
        }
        if (_revoked)
        {
            return; // a finalizer's revoke (resurrection only): such a driver is never reused
        }
        Reset();
        thread.Spare = this;
    }

    /// <summary>Forgets the ended fiber: nothing the spare holds keeps it, its Store or its host functions alive.</summary>
    private void Reset()
    {
        Debug.Assert(_context == 0 && _lease is null && _contextWriters == 0);
        // A host function may still hold the old token: it keeps its state (and fires no more: the fiber is over).
        _hostCancellation = null;
        if (_wait is { } wait && wait.Pending != default)
        {
            _wait = null; // never left in a state the next fiber's first wait would trip on
        }
        // A waited run's result was read before its driver could move on (GetResult), which reset the core.
        Debug.Assert(_runCore.GetStatus(_runCore.Version) == ValueTaskSourceStatus.Pending && _runContext is null);
        Debug.Assert(!_runToken.CanBeCanceled);
        _leaseGeneration = 0;
        _syncBinding = null;
        _inlineFailure = null;
        _busyThread = 0;
        _cancelRequested = 0;
        _callback = HostCallback.None;
        _hostStartedInline = false;
        _state = FiberState.Created;
        _epoch = null;
        _appliedEpoch = null;
        _deadline = ulong.MaxValue;
        _deadlineCallback = null;
        _recycleAfterCompletion = null;
        Handle = null!;
        Name = string.Empty;
        HostFunctions = null!;
        Volatile.Write(ref _ownership, Busy); // as a new driver: Start releases it
    }

    private unsafe NativeFiberContext* Context => (NativeFiberContext*)Volatile.Read(ref _context);

    /// <summary>Takes ownership of the stack <paramref name="lease"/> names and prepares the native context.</summary>
    public unsafe void Start(StackLease lease, nint entryPoint, nint argument)
    {
        _lease = lease;
        _leaseGeneration = lease.Generation;
        try
        {
            Interop.AllocatorNative.EnsureAbi();
        }
        catch
        {
            Finish(FiberState.Faulted);
            throw;
        }
        // Outside the try: there the JIT inlines the (transition-free) P/Invoke instead of calling a stub, once per
        // fiber; after EnsureAbi the import is bound, so nothing here can throw.
        NativeFiberContext* context = Interop.AllocatorNative.InitChecked(lease.Stack.Bottom, lease.Stack.Size, entryPoint, argument);
        if (context == null)
        {
            Finish(FiberState.Faulted);
            throw new ArgumentException($"Fiber '{Name}': a stack of {lease.Stack.Size} bytes is smaller than the {Interop.AllocatorNative.MinimumStackSize} bytes a fiber needs.", "store");
        }
        Volatile.Write(ref _context, (nint)context);
        // allocator_fiber_set_sync_host only stores these two words: written here, they cost no P/Invoke per fiber.
        if (HostFunctions.HasSynchronous)
        {
            _syncBinding = SyncHostCallback.Install(context, this);
        }
        else if (HostFunctions.Count > 0)
        {
            context->SyncHost = FiberReadyHostCallback.Pointer;
            context->SyncState = 0;
            _callback = HostCallback.Ready;
        }
        (nint uncheckedTable, int uncheckedCount) = HostFunctions.UncheckedTable;
        if (uncheckedCount != 0)
        {
            // The native host call calls these pointers itself; the table is pinned and held by HostFunctions, which
            // this driver holds while the fiber can run. Plain stores, as for the synchronous host above.
            context->Unchecked = uncheckedTable;
            context->UncheckedCount = uncheckedCount;
        }
        _state = FiberState.Created;
        Release();
    }

    /// <summary>Claims the one run of the fiber <paramref name="generation"/> names: false with
    /// <paramref name="moved"/> when the driver has moved on, false without it when a run was claimed before.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryClaimRun(long generation, out bool moved)
    {
        long unclaimed = (generation << 2) | NotDriven;
        long seen = Interlocked.CompareExchange(ref _run, (generation << 2) | Driving, unclaimed);
        moved = seen >> 2 != generation;
        return seen == unclaimed;
    }

    /// <summary>The run's last touch of this driver: from here on it may move on (<see cref="TryRecycle"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void EndRun()
    {
        Debug.Assert((_run & 3) == Driving, "Only the claimed run ends it, and nothing changes _run meanwhile.");
        Volatile.Write(ref _run, (_run & ~3L) | Driven);
    }

    /// <summary>Runs the fiber; the caller has claimed the run (<see cref="TryClaimRun"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ValueTask<long> RunClaimed(Fiber handle, CancellationToken cancellationToken)
    {
        Debug.Assert((_run & 3) == Driving);
        ValueTask<long> run = RunUntilWait(cancellationToken);
        if (run.IsCompleted)
        {
            // Ended before anyone could await it: no caller code ran below this driver's frames. The next fiber on
            // this thread takes the driver. (Only CompleteRun changes FiberThread.Completing, and it restores it.)
            TryRecycle(handle);
        }
        return run;
    }

    /// <summary>A run, on the caller's stack until the guest ends or must wait (a pending host task, a yield), so a
    /// run whose host calls all answer at once completes synchronously. From its first wait on, the run is this
    /// driver's value task and whoever ends a wait goes on with it (<see cref="ContinueRun"/>): no async state machine,
    /// nothing allocated per call or per run. A token's registration cancels the fiber for the whole run. Failures
    /// come back in the value task, never thrown here, as from an async method.</summary>
    private ValueTask<long> RunUntilWait(CancellationToken cancellationToken)
    {
        // As an async method's start would, undo what host functions did to the caller's execution context.
        ExecutionContext? callers = ExecutionContext.Capture();
        bool handedOver = false;
        try
        {
            if (cancellationToken.IsCancellationRequested)
            {
                Cancel();
                return ValueTask.FromException<long>(Cancelled(cancellationToken));
            }
            if (!TryAcquire())
            {
                WaitUntilFinished();
                return ValueTask.FromException<long>(EndedWhileSuspended(cancellationToken));
            }
            if (cancellationToken.CanBeCanceled)
            {
                _runToken = cancellationToken;
                _runRegistration = cancellationToken.UnsafeRegister(static s => ((FiberDriver)s!).RequestCancel(), this);
            }
            nint resumeValue = 0;
            StepOutcome next = RunToWait(ref resumeValue, cancellationToken, out ValueTask<long> pending, out long result);
            if (next == StepOutcome.Completed)
            {
                return new ValueTask<long>(result);
            }
            // From here the run is this driver's value task, and whoever ends a wait goes on with it (ContinueRun).
            handedOver = true;
            var run = new ValueTask<long>(this, _runCore.Version);
            WaitChained(next, pending);
            return run;
        }
        catch (Exception ex)
        {
            return ValueTask.FromException<long>(ex);
        }
        finally
        {
            if (!handedOver)
            {
                LetGoOfToken();
                EndRun(); // the run's last touch; a run that waited makes it when its result is read
            }
            if (callers is not null && ExecutionContext.Capture() != callers)
            {
                ExecutionContext.Restore(callers);
            }
        }
    }

    /// <summary>Before a run's end is published: after this the token never reaches this driver again (Dispose waits
    /// out a callback running on another thread; one running on this thread is the caller).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void LetGoOfToken()
    {
        if (_runToken.CanBeCanceled)
        {
            _runRegistration.Dispose();
            _runRegistration = default;
            _runToken = default;
        }
    }

    /// <summary>Sets the deadline <paramref name="ticksBeyondCurrent"/> ticks past <paramref name="epoch"/>'s
    /// current value. It reaches the guest at its next resume, or at once from a host function of this fiber.</summary>
    public unsafe void SetEpochDeadline(FiberEpoch epoch, ulong ticksBeyondCurrent)
    {
        // Epoch and deadline are two words: a resume racing this call may pair them wrongly once, which at worst makes
        // the guest yield early; the driver re-checks against the current values before acting on a yield.
        _epoch = epoch;
        Volatile.Write(ref _deadline, DeadlineAfter(epoch, ticksBeyondCurrent));
        if (Volatile.Read(ref _ownership) == Busy && Volatile.Read(ref _busyThread) == ManagedThreadIds.Current)
        {
            ApplyDeadline(Context);
        }
    }

    public void SetEpochDeadlineCallback(FiberEpochDeadlineCallback? callback) => _deadlineCallback = callback;

    /// <summary>Cancels the fiber: no host function starts for it once this returns. A fiber nobody runs is unwound
    /// here and its stack returned; one running guest code on another thread is waited for until it stops (at its next
    /// host call, poll or its end); one whose asynchronous host task still runs keeps its stack until that task ends.</summary>
    public void Cancel()
    {
        RequestCancel();
        SpinWait spin = default;
        while (true)
        {
            switch (Volatile.Read(ref _ownership))
            {
                case Finished:
                case AwaitingHost:
                case AwaitingHostAbandoned:
                    return;
                case Idle:
                    if (TryAcquire())
                    {
                        UnwindOwned(FiberState.Cancelled);
                        return;
                    }
                    break;
                default:
                    if (Volatile.Read(ref _busyThread) == ManagedThreadIds.Current)
                    {
                        // Called from this fiber's own resume (a host function or deadline callback): the guest is
                        // waiting, and the driver delivers the cancel before anything else starts.
                        return;
                    }
                    // Guest code is on the CPU on another thread: it stops at its next host call, poll or its end.
                    // Stryker disable once Statement : SpinOnce only backs off; the loop leaves on the same conditions without it
                    spin.SpinOnce();
                    break;
            }
        }
    }

    /// <summary>The abandoned-Store finalizer, through the handle (see <see cref="IStackHolder.TryRevoke"/>).</summary>
    public bool TryRevoke()
    {
        // AwaitingHost is revocable here because the finalizer runs only once this driver is unreachable, and a
        // pending host task references it through its continuation: that task is unreachable too, so nothing can
        // ever complete it or run on its behalf. (A task that can still end keeps the Store alive until it does.)
        int seen = Volatile.Read(ref _ownership);
        while (true)
        {
            if (seen == Busy)
            {
                return false;
            }
            if (seen == Finished)
            {
                return true;
            }
            int found = Interlocked.CompareExchange(ref _ownership, Finished, seen);
            if (found == seen)
            {
                break;
            }
            seen = found;
        }
        CloseContext();
        _revoked = true;
        _lease = null;
        _state = FiberState.Cancelled;
        if (seen == AwaitingHost)
        {
            WakeRun(); // a resurrected run waiting on its host call wakes up (after AwaitingHostAbandoned it has)
        }
        return true;
    }

    /// <summary>With ownership held: resumes the guest and serves its host calls that answer at once, until it
    /// completes (<paramref name="result"/>), yields, or waits in a host call whose task is still
    /// <paramref name="pending"/> (<see cref="StepOutcome.HostCall"/>, ownership still held).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private StepOutcome RunToWait(ref nint resumeValue, CancellationToken cancellationToken, out ValueTask<long> pending, out long result)
    {
        while (true)
        {
            StepOutcome outcome = Step(resumeValue, cancellationToken, out result);
            switch (outcome)
            {
                case StepOutcome.HostCall:
                    pending = StartHost(cancellationToken);
                    if (!pending.IsCompleted)
                    {
                        return StepOutcome.HostCall;
                    }
                    resumeValue = HostResult(pending, cancellationToken);
                    break;
                case StepOutcome.HostStarted:
                    // Started inside the resume (ServeInline) and still pending: waited for like any other.
                    pending = TakePendingHost();
                    return StepOutcome.HostCall;
                default:
                    pending = default;
                    return outcome;
            }
        }
    }

    /// <summary>With ownership held and the guest waiting in a host call: starts the host function it asked for, with
    /// a copy of its request. An invalid request unwinds the fiber and throws; so does a host function that throws.</summary>
    /// <remarks>The guest's words go into the driver's call record, and the host function gets a 16-byte call that
    /// names it (see <see cref="FiberHostCallRecord"/>). The function is looked up once, here.</remarks>
    private unsafe ValueTask<long> StartHost(CancellationToken cancellationToken)
    {
        NativeFiberContext* context = Context;
        int function = context->HostFunction;
        int count = context->HostArgumentCount;
        nint* arguments = (nint*)context->HostArguments;
        if (!HostFunctions.TryGet(function, out FiberHostFunction host) || (uint)count > FiberHostCall.MaxArguments
            || (count > 0 && arguments == null))
        {
            throw InvalidHostCall(function, count, arguments);
        }
        _state = FiberState.Suspended;
        try
        {
            return host(HostCall.Begin(Handle, function, count, arguments));
        }
        catch (Exception ex)
        {
            if (UnwindAfterFailure(ex, cancellationToken) is { } cancelled)
            {
                throw cancelled;
            }
            throw;
        }
    }

    /// <summary>With ownership held: the guest's host call is invalid. Unwinds the fiber and returns what to throw.</summary>
    private unsafe FiberHostCallException InvalidHostCall(int function, int count, nint* arguments)
    {
        string problem = !HostFunctions.TryGet(function, out _) ? $"the host table has {HostFunctions.Count} function(s)"
            : (uint)count > FiberHostCall.MaxArguments ? $"a host call takes 0 to {FiberHostCall.MaxArguments} arguments"
            : "the argument pointer is null";
        UnwindOwned(FiberState.Faulted);
        return new FiberHostCallException(Name, function, count, problem);
    }

    /// <summary>With ownership held: the result of a completed host call; a failed one unwinds the fiber and throws.</summary>
    private nint HostResult(ValueTask<long> completed, CancellationToken cancellationToken)
    {
        HostCall.End(); // the host function is done: its call's request can no longer be read
        try
        {
            return (nint)completed.Result;
        }
        catch (Exception ex)
        {
            if (UnwindAfterFailure(ex, cancellationToken) is { } cancelled)
            {
                throw cancelled;
            }
            throw;
        }
    }

    /// <summary>With ownership held: hands the fiber to the pending host task (AwaitingHost), so nothing else resumes it
    /// while the task may still write to guest memory, and registers the one continuation that ends the wait.</summary>
    private void PublishWait(FiberHostWait wait, ValueTask<long> pending)
    {
        Debug.Assert(Volatile.Read(ref _ownership) == Busy);
        _state = FiberState.Suspended;
        wait.Pending = pending;
        Volatile.Write(ref _busyThread, 0);
        // A full fence: RequestCancel sets its flag, then tries to end the wait (and finds it published, or it finds
        // nothing waiting and the check below finds its flag).
        Interlocked.Exchange(ref _ownership, AwaitingHost);
        // Exactly one continuation on the host's value task (an IValueTaskSource allows no more): it goes on with the
        // run or, when a cancel ended the wait first, ends the fiber. It may run on another thread from here on, so
        // nothing below touches more than the ownership word.
        try
        {
            pending.ConfigureAwait(false).GetAwaiter().UnsafeOnCompleted(wait.OnHostEnded);
        }
        catch (Exception ex)
        {
            FailRefusedWait(wait, ex);
            return;
        }
        s_beforeCancelSignal?.Invoke(this);
        if (CancelRequested)
        {
            TryWakeForCancel();
        }
    }

    /// <summary>The host's value task refused the wait's continuation (a value task source awaited elsewhere throws
    /// from OnCompleted), so nothing will ever end this wait. The host call fails as if its function had thrown: the
    /// fiber is taken back from the wait, unwound and its stack returned, and the run ends with
    /// <paramref name="refusal"/>, unless a cancel that landed after the wait was published has ended it already.
    /// The run's end is published here, not thrown: the caller may be the host task of an earlier wait, ending it.</summary>
    private void FailRefusedWait(FiberHostWait wait, Exception refusal)
    {
        bool woken = !TryOwnFrom(AwaitingHost);
        bool owned = !woken || TryOwnFrom(AwaitingHostAbandoned);
        // A revoke needs this driver unreachable, and it is running: only a cancel can have moved the word meanwhile.
        Debug.Assert(owned, "Nothing but a cancel ends a wait with no continuation.");
        wait.Pending = default; // pending for ever: never observed, never waited for
        HostCall.End();         // the call failed as if its function had thrown
        if (woken)
        {
            // The cancel has ended the run already (WakeRun): the fiber ends as cancelled, as the run reported.
            UnwindOwned(FiberState.Cancelled);
            return;
        }
        CompleteRun(0, UnwindAfterFailure(refusal, _runToken) ?? refusal);
    }

    /// <summary>With ownership held: the wait state, created by this fiber's first pending host call.</summary>
    private FiberHostWait WaitState()
    {
        if (_wait is { } wait)
        {
            return wait;
        }
        wait = new FiberHostWait(OnHostEnded);
        Volatile.Write(ref _wait, wait);
        return wait;
    }

    /// <summary>The host call's value task, forgotten here once it has ended: a pooled value task source goes on to
    /// serve others, and a reference kept here would keep whatever it serves next alive as long as this fiber.</summary>
    private ValueTask<long> TakePendingHost()
    {
        FiberHostWait wait = _wait!;
        ValueTask<long> pending = wait.Pending;
        wait.Pending = default;
        return pending;
    }

    /// <summary>The host task's continuation, on the thread that ended it: takes the fiber back in one
    /// compare-exchange. If the run still waited, it goes on right here (<see cref="ContinueRun"/>); if a cancel ended
    /// the wait first, the fiber ends; after a finalizer's revoke, only the outcome is observed.</summary>
    private void OnHostEnded()
    {
        if (TryOwnFrom(AwaitingHost))
        {
            _state = FiberState.Running;
            ContinueRun(afterHostCall: true);
            return;
        }
        if (TryOwnFrom(AwaitingHostAbandoned))
        {
            EndAfterHost();
            return;
        }
        Debug.Assert(_revoked, "Only the host task's end or the finalizer's revoke leaves AwaitingHost(Abandoned).");
        HostCall.End();
        _ = TryObserve(TakePendingHost()); // revoked by the Store's finalizer: its context is gone and must not be touched
    }

    /// <summary>Ends a run's wait for its host task because of a cancel; nothing when nothing waits, or the host task
    /// ended the wait first.</summary>
    private void TryWakeForCancel()
    {
        if (Volatile.Read(ref _ownership) == AwaitingHost
            && Interlocked.CompareExchange(ref _ownership, AwaitingHostAbandoned, AwaitingHost) == AwaitingHost)
        {
            WakeRun();
        }
    }

    /// <summary>A cancel or revoke has ended the run's wait (it won the ownership word): the run gives up, and none of
    /// the code awaiting it runs inline here (Cancel must not run user code).</summary>
    private void WakeRun()
    {
        Exception ended = EndedWhileSuspended(_runToken); // revoked by the Store's finalizer, or cancelled
        LetGoOfToken();
        _runContext = null;
        _runCore.RunContinuationsAsynchronously = true;
        _runCore.SetException(ended);
    }

    /// <summary>With ownership held (taken back from the host task): the host task a cancelled run gave up on has
    /// ended, so nothing can write to the guest's memory on its behalf any more. The guest is told its call was
    /// cancelled, unwinds, and the stack goes back (a deferred return).</summary>
    private void EndAfterHost()
    {
        HostCall.End();
        _ = TryObserve(TakePendingHost()); // observed: nobody awaits a task the run gave up on
        UnwindOwned(FiberState.Cancelled, deferred: true);
    }

    /// <summary>Reads a completed host call's outcome once (as a value task source requires), ignoring a failure.</summary>
    private static bool TryObserve(ValueTask<long> completed)
    {
        try
        {
            _ = completed.Result;
            return true;
        }
        catch (Exception)
        {
            return false;
        }
    }

    /// <summary>With ownership held, once a run's wait has ended, on the thread that ended it (the host task's
    /// completion, or the scheduler after a yield): the run goes on to its next wait or its end. No state
    /// machine sits between the host task and the guest: a pending call costs one continuation, as Wasmtime's next
    /// poll does. The run's value task is this driver (<see cref="IValueTaskSource{TResult}.GetResult"/>).</summary>
    /// <remarks>Runs in the execution context its wait began in, as an await would, and leaves the thread in the one
    /// it found. Each thread-static read here is a call into the dynamic linker's TLS lookup on Linux (__tls_get_addr
    /// took 3.5% of a peer run's samples before these reads were trimmed), so a pending call reads the context twice:
    /// here and where its next wait begins, whose capture also says whether anything must be given back.</remarks>
    private void ContinueRun(bool afterHostCall)
    {
        ExecutionContext? found = ExecutionContext.Capture();
        ExecutionContext? run = _runContext;
        if (run is not null && run != found)
        {
            ExecutionContext.Restore(run);
        }
        ExecutionContext? current = null;
        bool waits = false;
        try
        {
            StepOutcome next;
            ValueTask<long> pending;
            long result;
            try
            {
                nint resumeValue = afterHostCall ? HostResult(TakePendingHost(), _runToken) : 0;
                next = RunToWait(ref resumeValue, _runToken, out pending, out result);
            }
            catch (Exception ex)
            {
                CompleteRun(0, ex);
                return;
            }
            if (next == StepOutcome.Completed)
            {
                CompleteRun(result, null);
            }
            else
            {
                current = WaitChained(next, pending);
                waits = true;
            }
        }
        finally
        {
            if (!waits)
            {
                current = ExecutionContext.Capture(); // ended: host functions or the code awaiting the run may have changed it
            }
            if (found is not null && current != found)
            {
                ExecutionContext.Restore(found);
            }
        }
    }

    /// <summary>With ownership held: waits for <paramref name="pending"/>
    /// (<see cref="StepOutcome.HostCall"/>) or lets other work run first (<see cref="StepOutcome.Yield"/>); whoever
    /// ends the wait goes on with the run (<see cref="ContinueRun"/>). Returns the execution context the wait began in.</summary>
    private ExecutionContext? WaitChained(StepOutcome next, ValueTask<long> pending)
    {
        ExecutionContext? context = ExecutionContext.Capture();
        _runContext = context; // before the wait is published: its end may come at once elsewhere
        if (next == StepOutcome.HostCall)
        {
            PublishWait(WaitState(), pending);
            return context;
        }
        Debug.Assert(next == StepOutcome.Yield);
        Action afterYield = _afterYield ??= AfterYield;
        // Meanwhile the fiber is Idle, so Cancel may unwind it. Task.Yield's own awaiter, as an await of it would: it
        // posts to the synchronization context or task scheduler if there is one, else to the thread pool.
        Release();
        Task.Yield().GetAwaiter().UnsafeOnCompleted(afterYield);
        return context;
    }

    private void AfterYield()
    {
        if (TryAcquire())
        {
            ContinueRun(afterHostCall: false);
            return;
        }
        WaitUntilFinished(); // cancelled (or revoked) while it yielded
        CompleteRun(0, EndedWhileSuspended(_runToken));
    }

    /// <summary>The end of a run that waited: publishes its result or exception, and the code awaiting
    /// it may run inline right here, below this driver's frames, which keep it reachable: it is not reused until that
    /// code has returned (<see cref="FiberThread.Completing"/>).</summary>
    private void CompleteRun(long result, Exception? failure)
    {
        LetGoOfToken();
        _runContext = null; // holds the caller's async locals: not kept past the run
        _runCore.RunContinuationsAsynchronously = false;
        FiberThread thread = FiberThread.Current;
        FiberDriver? outer = thread.Completing;
        thread.Completing = this;
        try
        {
            if (failure is null)
            {
                _runCore.SetResult(result);
            }
            else
            {
                _runCore.SetException(failure);
            }
        }
        finally
        {
            thread.Completing = outer; // whatever ran inline has returned
        }
        if (_recycleAfterCompletion is { } disposed)
        {
            // Nothing below this frame touches the driver any more: its callers only return.
            _recycleAfterCompletion = null;
            TryRecycle(disposed);
        }
    }

    /// <summary>The result of a run that waited, once. Consuming it resets the core, which drops the
    /// awaiting continuation (it may be a pooled state machine that goes on to serve other fibers), and only then makes
    /// the run's last touch (<see cref="EndRun"/>): the driver never moves on to another fiber while an awaiter of this
    /// run could still read its result, and a stale token is refused by the core's version.</summary>
    long IValueTaskSource<long>.GetResult(short token)
    {
        if (token != _runCore.Version || _runCore.GetStatus(token) == ValueTaskSourceStatus.Pending)
        {
            return _runCore.GetResult(token); // throws: a stale token, or no result yet
        }
        try
        {
            return _runCore.GetResult(token);
        }
        finally
        {
            _runCore.Reset();
            EndRun(); // the run's last touch
        }
    }

    ValueTaskSourceStatus IValueTaskSource<long>.GetStatus(short token) => _runCore.GetStatus(token);

    void IValueTaskSource<long>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _runCore.OnCompleted(continuation, state, token, flags);

    /// <summary>With ownership held: resumes the guest until it completes, waits in a host call (ownership still
    /// held: the caller starts it) or yields for other work. Every other end throws, with the
    /// stack already returned.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private unsafe StepOutcome Step(nint resumeValue, CancellationToken cancellationToken, out long result)
    {
        result = 0;
        while (true)
        {
            _state = FiberState.Running;
            NativeFiberContext* context = Context;
            Debug.Assert(context != null, "Owned and not finished means the context is live.");
            NativeFiberState stopped = ResumeOwned(context, NativeFiberResumeStatus.Result, resumeValue);
            resumeValue = 0;
            if ((_syncBinding?.TakeFailure() ?? TakeInlineFailure()) is { } failure)
            {
                // A host function run inside the resume threw; the guest was told its call was cancelled and has ended.
                OperationCanceledException? cancelled = CancelledBy(failure.SourceException, cancellationToken);
                Finish(cancelled is null ? FiberState.Faulted : FiberState.Cancelled);
                if (cancelled is not null)
                {
                    throw cancelled;
                }
                failure.Throw();
            }
            switch (stopped)
            {
                case NativeFiberState.HostCall:
                    if (_hostStartedInline)
                    {
                        // The host function has started (ServeInline) and its task may write to guest memory: even
                        // a cancel now only ends the wait for it, and the task keeps the fiber until it ends.
                        _hostStartedInline = false;
                        return StepOutcome.HostStarted;
                    }
                    if (CancelRequested)
                    {
                        // Cancelled while the guest ran: this host function must not start.
                        UnwindOwned(FiberState.Cancelled);
                        throw Cancelled(cancellationToken);
                    }
                    return StepOutcome.HostCall; // the caller starts the host function (StartHost)
                case NativeFiberState.Yielded:
                    if (GoesOnAtOnce(cancellationToken))
                    {
                        continue;
                    }
                    _state = FiberState.Suspended;
                    return StepOutcome.Yield;
                case NativeFiberState.Completed:
                    result = context->Value;
                    Finish(FiberState.Completed);
                    return StepOutcome.Completed;
                case NativeFiberState.Cancelled:
                    // The guest saw the cancel at a host call or poll and returned.
                    Finish(FiberState.Cancelled);
                    throw Cancelled(cancellationToken);
                case NativeFiberState.Trapped:
                    int trapCode = context->TrapCode;
                    Finish(FiberState.Trapped);
                    throw new FiberTrapException(Name, trapCode);
                default:
                    Finish(FiberState.Faulted);
                    throw new InvalidOperationException($"Fiber '{Name}' stopped in native state {stopped}, which a plain resume cannot produce.");
            }
        }
    }

    /// <summary>With ownership held and the guest yielded: the cancel, then the epoch deadline policy (Wasmtime's
    /// epoch deadline callback). True: resume at once; false: let other work run first. An interrupt unwinds the guest
    /// and throws.</summary>
    private bool GoesOnAtOnce(CancellationToken cancellationToken)
    {
        if (CancelRequested)
        {
            return true; // the resume delivers the cancel and the guest unwinds
        }
        if (_epoch is not { } epoch || epoch.Current < Volatile.Read(ref _deadline))
        {
            return false; // a voluntary yield, or the deadline moved meanwhile
        }
        ulong now = epoch.Current;
        ulong deadline = Volatile.Read(ref _deadline);
        FiberDeadlineUpdate update;
        try
        {
            update = _deadlineCallback?.Invoke(Handle) ?? FiberDeadlineUpdate.Interrupt;
        }
        catch (Exception ex)
        {
            if (UnwindAfterFailure(ex, cancellationToken) is { } cancelled)
            {
                throw cancelled;
            }
            throw;
        }
        switch (update.Action)
        {
            case FiberDeadlineAction.Continue:
                Volatile.Write(ref _deadline, DeadlineAfter(epoch, update.Ticks));
                return true;
            case FiberDeadlineAction.Yield:
                Volatile.Write(ref _deadline, DeadlineAfter(epoch, update.Ticks));
                return false;
            default:
                UnwindOwned(FiberState.Interrupted);
                throw new FiberInterruptedException(Name, now, deadline);
        }
    }

    /// <summary>With ownership held: one native resume, with this driver serving synchronous host calls. A requested
    /// cancel turns any resume into a cancel resume.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private unsafe NativeFiberState ResumeOwned(NativeFiberContext* context, NativeFiberResumeStatus status, nint value)
    {
        if (CancelRequested)
        {
            status = NativeFiberResumeStatus.Cancel;
        }
        ApplyDeadline(context);
        switch (_callback)
        {
            case HostCallback.Ready:
                {
                    // The callback finds this driver through the thread (a GC handle would keep abandoned Stores
                    // alive); the previous one is restored after, since a host function may drive another fiber.
                    FiberThread thread = FiberThread.Current;
                    FiberDriver? previous = thread.Resuming;
                    thread.Resuming = this;
                    try
                    {
                        return Interop.AllocatorNative.Resume(context, status, value);
                    }
                    finally
                    {
                        thread.Resuming = previous;
                    }
                }
            default:
                // No callback in the context: nothing can call back into this driver during the resume.
                return Interop.AllocatorNative.Resume(context, status, value);
        }
    }

    /// <summary>Set by <see cref="FiberReadyHostCallback"/> when an asynchronous function run inside the resume
    /// throws (nothing may escape its [UnmanagedCallersOnly] method); the run rethrows it once the guest has returned.</summary>
    internal void SetInlineFailure(ExceptionDispatchInfo failure) => _inlineFailure = failure;

    private ExceptionDispatchInfo? TakeInlineFailure()
    {
        ExceptionDispatchInfo? failure = _inlineFailure;
        _inlineFailure = null;
        return failure;
    }

    /// <summary>Inside this driver's resume, on the thread's stack (<see cref="FiberReadyHostCallback"/>): runs
    /// asynchronous host function <paramref name="function"/>. Completed: the guest gets its answer without a trip
    /// through the driver. Still pending: the task is left for the driver to wait for, exactly as if the driver had
    /// started it, and this fiber's later calls go straight to the driver, where a pending call costs least (a fiber
    /// whose calls go pending keeps doing so, as a rule). A throw is captured by the callback, like a synchronous
    /// function's.</summary>
    internal unsafe int ServeInline(int function, nint* arguments, int count, out nint result)
    {
        result = 0;
        if (!HostFunctions.TryGet(function, out FiberHostFunction host))
        {
            return FiberReadyHostCallback.NotHandled; // the driver reports the bad index
        }
        Debug.Assert(Volatile.Read(ref _ownership) == Busy && !_hostStartedInline);
        // What a host function sees is the same as on the driver's path: the guest waits in its call.
        _state = FiberState.Suspended;
        // The guest's words (checked by the callback) go into the call record, as on the driver's path (StartHost).
        ValueTask<long> answer = host(HostCall.Begin(Handle, function, count, arguments));
        if (!answer.IsCompleted)
        {
            WaitState().Pending = answer;
            _hostStartedInline = true;
            _callback = HostCallback.None; // this resume still exits the callback's scope (decided on entry)
            Context->SyncHost = 0;         // read by the guest's next host call only: this one goes on to the driver
            return FiberReadyHostCallback.NotHandled;
        }
        HostCall.End();
        result = (nint)answer.Result; // a failure throws to the callback, which reports it as a synchronous one's
        _state = FiberState.Running;
        // A host function that cancelled its own fiber: the guest sees the cancel at this call, as through the driver.
        return CancelRequested ? FiberReadyHostCallback.Failed : FiberReadyHostCallback.Handled;
    }

    private unsafe void ApplyDeadline(NativeFiberContext* context)
    {
        if (_epoch is { } epoch && context != null)
        {
            // The guest reads this epoch's counter word until the next resume applies another: keep it alive that
            // long even if SetEpochDeadline replaces _epoch meanwhile from another thread.
            _appliedEpoch = epoch;
            context->Epoch = epoch.Address;
            context->Deadline = Volatile.Read(ref _deadline);
        }
    }

    private static ulong DeadlineAfter(FiberEpoch epoch, ulong ticks)
    {
        ulong now = epoch.Current;
        return ticks > ulong.MaxValue - now ? ulong.MaxValue : now + ticks;
    }

    /// <summary>Marks the fiber cancelled where both the driver and the native host call look: the flag, the native
    /// word (while the context is open), the host functions' token and a waiting driver. Never blocks.</summary>
    private unsafe void RequestCancel()
    {
        if (Interlocked.Exchange(ref _cancelRequested, 1) != 0)
        {
            // Stryker disable once Statement : a second pass repeats only idempotent steps (the same word written while the context is open, a set signal set, a cancelled token cancelled)
            return;
        }
        // Writers announce themselves before reading the context; CloseContext waits for them before the stack can
        // go back, so this store never lands in a returned stack. A context already closed never opens again: then
        // there is nothing to write and no need to announce (the common Dispose of an ended fiber).
        if (Volatile.Read(ref _context) != 0)
        {
            Interlocked.Increment(ref _contextWriters);
            try
            {
                NativeFiberContext* context = Context;
                if (context != null)
                {
                    Volatile.Write(ref context->CancelRequested, 1);
                }
            }
            finally
            {
                Interlocked.Decrement(ref _contextWriters);
            }
        }
        TryWakeForCancel();
        if (Volatile.Read(ref _hostCancellation) is { } source)
        {
            CancelHostToken(source);
        }
    }

    private static void CancelHostToken(CancellationTokenSource source)
    {
        // Callbacks run on the thread pool: Cancel must neither run user code inline nor fail because of it.
        _ = source.CancelAsync();
    }

    /// <summary>With ownership held: a host function or the deadline policy threw <paramref name="ex"/>. Unwinds the
    /// guest, and returns the exception to throw instead when <paramref name="ex"/> is a reaction to this fiber's
    /// cancel (null: rethrow <paramref name="ex"/>).</summary>
    private OperationCanceledException? UnwindAfterFailure(Exception ex, CancellationToken cancellationToken)
    {
        // Judged before the unwind, which marks the fiber cancelled itself: a host's own OperationCanceledException
        // (a timeout of its own, say) is a fault, not this fiber's cancel.
        OperationCanceledException? cancelled = CancelledBy(ex, cancellationToken);
        UnwindOwned(cancelled is null ? FiberState.Faulted : FiberState.Cancelled);
        return cancelled;
    }

    /// <summary>The exception to report when <paramref name="ex"/> is a host's reaction to this fiber's cancel.</summary>
    private OperationCanceledException? CancelledBy(Exception ex, CancellationToken cancellationToken) =>
        ex is OperationCanceledException && (CancelRequested || cancellationToken.IsCancellationRequested)
            ? new OperationCanceledException(CancelMessage(cancellationToken), ex, cancellationToken.IsCancellationRequested ? cancellationToken : CancellationToken.None)
            : null;

    private OperationCanceledException Cancelled(CancellationToken cancellationToken) => cancellationToken.IsCancellationRequested
        ? new OperationCanceledException(CancelMessage(cancellationToken), cancellationToken)
        : new OperationCanceledException(CancelMessage(cancellationToken));

    private string CancelMessage(CancellationToken cancellationToken) => cancellationToken.IsCancellationRequested
        ? $"Fiber '{Name}' was cancelled by its run's token."
        : $"Fiber '{Name}' was cancelled (Cancel, Dispose or its Store's Dispose).";

    private Exception EndedWhileSuspended(CancellationToken cancellationToken) => _revoked
        ? new ObjectDisposedException(Name, $"Fiber '{Name}' was revoked when its Store was finalized; it can never run again.")
        : Cancelled(cancellationToken);

    /// <summary>With ownership held: lets a suspended guest unwind (a fiber that never ran has nothing to unwind),
    /// then returns the stack. Whatever state the guest ends in, nothing runs on the stack afterwards.</summary>
    private unsafe void UnwindOwned(FiberState finalState, bool deferred = false)
    {
        RequestCancel();
        try
        {
            ResumeOwned(Context, NativeFiberResumeStatus.Cancel, 0);
        }
        finally
        {
            Finish(finalState, deferred);
        }
    }

    /// <summary>With ownership held: closes the context, returns the stack, and gives up ownership for good.</summary>
    private void Finish(FiberState finalState, bool deferred = false)
    {
        CloseContext();
        StackLease? lease = _lease;
        _lease = null;
        try
        {
            lease?.Return(_leaseGeneration, deferred);
        }
        finally
        {
            // The final state only once the stack is back: whoever sees the fiber ended also sees its stack returned
            // (and a deferred return counted).
            _state = finalState;
            // A release store, not an exchange: while Busy, only the owner (this thread) writes the word (every
            // other writer compare-exchanges from Idle or AwaitingHost and fails), so there is no race to win; and
            // nothing after this point reads a word another thread wrote before reading this one (Cancel and the
            // recycle only wait to see Finished, after the stores above, which the release orders before it).
            Volatile.Write(ref _ownership, Finished);
        }
    }

    /// <summary>Forgets the context, then waits out any <see cref="RequestCancel"/> still writing to it: after this,
    /// nothing touches the stack on this driver's behalf.</summary>
    private void CloseContext()
    {
        Interlocked.Exchange(ref _context, 0);
        SpinWait spin = default;
        while (Volatile.Read(ref _contextWriters) != 0)
        // Stryker disable once Block,Statement : SpinOnce only backs off; the loop leaves on the same condition without it
        {
            spin.SpinOnce();
        }
        _syncBinding?.Dispose();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool TryAcquire() => TryOwnFrom(Idle);

    /// <summary>Moves the ownership word from <paramref name="state"/> to Busy, for this thread; false (and no change)
    /// when the word is not in that state. Only the word's Busy holder resumes the fiber.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool TryOwnFrom(int state)
    {
        if (Interlocked.CompareExchange(ref _ownership, Busy, state) != state)
        {
            return false;
        }
        Volatile.Write(ref _busyThread, ManagedThreadIds.Current);
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
        // Stryker disable once Block,Statement : SpinOnce only backs off; the loop leaves on the same condition without it
        {
            spin.SpinOnce();
        }
    }
}
