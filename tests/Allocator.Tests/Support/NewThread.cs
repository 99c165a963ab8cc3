namespace Allocator.Tests.Support;

/// <summary>Runs a body on a thread of its own, started for it and joined: for what depends on the thread (its
/// thread-static spares, its parked stack, a thread that has ended). A failure there is rethrown here.</summary>
internal static class NewThread
{
    public static void Run(Action body) => Run<object?>(() =>
    {
        body();
        return null;
    });

    public static T Run<T>(Func<T> body)
    {
        T result = default!;
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                result = body();
            }
            catch (Exception ex)
            {
                failure = ex;
            }
        });
        thread.Start();
        thread.Join();
        if (failure is not null)
        {
            throw new Xunit.Sdk.XunitException(failure.ToString());
        }
        return result;
    }
}
