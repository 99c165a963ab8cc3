namespace Allocator;

/// <summary>Every slot of a pool is checked out; the pool is unchanged.</summary>
public sealed class PoolExhaustedException : InvalidOperationException
{
    /// <summary>Creates the exception naming the limit that was hit.</summary>
    public PoolExhaustedException(string pool, string limit, long configuredValue)
        : base($"The {pool} pool is exhausted: all {configuredValue} are checked out. Return some, or raise {limit} (now {configuredValue}).")
    {
        Pool = pool;
        Limit = limit;
        ConfiguredValue = configuredValue;
    }

    /// <summary>Which pool, e.g. <c>stacks</c>.</summary>
    public string Pool { get; }

    /// <summary>The setting that caps it, as its author wrote it: e.g. <c>StackPoolOptions.MaxStacks</c> for options
    /// built in code, <c>TotalStacks of [PoolingConfiguration] on MyApp.Pools</c> for generated ones.</summary>
    public string Limit { get; }

    /// <summary>The configured value of that option.</summary>
    public long ConfiguredValue { get; }
}
