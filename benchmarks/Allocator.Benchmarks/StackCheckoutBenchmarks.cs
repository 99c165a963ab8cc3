using System.Runtime.InteropServices;
using Allocator.Memory;
using Allocator.Pooling;
using BenchmarkDotNet.Attributes;
using Tmds.Linux;

namespace Allocator.Benchmarks;

/// <summary>Getting a fresh, usable 256 KiB stack and giving it back: pool vs mapping one per use vs the heap.
/// Each variant writes the top byte, as a fiber's first frame would.</summary>
[MemoryDiagnoser]
public unsafe class StackCheckoutBenchmarks
{
    private const int StackSize = 256 * 1024;
    private const long StoreId = 1;
    private StackPool _pool = null!;
    private StackPool _zeroingPool = null!;
    private nuint _page;

    [GlobalSetup]
    public void Setup()
    {
        _page = VirtualMemory.PageSize;
        _pool = BenchPools.CreateStackPool(new StackPoolOptions { MaxStacks = 16, StackSize = StackSize });
        _zeroingPool = BenchPools.CreateStackPool(new StackPoolOptions { MaxStacks = 16, StackSize = StackSize, ZeroOnReturn = true, KeepResident = 16 * 1024 });
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _pool.Dispose();
        _zeroingPool.Dispose();
    }

    [Benchmark(Baseline = true, Description = "StackPool rent+return")]
    public void PoolRentReturn()
    {
        PooledStack stack = _pool.Rent(StoreId, "bench");
        ((byte*)stack.Top)[-1] = 1;
        BenchPools.Return(_pool, stack);
    }

    [Benchmark(Description = "StackPool rent+return, zero 16 KiB + decommit rest")]
    public void ZeroingPoolRentReturn()
    {
        PooledStack stack = _zeroingPool.Rent(StoreId, "bench");
        ((byte*)stack.Top)[-1] = 1;
        BenchPools.Return(_zeroingPool, stack);
    }

    [Benchmark(Description = "mmap+mprotect(guard)+munmap per stack")]
    public void MmapPerStack()
    {
        // What a pool-less runtime does: map stack + guard, protect the guard, unmap after use.
        nuint total = StackSize + _page;
        void* p = LibC.mmap(null, (size_t)(ulong)total, LibC.PROT_READ | LibC.PROT_WRITE, LibC.MAP_PRIVATE | LibC.MAP_ANONYMOUS | LibC.MAP_NORESERVE, -1, 0);
        if (p == LibC.MAP_FAILED)
        {
            throw new InvalidOperationException("mmap failed");
        }
        LibC.mprotect(p, (size_t)(ulong)_page, LibC.PROT_NONE);
        ((byte*)p)[(int)total - 1] = 1;
        LibC.munmap(p, (size_t)(ulong)total);
    }

    [Benchmark(Description = "NativeMemory.Alloc+Free (no guard page)")]
    public void NativeMemoryAllocFree()
    {
        byte* p = (byte*)NativeMemory.Alloc(StackSize);
        p[StackSize - 1] = 1;
        NativeMemory.Free(p);
    }
}
