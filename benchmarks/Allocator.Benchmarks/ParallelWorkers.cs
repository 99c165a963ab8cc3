namespace Allocator.Benchmarks;

/// <summary>Dedicated threads that each run an operation a fixed number of times per benchmark invocation, started
/// together through a barrier, so 1- and 2-thread runs measure the same loop. Threads live across invocations so
/// thread start-up is not measured.</summary>
internal sealed class ParallelWorkers : IDisposable
{
    private readonly Thread[] _threads;
    private readonly Barrier _start;
    private readonly Barrier _done;
    private readonly int _operations;
    private volatile bool _stop;

    /// <param name="threads">How many threads run at once.</param>
    /// <param name="operations">Operations each thread runs per <see cref="RunOnce"/>.</param>
    /// <param name="createOperation">Called once on each worker thread; returns that thread's operation.</param>
    public ParallelWorkers(int threads, int operations, Func<Action> createOperation)
    {
        _operations = operations;
        _start = new Barrier(threads + 1);
        _done = new Barrier(threads + 1);
        _threads = Enumerable.Range(0, threads).Select(_ => new Thread(() => Work(createOperation)) { IsBackground = true }).ToArray();
        foreach (Thread thread in _threads)
        {
            thread.Start();
        }
    }

    /// <summary>Lets every thread run its operations once and waits for all of them.</summary>
    public void RunOnce()
    {
        _start.SignalAndWait();
        _done.SignalAndWait();
    }

    public void Dispose()
    {
        _stop = true;
        _start.SignalAndWait();
        foreach (Thread thread in _threads)
        {
            thread.Join();
        }
        _start.Dispose();
        _done.Dispose();
    }

    private void Work(Func<Action> createOperation)
    {
        Action operation = createOperation();
        while (true)
        {
            _start.SignalAndWait();
            if (_stop)
            {
                return;
            }
            for (int i = 0; i < _operations; i++)
            {
                operation();
            }
            _done.SignalAndWait();
        }
    }
}
