using Allocator.Memory;
using Allocator.Stores;

namespace Allocator.Tests.Stores;

public sealed class StoreTests
{
    private sealed record HostState(string Name, int Calls);

    /// <summary>The scenario behind Wasmtime 28's <c>self.stacks.is_empty()</c> assertion: stacks used during async
    /// work, one of them kept cached by the Store, then the Store consumed. Every stack must be back in the pool.</summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Seed_scenario_stacks_used_in_async_work_then_IntoData_leaves_no_stack_checked_out(bool cache)
    {
        using PoolingAllocator allocator = TestAllocators.Small(cache: cache);
        var store = new Store<HostState>(allocator, new HostState("guest", 0));
        for (int call = 0; call < 3; call++)
        {
            StackToken token = store.CheckoutStack($"call-{call}");
            try
            {
                await Task.Yield();
                await Task.Delay(1);
                store.Data = store.Data with { Calls = store.Data.Calls + 1 };
            }
            finally
            {
                store.ReturnStack(token);
            }
        }
        Assert.Equal(cache ? 1 : 0, allocator.Stacks.InUse); // the cached stack is still the Store's
        HostState data = store.IntoData();
        Assert.Equal(new HostState("guest", 3), data);
        Assert.Equal(0, allocator.Stacks.InUse);
        Assert.Equal(0, allocator.Instances.InUse);
        Assert.Equal(0, allocator.Memories.InUse);
    }

    [Fact]
    public void IntoData_while_stacks_are_out_is_refused_with_count_and_owners_and_the_store_stays_usable()
    {
        using PoolingAllocator allocator = TestAllocators.Small();
        var store = new Store<int>(allocator, 42);
        StackToken a = store.CheckoutStack("fiber A");
        StackToken b = store.CheckoutStack("fiber B");
        SlotToken memory = store.CheckoutMemory("module");

        var ex = Assert.Throws<StacksCheckedOutException>(() => store.IntoData());
        Assert.Equal(2, ex.Count);
        Assert.Equal(new[] { "fiber A", "fiber B" }, ex.Owners.OrderBy(o => o));
        Assert.Contains("fiber A", ex.Message);

        // Intact: data, tokens and slots all still work.
        Assert.Equal(42, store.Data);
        Assert.Equal(2, store.StacksCheckedOut);
        store.GetSlotMemory(memory)[0] = 1;
        store.ReturnStack(a);
        Assert.Throws<StacksCheckedOutException>(() => store.IntoData());
        store.ReturnStack(b);

        Assert.Equal(42, store.IntoData());
        Assert.Equal(0, allocator.Stacks.InUse);
        Assert.Equal(0, allocator.Memories.InUse);
        Assert.Throws<InvalidOperationException>(() => store.CheckoutStack("late"));
        Assert.Throws<InvalidOperationException>(() => store.IntoData());
    }

    [Fact]
    public void A_token_returned_while_its_stack_stays_cached_cannot_be_returned_again()
    {
        using PoolingAllocator allocator = TestAllocators.Small();
        using var store = new Store<int>(allocator, 0);
        StackToken first = store.CheckoutStack("first");
        (nint Bottom, nint Top) firstBounds = store.GetStackBounds(first);
        store.ReturnStack(first);
        StackToken second = store.CheckoutStack("second"); // same physical stack, from the Store's cache
        Assert.Equal(first.Lease!.Stack, second.Lease!.Stack); // the same pool checkout: it never went back
        Assert.Equal(firstBounds, store.GetStackBounds(second));
        Assert.NotEqual(first, second);
        var ex = Assert.Throws<InvalidTokenException>(() => store.ReturnStack(first));
        Assert.Equal(InvalidTokenReason.AlreadyReturned, ex.Reason);
        Assert.Equal(InvalidTokenReason.AlreadyReturned, Assert.Throws<InvalidTokenException>(() => store.GetStackBounds(first)).Reason);
        Assert.Equal(1, store.StacksCheckedOut);
        Assert.Equal((second.Lease.Stack.Bottom, second.Lease.Stack.Top), store.GetStackBounds(second));
        store.ReturnStack(second);
        Assert.False(store.TryReturnStack(second));
    }

    [Fact]
    public void Tokens_of_another_store_and_default_tokens_are_refused()
    {
        using PoolingAllocator allocator = TestAllocators.Small();
        using var mine = new Store<int>(allocator, 1);
        using var theirs = new Store<int>(allocator, 2);
        StackToken foreign = theirs.CheckoutStack("theirs");
        SlotToken foreignSlot = theirs.CheckoutInstance();
        Assert.Equal(InvalidTokenReason.WrongOwner, Assert.Throws<InvalidTokenException>(() => mine.ReturnStack(foreign)).Reason);
        Assert.Equal(InvalidTokenReason.WrongOwner, Assert.Throws<InvalidTokenException>(() => mine.ReturnSlot(foreignSlot)).Reason);
        Assert.Equal(InvalidTokenReason.Unknown, Assert.Throws<InvalidTokenException>(() => mine.ReturnStack(default)).Reason);
        Assert.Equal(InvalidTokenReason.Unknown, Assert.Throws<InvalidTokenException>(() => mine.GetSlotAddress(default)).Reason);
        Assert.Equal(1, theirs.StacksCheckedOut);
        Assert.Equal(1, allocator.Stacks.InUse);
        theirs.ReturnStack(foreign);
    }

    [Fact]
    public void Dispose_asks_holders_to_unwind_and_returns_raw_stacks_and_every_slot()
    {
        using PoolingAllocator allocator = TestAllocators.Small();
        var store = new Store<string>(allocator, "data");
        var holder = new RecordingHolder();
        holder.Lease = store.CheckoutStackLease(holder.Name, holder);
        // A stack a holder runs on is the holder's to give back: its token is refused like a foreign one.
        var held = new StackToken(holder.Lease);
        Assert.Equal(InvalidTokenReason.Unknown, Assert.Throws<InvalidTokenException>(() => store.ReturnStack(held)).Reason);
        Assert.False(store.TryReturnStack(held));
        store.CheckoutStack("raw");
        store.CheckoutInstance();
        store.CheckoutMemory("m", 4 * VirtualMemory.PageSize);
        Assert.Equal(2, allocator.Stacks.InUse);

        store.Dispose();

        Assert.Equal(1, holder.Releases);
        Assert.Equal(0, allocator.Stacks.InUse);
        Assert.Equal(0, allocator.Instances.InUse);
        Assert.Equal(0, allocator.Memories.InUse);
        Assert.Throws<ObjectDisposedException>(() => store.CheckoutStack("late"));
        store.Dispose(); // idempotent
        Assert.Equal(1, holder.Releases);
    }

    [Fact]
    public void A_holder_that_fails_to_release_keeps_its_stack_out_rather_than_reusing_it()
    {
        using PoolingAllocator allocator = TestAllocators.Small();
        var store = new Store<int>(allocator, 0);
        var stuck = new FailingHolder();
        store.CheckoutStackLease(stuck.Name, stuck);
        var ex = Assert.Throws<AggregateException>(() => store.Dispose());
        Assert.IsType<InvalidOperationException>(Assert.Single(ex.InnerExceptions));
        Assert.Equal(1, allocator.Stacks.InUse);
    }

    [Fact]
    public void Slots_are_owned_and_released_with_the_store()
    {
        using PoolingAllocator allocator = TestAllocators.Small();
        var store = new Store<int>(allocator, 5);
        SlotToken instance = store.CheckoutInstance();
        SlotToken memory = store.CheckoutMemory("module", 4 * VirtualMemory.PageSize);
        Assert.Equal((int)(4 * VirtualMemory.PageSize), store.GetSlotMemory(memory).Length);
        store.GrowMemory(memory, 8 * VirtualMemory.PageSize);
        Assert.Equal((int)(8 * VirtualMemory.PageSize), store.GetSlotMemory(memory).Length);
        store.ReturnSlot(instance);
        Assert.Equal(InvalidTokenReason.AlreadyReturned, Assert.Throws<InvalidTokenException>(() => store.ReturnSlot(instance)).Reason);
        Assert.Equal(1, store.SlotsCheckedOut);
        Assert.Equal(5, store.IntoData());
        Assert.Equal(0, allocator.Memories.InUse);
    }

    private sealed class RecordingHolder : IStackHolder
    {
        public StackLease? Lease { get; set; }

        public int Releases { get; private set; }

        public string Name => "recording fiber";

        public bool HostCallOutlivesCancel => false;

        public void ReleaseStack()
        {
            Releases++;
            Lease!.Return(Lease.Generation);
        }

        public bool TryRevoke() => true;
    }

    private sealed class FailingHolder : IStackHolder
    {
        public string Name => "stuck fiber";

        public bool HostCallOutlivesCancel => false;

        public void ReleaseStack() => throw new InvalidOperationException("cannot unwind");

        // Pretends guest code is always on the CPU: nobody may take the stack from under it.
        public bool TryRevoke() => false;
    }
}
