using System.Text;
using Allocator.PeerBenchmarks.Harness;
using Allocator.PeerBenchmarks.Wasmtime;

namespace Allocator.PeerBenchmarks.Cases;

/// <summary>Memory images: a request whose memory starts from a 64 KiB data image, against Wasmtime's pooling
/// allocator instantiating a module with the same 64 KiB data segment (Wasmtime maps its own memfd images by
/// default), with the same keep-resident setting on both sides; and checkout+return of an image slot under
/// affinity, against copying the 64 KiB into a plain slot.</summary>
internal sealed class ImageCases : ICaseSet
{
    private const int ImageBytes = 64 * 1024;

    private readonly byte[] _data;
    private readonly MemoryImage _image;
    private readonly List<IDisposable> _owned = new();

    public ImageCases()
    {
        _data = new byte[ImageBytes];
        for (int i = 0; i < _data.Length; i++)
        {
            _data[i] = (byte)(1 + i * 7);
        }
        _image = MemoryImage.Create(_data);
    }

    public IEnumerable<Comparison> Comparisons()
    {
        foreach ((nuint keepResident, int batch) in new (nuint, int)[] { (0, 1), (ImageBytes, 1), (0, 8) })
        {
            PoolingAllocator allocator = Own(PeerAllocators.Requests(keepResident, batch));
            WasmtimeEngine wasmtime = Own(new WasmtimeEngine(pooling: true, memoryKeepResident: keepResident, decommitBatchSize: (nuint)batch));
            nint instancePre = wasmtime.InstancePreFromWat(ModuleWithDataSegment(_data));
            Verify(allocator);
            string settings = $"keep-resident {keepResident / 1024} KiB, decommit batch {batch}";
            yield return new Comparison($"request, memory from a 64 KiB data image, {settings} on both sides",
                new BenchCase($"ours, {settings}: Store + instance + image memory + IntoData", n => RequestWithImage(allocator, n)),
                new BenchCase($"Wasmtime pooling, {settings}: store + instantiate (64 KiB data segment) + delete", n =>
                {
                    for (long i = 0; i < n; i++)
                    {
                        wasmtime.InstantiateOnce(instancePre);
                    }
                }),
                "Wasmtime 50.0.1 pooling", Target: ">= 2x");
            if (keepResident == 0 && batch == 1)
            {
                yield return new Comparison("memory checkout+return, same 64 KiB image (affinity)",
                    new BenchCase("ours: image checkout + return", n => ImageCheckoutReturn(allocator, n)),
                    new BenchCase("ours: plain checkout + copy 64 KiB + return", n => CopyCheckoutReturn(allocator, n)),
                    "copying 64 KiB");
            }
        }
    }

    private void RequestWithImage(PoolingAllocator allocator, long n)
    {
        for (long i = 0; i < n; i++)
        {
            var store = new Store<int>(allocator, 0);
            store.CheckoutInstance(accessibleBytes: 16 * 1024);
            store.CheckoutMemoryFromImage(_image, ImageBytes);
            store.IntoData();
        }
    }

    private void ImageCheckoutReturn(PoolingAllocator allocator, long n)
    {
        using var store = new Store<int>(allocator, 0);
        for (long i = 0; i < n; i++)
        {
            store.ReturnSlot(store.CheckoutMemoryFromImage(_image, ImageBytes));
        }
    }

    private void CopyCheckoutReturn(PoolingAllocator allocator, long n)
    {
        using var store = new Store<int>(allocator, 0);
        for (long i = 0; i < n; i++)
        {
            SlotToken slot = store.CheckoutMemory(accessibleBytes: ImageBytes);
            _data.CopyTo(store.GetSlotMemory(slot));
            store.ReturnSlot(slot);
        }
    }

    /// <summary>Our side must really start from the data: checked once, outside the timing.</summary>
    private void Verify(PoolingAllocator allocator)
    {
        using var store = new Store<int>(allocator, 0);
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

    public IEnumerable<SkippedComparison> Skipped() => [];

    private TOwned Own<TOwned>(TOwned owned) where TOwned : IDisposable
    {
        _owned.Add(owned);
        return owned;
    }

    public void Dispose()
    {
        for (int i = _owned.Count - 1; i >= 0; i--)
        {
            _owned[i].Dispose();
        }
        _image.Dispose();
    }
}
