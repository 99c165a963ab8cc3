using Allocator.PeerBenchmarks.Boost;
using Allocator.PeerBenchmarks.Harness;

namespace Allocator.PeerBenchmarks.Cases;

/// <summary>The context switch against Boost.Context's <c>jump_fcontext</c>, two ways. Native to native: a C loop
/// in the shim resumes one of our fibers (fiber.h's allocator_fiber_resume_inline, the C embedder's API) whose guest
/// comes straight back through allocator_fiber_host_call_inline, against a C loop of jump_fcontext round trips: the
/// switch itself.
/// Public path: a guest's call to a FiberHostEntry.Sync function (the closest the public API gets to a bare switch:
/// the trampoline moves from the fiber stack to the thread's stack, calls the C# function and moves back) against
/// the same jump_fcontext round trip.</summary>
internal sealed class SwitchCases : ICaseSet
{
    private const string NativeName = "context switch round trip, native to native (C loops)";
    private const string PublicName = "context switch round trip, public path (sync host call from a fiber)";
    private readonly PoolingAllocator _allocator = PeerAllocators.Requests();
    private readonly Store<int> _store;

    public SwitchCases() => _store = new Store<int>(_allocator, 0);

    public IEnumerable<Comparison> Comparisons()
    {
        if (BoostShim.Missing is not null)
        {
            yield break;
        }
        BoostShim.Initialize();
        var boost = new BenchCase("Boost: jump_fcontext round trip", BoostShim.Switch);
        yield return new Comparison(NativeName,
            new BenchCase("ours: allocator_fiber_resume_inline + host_call_inline round trip, from C", n =>
            {
                if (BoostShim.NativeSwitch(n) != 0)
                {
                    throw new InvalidOperationException("our fiber stopped in an unexpected state");
                }
            }),
            boost, BoostShim.Version, Target: ">= 0.9x",
            Note: "both switches driven from C in the shim, no P/Invoke per switch; both save and load the callee-saved registers, MXCSR and the x87 control word, enter by call and leave by jmp; ours through fiber.h's inline fast paths (allocator_fiber_resume_inline/host_call_inline, with their state bookkeeping), so no ret crosses a switch on either side.");
        yield return new Comparison(PublicName,
            new BenchCase("ours: FiberHostEntry.Sync host call (switch row)", n => OurFibers.HostCalls(_store, n, OurFibers.Sync, null)),
            boost, BoostShim.Version,
            Note: "ours through the public API (fiber stack to thread stack, a C# call, and back), 1,000 calls per fiber; Boost's bare switch.");
    }

    public IEnumerable<SkippedComparison> Skipped() => BoostShim.Missing is { } reason
        ? [new(NativeName, "Boost.Context", reason, ">= 0.9x"), new(PublicName, "Boost.Context", reason)]
        : [];

    public void Dispose()
    {
        _store.Dispose();
        _allocator.Dispose();
    }
}
