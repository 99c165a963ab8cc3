namespace Allocator.Benchmarks;

/// <summary>Dedicated threads that each run an operation a fixed number of times per benchmark invocation, started
/// together, so 1- and 2-thread runs measure the same loop. Threads live across invocations so thread start-up is not
/// measured, and the benchmark thread blocks (it does not spin) while they run: on a 2-core machine a spinning third
/// thread would steal a core from the workers.</summary>
internal sealed class ParallelWorkers : IDisposable
{
    private readonly Thread[] _threads;
    private readonly AutoResetEvent[] _start;
    private readonly AutoResetEvent[] _done;
    private readonly int _operations;
    private volatile bool _stop;

    /// <param name="threads">How many threads run at once.</param>
    /// <param name="operations">Operations each thread runs per <see cref="RunOnce"/>.</param>
    /// <param name="createOperation">Called once on each worker thread; returns that thread's operation.</param>
    public ParallelWorkers(int threads, int operations, Func<Action> createOperation)
    {
        _operations = operations;
        _start = Enumerable.Range(0, threads).Select(_ => new AutoResetEvent(false)).ToArray();
        _done = Enumerable.Range(0, threads).Select(_ => new AutoResetEvent(false)).ToArray();
        _threads = Enumerable.Range(0, threads).Select(i => new Thread(() => Work(i, createOperation)) { IsBackground = true }).ToArray();
        foreach (Thread thread in _threads)
        {
            thread.Start();
        }
        // Wait until every worker has built its operation.
        WaitHandle.WaitAll(_done);
    }

    /// <summary>Lets every thread run its operations once and waits for all of them.</summary>
    public void RunOnce()
    {
        foreach (AutoResetEvent start in _start)
        {
            start.Set();
        }
        WaitHandle.WaitAll(_done);
    }

    public void Dispose()
    {
        _stop = true;
        foreach (AutoResetEvent start in _start)
        {
            start.Set();
        }
        foreach (Thread thread in _threads)
        {
            thread.Join();
        }
        foreach (AutoResetEvent e in _start.Concat(_done))
        {
            e.Dispose();
        }
    }

    private void Work(int index, Func<Action> createOperation)
    {
        CpuPinning.CurrentThreadTo(index);
        Action operation = createOperation();
        _done[index].Set();
        while (true)
        {
            _start[index].WaitOne();
            if (_stop)
            {
                return;
            }
            for (int i = 0; i < _operations; i++)
            {
                operation();
            }
            _done[index].Set();
        }
    }
}
