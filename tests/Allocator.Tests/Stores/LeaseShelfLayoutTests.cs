using Allocator.Stores;

namespace Allocator.Tests.Stores;

/// <summary>Every checkout writes its slot's place on the shelf: places of different slots never share a cache
/// line, or two threads on neighbouring slots slow each other down.</summary>
public sealed class LeaseShelfLayoutTests
{
    [Fact]
    public void Places_of_neighbouring_slots_are_a_cache_line_apart_and_clear_of_the_array_header()
    {
        for (int index = 0; index < 4; index++)
        {
            Assert.True((LeaseShelf<StackLease>.Place(index + 1) - LeaseShelf<StackLease>.Place(index)) * IntPtr.Size >= 64);
        }
        Assert.True(LeaseShelf<StackLease>.Place(0) * IntPtr.Size >= 64);
    }

    [Fact]
    public void A_place_gives_back_what_was_put_there_once()
    {
        var shelf = new LeaseShelf<StackLease>(3);
        var lease = new StackLease(forFiber: false);
        Assert.Null(shelf.Take(2));
        shelf.Put(2, lease);
        Assert.Null(shelf.Take(1));
        Assert.Same(lease, shelf.Take(2));
        Assert.Null(shelf.Take(2));
    }
}
