using System.Reflection;
using System.Reflection.Emit;
using System.Runtime.CompilerServices;
using Allocator.Stores;

namespace Allocator.Tests.Stores;

/// <summary>A Store and its leases are written by their thread on every checkout and return, and may lie right before
/// another Store or lease that another thread uses (objects one thread allocates in a row sit back to back, at any
/// address modulo 64): every field they write must end a cache line before the next object's first word, or the two
/// threads share a line (the 2-thread stack row measured 0.29-0.34x at half of the layouts; see
/// <see cref="CacheLineTailPadding"/>).</summary>
public sealed class CacheLineTailPaddingTests
{
    private const int CacheLine = 64;

    public static TheoryData<Type> PaddedTypes() =>
    [
        typeof(Store<int>),
        typeof(Store<byte>),
        typeof(Store<object>),
        typeof(Store<(long, long, long, long)>),
        typeof(Store<(string, long, byte)>),
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

    [Fact]
    public void A_store_still_allocates_only_itself_padding_included()
    {
        // The padding is part of the one object a request allocates; nothing else comes with it.
        using PoolingAllocator allocator = TestAllocators.Small(stacks: 1, cache: false);
        long least = long.MaxValue;
        for (int i = 0; i < 5; i++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            var store = new Store<int>(allocator, i);
            least = Math.Min(least, GC.GetAllocatedBytesForCurrentThread() - before);
            GC.KeepAlive(store);
        }
        Assert.Equal(SizeOf(typeof(Store<int>)), least);
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
