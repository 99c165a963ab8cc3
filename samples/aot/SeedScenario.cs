using Allocator.Fibers;

namespace Allocator.Sample.Aot;

/// <summary>The bug that started the project (Wasmtime 28: <c>into_data</c> after async execution on pooled stacks
/// left a stack checked out), shown not to happen: consuming a Store while its fiber is suspended is refused with
/// the owner named and the Store left intact; after the fiber completes, every stack is back.</summary>
internal static class SeedScenario
{
    public static async Task RunAsync(PoolingAllocator allocator)
    {
        var store = new Store<RequestState>(allocator, new RequestState(0));
        store.Data.Slot = store.CheckoutInstance();
        var gate = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        var host = new FiberHostFunctions(_ => new ValueTask<long>(gate.Task), call => ValueTask.FromResult(0L));
        using Fiber fiber = Fiber.Create(store, "seed fiber", SampleGuest.HandleRequest, SampleGuest.Argument(0, 1), host);
        ValueTask<long> running = fiber.RunAsync();
        try
        {
            // Deliberately wrong, to show the run-time refusal; the analyzer flags it (ALLOC100) at compile time.
#pragma warning disable ALLOC100
            store.IntoData();
#pragma warning restore ALLOC100
            throw new InvalidOperationException("IntoData must refuse while the fiber is suspended.");
        }
        catch (StacksCheckedOutException refused)
        {
            Console.WriteLine($"seed scenario: IntoData while suspended refused: {refused.Count} stack(s) held by {string.Join(", ", refused.Owners)}");
        }
        gate.SetResult(42);
        await running;
        store.IntoData();
        int stacksInUse = allocator.GetStackStatistics().InUse;
        Console.WriteLine($"seed scenario: after completion IntoData succeeded; stacks in use: {stacksInUse}");
        if (stacksInUse != 0)
        {
            throw new InvalidOperationException("A stack is still checked out after IntoData.");
        }
    }
}
