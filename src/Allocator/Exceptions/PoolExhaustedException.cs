namespace Allocator;

/// <summary>Every slot of a pool is checked out; the pool is unchanged.</summary>
public sealed class PoolExhaustedException : InvalidOperationException
{
    /// <summary>Creates the exception naming the limit that was hit.</summary>
    public PoolExhaustedException(string pool, string limit, long configuredValue)
        : base($"The {pool} pool is exhausted: all {configuredValue} slots are checked out (limit {limit} = {configuredValue}). Return slots or raise {limit}.")
    {
        Pool = pool;
        Limit = limit;
        ConfiguredValue = configuredValue;
    }

    /// <summary>Which pool, e.g. <c>stacks</c>.</summary>
    public string Pool { get; }

    /// <summary>The option that caps it, e.g. <c>StackPoolOptions.MaxStacks</c>.</summary>
    public string Limit { get; }

    /// <summary>The configured value of that option.</summary>
    public long ConfiguredValue { get; }
}
