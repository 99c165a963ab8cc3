using Allocator.Memory;
using Allocator.Tests.Stores;

namespace Allocator.Tests.Mutation;

/// <summary>How a Store judges every token it is handed, through its public members: each reason (Unknown for
/// <c>default</c>, WrongOwner for another Store's, AlreadyReturned for a returned one), for every member that takes a
/// token, with the Store and the pools unchanged after each refusal.</summary>
public sealed class StoreTokenJudgingTests
{
    private static readonly nuint Page = VirtualMemory.PageSize;

    public static TheoryData<string> StackMembers => new() { "ReturnStack", "TryReturnStack", "GetStackBounds" };

    public static TheoryData<string> SlotMembers => new()
    {
        "ReturnSlot", "GetSlotAddress", "GetAccessibleBytes", "GetSlotMemory", "GetSlotMemoryWindow", "GrowMemory", "TryGrowMemory",
    };

    [Theory]
    [MemberData(nameof(StackMembers))]
    public void Stack_tokens_are_refused_with_their_reason_and_change_nothing(string member)
    {
        using PoolingAllocator allocator = TestAllocators.Small(stacks: 4, cache: false);
        using var store = new Store<int>(allocator, 1);
        using var other = new Store<int>(allocator, 2);
        StackToken held = store.CheckoutStack("held");
        StackToken returned = store.CheckoutStack("returned");
        store.ReturnStack(returned);
        StackToken foreign = other.CheckoutStack("foreign");
        StackPoolStatistics before = allocator.GetStackStatistics();

        AssertStackRefused(member, store, default, InvalidTokenReason.Unknown, "StackToken(none)");
        AssertStackRefused(member, store, foreign, InvalidTokenReason.WrongOwner, $"StackToken(Store {other.Id}, 'foreign')");
        AssertStackRefused(member, store, returned, InvalidTokenReason.AlreadyReturned, $"StackToken(Store {store.Id}, 'returned')");

        Assert.Equal(before, allocator.GetStackStatistics());
        Assert.Equal(1, store.StacksCheckedOut);
        Assert.Equal(1, other.StacksCheckedOut);
        (nint bottom, nint top) = store.GetStackBounds(held);
        Assert.Equal(8 * (long)Page, top - bottom);
        Assert.True(store.TryReturnStack(held));
        Assert.Equal(0, store.StacksCheckedOut);
        Assert.Equal(1, allocator.GetStackStatistics().InUse);
    }

    [Theory]
    [MemberData(nameof(SlotMembers))]
    public void Slot_tokens_are_refused_with_their_reason_and_change_nothing(string member)
    {
        using PoolingAllocator allocator = TestAllocators.Small(slots: 4);
        using var store = new Store<int>(allocator, 1);
        using var other = new Store<int>(allocator, 2);
        SlotToken held = store.CheckoutMemory(accessibleBytes: 4 * Page);
        SlotToken returned = store.CheckoutMemory();
        store.ReturnSlot(returned);
        SlotToken foreign = other.CheckoutMemory();
        SlotPoolStatistics before = allocator.GetMemoryStatistics();

        AssertSlotRefused(member, store, default, InvalidTokenReason.Unknown, "SlotToken(none)");
        AssertSlotRefused(member, store, foreign, InvalidTokenReason.WrongOwner, $"SlotToken(Store {other.Id}, memories slot)");
        AssertSlotRefused(member, store, returned, InvalidTokenReason.AlreadyReturned, $"SlotToken(Store {store.Id}, memories slot)");

        Assert.Equal(before, allocator.GetMemoryStatistics());
        Assert.Equal(1, store.SlotsCheckedOut);
        Assert.Equal(1, other.SlotsCheckedOut);
        Assert.Equal(4 * Page, store.GetAccessibleBytes(held));
        store.ReturnSlot(held);
        Assert.Equal(0, store.SlotsCheckedOut);
    }

    [Fact]
    public void Every_token_member_of_a_disposed_store_throws_ObjectDisposedException_and_of_a_consumed_one_InvalidOperationException()
    {
        using PoolingAllocator allocator = TestAllocators.Small();
        var disposed = new Store<int>(allocator, 1);
        StackToken stack = disposed.CheckoutStack("s");
        SlotToken slot = disposed.CheckoutInstance();
        disposed.Dispose();
        var consumed = new Store<int>(allocator, 2);
        SlotToken consumedSlot = consumed.CheckoutInstance();
        Assert.Equal(2, consumed.IntoData());

        foreach ((Store<int> store, StackToken s, SlotToken t, Type expected) in new[]
        {
            (disposed, stack, slot, typeof(ObjectDisposedException)),
            (consumed, default(StackToken), consumedSlot, typeof(InvalidOperationException)),
        })
        {
            Assert.IsType(expected, Record.Exception(() => store.ReturnStack(s)));
            Assert.IsType(expected, Record.Exception(() => store.TryReturnStack(s)));
            Assert.IsType(expected, Record.Exception(() => store.GetStackBounds(s)));
            Assert.IsType(expected, Record.Exception(() => store.ReturnSlot(t)));
            Assert.IsType(expected, Record.Exception(() => store.GetSlotAddress(t)));
            Assert.IsType(expected, Record.Exception(() => store.GetAccessibleBytes(t)));
            Assert.IsType(expected, Record.Exception(() => store.GrowMemory(t, Page)));
            Assert.IsType(expected, Record.Exception(() => store.CheckoutStack("late")));
            Assert.IsType(expected, Record.Exception(() => store.CheckoutInstance()));
            Assert.IsType(expected, Record.Exception(() => store.CheckoutMemory()));
            Assert.IsType(expected, Record.Exception(() => store.IntoData()));
            Assert.IsType(expected, Record.Exception(() => _ = store.Data));
        }
        Assert.Contains($"Store {consumed.Id} has been consumed", Record.Exception(() => consumed.IntoData())!.Message);
        Assert.Equal(0, allocator.GetStackStatistics().InUse);
        Assert.Equal(0, allocator.GetInstanceStatistics().InUse);
    }

    [Fact]
    public void Tokens_are_equal_only_for_the_same_checkout()
    {
        using PoolingAllocator allocator = TestAllocators.Small(stacks: 2, cache: true);
        using var store = new Store<int>(allocator, 1);
        StackToken first = store.CheckoutStack("a");
        StackToken copy = first;
        Assert.True(first == copy);
        Assert.False(first != copy);
        Assert.True(first.Equals((object)copy));
        Assert.False(first.Equals((object)"a"));
        Assert.Equal(first.GetHashCode(), copy.GetHashCode());
        Assert.True(first.IsValid);
        Assert.Equal(store.Id, first.StoreId);
        (nint, nint) bounds = store.GetStackBounds(first);
        store.ReturnStack(first);
        // The Store's cache hands the same physical stack to the next checkout; the token is a new one.
        StackToken second = store.CheckoutStack("a");
        Assert.Equal(bounds, store.GetStackBounds(second));
        Assert.False(second == first);
        Assert.True(second != first);
        Assert.False(second.Equals(first));
        Assert.Equal(InvalidTokenReason.AlreadyReturned, Assert.Throws<InvalidTokenException>(() => store.ReturnStack(first)).Reason);

        StackToken none = default;
        Assert.False(none.IsValid);
        Assert.Equal(0, none.StoreId);
        Assert.Equal(0, none.GetHashCode());
        Assert.True(none == default);
        Assert.False(none == first);
        Assert.Equal("StackToken(none)", none.ToString());
        Assert.Equal($"StackToken(Store {store.Id}, 'a')", second.ToString());

        SlotToken slot = store.CheckoutInstance();
        SlotToken slotCopy = slot;
        SlotToken noSlot = default;
        Assert.True(slot == slotCopy);
        Assert.False(slot != slotCopy);
        Assert.True(slot.Equals((object)slotCopy));
        Assert.False(slot.Equals((object)first));
        Assert.Equal(slot.GetHashCode(), slotCopy.GetHashCode());
        Assert.True(slot != noSlot);
        Assert.False(noSlot.IsValid);
        Assert.True(slot.IsValid);
        Assert.Equal(0, noSlot.StoreId);
        Assert.Equal(0, noSlot.GetHashCode());
        Assert.Equal(store.Id, slot.StoreId);
        Assert.Equal("SlotToken(none)", noSlot.ToString());
        Assert.Equal($"SlotToken(Store {store.Id}, instances slot)", slot.ToString());
        SlotToken other = store.CheckoutInstance();
        Assert.False(other == slot);
        Assert.False(other.Equals(slot));
    }

    [Fact]
    public void Tokens_of_different_checkouts_hash_apart()
    {
        using PoolingAllocator allocator = TestAllocators.Small(stacks: 4, cache: true, slots: 4);
        using var store = new Store<int>(allocator, 1);
        var stackHashes = new HashSet<int>();
        var slotHashes = new HashSet<int>();
        for (int i = 0; i < 16; i++)
        {
            StackToken stack = store.CheckoutStack("s");
            SlotToken slot = store.CheckoutInstance();
            stackHashes.Add(stack.GetHashCode());
            slotHashes.Add(slot.GetHashCode());
            store.ReturnStack(stack);
            store.ReturnSlot(slot);
        }
        // Each checkout is a new lease; their hashes spread (a constant hash would make every token collide).
        Assert.True(stackHashes.Count > 1);
        Assert.True(slotHashes.Count > 1);
    }

    [Fact]
    public void A_pooled_slot_is_valid_only_when_it_names_a_checkout()
    {
        Assert.False(default(Pooling.PooledSlot).IsValid);
        Assert.True(new Pooling.PooledSlot(0, 1, 0).IsValid);
        Assert.False(default(Pooling.PooledStack).IsValid);
    }

    private static void AssertStackRefused(string member, Store<int> store, StackToken token, InvalidTokenReason reason, string described)
    {
        if (member == "TryReturnStack")
        {
            Assert.False(store.TryReturnStack(token));
            return;
        }
        InvalidTokenException ex = Assert.Throws<InvalidTokenException>(() =>
        {
            switch (member)
            {
                case "ReturnStack":
                    store.ReturnStack(token);
                    break;
                default:
                    store.GetStackBounds(token);
                    break;
            }
        });
        Assert.Equal(reason, ex.Reason);
        Assert.StartsWith($"Token refused ({reason}): {described} ", ex.Message);
        Assert.Contains($"Store {store.Id}", ex.Message);
    }

    private static void AssertSlotRefused(string member, Store<int> store, SlotToken token, InvalidTokenReason reason, string described)
    {
        InvalidTokenException ex = Assert.Throws<InvalidTokenException>(() =>
        {
            switch (member)
            {
                case "ReturnSlot":
                    store.ReturnSlot(token);
                    break;
                case "GetSlotAddress":
                    store.GetSlotAddress(token);
                    break;
                case "GetAccessibleBytes":
                    store.GetAccessibleBytes(token);
                    break;
                case "GetSlotMemory":
                    store.GetSlotMemory(token);
                    break;
                case "GetSlotMemoryWindow":
                    store.GetSlotMemory(token, 0, 1);
                    break;
                case "GrowMemory":
                    store.GrowMemory(token, 8 * Page);
                    break;
                default:
                    store.TryGrowMemory(token, 8 * Page);
                    break;
            }
        });
        Assert.Equal(reason, ex.Reason);
        Assert.StartsWith($"Token refused ({reason}): {described} ", ex.Message);
        Assert.Contains($"Store {store.Id}", ex.Message);
    }
}
