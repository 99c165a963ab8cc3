using System.Runtime.CompilerServices;
using Allocator.Fibers;

namespace Allocator;

/// <summary>The scoped way to run a fiber: the stack cannot outlive the call, so no analyzer is needed to keep
/// <see cref="IntoData"/> safe.</summary>
public sealed partial class Store<T>
{
    /// <summary>Runs native guest code on a stack of this Store from start to end: creates a <see cref="Fiber"/>, runs
    /// it, and disposes it, so the stack is back in the Store before the returned task completes, however the run ends
    /// (completion, trap, host function exception, cancellation). One exception, by design: a cancellation that finds
    /// an asynchronous host function still running completes the task at once, and the stack (with the Store's slots)
    /// stays checked out until that function's task ends, so it can never write into memory that someone else got
    /// (see the cancellation contract in docs/architecture.md); <see cref="IntoData"/> refuses until then. Use
    /// <see cref="Fiber.Create{T}"/> only when the caller needs the handle (to cancel it from elsewhere or watch its
    /// state).</summary>
    /// <param name="name">Owner label of the stack while it runs, e.g. in <see cref="StacksCheckedOutException.Owners"/>.</param>
    /// <param name="entryPoint">Address of a native <c>intptr_t entry(allocator_fiber_ctx*, intptr_t)</c>.</param>
    /// <param name="argument">Passed to the entry point.</param>
    /// <param name="hostFunctions">The functions the guest may call.</param>
    /// <param name="cancellationToken">Already cancelled: nothing is checked out. Cancelled later: the guest is
    /// unwound as by <see cref="Fiber.RunAsync"/>.</param>
    /// <returns>The entry function's return value.</returns>
    /// <exception cref="PoolExhaustedException">No stack is free.</exception>
    /// <exception cref="FiberTrapException">The guest trapped.</exception>
    /// <exception cref="FiberHostCallException">The guest called a function that does not exist.</exception>
    /// <exception cref="OperationCanceledException">Cancelled by the token.</exception>
    /// <remarks>Any exception from a host function is rethrown after the fiber has been unwound.</remarks>
    // Pooled builder: a run that waits boxes this method's state machine, 580 B a run with the default builder
    // (measured); the pooled box is reused once the caller reads the result, as a ValueTask's caller must, once.
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<long> RunFiberAsync(string name, nint entryPoint, nint argument, FiberHostFunctions hostFunctions, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        using Fiber fiber = Fiber.Create(this, name, entryPoint, argument, hostFunctions);
        return await fiber.RunAsync(cancellationToken).ConfigureAwait(false);
    }
}
