using Allocator.Fibers;

namespace Allocator.Sample.Aot;

/// <summary>The host functions one request's guest may call. They run on the thread's stack; reading an input is
/// asynchronous every few calls, so fibers really stay suspended across awaits, and emitting is synchronous.</summary>
internal sealed class RequestHost(Store<RequestState> store)
{
    // Emit answers at once, so it is served on the thread's stack straight from the guest's call.
    public FiberHostFunctions Functions => FiberHostFunctions.From(FiberHostEntry.Async(ReadInputAsync), FiberHostEntry.Sync(Emit));

    private async ValueTask<long> ReadInputAsync(FiberHostCall call)
    {
        RequestState state = store.Data;
        state.HostCalls++;
        long request = call[0];
        long index = call[1];
        if ((request + index) % 4 == 0)
        {
            // Stand-in for I/O: the continuation runs later, possibly on another thread.
            await Task.Yield();
        }
        var slot = RequestSlot.Of(store, state.Slot);
        slot.Counters.InputsRead++;
        return (request * 7919 + index * 104729) & 0xFFFFFF;
    }

    private long Emit(FiberHostCall call)
    {
        RequestState state = store.Data;
        state.HostCalls++;
        state.EmittedChecksum = call[1];
        RequestSlot.Of(store, state.Slot).Counters.LastChecksum = call[1];
        return 0;
    }
}
