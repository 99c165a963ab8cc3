using System.Runtime.CompilerServices;
using Allocator.Pooling;

namespace Allocator.Benchmarks;

/// <summary>Direct access to the internal stack pool, for benchmarks that measure the pool itself (fibers go
/// through a Store).</summary>
internal static class BenchPools
{
    /// <summary>A pool built the way <see cref="PoolingAllocator"/> builds one: from validated options.</summary>
    public static StackPool CreateStackPool(StackPoolOptions options)
    {
        options.Validate();
        return new StackPool(options);
    }

    /// <summary>Returns a stack and throws if the pool refuses it, as the public <c>Return</c> did before the pools
    /// became internal (the check is one compare on the hot path).</summary>
    public static void Return(StackPool pool, PooledStack stack)
    {
        if (pool.Return(stack) is { } refused)
        {
            ThrowRefused(stack, refused);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowRefused(PooledStack stack, InvalidTokenReason reason) =>
        throw new InvalidOperationException($"stack {stack.Index} was refused by its pool: {reason}");
}
