namespace Allocator.Fibers;

/// <summary>What the fiber machinery keeps per thread, in one object behind one thread-static.</summary>
/// <remarks>Each thread-static read is a call into the dynamic linker's TLS lookup on Linux (<c>__tls_get_addr</c>,
/// with its PLT stub about 12% of a fiber's create + host call + end in a peer run's samples). Three thread-statics
/// read by one fiber's life up to nine times become one object that each step looks up once and then uses as plain
/// fields.</remarks>
internal sealed class FiberThread
{
    [ThreadStatic]
    private static FiberThread? t_current;

    /// <summary>This thread's managed id, read once (<see cref="Environment.CurrentManagedThreadId"/> is a TLS read of
    /// its own plus the Thread object's field).</summary>
    public readonly int ThreadId = Environment.CurrentManagedThreadId;

    /// <summary>One spare driver per thread, like the Store's tracker: a thread creating fibers one after another
    /// reuses one driver (<see cref="FiberDriver.Rent"/>, <see cref="FiberDriver.TryRecycle"/>).</summary>
    public FiberDriver? Spare;

    /// <summary>The driver whose run is completing on this thread from inside its own frames (see
    /// <see cref="FiberDriver"/>'s CompleteRun): not reused while the code awaiting its run runs inline below them.</summary>
    public FiberDriver? Completing;

    /// <summary>The driver whose resume is on this thread, which <see cref="FiberReadyHostCallback"/> serves.</summary>
    public FiberDriver? Resuming;

    public static FiberThread Current => t_current ?? Create();

    private static FiberThread Create() => t_current = new FiberThread();
}
