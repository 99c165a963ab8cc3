namespace Allocator;

/// <summary>A pool option breaks a rule; nothing was reserved.</summary>
public sealed class PoolConfigurationException : ArgumentException
{
    /// <summary>Creates the exception for <paramref name="field"/>.</summary>
    public PoolConfigurationException(string field, string rule, object? value)
        : base($"Invalid pool configuration: {field} = {value ?? "null"}: {rule}", field)
    {
        Field = field;
        Rule = rule;
        Value = value;
    }

    /// <summary>The option that is wrong, e.g. <c>StackPoolOptions.StackSize</c>.</summary>
    public string Field { get; }

    /// <summary>The rule it breaks, in words.</summary>
    public string Rule { get; }

    /// <summary>The value that was given.</summary>
    public object? Value { get; }
}
