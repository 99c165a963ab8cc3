using System.Diagnostics;
using Allocator;
using Allocator.Sample.Aot;

// Runs many requests, each a Store with a fiber on a pooled stack, a bounded number at a time.
// Usage: Allocator.Sample.Aot [requests] [concurrency] [inputs per request]
int requests = args.Length > 0 ? int.Parse(args[0]) : 50_000;
int concurrency = args.Length > 1 ? int.Parse(args[1]) : 64;
int inputs = args.Length > 2 ? int.Parse(args[2]) : 8;

using PoolingAllocator allocator = SamplePools.CreateAllocator();
Console.WriteLine($"pool: {allocator.Options.Stacks.MaxStacks} stacks x {allocator.Options.Stacks.StackSize / 1024} KiB, " +
    $"{allocator.Options.Instances.MaxSlots} instance slots x {allocator.Options.Instances.SlotSize} B (layout RequestSlot)");

await SeedScenario.RunAsync(allocator);

int next = 0, failures = 0;
long checksumTotal = 0, hostCalls = 0;
var clock = Stopwatch.StartNew();
await Task.WhenAll(Enumerable.Range(0, concurrency).Select(_ => Task.Run(async () =>
{
    int request;
    while ((request = Interlocked.Increment(ref next)) <= requests)
    {
        var store = new Store<RequestState>(allocator, new RequestState(request));
        try
        {
            store.Data.Slot = store.CheckoutInstance(affinityKey: "sample-module", accessibleBytes: RequestSlot.AccessibleSize);
            var host = new RequestHost(store);
            // The scoped run: the fiber's stack is back in the Store when the await returns, on every path, so the
            // IntoData below cannot find it out. (SeedScenario uses Fiber.Create, for the handle.)
            long result = await store.RunFiberAsync($"request {request}", SampleGuest.HandleRequest, SampleGuest.Argument(request, inputs), host.Functions);
            RequestState done = store.IntoData();
            if (result != done.EmittedChecksum || done.HostCalls != inputs + 1)
            {
                Interlocked.Increment(ref failures);
            }
            Interlocked.Add(ref checksumTotal, result);
            Interlocked.Add(ref hostCalls, done.HostCalls);
        }
        finally
        {
            store.Dispose();
        }
    }
}))).ConfigureAwait(false);
clock.Stop();

StackPoolStatistics stacks = allocator.GetStackStatistics();
SlotPoolStatistics instances = allocator.GetInstanceStatistics();
double seconds = clock.Elapsed.TotalSeconds;
Console.WriteLine($"ran {requests} fibers ({concurrency} at a time, {inputs} async inputs each) in {seconds:F3} s");
Console.WriteLine($"throughput: {requests / seconds:F0} fibers/s, {hostCalls / seconds:F0} host calls/s ({hostCalls} calls)");
Console.WriteLine($"stacks: in use now {stacks.InUse}, peak {stacks.Peak} of {stacks.Capacity}, checkouts {stacks.TotalCheckouts}, resident {stacks.ResidentBytes / 1024} KiB");
Console.WriteLine($"instances: in use now {instances.InUse}, peak {instances.Peak}, affinity hits {instances.AffinityHits}, resident {instances.ResidentBytes / 1024} KiB");
Console.WriteLine($"peak resident memory of the process: {PeakResidentKiB()} KiB");
Console.WriteLine($"checksum total: {checksumTotal}, failures: {failures}");
MetricsReport.Print(Console.Out);
return failures == 0 && stacks.InUse == 0 && instances.InUse == 0 ? 0 : 1;

static string PeakResidentKiB()
{
    // VmHWM: the high-water mark of resident memory, from the kernel.
    const string path = "/proc/self/status";
    string? line = File.Exists(path) ? File.ReadLines(path).FirstOrDefault(l => l.StartsWith("VmHWM:", StringComparison.Ordinal)) : null;
    return line is null ? "n/a" : line["VmHWM:".Length..].Trim().Replace(" kB", "", StringComparison.Ordinal);
}
