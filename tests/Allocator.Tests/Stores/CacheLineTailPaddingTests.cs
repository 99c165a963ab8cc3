using System.Reflection;
using System.Reflection.Emit;
using System.Runtime.CompilerServices;
using Allocator.Stores;

namespace Allocator.Tests.Stores;

/// <summary>A Store's bookkeeping (<see cref="StoreCore"/>) and its leases are written by their thread on every
/// checkout and return, and may lie right before another core or lease that another thread uses (objects one thread
/// allocates in a row sit back to back, at any address modulo 64): every field they write must end a cache line before
/// the next object's first word, or the two threads share a line (the 2-thread stack row measured 0.29-0.34x at half
/// of the layouts; see <see cref="CacheLineTailPadding"/>). The Store object itself, allocated per request, is not
/// padded: nothing writes it on the hot path.</summary>
public sealed class CacheLineTailPaddingTests
{
    private const int CacheLine = 64;

    public static TheoryData<Type> PaddedTypes() =>
    [
        typeof(StoreCore),
        typeof(StackLease),
        typeof(SlotLease),
    ];

    [Theory]
    [MemberData(nameof(PaddedTypes))]
    public void Every_field_ends_a_cache_line_before_the_next_object_begins(Type type)
    {
        object instance = RuntimeHelpers.GetUninitializedObject(type);
        List<(FieldInfo Field, nint Offset)> fields = InstanceFields(type).Select(f => (f, OffsetOf(instance, f))).ToList();
        (FieldInfo padding, nint paddingOffset) = Assert.Single(fields, f => f.Field.FieldType == typeof(CacheLineTailPadding));
        Assert.All(fields.Where(f => f.Field != padding), f => Assert.True(f.Offset < paddingOffset, $"{type}: {f.Field.Name} is laid out after the padding"));
        // The next object's method table pointer (its first word read on every call) is at this object's size from
        // this one's, both counted from the method table pointer; the last word before the padding starts 8 bytes
        // before it.
        long nextObject = SizeOf(type);
        Assert.True(nextObject - (paddingOffset - 8) >= CacheLine, $"{type}: {nextObject} bytes, padding at {paddingOffset}");
    }

    [Theory]
    [InlineData(typeof(Store<int>))]
    [InlineData(typeof(Store<byte>))]
    [InlineData(typeof(Store<object>))]
    [InlineData(typeof(Store<(long, long, long, long)>))]
    public void A_store_holds_no_padding_and_nothing_its_checkouts_write(Type type)
    {
        // Its fields: the allocator, the id, the data, the state (written once, as it ends), a flag read once, and
        // the reference to its core, which holds everything checkouts and returns write.
        string[] fields = [.. InstanceFields(type).Select(f => f.Name).Order(StringComparer.Ordinal)];
        Assert.Equal(["<Allocator>k__BackingField", "<Id>k__BackingField", "_cachesStack", "_core", "_data", "_state"], fields);
    }

    [Fact]
    public void A_store_allocates_only_itself_and_its_core_comes_from_the_thread()
    {
        // The one object a request allocates; the thread's spare core comes with it, once the first Store has ended.
        using PoolingAllocator allocator = TestAllocators.Small(stacks: 1, cache: false);
        new Store<int>(allocator, 0).Dispose();
        long least = long.MaxValue;
        for (int i = 0; i < 5; i++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            var store = new Store<int>(allocator, i);
            least = Math.Min(least, GC.GetAllocatedBytesForCurrentThread() - before);
            store.Dispose();
        }
        Assert.Equal(SizeOf(typeof(Store<int>)), least);
        // 48 bytes on x64 (136 when the Store carried its own padding); the bound leaves room for other runtimes.
        Assert.InRange(least, 1, 56);
    }

    private static IEnumerable<FieldInfo> InstanceFields(Type type)
    {
        for (Type? t = type; t is not null && t != typeof(object); t = t.BaseType)
        {
            foreach (FieldInfo field in t.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly))
            {
                yield return field;
            }
        }
    }

    /// <summary>The field's offset from the object's method table pointer (where a reference points).</summary>
    private static nint OffsetOf(object instance, FieldInfo field)
    {
        var method = new DynamicMethod("FieldAddress", typeof(nint), [typeof(object)], typeof(CacheLineTailPaddingTests).Module, skipVisibility: true);
        ILGenerator il = method.GetILGenerator();
        il.Emit(OpCodes.Ldarg_0);
        il.Emit(OpCodes.Castclass, field.DeclaringType!);
        il.Emit(OpCodes.Ldflda, field);
        il.Emit(OpCodes.Conv_U);
        il.Emit(OpCodes.Ret);
        var address = (Func<object, nint>)method.CreateDelegate(typeof(Func<object, nint>));
        return address(instance) - ObjectAddress(instance);
    }

    private static unsafe nint ObjectAddress(object instance) => *(nint*)Unsafe.AsPointer(ref instance);

    /// <summary>The object's size on the heap, header included: what allocating one costs (the least of a few tries,
    /// which leaves out one-time work).</summary>
    private static long SizeOf(Type type)
    {
        long least = long.MaxValue;
        for (int i = 0; i < 5; i++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            object instance = RuntimeHelpers.GetUninitializedObject(type);
            least = Math.Min(least, GC.GetAllocatedBytesForCurrentThread() - before);
            GC.KeepAlive(instance);
        }
        return least;
    }
}
