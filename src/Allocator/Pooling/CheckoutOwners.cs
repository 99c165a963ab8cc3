namespace Allocator.Pooling;

/// <summary>Who holds each slot of a pool, for teardown reports and error messages: the Store's id and the owner
/// label it gave. Plain values, never a reference to the Store, so an abandoned Store can still be collected.</summary>
internal sealed class CheckoutOwners(int capacity)
{
    private readonly long[] _store = new long[capacity];
    private readonly string?[] _label = new string?[capacity];

    public void Set(int index, long storeId, string? label)
    {
        Volatile.Write(ref _store[index], storeId);
        Volatile.Write(ref _label[index], label);
    }

    public string Describe(int index)
    {
        long store = Volatile.Read(ref _store[index]);
        string? label = Volatile.Read(ref _label[index]);
        return label is null ? $"Store {store}" : $"Store {store} ('{label}')";
    }
}
