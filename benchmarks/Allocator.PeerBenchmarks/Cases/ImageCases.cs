using System.Text;
using Allocator.PeerBenchmarks.Harness;
using Allocator.PeerBenchmarks.Wasmtime;

namespace Allocator.PeerBenchmarks.Cases;

/// <summary>Memory images: a request whose memory starts from a 64 KiB data image, against Wasmtime's pooling
/// allocator instantiating a module with the same 64 KiB data segment (Wasmtime maps its own memfd images by
/// default); and checkout+return of an image slot under affinity, against copying the 64 KiB into a plain slot.</summary>
internal sealed class ImageCases : IDisposable
{
    private const int ImageBytes = 64 * 1024;

    private readonly PoolingAllocator _allocator;
    private readonly MemoryImage _image;
    private readonly byte[] _data;
    private readonly WasmtimeEngine _wasmtime;
    private readonly nint _instancePre;

    public ImageCases()
    {
        _data = new byte[ImageBytes];
        for (int i = 0; i < _data.Length; i++)
        {
            _data[i] = (byte)(1 + i * 7);
        }
        _allocator = new PoolingAllocator(new PoolingAllocatorOptions
        {
            Stacks = new StackPoolOptions { MaxStacks = 64, StackSize = 64 * 1024 },
            // Instance state is small and always touched: zeroing it in place is cheaper than giving it back and
            // faulting it in again (Wasmtime's instance allocations make no system call either).
            Instances = new SlotPoolOptions { MaxSlots = 64, SlotSize = 16 * 1024, MaxUnusedWarmSlots = 64, KeepResident = 16 * 1024 },
            Memories = new SlotPoolOptions { MaxSlots = 64, SlotSize = 1024 * 1024, GuardSize = 64 * 1024, MaxUnusedWarmSlots = 64 },
        });
        _image = MemoryImage.Create(_data);
        _wasmtime = new WasmtimeEngine(pooling: true);
        _instancePre = _wasmtime.InstancePreFromWat(ModuleWithDataSegment(_data));
        Verify();
    }

    public IEnumerable<Comparison> Comparisons()
    {
        yield return new Comparison("request, memory from a 64 KiB data image",
            new BenchCase("ours: Store + instance + image memory + IntoData", RequestWithImage),
            new BenchCase("Wasmtime pooling: store + instantiate (64 KiB data segment) + delete", n =>
            {
                for (long i = 0; i < n; i++)
                {
                    _wasmtime.InstantiateOnce(_instancePre);
                }
            }),
            "Wasmtime 50.0.1 pooling", Target: ">= 2x");
        yield return new Comparison("memory checkout+return, same 64 KiB image (affinity)",
            new BenchCase("ours: image checkout + return", ImageCheckoutReturn),
            new BenchCase("ours: plain checkout + copy 64 KiB + return", CopyCheckoutReturn),
            "copying 64 KiB");
    }

    private void RequestWithImage(long n)
    {
        for (long i = 0; i < n; i++)
        {
            var store = new Store<int>(_allocator, 0);
            store.CheckoutInstance(accessibleBytes: 16 * 1024);
            store.CheckoutMemoryFromImage(_image, ImageBytes);
            store.IntoData();
        }
    }

    private void ImageCheckoutReturn(long n)
    {
        using var store = new Store<int>(_allocator, 0);
        for (long i = 0; i < n; i++)
        {
            store.ReturnSlot(store.CheckoutMemoryFromImage(_image, ImageBytes));
        }
    }

    private void CopyCheckoutReturn(long n)
    {
        using var store = new Store<int>(_allocator, 0);
        for (long i = 0; i < n; i++)
        {
            SlotToken slot = store.CheckoutMemory(accessibleBytes: ImageBytes);
            _data.CopyTo(store.GetSlotMemory(slot));
            store.ReturnSlot(slot);
        }
    }

    /// <summary>Both sides must really start from the data: checked once, outside the timing.</summary>
    private void Verify()
    {
        using var store = new Store<int>(_allocator, 0);
        SlotToken slot = store.CheckoutMemoryFromImage(_image, ImageBytes);
        if (!store.GetSlotMemory(slot).SequenceEqual(_data))
        {
            throw new InvalidOperationException("the image slot does not hold the image");
        }
    }

    private static string ModuleWithDataSegment(byte[] data)
    {
        var wat = new StringBuilder("(module (memory (export \"memory\") 1 1) (data (i32.const 0) \"");
        foreach (byte b in data)
        {
            wat.Append('\\').Append(b.ToString("x2"));
        }
        return wat.Append("\"))").ToString();
    }

    public void Dispose()
    {
        _wasmtime.Dispose();
        _image.Dispose();
        _allocator.Dispose();
    }
}
