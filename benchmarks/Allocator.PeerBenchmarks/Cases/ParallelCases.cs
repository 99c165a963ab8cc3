using System.Diagnostics;
using Allocator.PeerBenchmarks.Harness;

namespace Allocator.PeerBenchmarks.Cases;

/// <summary>Two threads against one: the same operation on 2 threads at once (each with its own Store, one shared
/// allocator) against 1 thread, time per operation on each thread. The "peer" is our own 1-thread time, so the
/// ratio (1 thread / 2 threads) near 1 means the threads do not slow each other down. In the 2-thread batches the
/// measuring thread is pinned to CPU 0 and the second thread to CPU 1 (as in benchmarks/Allocator.Benchmarks).</summary>
internal sealed class ParallelCases : ICaseSet
{
    private readonly PoolingAllocator _stacks = PeerAllocators.Stacks();
    private readonly PoolingAllocator _fibers = PeerAllocators.Requests();
    private readonly Store<int>[] _stackStores;
    private readonly Store<int>[] _fiberStores;
    private readonly SecondThread _second = new();

    public ParallelCases()
    {
        _stackStores = [new Store<int>(_stacks, 0), new Store<int>(_stacks, 0)];
        _fiberStores = [new Store<int>(_fibers, 0), new Store<int>(_fibers, 0)];
    }

    public IEnumerable<Comparison> Comparisons()
    {
        yield return new Comparison("2 threads vs 1: 256 KiB stack get+return, one shared pool",
            BenchCase.SelfTimed("ours, 2 threads: stack get+return (per op per thread)", n => _second.Run(n, m => GetReturn(_stackStores[0], m), m => GetReturn(_stackStores[1], m))),
            new BenchCase("ours, 1 thread: stack get+return", n => GetReturn(_stackStores[0], n)),
            "ours, 1 thread", Target: "keep (issue: 1.01-1.03x)",
            Note: "ratio = 1-thread time / 2-thread time per operation; B/op counts both threads' allocations.");
        yield return new Comparison("2 threads vs 1: async host call ready (per call), stacks from one pool",
            BenchCase.SelfTimed("ours, 2 threads: async host call, ready (per call per thread)", n => _second.Run(n,
                m => OurFibers.HostCalls(_fiberStores[0], m, OurFibers.AsyncReady, null),
                m => OurFibers.HostCalls(_fiberStores[1], m, OurFibers.AsyncReady, null))),
            new BenchCase("ours, 1 thread: async host call, ready", n => OurFibers.HostCalls(_fiberStores[0], n, OurFibers.AsyncReady, null)),
            "ours, 1 thread", Target: "keep (issue: 1.01-1.03x)");
    }

    public IEnumerable<SkippedComparison> Skipped() => [];

    private static void GetReturn(Store<int> store, long n)
    {
        for (long i = 0; i < n; i++)
        {
            store.ReturnStack(store.CheckoutStack("stack"));
        }
    }

    public void Dispose()
    {
        _second.Dispose();
        foreach (Store<int> store in _stackStores.Concat(_fiberStores))
        {
            store.Dispose();
        }
        _fibers.Dispose();
        _stacks.Dispose();
    }

    /// <summary>A second thread, kept for the whole run, that does its share of a batch while the measuring thread
    /// does its own. Both wait at a spinning start line, so the second thread's wake-up is not timed, and each times
    /// its own share; a batch's time is the mean of the two.</summary>
    private sealed class SecondThread : IDisposable
    {
        private readonly SemaphoreSlim _start = new(0);
        private readonly SemaphoreSlim _done = new(0);
        private readonly Thread _thread;
        private Action<long>? _work;
        private long _n;
        private volatile bool _ready;
        private volatile bool _go;
        private double _theirNs;
        private Exception? _failure;

        public SecondThread()
        {
            _thread = new Thread(Loop) { IsBackground = true, Name = "peer benchmark, second thread" };
            _thread.Start();
        }

        /// <summary>Runs <paramref name="mine"/> here and <paramref name="theirs"/> on the second thread, n each, at
        /// once; returns the mean of the two threads' own times in nanoseconds.</summary>
        public double Run(long n, Action<long> mine, Action<long> theirs)
        {
            _n = n;
            _work = theirs;
            _ready = false;
            _go = false;
            ulong previous = CpuAffinity.Pin(0);
            try
            {
                _start.Release();
                SpinWait spin = default;
                while (!_ready)
                {
                    spin.SpinOnce(sleep1Threshold: -1);
                }
                _go = true;
                long start = Stopwatch.GetTimestamp();
                mine(n);
                double myNs = Stopwatch.GetElapsedTime(start).TotalNanoseconds;
                _done.Wait();
                if (Interlocked.Exchange(ref _failure, null) is { } failure)
                {
                    throw new InvalidOperationException("the second thread failed", failure);
                }
                return (myNs + _theirNs) / 2;
            }
            finally
            {
                CpuAffinity.Restore(previous);
            }
        }

        private void Loop()
        {
            CpuAffinity.Pin(1);
            while (true)
            {
                _start.Wait();
                Action<long>? work = _work;
                if (work is null)
                {
                    return;
                }
                _ready = true;
                while (!_go)
                {
                    Thread.SpinWait(1);
                }
                try
                {
                    long start = Stopwatch.GetTimestamp();
                    work(_n);
                    _theirNs = Stopwatch.GetElapsedTime(start).TotalNanoseconds;
                }
                catch (Exception ex)
                {
                    _failure = ex;
                }
                _done.Release();
            }
        }

        public void Dispose()
        {
            _work = null;
            _start.Release();
            _thread.Join();
            _start.Dispose();
            _done.Dispose();
        }
    }
}
