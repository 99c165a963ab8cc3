using Allocator.Fibers;
using Allocator.Tests.Support;

namespace Allocator.Tests.Mutation;

/// <summary>The native library's fiber ABI is checked once, on the first fiber created, and a missing library or a
/// different ABI is refused with a message that says what to do. The version query goes through
/// <see cref="Interop.AllocatorNative.AbiVersionForTest"/>; serial, because every fiber of the process checks it.</summary>
[Collection(SerialCollection.Name)]
public sealed unsafe class FiberAbiCheckTests : IDisposable
{
    public FiberAbiCheckTests() => Interop.AllocatorNative.ForgetAbiCheckForTest();

    public void Dispose()
    {
        Interop.AllocatorNative.AbiVersionForTest = null;
        Interop.AllocatorNative.ForgetAbiCheckForTest(); // the next fiber checks the real library again
    }

    [FiberFact]
    public void The_ABI_is_asked_once_then_remembered()
    {
        int asked = 0;
        Interop.AllocatorNative.AbiVersionForTest = () =>
        {
            asked++;
            return Interop.AllocatorNative.AbiVersion;
        };
        // A null stack: the library refuses it (returns null) after the check, touching no memory.
        Assert.True(Interop.AllocatorNative.Init(0, 0, 0, 0) == null);
        Assert.Equal(1, asked);
        Assert.True(Interop.AllocatorNative.Init(0, 0, 0, 0) == null);
        Assert.Equal(1, asked);
    }

    [FiberFact]
    public void A_different_ABI_is_refused_every_time_with_both_versions()
    {
        Interop.AllocatorNative.AbiVersionForTest = () => Interop.AllocatorNative.AbiVersion + 1;
        for (int attempt = 0; attempt < 2; attempt++)
        {
            InvalidOperationException refused = Assert.Throws<InvalidOperationException>(() => Interop.AllocatorNative.Init(0, 0, 0, 0));
            Assert.Equal($"libAllocatorNative has fiber ABI {Interop.AllocatorNative.AbiVersion + 1}, this assembly expects " +
                $"{Interop.AllocatorNative.AbiVersion}: the native library and Allocator.dll come from different builds.", refused.Message);
        }
    }

    [Fact]
    public void A_missing_library_is_refused_as_unsupported_with_the_loader_message()
    {
        var missing = new DllNotFoundException("no libAllocatorNative.so here");
        Interop.AllocatorNative.AbiVersionForTest = () => throw missing;
        PlatformNotSupportedException refused = Assert.Throws<PlatformNotSupportedException>(() => Interop.AllocatorNative.Init(0, 0, 0, 0));
        Assert.Same(missing, refused.InnerException);
        Assert.Equal("Fibers need libAllocatorNative (built for linux-x64 from src/Native), which was not found next to the application: " +
            "no libAllocatorNative.so here", refused.Message);
    }

    [FiberFact]
    public void A_fiber_refused_for_its_ABI_gives_its_stack_back_and_the_next_one_runs()
    {
        // Start checks the ABI in a try block of its own and then calls init outside it (so the JIT inlines it): a
        // refusal must still return the stack, and once the library is accepted init is bound and cannot throw.
        using PoolingAllocator allocator = Fibers.FiberPools.Allocator(stacks: 1);
        using var store = new Store<int>(allocator, 0);
        Interop.AllocatorNative.AbiVersionForTest = () => Interop.AllocatorNative.AbiVersion + 1;
        Assert.Throws<InvalidOperationException>(() => Fiber.Create(store, "refused", Fibers.TestGuest.CallLoop, 1, FiberHostFunctions.Empty));
        Assert.Equal(0, store.StacksCheckedOut);
        Assert.Equal(0, allocator.Stacks.InUse);

        Interop.AllocatorNative.AbiVersionForTest = null;
        using Fiber fiber = Fiber.Create(store, "accepted", Fibers.TestGuest.CallLoop, 0, FiberHostFunctions.Empty);
        Assert.Equal(0, fiber.RunAsync().AsTask().GetAwaiter().GetResult());
        Assert.Equal(0, allocator.Stacks.InUse);
    }
}
